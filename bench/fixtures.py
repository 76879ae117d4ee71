"""Data and models the benchmarks share, built once into bench/.work and reused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from common import WORK

STORE = WORK / "store"
CATS0 = np.array(["a", "b", "c", "d", "e"])
CATS1 = np.array([f"k{i:02d}" for i in range(20)])


def table(rows: int, seed: int) -> pd.DataFrame:
    """Eight numeric columns (a few missing values), two categories, a binary target."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 8))
    X[rng.random((rows, 8)) < 0.01] = np.nan
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)])
    frame["c0"] = CATS0[rng.integers(0, 5, rows)]
    frame["c1"] = CATS1[rng.integers(0, 20, rows)]
    logit = np.nan_to_num(X[:, 0]) - 0.5 * np.nan_to_num(X[:, 1]) + (frame["c0"] == "a") * 1.0
    frame["target"] = (logit + rng.normal(0, 1, rows) > 0).astype(int)
    return frame


ESTIMATORS = {
    "linear": {"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 500}},
    # scikit-learn's defaults, as a script would write it: 100 fully grown trees
    "forest": {"type": "sklearn.ensemble.RandomForestClassifier", "params": {"random_state": 0}},
}


def trained_model(kind: str = "linear") -> dict[str, Any]:
    """A version in the bench store (`kind`: a LogisticRegression, or a 100-tree random forest),
    and the same pipeline saved with joblib; both trained on 20,000 rows of `table`."""
    import joblib

    import mlpact

    marker = WORK / ("model.json" if kind == "linear" else f"model_{kind}.json")
    if marker.exists():
        return json.loads(marker.read_text())
    WORK.mkdir(parents=True, exist_ok=True)
    train = table(20_000, seed=0)
    train.to_parquet(WORK / "train.parquet")
    result = mlpact.train(
        {
            "name": "bench" if kind == "linear" else f"bench-{kind}",
            "data": {"source": str(WORK / "train.parquet"), "target": "target"},
            "model": ESTIMATORS[kind],
            "evaluate": {"cv_folds": 0},
        },
        store=STORE,
    )
    model = mlpact.load(result.ref, store=STORE)
    joblib.dump(model.pipeline, WORK / f"pipeline_{kind}.joblib")
    row = train.drop(columns="target").iloc[0].to_dict()
    info = {
        "ref": result.ref,
        "store": str(STORE),
        "joblib": str(WORK / f"pipeline_{kind}.joblib"),
        "row": {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()},
    }
    marker.write_text(json.dumps(info))
    return info


def parquet_input(rows: int) -> Path:
    """A Parquet file of `rows` feature rows, written in 100k-row groups (made once)."""
    path = WORK / f"input_{rows}.parquet"
    if path.exists():
        return path
    WORK.mkdir(parents=True, exist_ok=True)
    step = 500_000
    writer = None
    for start in range(0, rows, step):
        chunk = table(min(step, rows - start), seed=start + 1).drop(columns="target")
        tbl = pa.Table.from_pandas(chunk, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, tbl.schema)
        writer.write_table(tbl, row_group_size=100_000)
    assert writer is not None
    writer.close()
    return path
