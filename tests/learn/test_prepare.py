"""The prepared data every workload shares: same rows, split, schema and folds for one config."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import mixed_frame, wine_config
from mlpact.config import load_config
from mlpact.learn.prepare import prepare


def test_prepare_is_deterministic_and_splits_disjointly() -> None:
    cfg = load_config(wine_config())
    a, b = prepare(cfg), prepare(cfg)
    assert np.array_equal(a.split.test, b.split.test)
    assert a.lineage["fingerprint"] == b.lineage["fingerprint"]
    X_train, y_train = a.train()
    X_test, _ = a.test()
    assert len(X_train) + len(X_test) == 178 and len(y_train) == len(X_train)
    assert not set(X_train.index) & set(X_test.index)
    assert a.schema.target is not None and a.schema.target.classes == (0, 1, 2)


def test_folds_are_within_the_training_split() -> None:
    data = prepare(load_config(wine_config()))
    folds = data.folds()
    assert len(folds) == 3
    n_train = len(data.split.train)
    for fit, val in folds:
        assert max(fit.max(), val.max()) < n_train
        assert not set(fit) & set(val)
    assert len(data.folds(5)) == 5
    assert data.folds(0) == []


def test_rows_without_target_are_dropped_and_reported(tmp_path: pytest.TempPathFactory) -> None:
    frame = mixed_frame(100)
    frame.loc[:2, "label"] = None
    path = f"{tmp_path}/d.csv"
    frame.to_csv(path, index=False)
    cfg = load_config(
        {
            "name": "m",
            "data": {"source": path, "target": "label", "drop": ["id"]},
            "model": {"type": "sklearn.dummy.DummyClassifier"},
        }
    )
    data = prepare(cfg)
    assert len(data.frame) == 97
    assert "Dropped 3 rows whose target 'label' is missing." in data.warnings
    assert "id" not in data.schema.names
