"""Batch prediction: streamed chunks, formats, kept columns, nothing written on error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mlpact
from mlpact.errors import DataError, ExitCode, InputValidationError
from mlpact.prediction import predict_file


@pytest.fixture
def wine_model(trained_wine: dict[str, Any]) -> Any:
    return mlpact.load(trained_wine["ref"], store=trained_wine["store"])


def _inputs(trained_wine: dict[str, Any]) -> pd.DataFrame:
    X = trained_wine["frame"].drop(columns="target").copy()
    X.insert(0, "sample", [f"s{i}" for i in range(len(X))])
    return X


@pytest.mark.parametrize(
    "src_ext, out_ext",
    [(".csv", ".csv"), (".csv", ".parquet"), (".parquet", ".csv"), (".parquet", ".parquet")],
)
def test_chunked_output_equals_one_shot_predictions(
    trained_wine: dict[str, Any], wine_model: Any, tmp_path: Path, src_ext: str, out_ext: str
) -> None:
    X = _inputs(trained_wine)
    src = tmp_path / f"in{src_ext}"
    X.to_csv(src, index=False) if src_ext == ".csv" else X.to_parquet(src)
    out = tmp_path / f"out{out_ext}"
    result = predict_file(wine_model, src, out, keep=["sample"], chunk_rows=50)
    assert result.rows == len(X)
    got = pd.read_csv(out) if out_ext == ".csv" else pd.read_parquet(out)
    assert list(got.columns) == ["sample", "prediction", "proba_0", "proba_1", "proba_2"]
    assert got["sample"].tolist() == X["sample"].tolist()
    expected = wine_model.pipeline.predict_proba(X.drop(columns="sample").astype("float64"))
    assert np.allclose(got[["proba_0", "proba_1", "proba_2"]].to_numpy(), expected)
    assert got["prediction"].tolist() == expected.argmax(axis=1).tolist()
    assert [p.check for p in result.report.warnings] == ["out_of_range"] * len(result.report.warnings)


def test_errors_in_a_late_chunk_write_nothing_and_report_all_rows(
    trained_wine: dict[str, Any], wine_model: Any, tmp_path: Path
) -> None:
    X = _inputs(trained_wine).astype({"alcohol": object})
    X.loc[5, "alcohol"] = "unknown"
    X.loc[170, "alcohol"] = "??"
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    X.to_csv(src, index=False)
    out.write_text("previous content")
    with pytest.raises(
        InputValidationError, match=r"alcohol: 2 values cannot be converted to float \(rows 6, 171\)"
    ):
        predict_file(wine_model, src, out, keep=["sample"], chunk_rows=40)
    assert out.read_text() == "previous content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_regression_output_has_only_predictions(tmp_path: Path) -> None:
    result = mlpact.train(
        {
            "name": "diabetes",
            "data": {"source": "sklearn:diabetes"},
            "model": {"type": "sklearn.linear_model.Ridge"},
            "evaluate": {"cv_folds": 0},
        },
        store=tmp_path / "store",
    )
    model = mlpact.load(result.ref, store=tmp_path / "store")
    from sklearn.datasets import load_diabetes

    X = load_diabetes(as_frame=True).data
    X.to_parquet(tmp_path / "in.parquet")
    predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet")
    got = pd.read_parquet(tmp_path / "out.parquet")
    assert list(got.columns) == ["prediction"]
    assert np.allclose(got["prediction"], model.pipeline.predict(X))


@pytest.mark.parametrize(
    "keep, message", [(["nope"], r"--keep names columns that are not in the input: \['nope'\]")]
)
def test_keep_must_name_input_columns(
    trained_wine: dict[str, Any], wine_model: Any, tmp_path: Path, keep: list[str], message: str
) -> None:
    _inputs(trained_wine).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(DataError, match=message):
        predict_file(wine_model, tmp_path / "in.csv", tmp_path / "out.csv", keep=keep)
    assert not (tmp_path / "out.csv").exists()


def test_input_must_exist_and_differ_from_output(wine_model: Any, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        predict_file(wine_model, tmp_path / "none.csv", tmp_path / "out.csv")
    (tmp_path / "same.csv").write_text("a\n1\n")
    with pytest.raises(DataError, match="Expected an output file other than the input, found -o naming"):
        predict_file(wine_model, tmp_path / "same.csv", tmp_path / "same.csv")


def test_empty_input_writes_an_empty_table_with_the_output_columns(
    trained_wine: dict[str, Any], wine_model: Any, tmp_path: Path
) -> None:
    _inputs(trained_wine).head(0).to_parquet(tmp_path / "in.parquet")
    result = predict_file(wine_model, tmp_path / "in.parquet", tmp_path / "out.csv")
    assert result.rows == 0
    assert pd.read_csv(tmp_path / "out.csv").columns.tolist() == [
        "prediction",
        "proba_0",
        "proba_1",
        "proba_2",
    ]


# --------------------------------------------------------------------------- values no model can use
def _put(column: str, rows: Any, value: Any) -> Any:
    def change(frame: pd.DataFrame) -> None:
        frame[column] = frame[column].astype(object)
        for row in [rows] if isinstance(rows, int) else rows:
            frame.at[row, column] = value

    return change


def _whole(column: str, value: Any) -> Any:
    def change(frame: pd.DataFrame) -> None:
        frame[column] = [value] * len(frame)

    return change


CRAFTED = [  # (case, formats, change to 30 good rows of the mixed data, expected error line)
    ("inf", ["csv", "parquet"], _put("x", 2, np.inf), "x: 1 value cannot be converted to float (row 3)"),
    ("-inf and 1e308", ["csv", "parquet"], _put("x", [2, 5], -1e308),
     "x: 2 values cannot be converted to float (rows 3, 6)"),
    ("1e39", ["csv", "parquet"], _put("count", 7, 1e39), "count: 1 value cannot be converted to int (row 8)"),
    ("lists in a number column", ["parquet"], _whole("x", [1.0, 2.0]),
     "x: 30 values cannot be converted to float (rows 1, 2, 3, 4, 5, ...)"),
    ("bytes in a category column", ["parquet"], _whole("color", b"red\xff"),
     "color: 30 values cannot be converted to category (rows 1, 2, 3, 4, 5, ...)"),
    ("mappings in a text column", ["parquet"], _whole("note", {"a": 1}),
     "note: 30 values cannot be converted to text (rows 1, 2, 3, 4, 5, ...)"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "fmt", "change", "expected"),
    [pytest.param(c, fmt, ch, e, id=f"{c}-{fmt}") for c, formats, ch, e in CRAFTED for fmt in formats],
)
def test_predict_refuses_values_no_model_can_use(
    trained_mixed: dict[str, Any], tmp_path: Path, case: str, fmt: str, change: Any, expected: str
) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    frame = trained_mixed["frame"].drop(columns="label").head(30).copy()
    change(frame)
    source = tmp_path / f"input.{fmt}"
    frame.to_csv(source, index=False) if fmt == "csv" else frame.to_parquet(source, index=False)
    out = tmp_path / "out.csv"
    args = [
        "predict",
        trained_mixed["ref"],
        str(source),
        "-o",
        str(out),
        "--store",
        str(trained_mixed["store"]),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == ExitCode.INPUT, result.output
    assert f"error: {expected}" in result.output
    assert not out.exists() and "Traceback" not in result.output


def test_a_list_column_the_model_does_not_use_is_ignored(
    trained_mixed: dict[str, Any], tmp_path: Path
) -> None:
    frame = trained_mixed["frame"].drop(columns="label").head(30).assign(tags=[[1, 2]] * 30)
    frame.to_parquet(tmp_path / "input.parquet", index=False)
    model = mlpact.load(trained_mixed["ref"], store=trained_mixed["store"])
    result = predict_file(model, tmp_path / "input.parquet", tmp_path / "out.csv")
    assert result.rows == 30 and len(pd.read_csv(tmp_path / "out.csv")) == 30


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_predict_refuses_duplicate_column_names(wine_model: Any, tmp_path: Path, fmt: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    X = wine_model.schema.names
    values = np.ones((5, len(X) + 1))
    source = tmp_path / f"input.{fmt}"
    names = [*X, X[0]]
    if fmt == "csv":
        source.write_text(",".join(names) + "\n" + "\n".join(",".join(map(str, r)) for r in values) + "\n")
    else:
        pq.write_table(pa.table([pa.array(c) for c in values.T], names=names), source)
    with pytest.raises(DataError, match=rf"has duplicate column names: '{X[0]}' \(2 columns\)"):
        predict_file(wine_model, source, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
