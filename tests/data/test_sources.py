"""Data: sources, task inference, seeded splits and fingerprints."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import mixed_frame, wine_config, write_config
from mlpact.config import load_config
from mlpact.data.sources import (
    classification_target,
    fingerprint,
    infer_task,
    load_frame,
    load_sklearn_dataset,
    read_table,
    table_format,
)
from mlpact.data.split import split_rows
from mlpact.errors import DataError, ExitCode


@pytest.mark.parametrize(
    "name, rows, target_kind",
    [
        ("iris", 150, "i"),
        ("wine", 178, "i"),
        ("breast_cancer", 569, "i"),
        ("diabetes", 442, "f"),
        ("digits", 1797, "i"),
    ],
)
def test_sklearn_datasets_have_a_target_column(name: str, rows: int, target_kind: str) -> None:
    frame = load_sklearn_dataset(name)
    assert len(frame) == rows
    assert frame["target"].dtype.kind == target_kind
    assert all(isinstance(c, str) for c in frame.columns)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_csv_and_parquet_read_the_same(tmp_path: Path, suffix: str) -> None:
    frame = mixed_frame(50)
    path = tmp_path / f"d{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    back = read_table(path)
    assert list(back.columns) == list(frame.columns)
    assert len(back) == 50


@pytest.mark.parametrize(
    "name, fmt, expected",
    [
        ("a.csv", "auto", "csv"),
        ("a.PARQUET", "auto", "parquet"),
        ("a.tsv", "auto", "csv"),
        ("a.data", "parquet", "parquet"),
    ],
)
def test_table_format(name: str, fmt: str, expected: str) -> None:
    assert table_format(name, fmt) == expected


@pytest.mark.parametrize(
    "name, found, hint",
    [
        ("data.xlsx", "found '.xlsx'", "Save the workbook as CSV"),
        ("data.json", "found '.json'", "Rename the file to the format it holds"),
        ("data", "found no extension", "data.format: csv or parquet"),
    ],
)
def test_unknown_extension_says_what_to_do(name: str, found: str, hint: str) -> None:
    with pytest.raises(
        DataError, match=rf"expected a CSV file \(\.csv, .*or a Parquet file .*{found}"
    ) as info:
        table_format(name)
    assert hint in str(info.value.hint)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "nope.csv")


def test_garbage_parquet_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="Failed while reading PARQUET file"):
        read_table(path)


def test_columns_named_in_config_must_exist(tmp_path: Path) -> None:
    cfg = load_config(wine_config(data={"source": "sklearn:wine", "target": "quality", "drop": ["colour"]}))
    with pytest.raises(DataError, match=r"not in the data: \['colour', 'quality'\]"):
        load_frame(cfg)


def test_columns_selects_features_and_keeps_the_target() -> None:
    cfg = load_config(wine_config(data={"source": "sklearn:wine", "columns": ["alcohol", "hue"]}))
    assert list(load_frame(cfg).columns) == ["alcohol", "hue", "target"]


@pytest.mark.parametrize(
    "values, expected",
    [
        (["a", "b", "a", "b"] * 5, "classification"),
        ([True, False] * 10, "classification"),
        ([0, 1, 2] * 10, "classification"),
        ([0.0, 1.0] * 10, "classification"),
        (list(np.linspace(0, 1, 40)), "regression"),
        (list(range(200)), "regression"),
    ],
)
def test_infer_task(values: list[object], expected: str) -> None:
    assert infer_task(pd.Series(values)) == expected


def test_requested_task_wins() -> None:
    assert infer_task(pd.Series([0, 1] * 10), "regression") == "regression"


def _cfg(**split: object) -> object:
    return load_config(wine_config(data={"source": "sklearn:wine", "split": split}))


def test_split_is_stratified_seeded_and_disjoint() -> None:
    frame = load_sklearn_dataset("wine")
    a = split_rows(frame, _cfg(), "classification")
    b = split_rows(frame, _cfg(), "classification")
    assert a.strategy == "stratified"
    assert np.array_equal(a.train, b.train) and np.array_equal(a.test, b.test)
    assert not set(a.train) & set(a.test)
    assert len(a.train) + len(a.test) == len(frame)
    full = frame["target"].value_counts(normalize=True).sort_index()
    test = frame["target"].iloc[a.test].value_counts(normalize=True).sort_index()
    assert np.allclose(full, test, atol=0.03)
    other = split_rows(frame, load_config(wine_config(seed=1)), "classification")
    assert not np.array_equal(a.test, other.test)


def test_group_split_keeps_groups_together() -> None:
    frame = load_sklearn_dataset("wine")
    frame["patient"] = np.arange(len(frame)) // 4
    split = split_rows(frame, _cfg(group_column="patient"), "classification")
    assert split.strategy == "group"
    assert not set(frame["patient"].iloc[split.train]) & set(frame["patient"].iloc[split.test])


def test_time_split_tests_on_the_latest_rows() -> None:
    frame = load_sklearn_dataset("wine")
    frame["when"] = pd.date_range("2020-01-01", periods=len(frame), freq="D").strftime("%Y-%m-%d")
    frame = frame.sample(frac=1, random_state=0).reset_index(drop=True)
    split = split_rows(frame, _cfg(time_column="when"), "classification")
    assert split.strategy == "time"
    assert frame["when"].iloc[split.train].max() < frame["when"].iloc[split.test].min()


def test_split_without_stratification_warns_about_singleton_classes() -> None:
    frame = pd.DataFrame({"x": range(20), "target": [0] * 10 + [1] * 9 + [2]})
    split = split_rows(frame, _cfg(), "classification")
    assert split.strategy == "random"
    assert "classes with a single row: ['2']" in split.warnings[0]


def test_too_few_rows() -> None:
    with pytest.raises(DataError, match="Too few rows"):
        split_rows(pd.DataFrame({"x": [1, 2], "target": [0, 1]}), _cfg(), "classification")


def test_fingerprint_depends_on_values_not_on_index_or_file() -> None:
    frame = mixed_frame(30)
    same = frame.copy()
    same.index = same.index + 100
    assert fingerprint(frame) == fingerprint(same)
    changed = frame.copy()
    changed.loc[3, "count"] = 99
    assert fingerprint(frame) != fingerprint(changed)
    assert fingerprint(frame) != fingerprint(frame.rename(columns={"x": "y"}))


# --------------------------------------------------------------------------- data no model can use
ROWS = 120


def _frame(seed: int = 0, **columns: Any) -> pd.DataFrame:
    """Two numeric features and a text class that follows x; `columns` replaces or adds columns."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=ROWS)
    frame = pd.DataFrame({"x": x, "z": rng.normal(size=ROWS), "y": np.where(x > 0, "yes", "no")})
    for name, values in columns.items():
        frame[name] = values(frame) if callable(values) else values
    return frame


