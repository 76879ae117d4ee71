"""mlpact.save(kind="image"): a CNN trained in your own loop (the course's engine.py), versioned
with the transforms prediction applies, honest about where it came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("PIL")

import torch

import mlpact
from mlpact.errors import ConfigError, DataError, NotReproducibleError, UserCodeError
from mlpact.torch.models import TinyVGG
from test_torch_images import make_digits

TRANSFORMS = [{"type": "resize", "size": 16}, "to_tensor"]
CLASSES = ["0", "1", "2"]


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_digits(tmp_path_factory.mktemp("digits"), per_class=20, test_per_class=8)


@pytest.fixture(scope="module")
def own_loop(digits: Path) -> TinyVGG:
    """TinyVGG trained the course's way: our own Dataset, DataLoader and train_step."""
    from PIL import Image

    paths = sorted((digits / "train").rglob("*.png"))
    X = torch.stack([torch.from_numpy(np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
                     for p in paths])  # fmt: skip
    y = torch.tensor([CLASSES.index(p.parent.name) for p in paths])
    torch.manual_seed(0)
    model = TinyVGG(hidden_units=8, output_shape=3, image_size=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    for _ in range(8):
        for batch in torch.randperm(len(X)).split(16):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(X[batch]), y[batch]).backward()
            optimizer.step()
    return model.eval()


def save(model: Any, store: Path, **kwargs: Any) -> Any:
    args = {"kind": "image", "classes": CLASSES, "transforms": TRANSFORMS, "store": store,
            "init_kwargs": {"hidden_units": 8, "output_shape": 3, "image_size": 16}, **kwargs}  # fmt: skip
    return mlpact.save(model, "digits-own", **args)


def test_a_cnn_from_your_own_loop_is_versioned_and_predicts_like_it(
    own_loop: TinyVGG, digits: Path, tmp_path: Path
) -> None:
    record = save(own_loop, tmp_path, test_data=digits / "test", train_data=digits / "train",
                  example_input=torch.zeros(1, 3, 16, 16))  # fmt: skip
    model = mlpact.load(record.ref, store=tmp_path)
    images = sorted((digits / "test").rglob("*.png"))
    from PIL import Image

    batch = torch.stack([torch.from_numpy(np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
                         for p in images])  # fmt: skip
    with torch.inference_mode():
        mine = np.asarray(CLASSES)[own_loop(batch).argmax(dim=1).numpy()]
    assert model.predict(images).tolist() == mine.tolist()
    metrics = json.loads((record.path / "metrics.json").read_text())
    truth = [p.parent.name for p in images]
    assert metrics["test"]["accuracy"] == pytest.approx(np.mean(mine == np.asarray(truth)))
    assert metrics["test_scored"] == 1 and "training" not in metrics and "epochs" not in metrics
    lineage = json.loads((record.path / "lineage.json").read_text())
    assert lineage["origin"] == "external" and lineage["data"]["fingerprint"]
    assert "trained outside mlpact" in (record.path / "card.md").read_text()
    spec = json.loads((record.path / "model.json").read_text())
    assert spec["input"] == "image" and spec["input_shape"] == [3, 16, 16]
    assert spec["kwargs"] == {"input_shape": 3, "hidden_units": 8, "output_shape": 3, "image_size": 16}
    assert (record.path / "reference.json").exists() and (record.path / "errors.parquet").exists()
    with pytest.raises(NotReproducibleError, match="it was trained outside mlpact"):
        from mlpact.reproduce import reproduce

        reproduce(record.ref, store=tmp_path)


def test_served_and_batch_predictions_apply_the_saved_transforms(
    own_loop: TinyVGG, digits: Path, tmp_path: Path
) -> None:
    record = save(own_loop, tmp_path, example_input=torch.zeros(3, 16, 16))
    saved = json.loads((record.path / "transforms.json").read_text())["predict"]
    assert [s["type"] for s in saved] == ["resize", "to_tensor"]
    big = tmp_path / "big.png"
    from PIL import Image

    Image.open(sorted((digits / "test" / "1").glob("*.png"))[0]).resize((64, 64)).save(big)
    assert mlpact.load(record.ref, store=tmp_path).predict([big]).shape == (1,)  # resized to 16


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"transforms": None}, DataError, "kind='image' needs transforms="),
        ({"classes": ["only"]}, DataError, r"needs classes=\[...\] \(at least 2\)"),
        (
            {"transforms": [{"type": "random_crop", "size": 16}]},
            DataError,
            r"random steps have no place there: \['random_crop'\]",
        ),
        ({"transforms": [{"type": "resize"}]}, ConfigError, "resize needs size"),
        (
            {"example_input": np.zeros((3, 32, 32))},
            DataError,
            r"shape \(3, 16, 16\), but example_input has shape \(3, 32, 32\)",
        ),
        (
            {"classes": ["a", "b"], "test_data": None, "example_input": np.zeros((3, 16, 16))},
            DataError,
            r"outputs of shape \(1, 3\) for one image; expected \(1, 2\)",
        ),
        ({"classes": ["a", "b"]}, DataError, r"has labels the model does not know: \['0', '1', '2'\]"),
        ({"init_kwargs": {"hidden": 8}}, DataError, "init_kwargs: TinyVGG has no parameter 'hidden'"),
        ({"test_data": None, "example_input": None}, DataError, "Nothing to check the module with"),
        ({"kind": "video"}, DataError, "kind: expected 'table' or 'image', got 'video'"),
        ({"config": {"train": {"epochs": 3}}}, DataError, r"config: 'train' is taken from what you save"),
    ],
)
def test_save_image_errors(
    own_loop: TinyVGG, digits: Path, tmp_path: Path, kwargs: dict[str, Any], error: type, message: str
) -> None:
    args = {"test_data": digits / "test", **kwargs}
    with pytest.raises(error, match=message):
        save(own_loop, tmp_path, **args)


def test_a_module_that_does_not_fit_its_transforms_is_your_error(digits: Path, tmp_path: Path) -> None:
    model = TinyVGG(hidden_units=4, output_shape=3, image_size=32)  # trained on 32 px, saved with 16
    with pytest.raises(
        UserCodeError,
        match=r"TinyVGG raised RuntimeError in forward\(\) on a batch of inputs of shape \(1, 3, 16, 16\)",
    ):
        save(model, tmp_path, test_data=digits / "test", init_kwargs={"hidden_units": 4, "image_size": 32})


def test_image_saves_need_a_module_and_tables_need_train_data(tmp_path: Path) -> None:
    from sklearn.dummy import DummyClassifier

    with pytest.raises(DataError, match="kind='image' saves a torch.nn.Module"):
        mlpact.save(DummyClassifier(), "x", kind="image", store=tmp_path)
    with pytest.raises(DataError, match="train_data is required for a table model"):
        mlpact.save(DummyClassifier(), "x", store=tmp_path)
    with pytest.raises(DataError, match="transforms= and example_input= are for kind='image'"):
        mlpact.save(DummyClassifier(), "x", transforms=["to_tensor"], store=tmp_path)


def test_errors_of_a_version_saved_without_test_data_say_why(own_loop: TinyVGG, tmp_path: Path) -> None:
    from mlpact.errors import NotFoundError

    record = save(own_loop, tmp_path, example_input=torch.zeros(3, 16, 16))
    with pytest.raises(NotFoundError, match="was saved with mlpact.save without test data"):
        mlpact.load(record.ref, store=tmp_path).errors()
