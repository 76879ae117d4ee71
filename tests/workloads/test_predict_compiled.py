"""Batch prediction through the compiled pipeline: the same output as scikit-learn's, or not used.

The compiled form (`mlpact.version.rowpath`) must give the exact numbers the pipeline gives, for
classifiers and regressors, for whole files and chunk by chunk; a chunk with a value it was not
compiled for goes through the pipeline; `--no-compiled` and `predict.compiled: false` turn it off;
and the result (and the CLI) says which path ran.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mlpact
from conftest import mixed_frame
from mlpact.cli import app
from mlpact.prediction import predict
from mlpact.version import rowpath
from mlpact.version.model import BATCH_ROWS

DROP = ["id", "note", "day"]  # text and dates are not compiled: leave them out of these versions


def _train(folder: Path, name: str, **overrides: Any) -> tuple[Any, pd.DataFrame]:
    frame = mixed_frame(600, seed=1)
    frame.to_csv(folder / f"{name}.csv", index=False)
    cfg: dict[str, Any] = {
        "name": name,
        "data": {"source": str(folder / f"{name}.csv"), "target": "label", "drop": DROP},
        "model": {"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 1000}},
        "evaluate": {"cv_folds": 0, "plots": False},
        **overrides,
    }
    result = mlpact.train(cfg, store=folder / "store")
    rows = mixed_frame(5_000, seed=7).drop(columns=["label", "note", "day"])
    return mlpact.load(result.ref, store=folder / "store"), rows


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("compiled")
    classifier, rows = _train(folder, "clf")
    regressor, _ = _train(
        folder,
        "reg",
        data={"source": str(folder / "clf.csv"), "target": "x", "drop": [*DROP, "label"]},
        model={"type": "sklearn.ensemble.RandomForestRegressor", "params": {"n_estimators": 10}},
    )
    rows.to_parquet(folder / "rows.parquet", index=False)
    return {"folder": folder, "clf": classifier, "reg": regressor, "rows": rows}


def test_a_classifier_scores_the_same_numbers_through_the_compiled_form(trained: dict[str, Any]) -> None:
    model, rows = trained["clf"], trained["rows"]
    X, report = model.check(rows)
    assert not report.errors and len(X) >= BATCH_ROWS
    assert X["color"].isna().any() and X["x"].isna().any(), "missing values must be exercised"
    fast = model.score_rows(X, proba=True)
    slow = model.score_rows(X, proba=True, compiled=False)
    assert fast.compiled and not slow.compiled
    assert np.array_equal(fast.proba, slow.proba)  # bitwise, not approximately
    assert np.array_equal(fast.predictions, slow.predictions)
    assert np.array_equal(fast.proba, model.pipeline.predict_proba(X))


def test_a_regressor_predicts_the_same_values_through_the_compiled_form(trained: dict[str, Any]) -> None:
    model = trained["reg"]
    X, _ = model.check(trained["rows"].drop(columns=["x"]))
    fast = model.score_rows(X, proba=False)
    assert fast.compiled and fast.proba is None
    assert np.array_equal(fast.predictions, model.pipeline.predict(X))


def test_model_predict_uses_it_from_batch_rows_and_not_below(
    trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, rows = mlpact.load(trained["clf"].ref, store=trained["folder"] / "store"), trained["rows"]
    calls: list[int] = []
    real = rowpath.RowPath.predict_proba

    def counted(self: rowpath.RowPath, X: Any, threads: int = 1) -> Any:
        calls.append(len(X))
        return real(self, X, threads)

    monkeypatch.setattr(rowpath.RowPath, "predict_proba", counted)
    small = model.predict_proba(rows.head(BATCH_ROWS - 1))
    large = model.predict_proba(rows)
    assert calls == [len(rows)]  # the small frame went through the pipeline itself
    X, _ = model.check(rows)
    assert np.array_equal(large.to_numpy(), model.pipeline.predict_proba(X))
    assert np.array_equal(small.to_numpy(), large.to_numpy()[: BATCH_ROWS - 1])
    again = model.predict_proba(rows.head(10))  # built now: small frames use it too, same numbers
    assert calls == [len(rows), 10]
    assert np.array_equal(again.to_numpy(), large.to_numpy()[:10])


def test_the_file_output_is_the_pipelines_and_the_result_says_which_path_ran(trained: dict[str, Any]) -> None:
    folder, model = trained["folder"], trained["clf"]
    fast = predict(model, folder / "rows.parquet", folder / "fast.parquet", chunk_rows=1_500, keep=["id"])
    slow = predict(model, folder / "rows.parquet", folder / "slow.parquet", chunk_rows=1_500, keep=["id"],
                   compiled=False)  # fmt: skip
    assert (fast.scored_by, fast.compiled_rows) == ("compiled", 5_000)
    assert (slow.scored_by, slow.compiled_rows) == ("scikit-learn", 0)
    pd.testing.assert_frame_equal(
        pd.read_parquet(folder / "fast.parquet"), pd.read_parquet(folder / "slow.parquet")
    )


def test_a_chunk_with_a_value_it_was_not_compiled_for_goes_through_the_pipeline(
    trained: dict[str, Any],
) -> None:
    folder, model = trained["folder"], trained["clf"]
    rows = trained["rows"].copy()
    rows.loc[2_100, "color"] = "purple"  # unseen in training: in the second chunk of 2,000
    rows.to_csv(folder / "unseen.csv", index=False)
    fast = predict(model, folder / "unseen.csv", folder / "mixed.csv", chunk_rows=2_000)
    slow = predict(model, folder / "unseen.csv", folder / "plain.csv", chunk_rows=2_000, compiled=False)
    assert slow.scored_by == "scikit-learn"
    assert (fast.scored_by, fast.compiled_rows) == ("mixed", 3_000)
    assert any(p.column == "color" for p in fast.report.warnings)  # the policy's warning, as before
    assert (folder / "mixed.csv").read_bytes() == (folder / "plain.csv").read_bytes()


def test_predict_compiled_false_in_the_config_turns_it_off(tmp_path: Path) -> None:
    model, rows = _train(tmp_path, "off", predict={"compiled": False})
    assert model.compiled is False
    X, _ = model.check(rows)
    assert not model.score_rows(X, proba=True).compiled
    assert model.score_rows(X, proba=True, compiled=True).compiled  # an explicit choice wins


def test_the_cli_says_which_path_ran_and_no_compiled_turns_it_off(trained: dict[str, Any]) -> None:
    folder, model = trained["folder"], trained["clf"]
    base = ["predict", model.ref, str(folder / "rows.parquet"), "--store", str(folder / "store")]
    done = CliRunner().invoke(app, [*base, "-o", str(folder / "cli.csv")], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert "predictions of clf:1" in done.output and "; compiled pipeline)" in done.output
    off = CliRunner().invoke(app, [*base, "-o", str(folder / "off.csv"), "--no-compiled", "--json"])
    assert off.exit_code == 0, off.output
    body = json.loads(off.stdout)
    assert (body["scored_by"], body["compiled_rows"]) == ("scikit-learn", 0)
    assert (folder / "cli.csv").read_bytes() == (folder / "off.csv").read_bytes()
    helped = CliRunner().invoke(app, ["predict", "--help"], env={"COLUMNS": "200"})
    assert "--no-compiled" in helped.output


def test_a_batch_form_that_disagrees_is_discarded(
    trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = rowpath._gather_table

    def off_by_a_little(table: Any, width: int) -> Any:
        index, deltas, where = real(table, width)
        return index, deltas + 1e-12, where

    monkeypatch.setattr(rowpath, "_gather_table", off_by_a_little)
    pipeline = mlpact.load(trained["clf"].ref, store=trained["folder"] / "store").pipeline  # a fresh object
    assert rowpath.row_path(pipeline) is None