def _at(column: str, rows: slice | int, value: Any) -> Any:
    def put(frame: pd.DataFrame) -> pd.Series:
        values = frame[column].astype(object if isinstance(value, str) else frame[column].dtype).copy()
        values.iloc[rows] = value
        return values

    return put


def _write(frame: pd.DataFrame, folder: Path, fmt: str) -> Path:
    path = folder / f"data.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def _write_duplicates(folder: Path, fmt: str, names: list[str]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    columns = [rng.normal(size=ROWS) for _ in names[:-1]] + [np.where(np.arange(ROWS) % 2, "yes", "no")]
    path = folder / f"data.{fmt}"
    if fmt == "csv":
        lines = [",".join(names)] + [",".join(str(c[i]) for c in columns) for i in range(ROWS)]
        path.write_text("\n".join(lines) + "\n")
    else:
        pq.write_table(pa.table([pa.array(c) for c in columns], names=names), path)
    return path


def _train_cli(folder: Path, source: Path, monkeypatch: pytest.MonkeyPatch, **data: Any) -> Any:
    """`mlpact train` on `source`, with every fit (and the leakage probes) made to fail loudly."""
    from sklearn.pipeline import Pipeline
    from typer.testing import CliRunner

    from mlpact.cli import app

    def fitted(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("something was fitted before the data was refused")

    monkeypatch.setattr(Pipeline, "fit", fitted)
    monkeypatch.setattr("mlpact.data.leakage.check_split", fitted)
    config = write_config(folder, {**wine_config(), "data": {"source": str(source), "target": "y", **data}})
    return CliRunner().invoke(app, ["train", str(config), "--store", str(folder / "store")])


UNUSABLE = [  # (case, formats, frame, expected message)
    ("inf feature", ["csv", "parquet"], _frame(x=_at("x", 3, np.inf)), r"'x': 1 infinite number \(row 4\)"),
    ("-inf feature", ["csv", "parquet"], _frame(z=_at("z", [0, 9], -np.inf)),
     r"'z': 2 infinite numbers \(rows 1, 10\)"),
    ("1e308 feature", ["csv", "parquet"], _frame(x=_at("x", 3, 1e308)),
     r"'x': 1 number beyond ±3\.4e\+38 \(row 4\)"),
    ("huge in two columns", ["csv", "parquet"], _frame(x=_at("x", slice(3, 11), 1e308), z=_at("z", slice(11, 21), -1e39)),
     r"'x': 8 numbers beyond ±3\.4e\+38 \(rows 4, 5, 6, 7, 8, \.\.\.\)\n  - 'z': 10 numbers beyond ±3\.4e\+38 "
     r"\(rows 12, 13, 14, 15, 16, \.\.\.\)\nExpected in every cell a number within ±3\.4e\+38"),
    ("1e308 regression target", ["csv", "parquet"], _frame(y=lambda f: f["x"] * 3 + 1).assign(y=_at("y", 3, 1e308)), r"'y': 1 number beyond ±3\.4e\+38 \(row 4\)"),
    ("inf regression target", ["csv", "parquet"], _frame(y=lambda f: f["x"] * 3).assign(y=_at("y", 7, np.inf)),
     r"'y': 1 infinite number \(row 8\)"),
    ("list column", ["parquet"], _frame(tags=[[1, 2, i] for i in range(ROWS)]), r"'tags': 120 lists \(rows 1, 2, 3, 4, 5, \.\.\.\)"),
    ("struct column", ["parquet"], _frame(info=[{"a": i} for i in range(ROWS)]), r"'info': 120 mappings \(rows 1, 2"),
    ("binary column", ["parquet"], _frame(blob=[bytes([i % 256, 0, 255]) for i in range(ROWS)]),
     r"'blob': 120 bytes values \(rows 1, 2"),
    ("some binary values", ["parquet"], _frame(blob=[b"\xff" if i in (5, 50) else None for i in range(ROWS)]),
     r"'blob': 2 bytes values \(rows 6, 51\)"),
    ("list target", ["parquet"], _frame(y=[[i % 2] for i in range(ROWS)]), r"'y': 120 lists"),
    ("binary target", ["parquet"], _frame(y=[b"yes" if i % 2 else b"no" for i in range(ROWS)]), r"'y': 120 bytes values"),
    ("one class", ["csv", "parquet"], _frame(y="only"),
     r"The target 'y' has 1 class \('only'\) in 120 rows: a classifier needs at least two classes\."),
    ("an identifier as target", ["csv", "parquet"], _frame(y=[f"id-{i}" for i in range(ROWS)]),
     r"The target 'y' has 120 classes in 120 rows: a classifier needs at least two rows per class"),
    ("more classes than half the rows", ["csv"], _frame(y=[f"c{i % 61}" for i in range(ROWS)]),
     r"The target 'y' has 61 classes in 120 rows"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "fmt", "frame", "message"),
    [pytest.param(c, fmt, f, m, id=f"{c}-{fmt}") for c, formats, f, m in UNUSABLE for fmt in formats],
)
def test_training_refuses_data_no_model_can_use_before_fitting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, fmt: str, frame: pd.DataFrame, message: str
) -> None:
    result = _train_cli(tmp_path, _write(frame, tmp_path, fmt), monkeypatch)
    assert result.exit_code == ExitCode.INPUT, result.output
    assert re.search(message, result.output), result.output
    assert "Hint: " in result.output and "Traceback" not in result.output
    assert not list((tmp_path / "store" / "models").glob("*/*"))  # no version


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize(
    ("names", "found"),
    [(["x", "x", "z", "y"], "'x' (2 columns)"), (["x", "y", "y"], "'y' (2 columns)"),
     (["a", "a", "b", "b", "b", "y"], "'a' (2 columns), 'b' (3 columns)")],
)  # fmt: skip
def test_duplicate_column_names_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, names: list[str], found: str
) -> None:
    source = _write_duplicates(tmp_path, fmt, names)
    result = _train_cli(tmp_path, source, monkeypatch)
    assert result.exit_code == ExitCode.INPUT, result.output
    assert f"has duplicate column names: {found}. Expected every column name once" in result.output
    assert "Hint: Rename or remove the duplicate columns in the file." in result.output


