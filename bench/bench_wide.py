"""Training on a wide table (1,000 numeric columns): `mlpact train` beside a scikit-learn script.

The script is what a user writes without mlpact to see which columns matter: a random forest,
3-fold CV, one test score and scikit-learn's permutation importance of every column. mlpact does
more (leakage probes per column, a baseline, plots, the report, a saved version) and bounds
permutation importance (evaluate.importance_max_columns); nothing in its training path may grow
with the square of the width. Fresh processes, alternated, median of the runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import yaml

from common import MLPACT, PYTHON, ROOT, WORK, alternate, entry, median, run_timed

RUNS = 3
ROWS, COLUMNS, TREES = 1_000, 1_000, 50


def wide_table() -> str:
    """ROWS x COLUMNS normal features; a binary target driven by 10 of them (made once)."""
    path = WORK / f"wide_{ROWS}x{COLUMNS}.parquet"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        X = rng.normal(size=(ROWS, COLUMNS))
        informative = rng.choice(COLUMNS, 10, replace=False)
        frame = pd.DataFrame(X, columns=[f"f{i:04d}" for i in range(COLUMNS)])
        frame["target"] = (X[:, informative] @ rng.normal(0, 1.5, 10) + rng.normal(0, 1, ROWS) > 0).astype(
            int
        )
        frame.to_parquet(path, index=False)
    return str(path)


def config(data: str) -> str:
    path = WORK / "wide.yaml"
    cfg = {
        "name": "wide",
        "seed": 42,
        "data": {"source": data, "target": "target"},
        "model": {"type": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": TREES}},
        "evaluate": {"cv_folds": 3},
    }
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def run() -> list[dict[str, Any]]:
    data = wide_table()
    cfg, store = config(data), str(WORK / "wide_store")
    script = str(ROOT / "bench" / "baselines" / "sklearn_wide_train.py")
    ours, base = alternate(
        lambda: run_timed([MLPACT, "train", cfg, "--store", store]),
        lambda: run_timed([PYTHON, script, data, str(TREES)]),
        RUNS,
    )
    return [
        entry(
            f"train_wide_{COLUMNS}_columns",
            unit="s",
            value=median(ours),
            baseline="sklearn_script_all_columns_importance",
            baseline_value=median(base),
            better="lower",
            goal="<= 1.0",
            runs=RUNS,
            params={"rows": ROWS, "columns": COLUMNS, "trees": TREES, "cv_folds": 3, "importance_repeats": 3},
            samples={"ours": ours, "baseline": base},
        )
    ]
