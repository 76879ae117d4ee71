"""Batch prediction: streamed chunks, formats, kept columns, nothing written on error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mlpact
from mlpact.errors import DataError, InputValidationError
from mlpact.predict import predict_file


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
    with pytest.raises(DataError, match="must differ"):
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
