"""Starter configs: identifiers and dates out, a model family and a metric that fit, a reason each."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_diabetes, load_wine

from conftest import mixed_frame
from mlpact.config import load_config
from mlpact.scaffold import write_starter_config
from mlpact.schema import id_like
from mlpact.starter import render, starter


def _wine(rows: int | None = None) -> pd.DataFrame:
    frame = load_wine(as_frame=True).frame
    return frame if rows is None else frame.head(rows)


def _start(frame: pd.DataFrame, target: str = "target") -> Any:
    return starter(frame, target, name="t", source="t.csv")


@pytest.mark.parametrize(
    "values, why",
    [
        (list(range(100, 200)), "row order"),  # a counter
        (list(np.random.default_rng(0).permutation(150)), "dense range"),  # shuffled row numbers
        ([str(uuid.UUID(int=i * 7919 + 1)) for i in range(50)], "UUIDs"),
        ([f"AB{i:04d}" for i in range(50)], "one-word codes"),
    ],
)
def test_id_like_recognises_counters_row_numbers_uuids_and_codes(values: list[Any], why: str) -> None:
    assert why in (id_like(pd.Series(values, name="ref")) or "")


@pytest.mark.parametrize(
    "series",
    [
        pd.Series(np.random.default_rng(0).normal(size=100), name="x"),  # continuous numbers
        pd.Series(np.random.default_rng(0).integers(0, 5, 100), name="n"),  # repeated values
        pd.Series([f"some words {i}" for i in range(50)], name="note"),  # text, not a code
        pd.Series(list(range(0, 10_000, 97)), name="amount").sample(frac=1, random_state=0),  # sparse ints
    ],
)
def test_id_like_leaves_ordinary_columns_alone(series: pd.Series) -> None:
    assert id_like(series) is None


def test_identifiers_and_dates_are_dropped_with_their_reasons() -> None:
    frame = _wine()
    frame.insert(0, "row_id", range(len(frame)))
    frame["seen"] = pd.date_range("2024-01-01", periods=len(frame), freq="D").strftime("%Y-%m-%d")
    found = _start(frame)
    assert found.config["data"]["drop"] == ["row_id", "seen"]
    note = found.comments["data.drop"]
    assert "row_id: an identifier" in note and "time leakage" in note and "time_column: seen" in note


@pytest.mark.parametrize(
    "make, model, primary, weights",
    [
        (lambda: _wine(), "sklearn.ensemble.HistGradientBoostingClassifier", "accuracy", False),
        (lambda: _imbalanced_wine(), "sklearn.ensemble.HistGradientBoostingClassifier", "f1_macro", True),
        (lambda: _binary(0.5), "sklearn.ensemble.HistGradientBoostingClassifier", "roc_auc_ovr", False),
        (lambda: _binary(0.15), "sklearn.ensemble.HistGradientBoostingClassifier", "roc_auc_ovr", True),
        (lambda: load_diabetes(as_frame=True).frame, "sklearn.ensemble.HistGradientBoostingRegressor", "rmse", False),
        (lambda: mixed_frame(200).rename(columns={"label": "target"}), "sklearn.linear_model.LogisticRegression",
         "roc_auc_ovr", False),
        (lambda: _text_regression(), "sklearn.linear_model.Ridge", "rmse", False),
        (lambda: _wide(), "sklearn.linear_model.LogisticRegression", "accuracy", False),
    ],
)  # fmt: skip
def test_model_family_metric_and_class_weights_fit_the_data(
    make: Any, model: str, primary: str, weights: bool
) -> None:
    found = _start(make())
    assert found.config["model"]["type"] == model
    assert found.config["evaluate"]["primary"] == primary
    assert ("class_weight" in found.config["model"].get("params", {})) is weights
    assert found.comments["model.type"] and found.comments["evaluate.primary"]


def test_binary_targets_name_the_rarer_class_as_positive() -> None:
    found = _start(_binary(0.2))
    assert found.config["decision"] == {"positive": 1}
    assert "rarer" in found.comments["decision.positive"]


def test_text_gets_one_vocabulary_and_sublinear_tf() -> None:
    frame = mixed_frame(200)
    frame["title"] = [f"title words {i % 7} and {i}" for i in range(200)]
    found = _start(frame, "label")
    assert found.config["features"]["text"]["sublinear_tf"] is True
    assert "note, title: free text, joined into one TF-IDF" in found.comments["features.text"]
    assert found.config["features"]["text"]["analyzer"] == "char_wb"  # short texts
    frame["note"] = [" ".join(["long"] * 80) + f" text {i}" for i in range(200)]
    long = _start(frame, "label").config["features"]["text"]
    assert "analyzer" not in long and long["ngram_max"] == 2


def test_few_rows_per_class_means_fewer_folds() -> None:
    frame = _wine()
    frame = pd.concat([frame[frame.target != 2], frame[frame.target == 2].head(6)])
    assert _start(frame).config["evaluate"]["cv_folds"] == 3


def test_every_chosen_key_is_commented_in_the_yaml_and_it_loads(tmp_path: Path) -> None:
    found = _start(_imbalanced_wine())
    text = render(found, "header")
    assert yaml.safe_load(text)["model"] == found.config["model"]
    for path in ("data", "model.type", "model.params.class_weight", "evaluate.primary", "evaluate.cv_folds"):
        key = path.split(".")[-1]
        lines = text.splitlines()
        at = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{key}:"))
        if path in found.comments:
            assert lines[at - 1].strip().startswith("#"), path


def test_a_starter_config_trains_as_written(tmp_path: Path) -> None:
    import mlpact

    frame = mixed_frame(160)
    frame.insert(0, "customer_id", range(1000, 1160))
    frame.to_csv(tmp_path / "customers.csv", index=False)
    out = write_starter_config(tmp_path / "customers.csv", "label", tmp_path / "c.yaml")
    cfg = load_config(out)
    assert cfg.data.drop == ["customer_id", "id", "day"]
    result = mlpact.train(out, ["evaluate.cv_folds=2", "evaluate.plots=false"], store=tmp_path / "s")
    assert result.metrics["primary"] == "roc_auc_ovr" and result.metrics["test"]["roc_auc_ovr"] > 0.7


# --------------------------------------------------------------------------- data
def _imbalanced_wine() -> pd.DataFrame:
    frame = _wine()
    return pd.concat([frame[frame.target != 2], frame[frame.target == 2].head(12)])


def _binary(share: float, rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(rows, 3))
    y = (np.arange(rows) < share * rows).astype(int)
    return pd.DataFrame({"a": x[:, 0] + y, "b": x[:, 1], "c": x[:, 2], "target": rng.permutation(y)})


def _text_regression() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    words = np.array(["cheap small flat", "large house garden", "city centre loft", "old farm barn"])
    return pd.DataFrame(
        {"listing": [f"{rng.choice(words)} near {rng.choice(words)} {i}" for i in range(120)],
         "target": rng.normal(100, 20, 120)}
    )  # fmt: skip


def _wide() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.normal(size=(150, 210)), columns=[f"g{i}" for i in range(210)])
    frame["target"] = rng.choice(["a", "b", "c"], 150)
    return frame
