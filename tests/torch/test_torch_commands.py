"""Every command on PyTorch versions, end to end through the CLI: an image folder (scikit-learn's
handwritten digits written as PNG class folders) and a table (iris through an MLP)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("PIL")

from test_images import make_digits
from typer.testing import CliRunner

from conftest import write_config
from mlpact.cli import app

runner = CliRunner()
TINYVGG = "mlpact.torch.models:TinyVGG"


def digits_config(root: Path, **train: Any) -> dict[str, Any]:
    settings = {"epochs": 3, "batch_size": 8, "lr": 0.003, "transforms": [{"type": "to_tensor"}], **train}
    return {
        "name": "digits",
        "data": {"source": str(root)},
        "model": {"type": TINYVGG, "params": {"hidden_units": 6}},
        "train": settings,
        "evaluate": {"plots": False},
    }


def cli(*args: str, store: Path) -> Any:
    return runner.invoke(app, [*args, "--store", str(store)])


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_digits(tmp_path_factory.mktemp("digits") / "data", per_class=24, test_per_class=8)


@pytest.fixture(scope="module")
def version(digits: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """digits:1 trained through `mlpact train`."""
    folder = tmp_path_factory.mktemp("digits-run")
    config = write_config(folder, digits_config(digits))
    store = folder / "store"
    out = cli("train", str(config), store=store)
    assert out.exit_code == 0, out.output
    return {"store": store, "config": config, "output": out.stdout, "data": digits}


# --------------------------------------------------------------------------- train
def test_train_shows_epochs_the_kept_epoch_and_no_cv_column(version: dict[str, Any]) -> None:
    text = version["output"]
    assert "digits:1: epochs" in text and "val loss" in text and "val accuracy" in text
    assert "the weights kept (best on the validation split)" in text
    assert "CV mean" not in text and "validation" in text
    show = cli("models", "show", "digits:1", store=version["store"]).stdout
    for fact in (
        "epochs",
        "optimizer",
        "adam, lr 0.003",
        "batch size",
        "device",
        "cpu",
        "threads",
        "parameters",
    ):
        assert fact in show, fact


def test_train_help_does_not_claim_cross_validation_for_torch() -> None:
    text = " ".join(runner.invoke(app, ["train", "--help"]).stdout.split())
    assert "PyTorch" in text and "no cross-validation" in text


def test_weights_have_the_permissions_of_the_other_files(version: dict[str, Any]) -> None:
    folder = version["store"] / "models" / "digits" / "1"
    modes = {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir() if p.is_file()}
    assert modes["weights.safetensors"] == modes["model.json"] == modes["metrics.json"]


def test_lineage_records_threads_and_device(version: dict[str, Any]) -> None:
    path = version["store"] / "models" / "digits" / "1"
    training = json.loads((path / "lineage.json").read_text())["training"]
    import torch

    assert training["threads"] == torch.get_num_threads() and training["threads_setting"] is None
    assert training["device"] == "cpu" and training["engine"] == "local"
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["training"]["parameters"] > 0 and metrics["training"]["batch_size"] == 8


# --------------------------------------------------------------------------- evaluate
def test_evaluate_a_folder_of_class_folders(version: dict[str, Any]) -> None:
    store, data = version["store"], version["data"]
    out = cli("evaluate", "digits:1", str(data / "test"), "--json", store=store)
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    recorded = json.loads((store / "models" / "digits" / "1" / "metrics.json").read_text())
    assert result["metrics"]["rows"]["evaluated"] == 24
    assert result["metrics"]["test"]["accuracy"] == pytest.approx(recorded["test"]["accuracy"])
    shown = cli("models", "show", "digits:1", store=store).stdout
    assert "Evaluations on other data" in shown


def test_evaluate_a_table_of_paths_and_labels(version: dict[str, Any], tmp_path: Path) -> None:
    data = version["data"] / "test"
    rows = [{"path": str(p), "digit": p.parent.name} for p in sorted(data.rglob("*.png"))]
    pd.DataFrame(rows).to_csv(tmp_path / "labels.csv", index=False)
    out = cli("evaluate", "digits:1", str(tmp_path / "labels.csv"), "--target", "digit", "--json",
              store=version["store"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["metrics"]["rows"]["evaluated"] == 24


def test_evaluating_training_images_names_the_leakage(version: dict[str, Any]) -> None:
    out = cli("evaluate", "digits:1", str(version["data"] / "train"), store=version["store"])
    assert out.exit_code == 0, out.output
    assert "72 of 72 evaluated images are byte-identical to images the version was trained on" in " ".join(
        out.stderr.split()  # a warning: on stderr, as every Warning: line
    )


@pytest.mark.parametrize(
    "where, message",
    [
        ("missing", "does not exist"),
        ("root", r"has labels the model does not know: \['test', 'train'\]"),
        ("no_path_column", r"needs a `path` column and the label column 'label'"),
    ],
)
def test_evaluate_image_errors(version: dict[str, Any], tmp_path: Path, where: str, message: str) -> None:
    target = {"missing": tmp_path / "nowhere", "root": version["data"], "no_path_column": tmp_path / "t.csv"}
    pd.DataFrame({"file": ["a.png"], "label": ["0"]}).to_csv(tmp_path / "t.csv", index=False)
    out = cli("evaluate", "digits:1", str(target[where]), store=version["store"])
    assert out.exit_code == 4, out.output
    import re

    assert re.search(message, " ".join(out.stderr.split()))


# --------------------------------------------------------------------------- models errors
def test_models_errors_lists_the_worst_test_images_with_their_paths(version: dict[str, Any]) -> None:
    out = cli("models", "errors", "digits:1", "-n", "5", "--json", store=version["store"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert len(rows) == 5 and all(r["path"].startswith("test/") for r in rows)
    assert [r["loss"] for r in rows] == sorted((r["loss"] for r in rows), reverse=True)
    first = rows[0]
    assert first["truth"] == first["path"].split("/")[1]
    assert first["loss"] == pytest.approx(-np.log(max(first[f"proba_{first['truth']}"], 1e-15)), rel=1e-5)
    table = cli("models", "errors", "digits:1", "-n", "3", store=version["store"]).stdout
    assert "P(truth)" in table and "test/" in table


# --------------------------------------------------------------------------- reproduce
def test_reproduce_retrains_bit_identically_with_the_recorded_threads(version: dict[str, Any]) -> None:
    out = cli("reproduce", "digits:1", "--json", store=version["store"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["verdict"] == "reproduced" and result["data"]["identical"]
    assert result["weights"]["identical"] and result["weights"]["expected_identical"]
    assert result["agreement"]["fraction"] == 1.0 and result["split"]["identical"]
    assert "the weights are bit-identical" in result["notes"]


def test_reproduce_stops_when_an_image_changed(version: dict[str, Any], tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(version["data"], data)
    config = write_config(tmp_path, digits_config(data, epochs=1))
    store = tmp_path / "store"
    assert cli("train", str(config), store=store).exit_code == 0
    image = sorted((data / "train" / "1").glob("*.png"))[0]
    image.write_bytes((data / "train" / "2" / "000.png").read_bytes())  # same name, other pixels
    out = cli("reproduce", "digits:1", store=store)
    assert out.exit_code == 13 and "its data changed since it was trained" in out.stderr
    allowed = cli("reproduce", "digits:1", "--allow-data-change", "--json", store=store)
    assert allowed.exit_code == 13 and json.loads(allowed.stdout)["verdict"] == "differs"


def test_weights_must_match_only_when_the_training_was_the_same() -> None:
    from mlpact.torch.reproducing import exactness

    cpu = {"training": {"device": "cpu", "engine": "local", "threads": 2, "cpu_capability": "AVX2"},
           "environment": {"packages": {"torch": "2.13.0"}}}  # fmt: skip
    assert exactness(cpu, cpu) == []
    other = json.loads(json.dumps(cpu))
    other["training"].update(threads=4, device="cuda")
    assert exactness(cpu, other) == ["CPU threads: 2 then, 4 now", "trained on cuda now (not the CPU)"]


# --------------------------------------------------------------------------- predict
def test_predict_reports_an_unreadable_image_and_predicts_the_rest(
    version: dict[str, Any], tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    shutil.copytree(version["data"] / "test" / "1", folder)
    (folder / "broken.png").write_bytes(b"not a png")
    out = cli(
        "predict", "digits:1", str(folder), "-o", str(tmp_path / "new" / "p.csv"), store=version["store"]
    )
    assert out.exit_code == 0, out.output  # the output's folder did not exist: it is created
    assert "1 of 9 images cannot be read: 'broken.png'" in " ".join(out.stderr.split())
    table = pd.read_csv(tmp_path / "new" / "p.csv", keep_default_na=False)
    assert len(table) == 9 and list(table.columns)[-1] == "error"
    broken = table[table["path"] == "broken.png"].iloc[0]
    assert broken["prediction"] == "" and "not an image file PIL can read" in broken["error"]
    assert (table.loc[table["path"] != "broken.png", "error"] == "").all()


def test_predict_refuses_unreadable_images_when_the_policy_says_error(digits: Path, tmp_path: Path) -> None:
    cfg = digits_config(digits, epochs=1)
    cfg["validation"] = {"unreadable_image": "error"}
    store = tmp_path / "store"
    assert cli("train", str(write_config(tmp_path, cfg)), store=store).exit_code == 0
    folder = tmp_path / "in"
    shutil.copytree(digits / "test" / "0", folder)
    (folder / "broken.png").write_bytes(b"not a png")
    out = cli("predict", "digits:1", str(folder), "-o", str(tmp_path / "p.csv"), store=store)
    assert out.exit_code == 4 and "images cannot be read: 'broken.png'" in " ".join(out.stderr.split())
    assert not (tmp_path / "p.csv").exists()


def test_predict_a_missing_path_says_it_does_not_exist(version: dict[str, Any], tmp_path: Path) -> None:
    out = cli(
        "predict", "digits:1", str(tmp_path / "nope"), "-o", str(tmp_path / "p.csv"), store=version["store"]
    )
    assert out.exit_code == 4 and "does not exist" in out.stderr


def test_predict_refuses_threads_for_an_image_model(version: dict[str, Any], tmp_path: Path) -> None:
    """--threads splits a forest's rows; PyTorch has its own threads: asked of an image model,
    it is a usage error, not a flag silently ignored."""
    folder = version["data"] / "test" / "0"
    out = cli(
        "predict",
        "digits:1",
        str(folder),
        "-o",
        str(tmp_path / "p.csv"),
        "--threads",
        "2",
        store=version["store"],
    )
    assert out.exit_code == 2, out.output
    assert "an image model, which PyTorch scores on its own threads" in " ".join(out.stderr.split())
    assert "OMP_NUM_THREADS" in out.stderr and not (tmp_path / "p.csv").exists()


# --------------------------------------------------------------------------- serve
def test_serving_images_warns_names_bad_uploads_and_redirects_json(version: dict[str, Any]) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlpact.serve import create_app

    client = TestClient(create_app("digits:1", store=version["store"]), base_url="http://localhost")
    good = sorted((version["data"] / "test" / "2").glob("*.png"))[0].read_bytes()
    files = [("file", ("two.png", good, "image/png")), ("file", ("junk.png", b"junk", "image/png"))]
    body = client.post("/predict/image", files=files).json()
    assert body["files"] == ["two.png", "junk.png"] and body["predictions"][1] is None
    assert body["probabilities"][1] is None and set(body["probabilities"][0]) == {"0", "1", "2"}
    [warning] = body["warnings"]
    assert warning["check"] == "unreadable_image" and "'junk.png'" in warning["message"]
    redirected = client.post("/predict", json=[{"image": "x"}])
    assert redirected.status_code == 415 and "/predict/image" in redirected.json()["error"]
    upload = client.get("/openapi.json").json()["paths"]["/predict/image"]["post"]["requestBody"]
    assert (
        upload["content"]["multipart/form-data"]["schema"]["properties"]["file"]["items"]["format"]
        == "binary"
    )


def test_serve_help_and_docs_name_the_image_endpoint() -> None:
    text = runner.invoke(app, ["serve", "--help"]).stdout
    assert "/predict/image" in text
    assert "/predict/image" in (Path(__file__).resolve().parents[2] / "docs" / "serve.md").read_text()


# --------------------------------------------------------------------------- tune
def test_tune_searches_train_and_model_keys_on_the_validation_split(digits: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(digits, data)
    for image in (data / "test").rglob("*.png"):
        image.write_bytes(b"")  # a trial that read the test split would fail
    cfg = digits_config(data, epochs=2)
    cfg["tune"] = {"trials": 3, "pruner": "none", "space": {
        "train.lr": {"type": "float", "low": 0.001, "high": 0.01, "log": True},
        "model.params.hidden_units": {"type": "int", "low": 3, "high": 6},
        "train.optimizer": {"type": "categorical", "choices": ["adam", "AdamW"]},
    }}  # fmt: skip
    out = cli("tune", str(write_config(tmp_path, cfg)), "--json", store=tmp_path / "store")
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert [t["state"] for t in result["trials"]] == ["COMPLETE"] * 3
    assert all(0 <= t["value"] <= 1 for t in result["trials"])
    assert set(result["best_params"]) == {"train.lr", "model.params.hidden_units", "train.optimizer"}
    import yaml

    best = yaml.safe_load(Path(result["best_yaml"]).read_text())
    assert best["train"]["lr"] == result["best_params"]["train.lr"]


def test_tune_reports_every_epoch_to_the_pruner(digits: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlpact.config import load_config
    from mlpact.tune.torch_trials import TorchObjective

    cfg = load_config(digits_config(digits, epochs=3))
    reports: list[tuple[float, int]] = []
    value = TorchObjective(cfg, "accuracy").evaluate(
        {"train.lr": 0.004}, report=lambda v, s: reports.append((v, s))
    )
    assert [step for _, step in reports] == [0, 1, 2]
    assert value in [v for v, _ in reports]


@pytest.mark.parametrize(
    "key, message",
    [
        ("train.val_size", "'train.val_size' cannot be searched"),
        ("train.device", "'train.device' cannot be searched"),
        ("train.lrr", r"'train.lrr' is not a config key: train.lrr is unknown; did you mean `train.lr`\?"),
    ],
)
def test_tune_space_keys_that_cannot_vary(digits: Path, tmp_path: Path, key: str, message: str) -> None:
    from mlpact.config import load_config
    from mlpact.errors import ConfigError

    cfg = digits_config(digits)
    cfg["tune"] = {"space": {key: {"type": "float", "low": 0.1, "high": 0.3}}}
    with pytest.raises(ConfigError, match=message):
        load_config(cfg)


def test_tune_refuses_train_keys_for_scikit_learn_models(tmp_path: Path) -> None:
    from conftest import wine_config
    from mlpact.errors import ConfigError
    from mlpact.tune import tune

    cfg = wine_config()
    cfg["tune"] = {"space": {"train.lr": {"type": "float", "low": 0.001, "high": 0.1}}}
    with pytest.raises(ConfigError, match=r"train.lr are PyTorch training keys; .* is a scikit-learn model"):
        tune(cfg, store=tmp_path)


def test_tune_torch_needs_a_validation_split(digits: Path, tmp_path: Path) -> None:
    from mlpact.errors import ConfigError
    from mlpact.tune import tune

    cfg = digits_config(digits, val_size=0)
    cfg["tune"] = {"space": {"train.lr": {"type": "float", "low": 0.001, "high": 0.1}}}
    with pytest.raises(ConfigError, match="tuning a PyTorch model scores each trial on the validation split"):
        tune(cfg, store=tmp_path)


# --------------------------------------------------------------------------- a table: iris through an MLP
@pytest.fixture(scope="module")
def iris_version(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from sklearn.datasets import load_iris

    folder = tmp_path_factory.mktemp("iris-mlp")
    frame = load_iris(as_frame=True).frame
    frame.to_csv(folder / "iris.csv", index=False)
    cfg = {"name": "iris-mlp", "data": {"source": "iris.csv", "target": "target"},
           "model": {"type": "mlpact.torch.models:MLP", "params": {"hidden_units": 16}},
           "train": {"epochs": 20, "batch_size": 16, "lr": 0.01}, "evaluate": {"plots": False}}  # fmt: skip
    config = write_config(folder, cfg)
    store = folder / "store"
    out = cli("train", str(config), store=store)
    assert out.exit_code == 0, out.output
    return {"store": store, "config": config, "csv": folder / "iris.csv", "folder": folder}


def test_table_versions_evaluate_reproduce_and_show_errors(iris_version: dict[str, Any]) -> None:
    store = iris_version["store"]
    evaluated = cli("evaluate", "iris-mlp:1", str(iris_version["csv"]), "--json", store=store)
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["metrics"]["rows"]["evaluated"] == 150
    errors = json.loads(cli("models", "errors", "iris-mlp:1", "-n", "3", "--json", store=store).stdout)
    assert len(errors) == 3 and "input.sepal length (cm)" in errors[0]
    reproduced = cli("reproduce", "iris-mlp:1", "--json", store=store)
    assert reproduced.exit_code == 0, reproduced.output
    assert json.loads(reproduced.stdout)["weights"]["identical"]
    checked = cli("check", "iris-mlp:1", str(iris_version["csv"]), "--json", store=store)
    assert checked.exit_code == 15, checked.output  # nothing found; 150 rows cannot rule a shift out
    result = json.loads(checked.stdout)
    assert result["verdict"] == "inconclusive" and result["rows_needed"] > 150
    assert len(result["drift"]) == 4 and result["performance"]["rows"] == 150


def test_table_versions_tune_train_keys(iris_version: dict[str, Any], tmp_path: Path) -> None:
    import yaml

    cfg = yaml.safe_load(iris_version["config"].read_text())
    cfg["data"]["source"] = str(iris_version["csv"])
    cfg["train"]["epochs"] = 4
    cfg["tune"] = {"trials": 2, "metric": "log_loss",
                   "space": {"train.batch_size": {"type": "categorical", "choices": [8, 32]}}}  # fmt: skip
    out = cli("tune", str(write_config(tmp_path, cfg)), "--json", store=tmp_path / "store")
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    assert result["direction"] == "minimize" and all(t["value"] > 0 for t in result["trials"])


# --------------------------------------------------------------------------- check
def _copy_images(source: Path, target: Path, *, scale: float = 1.0) -> Path:
    from PIL import Image

    for path in sorted(source.rglob("*.png")):
        out = target / path.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) * scale
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(out)
    return target


def test_check_images_like_the_training_ones_says_reload(version: dict[str, Any], tmp_path: Path) -> None:
    folder = _copy_images(version["data"] / "train", tmp_path / "same")
    out = cli("check", "digits:1", str(folder), "--json", store=version["store"])
    assert out.exit_code == 15, out.output  # nothing found, but 72 images cannot rule a shift out
    result = json.loads(out.stdout)
    assert result["verdict"] == "inconclusive" and result["rows"] == 72
    assert result["reasons"][0].startswith("nothing found, but")
    from mlpact.check import check_data

    sized = check_data("digits:1", folder, store=version["store"], thresholds={"shift": None})
    assert sized.verdict == "reload", sized.reasons  # judged on check.min_rows alone
    columns = {d["column"] for d in result["drift"]}
    assert columns == {"height", "width", "mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b"}
    assert result["prediction_drift"]["column"] == "prediction" and result["performance"]["rows"] == 72
    assert any("Not compared: what the images show" in note for note in result["notes"])


def test_check_darker_images_says_retrain_and_why(version: dict[str, Any], tmp_path: Path) -> None:
    folder = _copy_images(version["data"] / "train", tmp_path / "dark", scale=0.3)
    out = cli("check", "digits:1", str(folder), "--json", store=version["store"])
    assert out.exit_code == 11, out.output
    result = json.loads(out.stdout)
    drifted = {d["column"] for d in result["drift"] if d["drifted"]}
    assert {"mean_r", "mean_g", "mean_b"} <= drifted and not {"height", "width"} & drifted
    assert any(reason.startswith("mean_r has drifted") for reason in result["reasons"])


def test_check_unlabelled_images_and_unreadable_ones(version: dict[str, Any], tmp_path: Path) -> None:
    folder = tmp_path / "flat"
    folder.mkdir()
    for i, path in enumerate(sorted((version["data"] / "test").rglob("*.png"))):
        shutil.copy(path, folder / f"{i:03d}.png")
    (folder / "zz.png").write_bytes(b"broken")
    out = cli("check", "digits:1", str(folder), "--json", store=version["store"])
    result = json.loads(out.stdout)
    assert result["performance"] is None and any("performance is not assessed" in n for n in result["notes"])
    assert any("'zz.png'" in reason for reason in result["reasons"])
    missing = cli("check", "digits:1", str(tmp_path / "nope"), store=version["store"])
    assert missing.exit_code == 4 and "does not exist" in missing.stderr


def test_check_retrain_is_for_table_versions(version: dict[str, Any]) -> None:
    out = cli("check", "digits:1", str(version["data"] / "test"), "--retrain", store=version["store"])
    assert out.exit_code == 4 and "--retrain trains table versions on a new file" in out.stderr
