"""mlpact.mlflow_export: a version as an MLflow model that predicts exactly like mlpact.load."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("mlflow")

import mlpact
from conftest import free_port, mixed_frame, wait_until_answers, write_config
from mlpact.errors import DataError
from mlpact.mlflow_export import example_rows, export_mlflow


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A version on numbers, a category, a boolean, a date and text (logistic regression)."""
    folder = tmp_path_factory.mktemp("mixed")
    frame = mixed_frame().drop(columns=["id"])
    frame.to_csv(folder / "mixed.csv", index=False)
    cfg = write_config(folder, {"name": "mixed", "data": {"source": "mixed.csv", "target": "label"},
                                "model": {"type": "sklearn.linear_model.LogisticRegression"},
                                "evaluate": {"cv_folds": 0, "plots": False}})  # fmt: skip
    result = mlpact.train(cfg, store=folder / "store")
    out = export_mlflow(result.ref, folder / "mlflow-model", store=folder / "store")
    rows = frame.drop(columns=["label"]).head(60)
    rows["day"] = pd.to_datetime(rows["day"])
    return {"store": folder / "store", "ref": result.ref, "out": out, "rows": rows}


def test_pyfunc_predicts_exactly_like_mlpact(mixed: dict[str, Any]) -> None:
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(str(mixed["out"]))
    ours = mlpact.load(mixed["ref"], store=mixed["store"]).predict(mixed["rows"])
    np.testing.assert_array_equal(model.predict(mixed["rows"]), ours)
    assert set(ours) == {"yes", "no"}


def test_the_sklearn_flavour_is_the_fitted_pipeline(mixed: dict[str, Any]) -> None:
    import mlflow.sklearn

    pipeline = mlflow.sklearn.load_model(str(mixed["out"]))
    saved = mlpact.load(mixed["ref"], store=mixed["store"])
    X = saved.prepare(mixed["rows"])
    np.testing.assert_array_equal(pipeline.predict(X), saved.pipeline.predict(X))


def test_signature_follows_the_schema_and_metadata_keeps_the_categories(mixed: dict[str, Any]) -> None:
    from mlflow.models import Model

    spec = Model.load(str(mixed["out"] / "MLmodel"))
    types = {c.name: (c.type.to_dict()["type"] if c.type.__class__.__name__ == "AnyType" else c.type.name)
             for c in spec.signature.inputs.inputs}  # fmt: skip
    required = {c.name: c.required for c in spec.signature.inputs.inputs}
    assert types == {"x": "double", "count": "long", "color": "string", "flag": "boolean", "note": "string",
                     "day": "any"}  # dates arrived as text: MLflow has no type for text-or-datetime  # fmt: skip
    assert required == {"x": False, "count": True, "color": False, "flag": True, "note": True, "day": True}
    assert spec.signature.outputs.inputs[0].name == "prediction"
    color = next(c for c in spec.metadata["mlpact"]["schema"]["columns"] if c["name"] == "color")
    assert color["categories"] == ["blue", "green", "red"]
    assert spec.metadata["mlpact"]["ref"] == mixed["ref"]
    assert set(spec.flavors) == {"sklearn", "python_function"}
    assert spec.flavors["python_function"]["loader_module"] == "mlpact.mlflow_export"


def test_the_input_example_is_built_from_the_schema_and_validates(mixed: dict[str, Any]) -> None:
    saved = mlpact.load(mixed["ref"], store=mixed["store"])
    example = example_rows(saved.schema)
    assert len(example) == 3 and list(example.columns) == saved.schema.names
    assert saved.validate(example).ok and not saved.validate(example).warnings
    stored = json.loads((mixed["out"] / "input_example.json").read_text())
    assert stored["columns"] == saved.schema.names


def test_the_pyfunc_applies_the_validation_policy(mixed: dict[str, Any]) -> None:
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(str(mixed["out"]))
    rows = mixed["rows"].head(3).copy()
    rows["color"] = "purple"  # an unseen category: the default policy warns and predicts
    with pytest.warns(mlpact.model.InputWarning, match="purple"):
        model.predict(rows)


def test_export_refuses_a_folder_that_is_not_empty(mixed: dict[str, Any]) -> None:
    with pytest.raises(DataError, match="exists and is not an empty folder"):
        export_mlflow(mixed["ref"], mixed["out"], store=mixed["store"])