def test_a_csv_column_really_named_like_a_renamed_duplicate_is_fine(tmp_path: Path) -> None:
    frame = _frame()
    frame["x.1"] = frame["x"] * 2  # looks like pandas' name for a second `x`, but is written so
    frame.to_csv(tmp_path / "data.csv", index=False)
    assert list(read_table(tmp_path / "data.csv").columns) == ["x", "z", "y", "x.1"]


@pytest.mark.parametrize(
    ("model", "y", "task", "message", "code"),
    [
        ("sklearn.linear_model.LogisticRegression", lambda f: f["x"] * 10, "auto",
         "Use a regressor (e.g. sklearn.linear_model.Ridge), or set data.task: classification if these "
         "values are class labels.", ExitCode.CONFIG),
        ("sklearn.linear_model.Ridge", None, "auto",
         "('yes', 'no'): expected a classifier Hint: Use a classifier (e.g. "
         "sklearn.linear_model.LogisticRegression).", ExitCode.CONFIG),
        ("sklearn.linear_model.Ridge", lambda f: (f["x"] > 0).astype(int), "classification",
         "Hint: Use a classifier, or set data.task: regression if that is what the target is.",
         ExitCode.CONFIG),
        ("sklearn.linear_model.LogisticRegression", lambda f: np.where(f["x"] > 0, 1.0, 2.5), "classification",
         "The target 'y' holds numbers that are not whole (2 distinct values): scikit-learn's classifiers "
         "take integers, text or booleans as class labels.", ExitCode.INPUT),
    ],
)  # fmt: skip
def test_a_model_that_cannot_fit_the_target_is_refused_before_fitting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str, y: Any, task: str, message: str, code: int
) -> None:
    frame = _frame(**({"y": y} if y is not None else {}))
    source = _write(frame, tmp_path, "csv")
    config = {**wine_config(), "model": {"type": model}}
    config["data"] = {"source": str(source), "target": "y", "task": task}
    from sklearn.pipeline import Pipeline
    from typer.testing import CliRunner

    from mlpact.cli import app

    monkeypatch.setattr(Pipeline, "fit", lambda *a, **k: pytest.fail("fitted"))
    result = CliRunner().invoke(
        app, ["train", str(write_config(tmp_path, config)), "--store", str(tmp_path / "s")]
    )
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split())


