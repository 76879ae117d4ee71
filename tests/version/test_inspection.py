"""Error inspection: the split and test predictions recorded by row hash, the worst test rows,
and `reproduce` comparing splits row by row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mlpact
from conftest import write_config
from mlpact.cli import app
from mlpact.errors import NotFoundError
from mlpact.version.inspection import ERRORS, SPLIT, row_hashes

FAST = {"cv_folds": 0, "importance_repeats": 0, "leakage": False, "baseline": False, "plots": False}


def _cfg(source: str, model: str, **record: Any) -> dict[str, Any]:
    return {
        "name": source.split(":")[-1].split(".")[0],
        "data": {"source": source, "target": "target"},
        "model": {"type": model},
        "evaluate": FAST,
        "record": {"profile": False, **record},
    }


@pytest.fixture(scope="module")
def wine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("inspect")
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame.to_csv(folder / "wine.csv", index=False)
    cfg = _cfg("wine.csv", "sklearn.tree.DecisionTreeClassifier")
    result = mlpact.train(write_config(folder, cfg), store=folder / "store")
    return {"store": folder / "store", "result": result, "frame": frame, "folder": folder}


def test_split_and_test_predictions_are_recorded_without_values(wine: dict[str, Any]) -> None:
    path = wine["result"].path
    split = pd.read_parquet(path / SPLIT)
    assert len(split) == len(wine["frame"]) and set(split["split"]) == {"train", "test"}
    assert (split["hash"].to_numpy() == row_hashes(wine["frame"])).all()
    table = pd.read_parquet(path / ERRORS)
    assert len(table) == wine["result"].metrics["rows"]["test"]
    assert not any(c.startswith("input.") for c in table.columns)  # record.test_rows is off
    assert {"row", "hash", "truth", "prediction", "proba_0", "proba_1", "proba_2"} <= set(table.columns)
    assert (table["truth"].to_numpy() == wine["frame"]["target"].to_numpy()[table["row"]]).all()


def test_errors_ranks_confident_mistakes_first_and_joins_the_source(wine: dict[str, Any]) -> None:
    model = mlpact.load(wine["result"].ref, store=wine["store"])
    worst = model.errors(n=5)
    assert len(worst) == 5 and list(worst["loss"]) == sorted(worst["loss"], reverse=True)
    wrong = (worst["truth"] != worst["prediction"]).to_numpy()
    assert wrong[0]  # a tree is certain: its mistakes have P(true) ~ 0, the largest loss
    first = wine["frame"].iloc[int(worst["row"][0])]
    assert worst["input.alcohol"][0] == first["alcohol"]


def test_errors_without_the_source_shows_ids_and_hashes(wine: dict[str, Any]) -> None:
    model = mlpact.load(wine["result"].ref, store=wine["store"])
    moved = wine["folder"] / "wine.csv"
    changed = wine["frame"].copy()
    changed.loc[0, "alcohol"] += 1  # the fingerprint no longer matches: no join
    original = moved.read_text()
    changed.to_csv(moved, index=False)
    try:
        worst = model.errors(n=3)
    finally:
        moved.write_text(original)
    assert not any(c.startswith("input.") for c in worst.columns)
    assert worst["hash"].str.fullmatch(r"[0-9a-f]{16}").all()


def test_cli_errors_json(wine: dict[str, Any]) -> None:
    out = CliRunner().invoke(
        app, ["models", "errors", wine["result"].ref, "--n", "4", "--json", "--store", str(wine["store"])]
    )
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert len(rows) == 4 and {"row", "truth", "prediction", "loss"} <= set(rows[0])


def test_regression_errors_are_absolute_errors_and_test_rows_can_be_saved(tmp_path: Path) -> None:
    cfg = _cfg("sklearn:diabetes", "sklearn.linear_model.Ridge", test_rows=True)
    result = mlpact.train(write_config(tmp_path, cfg), store=tmp_path / "store")
    worst = mlpact.load(result.ref, store=tmp_path / "store").errors(n=10)
    assert np.allclose(worst["loss"], (worst["prediction"] - worst["truth"]).abs())
    assert "input.bmi" in worst.columns  # saved in errors.parquet, no source needed


def test_versions_before_error_recording_say_what_to_do(wine: dict[str, Any]) -> None:
    model = mlpact.load(wine["result"].ref, store=wine["store"])
    model.manifest["files"] = {k: v for k, v in model.manifest["files"].items() if k != ERRORS}
    with pytest.raises(NotFoundError, match="has no recorded test predictions"):
        model.errors()


def test_reproduce_compares_the_split_row_by_row(wine: dict[str, Any]) -> None:
    from mlpact.reproduce import reproduce

    result = reproduce(wine["result"].ref, store=wine["store"])
    rows = result.split["rows"]
    assert rows["identical"] and rows["test"]["rows_differing"] == 0
    assert rows["train"]["rows_recorded"] == wine["result"].metrics["rows"]["train"]
