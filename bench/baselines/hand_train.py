"""Baseline: what an experienced person writes by hand to train, evaluate and save a model.

Cross-validate (5 stratified folds on the training split), fit, score the test split once,
save the pipeline with skops. The same data, split, preprocessing and estimator as the mlpact
config bench_text.py writes beside it.

usage: hand_train.py DATA.csv KIND OUT.skops      (KIND: text or table)
"""

import sys

import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

path, kind, out = sys.argv[1], sys.argv[2], sys.argv[3]
df = pd.read_csv(path)
y = df.pop("target")
if kind == "text":
    df["text"] = df["title"] + "\n" + df["body"]
    features = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=20000)
    model = make_pipeline(features, LogisticRegression(C=10, max_iter=2000))
    X = df["text"]
else:
    numeric = [c for c in df.columns if c.startswith("f")]
    features = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="__missing__"),
                                  OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=30,
                                                sparse_output=False)), ["c0", "c1"]),
        ]
    )  # fmt: skip
    model = make_pipeline(features, HistGradientBoostingClassifier(random_state=42))
    X = df
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=42)
folds = StratifiedKFold(5, shuffle=True, random_state=42)
cv = cross_val_score(model, X_train, y_train, cv=folds, scoring="f1_macro")
model.fit(X_train, y_train)
pred = model.predict(X_test)
print(f"cv f1_macro {cv.mean():.4f}; test accuracy {accuracy_score(y_test, pred):.4f}, "
      f"f1_macro {f1_score(y_test, pred, average='macro'):.4f}")  # fmt: skip
sio.dump(model, out)