def test_a_list_column_left_out_with_data_drop_trains(tmp_path: Path) -> None:
    import mlpact

    frame = _frame(tags=[[1, 2, i] for i in range(ROWS)])
    source = _write(frame, tmp_path, "parquet")
    config = {**wine_config(), "data": {"source": str(source), "target": "y", "drop": ["tags"]}}
    result = mlpact.train(config, store=tmp_path / "store")
    assert "tags" not in result.schema.names and result.metrics["test"]["accuracy"] > 0.8


# --------------------------------------------------------------------------- class targets that train
FAST = {"cv_folds": 2, "plots": False, "leakage": False, "baseline": False, "importance_repeats": 0}


def _bool_with_missing(frame: pd.DataFrame) -> pd.Series:
    return pd.Series([None if i % 17 == 0 else bool(v > 0) for i, v in enumerate(frame["x"])], dtype=object)


CLASS_TARGETS = [  # (case, formats, target values, expected classes)
    ("booleans with missing values", ["csv", "parquet"], _bool_with_missing, [False, True]),
    ("True/False in a CSV: booleans", ["csv"], lambda f: np.where(f["x"] > 0, "True", "False"), [False, True]),
    ("True/False as Parquet text: text", ["parquet"], lambda f: np.where(f["x"] > 0, "True", "False"), ["False", "True"]),
    ("numbers as text mixed with text", ["csv", "parquet"],
     lambda f: np.where(f["x"] > 0.5, "1", np.where(f["x"] > 0, "2", "yes")), ["1", "2", "yes"]),
    ("None and NaN in text", ["csv", "parquet"],
     lambda f: [None if i % 9 == 0 else ("yes" if v > 0 else "no") for i, v in enumerate(f["x"])], ["no", "yes"]),
    ("unicode and spaces", ["csv", "parquet"], lambda f: np.where(f["x"] > 1, " ja ✓", np.where(f["x"] > 0, "ja ✓", "нет")),
     [" ja ✓", "ja ✓", "нет"]),
    ("a category with an unused category", ["parquet"],
     lambda f: pd.Categorical(np.where(f["x"] > 0, "a", "b"), categories=["a", "b", "c"]), ["a", "b"]),
    ("more classes than test rows", ["csv"], lambda f: [f"c{i % 40}" for i in range(ROWS)], [f"c{i}" for i in range(40)]),
]  # fmt: skip


