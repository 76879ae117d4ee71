"""What a user writes without mlpact to train on a wide table and see which columns matter:
impute + scale + random forest, 3-fold CV on the training split, one test score, and
scikit-learn's permutation importance of every column on the test split.

usage: python sklearn_wide_train.py DATA.parquet TREES
"""

from __future__ import annotations

import sys

import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

frame = pd.read_parquet(sys.argv[1])
X, y = frame.drop(columns="target"), frame["target"]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42, stratify=y)
model = make_pipeline(
    SimpleImputer(strategy="median"),
    StandardScaler(),
    RandomForestClassifier(n_estimators=int(sys.argv[2]), random_state=42),
)
cv = cross_val_score(model, X_train, y_train, cv=3, scoring="accuracy")
model.fit(X_train, y_train)
test = model.score(X_test, y_test)
importance = permutation_importance(model, X_test, y_test, n_repeats=3, random_state=42, scoring="accuracy")
top = pd.Series(importance.importances_mean, index=X.columns).sort_values(ascending=False).head(10)
print(f"cv {cv.mean():.3f} test {test:.3f}; top columns: {list(top.index)}")
