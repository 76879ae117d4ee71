"""mlpact.torch.training, saving and predicting: image folders and tables into versioned,
verified PyTorch models, through the same store, manifest and trust rule as scikit-learn ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("PIL")

from mlpact import load, train
from test_torch_images import make_shapes

TINYVGG = "mlpact.torch.models:TinyVGG"


def shapes_config(root: Path, **train_settings: Any) -> dict[str, Any]:
    settings = {"epochs": 5, "batch_size": 4, "lr": 0.003, "cache_images": True,
                "transforms": [{"type": "to_tensor"}], **train_settings}  # fmt: skip
    return {
        "name": "shapes",
        "data": {"source": str(root)},
        "model": {"type": TINYVGG, "params": {"hidden_units": 8}},
        "train": settings,
        "evaluate": {"plots": False},
    }


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_shapes(tmp_path_factory.mktemp("shapes"), per_class=30, test_per_class=10, size=24)


@pytest.fixture(scope="module")
def trained(shapes: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = tmp_path_factory.mktemp("store")
    cfg = shapes_config(shapes)
    cfg["evaluate"] = {"plots": True}
    return train(cfg, store=store), store


def weights(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path / "weights.safetensors"))


# --------------------------------------------------------------------------- training
def test_tinyvgg_learns_the_shapes_and_saves_a_torch_version(trained: Any) -> None:
    result, _ = trained
    assert result.metrics["test"]["accuracy"] >= 0.8
    files = {p.relative_to(result.path).as_posix() for p in result.path.rglob("*") if p.is_file()}
    for name in ("weights.safetensors", "model.json", "transforms.json", "history.json", "schema.json",
                 "metrics.json", "config.yaml", "lineage.json", "card.md", "report.html",
                 "reports/confusion_matrix.png", "reports/learning_curves.png"):  # fmt: skip
        assert name in files, name
    assert not any(name.endswith((".pt", ".pth", ".pkl")) for name in files)
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["flavor"] == "torch" and set(manifest["files"]) == files - {"manifest.json"}
    assert result.version.flavor == "torch"
    spec = json.loads((result.path / "model.json").read_text())
    assert spec["type"] == TINYVGG
    assert spec["kwargs"] == {"input_shape": 3, "output_shape": 3, "image_size": 24, "hidden_units": 8}
    assert spec["classes"] == ["circle", "square", "triangle"]
    assert set(result.metrics["per_class"]) == {"circle", "square", "triangle"}


def test_history_has_one_row_per_epoch_with_validation(trained: Any) -> None:
    result, _ = trained
    history = json.loads((result.path / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"} <= set(history[0])
    assert "learning_curves.png" in result.metrics["plots"]


def test_validation_is_carved_from_train_and_test_is_scored_once(trained: Any, shapes: Path) -> None:
    result, _ = trained
    rows = result.metrics["rows"]
    assert rows["train"] + rows["validation"] == len(list((shapes / "train").rglob("*.png")))
    assert rows["test"] == len(list((shapes / "test").rglob("*.png")))
    assert rows["validation"] == 18  # 20% of each class of train/
    assert result.metrics["test_scored"] == 1 and result.metrics["validation"]


def test_same_config_gives_identical_weights_and_metrics(shapes: Path, tmp_path: Path) -> None:
    cfg = shapes_config(shapes, epochs=2)
    a = train(cfg, store=tmp_path / "a")
    b = train(cfg, store=tmp_path / "b")
    wa, wb = weights(a.path), weights(b.path)
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert a.metrics["test"] == b.metrics["test"]
    assert (
        json.loads((a.path / "history.json").read_text())[-1]["loss"]
        == json.loads((b.path / "history.json").read_text())[-1]["loss"]
    )


def test_resume_continues_from_the_checkpoint_like_an_uninterrupted_run(shapes: Path, tmp_path: Path) -> None:
    settings = {"scheduler": "step", "step_size": 1, "gamma": 0.5, "random": None}
    del settings["random"]
    train(shapes_config(shapes, epochs=1, **settings), store=tmp_path / "s")
    resumed = train(shapes_config(shapes, epochs=3, resume=True, **settings), store=tmp_path / "s")
    fresh = train(shapes_config(shapes, epochs=3, **settings), store=tmp_path / "f")
    assert resumed.metrics["epochs"]["resumed_from"] == 1
    wr, wf = weights(resumed.path), weights(fresh.path)
    assert all(np.array_equal(wr[k], wf[k]) for k in wf)
    history = json.loads((resumed.path / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert [row["lr"] for row in history] == [0.003, 0.0015, 0.00075]


def test_early_stopping_stops_when_validation_stops_improving(shapes: Path, tmp_path: Path) -> None:
    cfg = shapes_config(shapes, epochs=6, patience=1, lr=10.0, optimizer="sgd", checkpoints=False)
    result = train(cfg, store=tmp_path)
    assert result.metrics["epochs"]["stopped_early"]
    assert result.metrics["epochs"]["run"] < 6


def test_overrides_in_the_going_modular_style(shapes: Path, tmp_path: Path) -> None:
    sets = ["train.batch_size=8", "train.lr=0.002", "train.epochs=1", "model.params.hidden_units=4"]
    result = train(shapes_config(shapes), sets, store=tmp_path)
    assert result.config.train.batch_size == 8 and result.config.train.epochs == 1
    assert json.loads((result.path / "model.json").read_text())["kwargs"]["hidden_units"] == 4


@pytest.mark.parametrize(
    "params, message",
    [
        (
            {"hidden_unit": 4},
            "model.params: TinyVGG has no parameter 'hidden_unit'; it takes: input_shape, hidden_units",
        ),
        ({"image_size": 8}, "TinyVGG needs images of at least 16x16 pixels"),
    ],
)
def test_bad_module_parameters_are_config_errors(
    shapes: Path, tmp_path: Path, params: dict[str, Any], message: str
) -> None:
    from mlpact.errors import ConfigError

    cfg = shapes_config(shapes)
    cfg["model"]["params"] = params
    with pytest.raises(ConfigError, match=message):
        train(cfg, store=tmp_path)


def test_a_class_that_is_not_a_module_is_a_config_error(tmp_path: Path) -> None:
    from mlpact.errors import ConfigError
    from mlpact.torch.saving import build_module

    with pytest.raises(
        ConfigError, match=r"model.type: 'collections:OrderedDict' is not a torch.nn.Module subclass"
    ):
        build_module("collections:OrderedDict", {}, {})


# --------------------------------------------------------------------------- loading and predicting
def test_load_rebuilds_the_module_and_predicts_files_arrays_and_bytes(trained: Any, shapes: Path) -> None:
    result, store = trained
    model = load(result.ref, store=store)
    circle = sorted((shapes / "test" / "circle").glob("*.png"))[0]
    assert model.predict(str(circle)).tolist() == model.predict([circle.read_bytes()]).tolist()
    from PIL import Image

    array = np.asarray(Image.open(circle).convert("RGB"))
    assert model.predict(array).tolist() == model.predict(circle).tolist()
    proba = model.predict_proba([circle, circle])
    assert list(proba.columns) == ["circle", "square", "triangle"]
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert model.classes == ["circle", "square", "triangle"]


def test_an_image_model_refuses_table_rows(trained: Any) -> None:
    from mlpact.errors import DataError

    result, store = trained
    with pytest.raises(DataError, match="is an image model: it takes image files, bytes or arrays"):
        load(result.ref, store=store).check([{"a": 1}])


def test_changed_weights_are_refused_before_loading(trained: Any, tmp_path: Path) -> None:
    import shutil

    from mlpact.errors import IntegrityError

    result, _ = trained
    copy = tmp_path / "v"
    shutil.copytree(result.path, copy)
    data = bytearray((copy / "weights.safetensors").read_bytes())
    data[-1] ^= 1
    (copy / "weights.safetensors").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"changed: weights.safetensors"):
        load(copy)


def test_model_json_naming_another_class_is_untrusted(trained: Any) -> None:
    from mlpact.errors import UntrustedTypesError
    from mlpact.torch.saving import trusted_module_type

    with pytest.raises(UntrustedTypesError, match=r"Refusing to load model.json.*\['evil.mod:Net'\]"):
        trusted_module_type({"type": "evil.mod:Net"}, TINYVGG, [])
    assert trusted_module_type({"type": "evil.mod:Net"}, TINYVGG, ["evil.mod:Net"]) == "evil.mod:Net"
    assert trusted_module_type({"type": "my.pkg:Net"}, "my.pkg.Net", []) == "my.pkg:Net"
    assert (
        trusted_module_type({"type": "mlpact.torch.models:MLP"}, "my.pkg.Net", [])
        == "mlpact.torch.models:MLP"
    )
    with pytest.raises(UntrustedTypesError, match="mlpact.torch.models.evil:Net"):  # exact names, no prefix
        trusted_module_type({"type": "mlpact.torch.models.evil:Net"}, TINYVGG, [])


def test_model_json_naming_a_reexported_class_is_untrusted_even_when_trusted(tmp_path: Path) -> None:
    from mlpact.errors import UntrustedTypesError
    from mlpact.torch.saving import MODEL_JSON, load_module

    (tmp_path / MODEL_JSON).write_text(json.dumps({"type": "torch.nn:Linear", "kwargs": {}}))
    with pytest.raises(
        UntrustedTypesError, match=r"\['torch.nn:Linear'\]"
    ):  # it is torch.nn.modules.linear's
        load_module(tmp_path, "torch.nn:Linear")


def test_cli_predict_writes_class_and_probabilities_per_image(
    trained: Any, shapes: Path, tmp_path: Path
) -> None:
    import pandas as pd
    from typer.testing import CliRunner

    from mlpact.cli import app

    result, store = trained
    out = tmp_path / "preds.csv"
    run = CliRunner().invoke(
        app, ["predict", result.ref, str(shapes / "test"), "-o", str(out), "--store", str(store)]
    )
    assert run.exit_code == 0, run.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["path", "prediction", "proba_circle", "proba_square", "proba_triangle"]
    assert len(table) == 30 and table["path"][0] == "circle/000.png"
    truth = table["path"].str.split("/").str[0]
    assert (table["prediction"] == truth).mean() == pytest.approx(result.metrics["test"]["accuracy"])


@pytest.mark.parametrize(
    "where, message", [("empty", "No image files found"), ("table", "takes table rows, not images")]
)
def test_predict_images_errors(trained: Any, tmp_path: Path, where: str, message: str) -> None:
    from mlpact.errors import DataError
    from mlpact.torch import predict_images

    result, store = trained
    model = load(result.ref, store=store)
    if where == "table":
        model = object.__new__(__import__("mlpact.model", fromlist=["Model"]).Model)
        model.manifest = {"name": "t", "version": 1}
    with pytest.raises(DataError, match=message):
        predict_images(model, tmp_path, tmp_path / "p.csv")


def test_serve_accepts_image_uploads(trained: Any, shapes: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlpact.serve import create_app

    result, store = trained
    client = TestClient(create_app(result.ref, store=store), base_url="http://localhost")
    image = sorted((shapes / "test" / "square").glob("*.png"))[0]
    files = [
        ("file", ("a.png", image.read_bytes(), "image/png")),
        ("file", ("b.png", image.read_bytes(), "image/png")),
    ]
    response = client.post("/predict/image", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["files"] == ["a.png", "b.png"] and len(body["predictions"]) == 2
    assert set(body["probabilities"][0]) == {"circle", "square", "triangle"}
    bad = client.post("/predict/image", files=[("file", ("x.png", b"nope", "image/png"))])
    assert bad.status_code == 200 and bad.json()["predictions"] == [None]  # unreadable_image: warn
    assert "'x.png'" in bad.json()["warnings"][0]["message"]
    assert client.post("/predict/image", json=[{"a": 1}]).status_code == 415


# --------------------------------------------------------------------------- tables
def test_an_mlp_on_a_table_reuses_the_schema_and_preprocessing(tmp_path: Path) -> None:
    cfg = {
        "name": "iris-mlp",
        "data": {"source": "sklearn:iris"},
        "model": {"type": "mlpact.torch.models:MLP", "params": {"hidden_units": 16}},
        "train": {"epochs": 30, "batch_size": 16, "lr": 0.01},
        "evaluate": {"plots": False},
    }
    result = train(cfg, store=tmp_path)
    assert result.metrics["test"]["accuracy"] >= 0.8
    assert (result.path / "pipeline.skops").exists() and (result.path / "weights.safetensors").exists()
    model = load(result.ref, store=tmp_path)
    from sklearn.datasets import load_iris

    rows = load_iris(as_frame=True).frame.drop(columns="target").head(3)
    frame = model.predict_frame(rows)
    assert list(frame.columns) == ["prediction", "proba_0", "proba_1", "proba_2"]
    assert json.loads((result.path / "model.json").read_text())["kwargs"]["in_features"] == 4


def test_cli_resume_flag_continues_from_the_checkpoint(shapes: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from conftest import write_config
    from mlpact.cli import app

    config = write_config(tmp_path, shapes_config(shapes, epochs=1))
    runner = CliRunner()
    assert runner.invoke(app, ["train", str(config), "--store", str(tmp_path / "s")]).exit_code == 0
    out = runner.invoke(
        app,
        [
            "train",
            str(config),
            "--set",
            "train.epochs=2",
            "--resume",
            "--store",
            str(tmp_path / "s"),
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["metrics"]["epochs"]["resumed_from"] == 1


@pytest.mark.parametrize("module", ["torch", "safetensors", "PIL"])
def test_missing_torch_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    import sys

    from mlpact.errors import MissingDependencyError
    from mlpact.torch._deps import require

    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(
        MissingDependencyError, match=r"needs the '(torch|safetensors|pillow)' package"
    ) as info:
        require(module)
    assert info.value.hint == "pip install 'mlpact[torch]'"
