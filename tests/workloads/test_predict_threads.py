"""A forest or tree scores large batches in blocks of rows on several threads, with the same numbers.

`mlpact.version.rowsplit` cuts a batch into blocks, scores them in threads and stacks them back:
only for estimators that score every row on its own (scikit-learn's forests and trees, with
their own `n_jobs` unset), only for blocks worth a thread, and always with the bits one call
gives. The local engine scores each chunk that way and says how many threads it used; the Ray
engine's actors use one core each, and asking it for threads is a usage error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from typer.testing import CliRunner

import mlpact
from conftest import mixed_frame
from mlpact.cli import app
from mlpact.errors import DataError
from mlpact.prediction import predict
from mlpact.version import rowsplit

ROWS = 3 * rowsplit.MIN_BLOCK_ROWS  # enough for three threads


def _xy(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 6))
    return X, X[:, 0] - 0.5 * X[:, 1] + rng.normal(0, 1, rows)


class MyForest(RandomForestClassifier):
    """A subclass may score its own way: it is not assumed to keep the property."""


@pytest.mark.parametrize(
    ("estimator", "splits"),
    [
        (RandomForestClassifier(), True),
        (RandomForestRegressor(n_jobs=1), True),
        (ExtraTreesRegressor(), True),
        (DecisionTreeClassifier(), True),
        (RandomForestClassifier(n_jobs=2), False),  # sklearn's own threads over trees: left to it
        (RandomForestClassifier(n_jobs=-1), False),
        (LogisticRegression(), False),  # a matrix product may sum in another order per block
        (MyForest(), False),
    ],
)
def test_only_row_independent_estimators_are_split(estimator: Any, splits: bool) -> None:
    assert rowsplit.splits(estimator) is splits


def test_the_thread_count_follows_the_rows_and_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    forest = RandomForestClassifier()
    assert rowsplit.threads_for(forest, 2 * rowsplit.MIN_BLOCK_ROWS - 1, 8) == 1  # not worth a thread
    assert rowsplit.threads_for(forest, 2 * rowsplit.MIN_BLOCK_ROWS, 8) == 2  # a block each at least
    assert rowsplit.threads_for(forest, 100 * rowsplit.MIN_BLOCK_ROWS, 3) == 3
    assert rowsplit.threads_for(LogisticRegression(), 100 * rowsplit.MIN_BLOCK_ROWS, 3) == 1
    monkeypatch.setattr(rowsplit, "available_cores", lambda: 5)
    assert rowsplit.threads_for(forest, 100 * rowsplit.MIN_BLOCK_ROWS, None) == 5


def test_the_default_is_the_cpus_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """joblib's count: affinity and a container's CPU quota, and LOKY_MAX_CPU_COUNT to cap it."""
    monkeypatch.setenv("LOKY_MAX_CPU_COUNT", "1")
    assert rowsplit.available_cores() == 1
    assert rowsplit.threads_for(RandomForestClassifier(), 100 * rowsplit.MIN_BLOCK_ROWS, None) == 1


@pytest.mark.parametrize(
    ("make", "method"),
    [
        (lambda: RandomForestClassifier(n_estimators=15, random_state=0), "predict_proba"),
        (lambda: RandomForestClassifier(n_estimators=15, random_state=0), "predict"),
        (lambda: RandomForestRegressor(n_estimators=15, random_state=0), "predict"),
        (lambda: ExtraTreesRegressor(n_estimators=15, random_state=0), "predict"),
    ],
)
def test_blocks_in_threads_give_the_bits_of_one_call(make: Any, method: str) -> None:
    X, y = _xy(2_000, seed=0)
    estimator = make().fit(X, y > 0 if "Classifier" in type(make()).__name__ else y)
    big, _ = _xy(ROWS + 7, seed=1)  # blocks of unequal size
    whole = getattr(estimator, method)(big)
    split = rowsplit.score(getattr(estimator, method), big, 3)
    assert split.dtype == whole.dtype and np.array_equal(split, whole)  # bitwise


def test_a_frame_is_cut_by_position_and_keeps_its_row_order() -> None:
    X, y = _xy(2_000, seed=0)
    columns = [f"c{i}" for i in range(X.shape[1])]
    forest = RandomForestRegressor(n_estimators=10, random_state=0).fit(pd.DataFrame(X, columns=columns), y)
    big, _ = _xy(ROWS, seed=2)
    frame = pd.DataFrame(big, columns=columns, index=np.arange(ROWS)[::-1])  # an index in reverse
    assert np.array_equal(rowsplit.score(forest.predict, frame, 2), forest.predict(frame))


def _train(folder: Path, name: str, model: dict[str, Any], rows: int) -> Any:
    """A version of `model` trained on `rows` rows of the mixed table (text and dates left out)."""
    mixed_frame(rows, seed=1).to_csv(folder / f"{name}.csv", index=False)
    result = mlpact.train(
        {
            "name": name,
            "data": {"source": str(folder / f"{name}.csv"), "target": "label", "drop": ["id", "note", "day"]},
            "model": model,
            "evaluate": {"cv_folds": 0, "plots": False},
        },
        store=folder / "store",
    )
    return mlpact.load(result.ref, store=folder / "store")


@pytest.fixture(scope="module")
def forest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("threads")
    model = _train(
        folder,
        "trees",
        {"type": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 20}},
        1_500,
    )
    rows = mixed_frame(ROWS, seed=7).drop(columns=["label", "note", "day"])
    rows.to_parquet(folder / "rows.parquet", index=False)
    return {"folder": folder, "model": model, "rows": rows}


@pytest.mark.parametrize("compiled", [True, False])
def test_a_version_scores_in_threads_with_the_numbers_of_one(forest: dict[str, Any], compiled: bool) -> None:
    model = forest["model"]
    X, report = model.check(forest["rows"])
    assert not report.errors
    one = model.score_rows(X, proba=True, compiled=compiled, threads=1)
    three = model.score_rows(X, proba=True, compiled=compiled, threads=3)
    assert (one.threads, three.threads) == (1, 3) and three.compiled is compiled
    assert np.array_equal(one.proba, three.proba) and np.array_equal(one.predictions, three.predictions)
    assert np.array_equal(three.proba, model.pipeline.predict_proba(X))


def test_the_local_engine_reports_its_threads_and_writes_the_same_file(forest: dict[str, Any]) -> None:
    folder, model = forest["folder"], forest["model"]
    # chunks of 25,000, 25,000 and 10,000 rows: two threads for the first two, one for the last
    kw: dict[str, Any] = {"chunk_rows": 25_000, "keep": ["id"]}
    two = predict(model, folder / "rows.parquet", folder / "two.parquet", threads=2, **kw)
    one = predict(model, folder / "rows.parquet", folder / "one.parquet", threads=1, **kw)
    assert (two.threads, one.threads) == (2, 1) and two.rows == ROWS
    written = pd.read_parquet(folder / "two.parquet")
    pd.testing.assert_frame_equal(written, pd.read_parquet(folder / "one.parquet"))
    assert written["id"].tolist() == forest["rows"]["id"].tolist()  # row order kept across chunks


def test_the_cli_says_how_many_threads_and_refuses_them_with_ray(forest: dict[str, Any]) -> None:
    folder, model = forest["folder"], forest["model"]
    base = ["predict", model.ref, str(folder / "rows.parquet"), "--store", str(folder / "store")]
    done = CliRunner().invoke(
        app, [*base, "-o", str(folder / "cli.csv"), "--threads", "2"], env={"COLUMNS": "200"}
    )
    assert done.exit_code == 0, done.output
    assert "; compiled pipeline; 2 threads)" in done.output
    one = CliRunner().invoke(app, [*base, "-o", str(folder / "one.csv"), "--threads", "1", "--json"])
    assert one.exit_code == 0, one.output
    assert json.loads(one.stdout)["threads"] == 1
    assert (folder / "cli.csv").read_bytes() == (folder / "one.csv").read_bytes()
    ray = CliRunner().invoke(
        app, [*base, "-o", str(folder / "r.parquet"), "--engine", "ray", "--threads", "2"]
    )
    assert ray.exit_code == 2, ray.output
    assert "--threads is for the local engine" in ray.output and "--workers" in ray.output
    assert not (folder / "r.parquet").exists()


def test_a_linear_model_is_never_split(tmp_path: Path) -> None:
    linear = {"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 1000}}
    model = _train(tmp_path, "lin", linear, 600)
    X, _ = model.check(mixed_frame(ROWS, seed=3).drop(columns=["label", "note", "day"]))
    assert model.score_rows(X, proba=True, threads=4).threads == 1


def test_loading_and_predicting_import_no_config_models(forest: dict[str, Any]) -> None:
    """The config's pydantic models are for training and validating configs: a process that only
    loads a version and predicts (`mlpact predict`, a cold `mlpact.load`) does not pay for them."""
    folder = forest["folder"]
    code = (
        "import sys, warnings\n"
        "warnings.simplefilter('ignore')\n"
        "import mlpact\n"
        f"mlpact.predict('trees:1', {str(folder / 'rows.parquet')!r}, {str(folder / 'cold.parquet')!r}, "
        f"store={str(folder / 'store')!r})\n"
        "print(','.join(m for m in ('pydantic', 'mlpact.config') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (folder / "cold.parquet").exists()
    assert out.stdout.strip() == ""


def test_an_error_while_a_chunk_is_scored_behind_stops_the_run_and_writes_nothing(
    forest: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks are scored in a background thread while the next is validated: an error there
    still reaches the caller as itself, and the output is not written (nor left half-written)."""
    folder, model = forest["folder"], forest["model"]
    real = type(model).output
    calls: list[int] = []

    def second_fails(self: Any, X: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(X))
        if len(calls) == 2:
            raise DataError("trees:1 could not score this input although it passed the schema checks.")
        return real(self, X, *args, **kwargs)

    monkeypatch.setattr(type(model), "output", second_fails)
    with pytest.raises(DataError, match="could not score this input"):
        predict(model, folder / "rows.parquet", folder / "broken.parquet", chunk_rows=10_000)
    assert not (folder / "broken.parquet").exists()
    assert not list(folder.glob(".broken.parquet.*"))  # the temporary file is gone too
    assert len(calls) <= 3  # the run stopped at the failed chunk, not after the whole file