@pytest.mark.filterwarnings(
    "ignore::mlpact.version.model.InputWarning"
)  # rows outside the training split's range
@pytest.mark.parametrize(
    ("case", "fmt", "y", "classes"),
    [pytest.param(c, fmt, y, k, id=f"{c}-{fmt}") for c, formats, y, k in CLASS_TARGETS for fmt in formats],
)
def test_class_targets_of_every_kind_train(
    tmp_path: Path, case: str, fmt: str, y: Any, classes: list[Any]
) -> None:
    import mlpact

    source = _write(_frame(y=y), tmp_path, fmt)
    # 3 rows a class: too few for stratified folds, which are refused (docs/behaviour.md)
    evaluate = {**FAST, "cv_folds": 0} if case == "more classes than test rows" else FAST
    config = {**wine_config(), "data": {"source": str(source), "target": "y"}, "evaluate": evaluate}
    result = mlpact.train(config, store=tmp_path / "store")
    assert result.schema.target is not None
    assert sorted(result.schema.target.classes, key=str) == sorted(classes, key=str)
    model = mlpact.load(result.ref, store=tmp_path / "store")
    assert set(model.predict(_frame().drop(columns="y"))) <= set(classes)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([True, False, None, True], [True, False, True]),  # bools read as objects
        (["yes", 1, 2.5, "no"], ["yes", "1", "2.5", "no"]),  # a mix of types: all text
        ([1, 2.0, 3, 1], [1.0, 2.0, 3.0, 1.0]),  # ints and floats read as objects: numbers
        ([np.int64(1), "a", "a", np.int64(1)], ["1", "a", "a", "1"]),
    ],
)
def test_classification_target_gives_one_plain_type(values: list[Any], expected: list[Any]) -> None:
    y = pd.Series(values * 3, name="y", dtype=object).dropna()  # objects, as a Python frame may hold
    assert classification_target(y, rows=len(y)).tolist() == expected * 3
