"""mlpact.evaluate: a saved version scored on new labelled data, recorded as an evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import wine_config


# --------------------------------------------------------------------------- a saved version on new data
def _labelled(rows: int = 50, seed: int = 5) -> pd.DataFrame:
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).frame.sample(rows, random_state=seed).reset_index(drop=True)


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
    # the rows were drawn from the training data: the guard says so
    assert any(
        w.startswith("Possible leakage (duplicate_rows): 50 of 50 evaluation rows") and "training data" in w
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
