"""Data: sources, task inference, seeded splits and fingerprints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import mixed_frame, wine_config
from mlpact.config import load_config
from mlpact.data.sources import (
    fingerprint,
    infer_task,
    load_frame,
    load_sklearn_dataset,
    read_table,
    table_format,
)
from mlpact.data.split import split_rows
from mlpact.errors import DataError


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


def test_unknown_extension_says_what_to_do() -> None:
    with pytest.raises(DataError, match=r"expected \.csv or \.parquet") as info:
        table_format("data.xlsx")
    assert info.value.hint == "Rename the file or set data.format."


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
