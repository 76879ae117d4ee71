"""mlpact.prediction.ray: `predict --engine ray` gives the local engine's output, order and report."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("ray")
pytest.importorskip("ray.data")

import ray

import mlpact
from conftest import mixed_frame, write_config
from mlpact.errors import DataError, InputValidationError
from mlpact.prediction import predict_file
from mlpact.prediction.ray import parquet_files, predict_ray, row_groups


@pytest.fixture(scope="module", autouse=True)
def ray_session() -> Iterator[None]:
    """One local Ray for the module (2 CPUs, no dashboard), always shut down."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("ray-predict")
    frame = mixed_frame(400)
    frame.drop(columns=["id"]).to_csv(folder / "train.csv", index=False)
    cfg = write_config(folder, {"name": "mixed", "data": {"source": "train.csv", "target": "label"},
                                "model": {"type": "sklearn.linear_model.LogisticRegression"},
                                "evaluate": {"cv_folds": 0, "plots": False}})  # fmt: skip
    result = mlpact.train(cfg, store=folder / "store")
    model = mlpact.load(result.ref, store=folder / "store")
    rows = mixed_frame(1000, seed=3).drop(columns=["label"])
    parts = folder / "parts"
    parts.mkdir()
    for i, start in enumerate(range(0, 1000, 400)):  # 3 files of 400, 400, 200 rows
        table = pa.Table.from_pandas(rows.iloc[start : start + 400], preserve_index=False)
        pq.write_table(table, parts / f"part-{i}.parquet", row_group_size=150)
    pq.write_table(
        pa.Table.from_pandas(rows, preserve_index=False), folder / "all.parquet", row_group_size=170
    )
    return {"folder": folder, "model": model, "rows": rows, "parts": parts, "store": folder / "store",
            "ref": result.ref}  # fmt: skip


def test_ray_output_equals_the_local_engine_row_for_row(mixed: dict[str, Any]) -> None:
    folder, model = mixed["folder"], mixed["model"]
    local = predict_file(model, folder / "all.parquet", folder / "local.parquet", keep=["id"], chunk_rows=128)
    done = predict_ray(model, mixed["parts"], folder / "ray.parquet", keep=["id"], workers=2, chunk_rows=128)
    ours, theirs = pd.read_parquet(folder / "ray.parquet"), pd.read_parquet(folder / "local.parquet")
    pd.testing.assert_frame_equal(ours, theirs)
    assert list(ours["id"]) == list(mixed["rows"]["id"])  # input order is kept
    assert done.rows == local.rows == 1000
    assert done.report.to_dict() == local.report.to_dict()
    assert len(row_groups(parquet_files(mixed["parts"]))) == 8  # 3 + 3 + 2


def test_bad_rows_give_the_same_errors_and_nothing_is_written(mixed: dict[str, Any]) -> None:
    folder, model = mixed["folder"], mixed["model"]
    bad = mixed["rows"].copy()
    bad["count"] = bad["count"].astype(str)
    bad.loc[[5, 700], "count"] = "lots"  # not a number: an error, in two different row groups
    bad.loc[[10, 11, 900], "color"] = "purple"  # unseen category: a warning under the default policy
    pq.write_table(
        pa.Table.from_pandas(bad, preserve_index=False), folder / "bad.parquet", row_group_size=170
    )
    with pytest.raises(InputValidationError) as local:
        predict_file(model, folder / "bad.parquet", folder / "bad-local.parquet", chunk_rows=100)
    with pytest.raises(InputValidationError) as remote:
        predict_ray(model, folder / "bad.parquet", folder / "bad-ray.parquet", chunk_rows=100)
    assert str(remote.value) == str(local.value)
    assert "rows 6, 701" in str(remote.value) and "purple" in str(remote.value)
    assert not (folder / "bad-ray.parquet").exists()


def test_warnings_are_reported_like_the_local_engine(mixed: dict[str, Any]) -> None:
    folder, model = mixed["folder"], mixed["model"]
    odd = mixed["rows"].copy()
    odd.loc[[3, 600], "color"] = "purple"
    pq.write_table(
        pa.Table.from_pandas(odd, preserve_index=False), folder / "odd.parquet", row_group_size=250
    )
    local = predict_file(model, folder / "odd.parquet", folder / "odd-local.parquet")
    remote = predict_ray(model, folder / "odd.parquet", folder / "odd-ray.parquet", workers=1)
    assert remote.report.format() == local.report.format() and "rows 4, 601" in remote.report.format()
    np.testing.assert_array_equal(
        pd.read_parquet(folder / "odd-ray.parquet")["prediction"],
        pd.read_parquet(folder / "odd-local.parquet")["prediction"],
    )


@pytest.mark.parametrize(
    "where, message",
    [("missing.parquet", "does not exist"), ("train.csv", "--engine ray reads Parquet")],
)
def test_inputs_the_ray_engine_refuses(mixed: dict[str, Any], where: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        predict_ray(mixed["model"], mixed["folder"] / where, mixed["folder"] / "x.parquet")


def test_a_missing_keep_column_is_refused_before_ray_starts(mixed: dict[str, Any]) -> None:
    with pytest.raises(DataError, match="--keep names columns that are not in the input: \\['nope'\\]"):
        predict_ray(mixed["model"], mixed["parts"], mixed["folder"] / "x.parquet", keep=["nope"])


def test_cli_engine_ray(mixed: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    out = mixed["folder"] / "cli.parquet"
    done = CliRunner().invoke(app, ["predict", mixed["ref"], str(mixed["parts"]), "-o", str(out), "--engine", "ray",
                                    "--workers", "1", "--keep", "id", "--store", str(mixed["store"])])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "Wrote 1,000 predictions" in done.output and len(pd.read_parquet(out)) == 1000
    bad = CliRunner().invoke(app, ["predict", mixed["ref"], str(mixed["parts"]), "-o", str(out), "--engine", "spark",
                                   "--store", str(mixed["store"])])  # fmt: skip
    assert bad.exit_code == 2 and "expected local or ray" in bad.output


def test_ray_actors_score_through_the_compiled_form_and_count_it(mixed: dict[str, Any]) -> None:
    folder = mixed["folder"]
    cfg = write_config(folder, {"name": "plain", "data": {"source": "train.csv", "target": "label",
                                                          "drop": ["note", "day"]},
                                "model": {"type": "sklearn.linear_model.LogisticRegression"},
                                "evaluate": {"cv_folds": 0, "plots": False}}, name="plain.yaml")  # fmt: skip
    model = mlpact.load(mlpact.train(cfg, store=folder / "store").ref, store=folder / "store")
    done = predict_ray(
        model, folder / "all.parquet", folder / "ray-fast.parquet", keep=["id"], chunk_rows=128
    )
    slow = predict_ray(
        model, folder / "all.parquet", folder / "ray-slow.parquet", keep=["id"], compiled=False
    )
    # chunks of 128 rows, under BATCH_ROWS: each actor builds the compiled form when it starts
    assert (done.scored_by, slow.scored_by) == ("compiled", "scikit-learn")
    pd.testing.assert_frame_equal(
        pd.read_parquet(folder / "ray-fast.parquet"), pd.read_parquet(folder / "ray-slow.parquet")
    )
