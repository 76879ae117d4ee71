"""mlpact.tracking: runs mirrored to a real (file-backed) MLflow tracking store, never at the
cost of the mlpact version."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import pytest

import mlpact
from conftest import wine_config
from mlpact import registry
from mlpact.config import load_config
from mlpact.tracking import RUN_ID_PARAM, TrackingWarning, flatten, version_metrics


@pytest.fixture(scope="module")
def uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One sqlite tracking store per module (creating one takes seconds); tests use their own
    experiments. (MLflow 3 refuses new file: stores unless MLFLOW_ALLOW_FILE_STORE is set.)"""
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    for name in ("wine", "iris-mlp-tracked", "failing", "wine-tuning"):  # artifacts in tmp, not ./mlruns
        client.create_experiment(name, artifact_location=(folder / "artifacts" / name).as_uri())
    return uri


def _runs(uri: str, experiment: str) -> list[Any]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    return list(client.search_runs([client.get_experiment_by_name(experiment).experiment_id]))


def test_tracking_is_not_part_of_the_config_hash() -> None:
    plain = load_config(wine_config())
    tracked = load_config(wine_config(tracking={"mlflow_uri": "file:./mlruns", "experiment": "x",
                                                "log_model": False, "tags": {"team": "a"}}))  # fmt: skip
    assert plain.hash() == tracked.hash()
    assert plain.hash() != load_config(wine_config(seed=7)).hash()


def test_an_unknown_tracking_key_is_a_config_error() -> None:
    with pytest.raises(mlpact.errors.ConfigError, match="tracking"):
        load_config(wine_config(tracking={"mlflow_url": "file:./mlruns"}))


def test_flatten_and_version_metrics_are_what_mlflow_gets() -> None:
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": {}, "e": None}) == {"a.b": 1, "a.c": "[1, 2]",
                                                                        "d": "{}", "e": None}  # fmt: skip
    metrics = {"test": {"accuracy": 0.9, "n": True}, "cv": {"metrics": {"accuracy": {"mean": 0.8, "std": 0.1,
               "folds": [1]}}}, "baseline": {"test": {"accuracy": 0.4}}}  # fmt: skip
    assert version_metrics(metrics) == {"test.accuracy": 0.9, "cv.accuracy.mean": 0.8,
                                        "cv.accuracy.std": 0.1, "baseline.test.accuracy": 0.4}  # fmt: skip


