"""mlpact.evaluate: a saved version scored on new labelled data, recorded as an evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import mixed_frame, wine_config


# --------------------------------------------------------------------------- a saved version on new data
def _labelled(rows: int = 50, seed: int = 5) -> pd.DataFrame:
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).frame.sample(rows, random_state=seed).reset_index(drop=True)


def load_sample_positions(rows: int = 50, seed: int = 5) -> list[int]:
    """The positions in the wine data of the rows `_labelled` draws."""
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).frame.sample(rows, random_state=seed).index.tolist()


def test_evaluate_records_an_evaluation_and_never_touches_the_version(
    trained_wine: dict, tmp_path: Path
) -> None:  # type: ignore[type-arg]
    from mlpact.evaluate import evaluate_version
    from mlpact.store import Store
    from mlpact.version import bundle

    path, store = trained_wine["result"].path, trained_wine["store"]
    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    csv = tmp_path / "new.csv"
    _labelled().to_csv(csv, index=False)
    result = evaluate_version(trained_wine["ref"], csv, store=store)
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == before
    bundle.verify(path)
    (recorded,) = [e for e in Store.open(store).evaluations("wine", 1) if e["id"] == result.id]
    assert recorded["rows"] == 50 and recorded["data"] == str(csv.resolve())
    assert recorded["metrics"]["test"]["accuracy"] == result.metrics["test"]["accuracy"] > 0.8
    assert sorted(p.name for p in (result.path / "reports").iterdir()) == [
        "calibration.png",
        "confusion_matrix.png",
        "permutation_importance.png",
        "precision_recall.png",
        "roc_curve.png",
    ]
    assert "Evaluation of wine:1 on new.csv" in (result.path / "report.html").read_text()
    # the rows were drawn from the version's data: counted against its own split, test rows apart
    split = pd.read_parquet(path / "split.parquet")
    sampled = load_sample_positions()
    in_train = int(split.loc[split["split"] == "train", "row"].isin(sampled).sum())
    assert 0 < in_train < 50
    assert result.metrics["overlap"] == {
        "rows": 50, "training": in_train, "test": 50 - in_train,
        "compared_with": "the feature hashes of the version's training and test splits (split.parquet)",
    }  # fmt: skip
    assert any(
        w.startswith(f"Possible leakage (duplicate_rows): {in_train} of 50 evaluation rows")
        and "of the version's training split" in w
        for w in result.warnings
    )
    assert any(
        w.startswith(f"Possible leakage (test_rows): {50 - in_train} of 50 evaluation rows")
        for w in result.warnings
    )


def test_evaluate_on_regression_data_uses_regression_metrics(tmp_path: Path) -> None:
    import mlpact
    from mlpact.evaluate import evaluate_version

    cfg = wine_config(
        name="diabetes",
        data={"source": "sklearn:diabetes"},
        model={"type": "sklearn.linear_model.Ridge"},
        evaluate={"cv_folds": 0, "plots": False},
    )
    trained = mlpact.train(cfg, store=tmp_path)
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame.iloc[:40]
    result = evaluate_version(trained.ref, frame, store=tmp_path, plots=False)
    assert set(result.metrics["test"]) == {"rmse", "mae", "r2", "mape"}
    assert "plots" not in result.metrics


@pytest.mark.parametrize(
    "frame, message",
    [
        (_labelled().drop(columns="target"), r"The target column 'target' is not in the data"),
        (_labelled().assign(target=np.nan), r"The target column 'target' has no values"),
    ],
)
def test_evaluate_needs_labels(trained_wine: dict, frame: pd.DataFrame, message: str) -> None:  # type: ignore[type-arg]
    from mlpact.errors import DataError
    from mlpact.evaluate import evaluate_version

    with pytest.raises(DataError, match=message):
        evaluate_version(trained_wine["ref"], frame, store=trained_wine["store"], plots=False)


def test_evaluate_drops_unlabelled_rows_with_a_warning(trained_wine: dict) -> None:  # type: ignore[type-arg]
    from mlpact.evaluate import evaluate_version

    frame = _labelled(30)
    frame.loc[:2, "target"] = np.nan
    result = evaluate_version(trained_wine["ref"], frame, store=trained_wine["store"], plots=False)
    assert "Dropped 3 rows whose target 'target' is missing." in result.warnings
    assert result.metrics["rows"] == {"evaluated": 27}


def test_evaluate_command_prints_a_table_and_records_the_evaluation(
    trained_wine: dict, tmp_path: Path
) -> None:  # type: ignore[type-arg]
    from typer.testing import CliRunner

    from mlpact.cli import app

    csv = tmp_path / "new.csv"
    _labelled(40, seed=9).to_csv(csv, index=False)
    args = ["evaluate", trained_wine["ref"], str(csv), "--store", str(trained_wine["store"]), "--no-plots"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "this data" in result.output and "test split at training" in result.output
    assert "Recorded evaluation" in result.output
    as_json = CliRunner().invoke(app, [*args, "--json"])
    assert json.loads(as_json.stdout)["metrics"]["rows"] == {"evaluated": 40}
    missing = CliRunner().invoke(app, [*args[:2], str(tmp_path / "nope.csv"), *args[3:]])
    assert missing.exit_code == 4 and "does not exist" in missing.output


# --------------------------------------------------------------------------- labels of another type
def _wine_labels(labels: Any) -> pd.DataFrame:
    frame = _labelled(40, seed=3)
    frame["target"] = labels(frame) if callable(labels) else labels
    return frame


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (lambda f: f["target"].astype(float).where(f.index != 3, 1.5),
         r"The target 'target' must hold whole numbers for wine:\d+ \(classification\); 1 label\(s\) cannot be "
         r"read as one \(rows 4\)\."),
        (lambda f: f["target"].map({0: "zero", 1: "one", 2: "two"}),
         r"must hold whole numbers .*; 40 label\(s\) cannot be read as one \(rows 1, 2, 3, 4, 5, \.\.\.\)\."),
        ([7] * 40, r"None of the 40 labels in 'target' is a class wine:\d+ knows \(\['0', '1', '2'\]\): every "
         r"prediction would count as wrong\."),
        ([[1]] * 40, r"Columns hold values no model can use:\n  - 'target': 40 lists \(rows 1, 2, 3, 4, 5, \.\.\.\)"),
        ([b"1"] * 40, r"'target': 40 bytes values"),
        (lambda f: f["target"].astype(float).where(f.index != 0, np.inf), r"'target': 1 infinite number \(row 1\)"),
    ],
)  # fmt: skip
def test_evaluate_refuses_labels_the_version_cannot_score(
    trained_wine: dict[str, Any], labels: Any, message: str
) -> None:
    from mlpact.errors import DataError
    from mlpact.evaluate import evaluate_version

    with pytest.raises(DataError, match=message):
        evaluate_version(trained_wine["ref"], _wine_labels(labels), store=trained_wine["store"], plots=False)


@pytest.mark.parametrize(
    "labels",
    [
        lambda f: f["target"].astype(float),  # whole numbers read as floats (a CSV with a gap)
        lambda f: f["target"].astype(str),  # whole numbers read as text
        lambda f: f["target"].astype(object),
    ],
)
def test_evaluate_reads_labels_in_the_type_of_the_versions_classes(
    trained_wine: dict[str, Any], labels: Any
) -> None:
    from mlpact.evaluate import evaluate_version

    store = trained_wine["store"]
    expected = evaluate_version(trained_wine["ref"], _labelled(40, seed=3), store=store, plots=False)
    found = evaluate_version(trained_wine["ref"], _wine_labels(labels), store=store, plots=False)
    assert found.metrics["test"] == expected.metrics["test"]


def test_evaluate_and_check_read_boolean_classes_from_text(tmp_path: Path) -> None:
    import mlpact
    from mlpact.check import check_data
    from mlpact.evaluate import evaluate_version

    frame = mixed_frame(200).drop(columns="label")
    frame.to_csv(tmp_path / "train.csv", index=False)
    config = {**wine_config(), "data": {"source": str(tmp_path / "train.csv"), "target": "flag"}}
    config["evaluate"] = {"cv_folds": 0, "plots": False, "leakage": False}
    trained = mlpact.train(config, store=tmp_path / "store")
    assert trained.schema.target is not None and trained.schema.target.classes == (False, True)
    new = mixed_frame(60, seed=4).drop(columns="label")
    expected = evaluate_version(trained.ref, new, store=tmp_path / "store", target="flag", plots=False)
    as_text = new.assign(flag=new["flag"].map({True: "yes", False: "no"}))
    found = evaluate_version(trained.ref, as_text, store=tmp_path / "store", target="flag", plots=False)
    assert found.metrics["test"] == expected.metrics["test"]
    checked = check_data(trained.ref, as_text, store=tmp_path / "store", target="flag")
    assert checked.performance is not None and checked.performance.rows == 60