def test_a_pytorch_table_model_exports_as_pyfunc(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    import mlflow.pyfunc

    cfg = {"name": "iris-mlp", "data": {"source": "sklearn:iris"},
           "model": {"type": "mlpact.torch.models:MLP", "params": {"hidden_units": 8}},
           "train": {"epochs": 3, "batch_size": 16}, "evaluate": {"plots": False}}  # fmt: skip
    result = mlpact.train(cfg, store=tmp_path / "store")
    out = export_mlflow(result.ref, tmp_path / "m", store=tmp_path / "store")
    from sklearn.datasets import load_iris

    rows = load_iris(as_frame=True).frame.drop(columns="target").iloc[::7]  # inside the training range
    np.testing.assert_array_equal(
        mlflow.pyfunc.load_model(str(out)).predict(rows),
        mlpact.load(result.ref, store=tmp_path / "store").predict(rows),
    )
    assert "sklearn" not in (out / "MLmodel").read_text().split("flavors:")[1].split("metadata")[0]


def test_cli_export_format_mlflow(trained_wine: dict[str, Any], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    runner = CliRunner()
    store = str(trained_wine["store"])
    done = runner.invoke(app, ["models", "export", trained_wine["ref"], str(tmp_path / "w"),
                               "--format", "mlflow", "--store", store])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert (tmp_path / "w" / "MLmodel").exists() and (
        tmp_path / "w" / "mlpact_version" / "manifest.json"
    ).exists()
    bad = runner.invoke(app, ["models", "export", trained_wine["ref"], str(tmp_path / "v"),
                              "--format", "onnx", "--store", store])  # fmt: skip
    assert bad.exit_code == 2 and "expected mlpact or mlflow" in bad.output


@pytest.mark.slow
def test_mlflow_models_serve_predicts_like_mlpact(mixed: dict[str, Any]) -> None:
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
           "PYTHONPATH": os.pathsep.join(sys.path)}  # fmt: skip
    cmd = [os.path.join(bin_dir, "mlflow"), "models", "serve", "-m", str(mixed["out"]),
           "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/ping", proc, timeout=90)
        rows = mixed["rows"].head(20).copy()
        rows["day"] = rows["day"].dt.strftime("%Y-%m-%d")
        records = json.loads(rows.to_json(orient="records"))
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=json.dumps({"dataframe_records": records}).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            served = json.loads(response.read())["predictions"]
        ours = mlpact.load(mixed["ref"], store=mixed["store"]).predict(rows)
        assert served == list(ours)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


# --------------------------------------------------------------------------- what training data looked like
def _pyfunc_predicts_the_training_frame_like_mlpact(
    ref: str, store: Path, out: Path, frame: pd.DataFrame
) -> None:
    import mlflow.pyfunc

    export_mlflow(ref, out, store=store)
    ours = mlpact.load(ref, store=store).predict(frame)
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(str(out)).predict(frame), ours)


@pytest.mark.filterwarnings("ignore::mlpact.model.InputWarning")  # test rows out of the training range
@pytest.mark.parametrize("example", ["wine", "churn", "diabetes"])
def test_every_example_exports_a_model_that_takes_its_own_training_data(tmp_path: Path, example: str) -> None:
    from mlpact.config import load_config
    from mlpact.data import load_frame

    config = Path(__file__).resolve().parents[1] / "examples" / example / "config.yaml"
    fast = ["evaluate.cv_folds=0", "evaluate.profile=quick", "evaluate.leakage=false"]
    result = mlpact.train(config, fast, store=tmp_path / "s")
    cfg = load_config(config)
    frame = load_frame(cfg).drop(columns=[cfg.data.target])  # the training data as read
    _pyfunc_predicts_the_training_frame_like_mlpact(result.ref, tmp_path / "s", tmp_path / "m", frame)


def _nullable_frame(rows: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, rows)
    frame = pd.DataFrame(
        {
            "n": pd.array(rng.integers(0, 50, rows) + 10 * y, dtype="Int64"),
            "flag": pd.array(rng.random(rows) < 0.3 + 0.4 * y, dtype="boolean"),
            "kind": pd.Categorical(rng.choice(["a", "b", "c"], rows)),
            "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, rows), unit="D"),
            "y": y,
        }
    )
    frame.loc[::7, "n"] = pd.NA
    frame.loc[::11, "flag"] = pd.NA
    return frame


@pytest.mark.filterwarnings("ignore::mlpact.model.InputWarning")
def test_nullable_ints_bools_categories_and_dates_round_trip_through_mlflow(tmp_path: Path) -> None:
    from mlpact.data import read_table

    frame = _nullable_frame()
    frame.to_parquet(tmp_path / "t.parquet")
    cfg = write_config(tmp_path, {"name": "nullable", "data": {"source": "t.parquet", "target": "y"},
                                  "model": {"type": "sklearn.linear_model.LogisticRegression"},
                                  "evaluate": {"cv_folds": 0, "profile": "quick"}})  # fmt: skip
    result = mlpact.train(cfg, store=tmp_path / "s")
    read = read_table(tmp_path / "t.parquet").drop(columns=["y"])  # floats, objects, category, datetime
    _pyfunc_predicts_the_training_frame_like_mlpact(result.ref, tmp_path / "s", tmp_path / "m", read)
    import mlflow.pyfunc

    in_memory = frame.drop(columns=["y"])  # Int64 and boolean with pd.NA, as the user held it
    ours = mlpact.load(result.ref, store=tmp_path / "s").predict(in_memory)
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(str(tmp_path / "m")).predict(in_memory), ours)