def test_mlflow_is_not_imported_without_tracking(tmp_path: Path) -> None:
    import subprocess

    code = ("import sys, mlpact; mlpact.train({'name': 'iris', 'data': {'source': 'sklearn:iris'}, "
            "'model': {'type': 'sklearn.tree.DecisionTreeClassifier'}, 'evaluate': {'cv_folds': 0, "
            f"'plots': False}}}}, store={str(tmp_path)!r}); print('mlflow' in sys.modules)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory, uri: str) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("tracked")
    cfg = wine_config(evaluate={"cv_folds": 3, "importance_repeats": 0}, secrets=["data.target"],
                      tracking={"mlflow_uri": uri, "tags": {"team": "ml"}})  # fmt: skip
    result = mlpact.train(cfg, store=tmp / "store")
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    run_id = registry.run(result.run_id, store=tmp / "store")["params"][RUN_ID_PARAM]
    return {"result": result, "client": client, "run": client.get_run(run_id), "tmp": tmp, "uri": uri}


def test_a_tracked_training_logs_params_metrics_plots_and_model(tracked: dict[str, Any]) -> None:
    run, result, client = tracked["run"], tracked["result"], tracked["client"]
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "wine"
    params = run.data.params
    assert params["model.type"] == "sklearn.linear_model.LogisticRegression"
    assert params["data.target"] == "***"  # secrets stay secret
    assert params["evaluate.cv_folds"] == "3"
    metrics = run.data.metrics
    assert metrics["test.accuracy"] == pytest.approx(result.metrics["test"]["accuracy"])
    assert metrics["cv.accuracy.mean"] == pytest.approx(result.metrics["cv"]["metrics"]["accuracy"]["mean"])
    tags = run.data.tags
    assert (
        tags["mlpact.version"] == result.ref and tags["team"] == "ml" and tags["mlpact.model_logged"] == "yes"
    )
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    # every plot the version holds (evaluation plots and the data profile's)
    assert plots == {f"plots/{p.name}" for p in (result.path / "reports").iterdir()}
    assert {f"plots/{name}" for name in result.metrics["plots"]} < plots
    assert "model/MLmodel" in {a.path for a in client.list_artifacts(run.info.run_id, "model")}


def test_the_logged_model_loads_and_predicts_like_the_version(
    tracked: dict[str, Any], tmp_path: Path
) -> None:
    import mlflow.pyfunc
    import numpy as np
    from sklearn.datasets import load_wine

    local = tracked["client"].download_artifacts(tracked["run"].info.run_id, "model", str(tmp_path))
    model = mlflow.pyfunc.load_model(local)
    rows = load_wine(as_frame=True).frame.drop(columns="target").iloc[::9]
    # MLflow enforces the signature first; it records the training dtypes (wine's are all float64)
    rows = rows[rows["proline"].between(278, 1515) & rows["flavanoids"].between(0.34, 3.74)]
    ours = mlpact.load(tracked["result"].ref, store=tracked["tmp"] / "store").predict(rows)
    np.testing.assert_array_equal(model.predict(rows), ours)


def test_runs_show_and_models_show_name_the_mlflow_run(tracked: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    store, result = str(tracked["tmp"] / "store"), tracked["result"]
    mlflow_id = tracked["run"].info.run_id
    shown = CliRunner().invoke(app, ["runs", "show", result.run_id, "--store", store])
    assert shown.exit_code == 0 and f"{RUN_ID_PARAM} = {mlflow_id}" in shown.output
    shown = CliRunner().invoke(app, ["models", "show", result.ref, "--store", store])
    assert shown.exit_code == 0 and f"MLflow run {mlflow_id}" in shown.output
    assert registry.show(result.ref, store=store)["mlflow_run_id"] == mlflow_id


def test_a_pytorch_training_logs_per_epoch_history(tmp_path: Path, uri: str) -> None:
    pytest.importorskip("torch")
    from mlflow import MlflowClient

    cfg = {"name": "iris-mlp-tracked", "data": {"source": "sklearn:iris"},
           "model": {"type": "mlpact.torch.models:MLP", "params": {"hidden_units": 8}},
           "train": {"epochs": 3, "batch_size": 16}, "evaluate": {"plots": False},
           "tracking": {"mlflow_uri": uri, "log_model": False}}  # fmt: skip
    result = mlpact.train(cfg, store=tmp_path / "store")
    client = MlflowClient(tracking_uri=uri)
    run_id = registry.run(result.run_id, store=tmp_path / "store")["params"][RUN_ID_PARAM]
    history = client.get_metric_history(run_id, "epoch.loss")
    assert [m.step for m in history] == [1, 2, 3]
    assert "validation.accuracy" in client.get_run(run_id).data.metrics
    assert client.list_artifacts(run_id, "model") == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_server_warns_and_the_version_is_saved(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    cfg = wine_config(evaluate={"cv_folds": 0, "plots": False},
                      tracking={"mlflow_uri": f"http://127.0.0.1:{_closed_port()}"})  # fmt: skip
    with pytest.warns(TrackingWarning, match="could not start an MLflow run"):
        result = mlpact.train(cfg, store=tmp_path / "store")
    assert any("MLflow tracking at http://127.0.0.1" in w for w in result.warnings)
    assert mlpact.load(result.ref, store=tmp_path / "store").version == 1
    assert RUN_ID_PARAM not in registry.run(result.run_id, store=tmp_path / "store")["params"]


def test_a_failed_training_marks_the_mlflow_run_failed(tmp_path: Path, uri: str) -> None:
    cfg = wine_config(model={"type": "sklearn.linear_model.LogisticRegression", "params": {"C": -1}},
                      tracking={"mlflow_uri": uri, "experiment": "failing"})  # fmt: skip
    with pytest.raises(mlpact.errors.ConfigError):
        mlpact.train(cfg, store=tmp_path / "store")
    runs = _runs(uri, "failing")
    assert [r.info.status for r in runs] == ["FAILED"]
    assert runs[0].data.tags["mlpact.error"].startswith("ConfigError: Invalid config")


def test_tuning_logs_the_study_as_one_run(tmp_path: Path, uri: str) -> None:
    pytest.importorskip("optuna")
    from mlflow import MlflowClient

    from mlpact.tune import tune

    cfg = wine_config(tune={"space": {"model.params.C": {"type": "float", "low": 0.01, "high": 10, "log": True}}, "trials": 3},
                      tracking={"mlflow_uri": uri, "experiment": "wine-tuning"})  # fmt: skip
    result = tune(cfg, store=tmp_path / "store", plots=False)
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(result.mlflow_run_id)
    assert run.data.tags["mlpact.kind"] == "tune" and run.info.status == "FINISHED"
    assert float(run.data.params["best.model.params.C"]) == pytest.approx(
        result.best_params["model.params.C"]
    )
    steps = client.get_metric_history(run.info.run_id, f"trial.{result.metric}")
    assert sorted(m.step for m in steps) == [0, 1, 2]
    assert client.get_experiment(run.info.experiment_id).name == "wine-tuning"
