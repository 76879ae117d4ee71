"""Bringing your own parts to `mlpact train`: optimizer, loss, scheduler, callbacks, transforms and
modules by import path, each recorded with its source hash; their failures reported as yours."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("PIL")

import torch

from mlpact import load, train
from mlpact.config import load_config
from mlpact.errors import ConfigError, UserCodeError
from test_torch_images import make_digits

TINYVGG = "mlpact.torch.models:TinyVGG"

USER_CODE = '''
import random

import numpy as np
import torch
from PIL import ImageOps

SEEN = []


class Policy(torch.nn.Module):
    """A TrivialAugment-style policy: one random operation per image, of random strength."""

    def __init__(self, strength: int = 2):
        super().__init__()
        self.strength = strength

    def forward(self, image):
        SEEN.append(type(image).__name__)
        ops = [lambda im: ImageOps.autocontrast(im), lambda im: ImageOps.posterize(im, 8 - self.strength),
               lambda im: im.rotate(random.uniform(-10, 10)), lambda im: im]
        return random.choice(ops)(image)


def invert(tensor):
    return 1.0 - tensor


def add(tensor, amount=0.0):
    return tensor + amount


class StopAt:
    def __init__(self, epoch: int):
        self.epoch = epoch
        self.rows = []

    def __call__(self, metrics):
        self.rows.append(dict(metrics))
        return metrics["epoch"] >= self.epoch


def boom(metrics):
    raise RuntimeError("callback exploded")


class FocalLoss(torch.nn.Module):
    def __init__(self, gamma: float = 2.0, weight=None):
        super().__init__()
        self.gamma, self.weight = gamma, weight

    def forward(self, logits, target):
        ce = torch.nn.functional.cross_entropy(logits, target, weight=self.weight, reduction="none")
        return ((1 - torch.exp(-ce)) ** self.gamma * ce).mean()


class Wrong(torch.nn.Module):
    def __init__(self, in_channels: int = 3, num_classes: int = 3):
        super().__init__()
        self.flat = torch.nn.Flatten()
        self.linear = torch.nn.Linear(10, num_classes)  # not 3 x 16 x 16

    def forward(self, x):
        return self.linear(self.flat(x))


class Net(torch.nn.Module):
    def __init__(self, in_channels: int = 3, num_classes: int = 3, width: int = 8, act=torch.nn.ReLU):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Conv2d(in_channels, width, 3), act(),
                                        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.head = torch.nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.body(x))
'''


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_digits(tmp_path_factory.mktemp("digits"), per_class=16, test_per_class=6)


@pytest.fixture()
def usercode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module of the user's own parts, importable as `myparts`."""
    import sys

    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "myparts.py").write_text(USER_CODE)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "myparts", raising=False)
    return folder / "myparts.py"


def config(
    root: Path, model: str = TINYVGG, params: dict[str, Any] | None = None, **settings: Any
) -> dict[str, Any]:
    train_settings = {
        "epochs": 2,
        "batch_size": 8,
        "lr": 0.003,
        "transforms": [{"type": "to_tensor"}],
        **settings,
    }
    return {"name": "digits", "data": {"source": str(root)},
            "model": {"type": model, "params": {"hidden_units": 4} if params is None else params},
            "train": train_settings, "evaluate": {"plots": False, "baseline": False}}  # fmt: skip


def history(result: Any) -> list[dict[str, Any]]:
    return json.loads((result.path / "history.json").read_text())  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- optimizer, loss, scheduler
@pytest.mark.parametrize(
    "optimizer, params, kind",
    [
        ("sgd", {}, "SGD"),
        ("RMSprop", {"alpha": 0.9}, "RMSprop"),
        ("torch.optim.NAdam", {"betas": [0.8, 0.99]}, "NAdam"),
    ],
)
def test_any_torch_optimizer_by_name_or_path(
    digits: Path, tmp_path: Path, optimizer: str, params: dict[str, Any], kind: str
) -> None:
    from mlpact.torch.models import TinyVGG
    from mlpact.torch.parts import make_optimizer

    cfg = load_config(config(digits, optimizer=optimizer, optimizer_params=params, weight_decay=0.01))
    built = make_optimizer(TinyVGG(hidden_units=4, image_size=16), cfg.train)
    assert type(built).__name__ == kind
    assert built.param_groups[0]["lr"] == 0.003 and built.param_groups[0]["weight_decay"] == 0.01
    for key, value in params.items():
        assert built.param_groups[0][key] == value


@pytest.mark.parametrize(
    "settings, message",
    [
        (
            {"optimizer": "RMSPROP"},
            r"train.optimizer: torch.optim has no class 'RMSPROP'; did you mean 'RMSprop'\?",
        ),
        (
            {"optimizer": "adamm"},
            r"expected one of adam, adamw, sgd, .* \(found 'adamm'\); did you mean 'adam'\?",
        ),
        ({"optimizer_params": {"nesterov": True}}, r"train.optimizer: Adam refused .*nesterov"),
        ({"loss": "nope.mod:Loss"}, r"train.loss: cannot import module 'nope.mod'"),
        ({"scheduler": "CyclicLR"}, r"train.scheduler: CyclicLR refused"),
        (
            {"class_weights": [1.0, 2.0]},
            r"train.class_weights: expected 3 numbers \(one per class\), found 2",
        ),
        # l1 is a regression loss: refused for classes before its missing `weight` argument matters
        ({"class_weights": "balanced", "loss": "l1"}, r"train.loss: l1 is a regression loss, but the target"),
    ],
)
def test_bad_parts_are_config_errors(
    digits: Path, tmp_path: Path, settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        train(config(digits, **settings), store=tmp_path)


def test_class_weights_for_a_regression_are_refused() -> None:
    from mlpact.torch.parts import class_weights

    cfg = load_config(
        {
            "name": "x",
            "data": {"source": "sklearn:diabetes"},
            "model": {"type": "mlpact.torch.models:MLP"},
            "train": {"class_weights": [1.0]},
        }
    )
    with pytest.raises(ConfigError, match="class weights apply to classification only"):
        class_weights(cfg.train, np.zeros(3), 1, "regression")


def test_balanced_class_weights_follow_the_fitting_labels() -> None:
    from mlpact.torch.parts import class_weights

    cfg = load_config(
        {
            "name": "x",
            "data": {"source": "sklearn:iris"},
            "model": {"type": "mlpact.torch.models:MLP"},
            "train": {"class_weights": "balanced"},
        }
    )
    weights = class_weights(cfg.train, np.array([0, 0, 0, 1]), 2, "classification")
    assert weights.tolist() == pytest.approx([4 / 6, 4 / 2])


def test_your_own_loss_with_class_weights(digits: Path, tmp_path: Path, usercode: Path) -> None:
    result = train(config(digits, loss="myparts:FocalLoss", loss_params={"gamma": 1.0}, class_weights="balanced"),
                   store=tmp_path)  # fmt: skip
    assert result.metrics["training"]["loss"] == "myparts:FocalLoss"
    code = json.loads((result.path / "lineage.json").read_text())["code"]
    assert [(c["path"], c["use"]) for c in code] == [("myparts:FocalLoss", "training")]


def test_one_cycle_steps_every_batch_and_plateau_on_validation(digits: Path, tmp_path: Path) -> None:
    cycled = train(config(digits, scheduler="OneCycleLR", epochs=3), store=tmp_path / "a")
    lrs = [row["lr"] for row in history(cycled)]
    assert lrs[0] < lrs[1] and lrs[2] < lrs[1]  # warms up within epoch 1, anneals after
    assert lrs[0] == pytest.approx(0.003 / 25)  # OneCycleLR starts at max_lr / div_factor
    # mode "max" on the validation loss: every epoch that lowers it counts as "no improvement"
    settings = {"patience": 0, "factor": 0.5, "mode": "max"}
    plateau = history(train(config(digits, scheduler="ReduceLROnPlateau", scheduler_params=settings, epochs=3),
                            store=tmp_path / "b"))  # fmt: skip
    losses, lrs = [row["val_loss"] for row in plateau], [row["lr"] for row in plateau]
    assert lrs[:2] == [0.003, 0.003]  # epoch 1 sets the best value: no change yet
    worse = losses[1] <= losses[0] * (1 + 1e-4)  # not higher by the default relative threshold
    assert lrs[2] == pytest.approx(0.0015 if worse else 0.003)


# --------------------------------------------------------------------------- callbacks
def test_a_callback_sees_every_epoch_and_may_stop(digits: Path, tmp_path: Path, usercode: Path) -> None:
    result = train(config(digits, epochs=5, callbacks=[{"type": "myparts:StopAt", "params": {"epoch": 2}}]),
                   store=tmp_path)  # fmt: skip
    assert [row["epoch"] for row in history(result)] == [1, 2]
    assert result.metrics["epochs"]["stopped_by"] == "callback myparts:StopAt"
    assert result.metrics["epochs"]["stopped_early"]


def test_a_failing_callback_is_the_users_error(digits: Path, tmp_path: Path, usercode: Path) -> None:
    with pytest.raises(
        UserCodeError, match="The callback myparts:boom raised RuntimeError: callback exploded"
    ):
        train(config(digits, callbacks=[{"type": "myparts:boom"}]), store=tmp_path)


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            {"type": "myparts:boom", "params": {"x": 1}},
            r"train.callbacks.0.params: myparts:boom is a function",
        ),
        ({"type": "myparts:SEEN"}, r"train.callbacks.0.type: myparts:SEEN is not callable"),
        ({"type": "stop_at"}, "expected an import path such as mypkg.callbacks:StopAt"),
    ],
)
def test_callback_config_errors(
    digits: Path, tmp_path: Path, usercode: Path, entry: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        train(config(digits, callbacks=[entry]), store=tmp_path)


# --------------------------------------------------------------------------- transforms
def test_your_own_transforms_train_and_predict_and_are_trusted(
    digits: Path, tmp_path: Path, usercode: Path
) -> None:
    steps = [{"type": "myparts:Policy", "params": {"strength": 3}, "random": True}, {"type": "to_tensor"},
             {"type": "myparts:add", "params": {"amount": 0.1}, "random": False}]  # fmt: skip
    result = train(config(digits, transforms=steps), store=tmp_path)
    import myparts

    assert set(myparts.SEEN) == {"Image"}  # given PIL images before to_tensor
    saved = json.loads((result.path / "transforms.json").read_text())
    assert [s["type"] for s in saved["predict"]] == ["to_tensor", "myparts:add"]  # the random one dropped
    code = {c["path"]: c.get("use") for c in json.loads((result.path / "lineage.json").read_text())["code"]}
    assert code == {"myparts:Policy": "training", "myparts:add": None}
    model = load(result.ref, store=tmp_path)
    image = sorted((digits / "test" / "1").glob("*.png"))[0]
    raw = model.pipeline.to_tensor([image])[0]
    assert float(raw.min()) >= 0.1 - 1e-6  # add(0.1) applied at prediction
    assert model.predict([image]).tolist() == model.predict([image]).tolist()


def test_random_transforms_are_seeded_per_epoch_and_image(usercode: Path, digits: Path) -> None:
    from mlpact.torch.images import ImageDataset

    paths = sorted((digits / "train").rglob("*.png"))[:4]
    steps = [{"type": "myparts:Policy", "random": True}, {"type": "to_tensor"}]
    a, b = (
        ImageDataset(paths, np.zeros(4, dtype=np.int64), steps, seed=3),
        ImageDataset(paths, np.zeros(4, dtype=np.int64), steps, seed=3),
    )
    same = [np.array_equal(a[i][0].numpy(), b[i][0].numpy()) for i in range(4)]
    assert all(same)
    import random

    state = random.getstate()
    a[0]
    assert random.getstate() == state  # the user's step does not move the caller's generator


@pytest.mark.parametrize(
    "steps, message",
    [
        ([{"type": "myparts:Policy"}], "say `random: true` .* or `random: false`"),
        (
            [{"type": "myparts:Policy", "random": True, "size": 3}],
            "your own step takes its settings in `params`",
        ),
        ([{"type": "resize", "size": 8, "random": True}], "resize is a built-in step: `params` and `random`"),
        ([{"type": "resiz", "size": 8}], r"unknown transform 'resiz'.*did you mean 'resize'\?"),
    ],
)
def test_transform_step_config_errors(digits: Path, steps: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(config(digits, transforms=steps))


def test_a_failing_transform_is_the_users_error(digits: Path, tmp_path: Path, usercode: Path) -> None:
    steps = [{"type": "to_tensor"}, {"type": "myparts:add", "params": {"amount": "x"}, "random": False}]
    with pytest.raises(
        UserCodeError, match=r"The transform myparts:add raised TypeError on a tensor of shape"
    ):
        train(config(digits, transforms=steps), store=tmp_path)


def test_a_transform_returning_the_wrong_kind_is_named(usercode: Path) -> None:
    from mlpact.torch.images import Transforms

    steps = [{"type": "myparts:invert", "random": False}, {"type": "to_tensor"}]
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    with pytest.raises(UserCodeError, match=r"myparts:invert raised TypeError"):
        Transforms(steps)(image, np.random.default_rng(0))


def test_a_loaded_version_refuses_a_transform_its_config_does_not_name(usercode: Path) -> None:
    from mlpact.errors import UntrustedTypesError
    from mlpact.torch.images import Transforms

    with pytest.raises(UntrustedTypesError, match=r"Refusing to load transforms.json.*\['myparts:invert'\]"):
        Transforms([{"type": "myparts:invert", "random": False}], trusted=["myparts:add"])


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "nearest"])
def test_resize_filter_is_a_setting(interpolation: str) -> None:
    from PIL import Image

    from mlpact.torch.images import Transforms

    image = (np.random.default_rng(0).random((10, 10, 3)) * 255).astype(np.uint8)
    out = Transforms([{"type": "resize", "size": [4, 6], "interpolation": interpolation}])(
        image, np.random.default_rng(0)
    )
    resampling = getattr(Image.Resampling, interpolation.upper())
    assert np.array_equal(out, np.asarray(Image.fromarray(image).resize((6, 4), resampling)))


def test_non_square_images_reach_tinyvgg(digits: Path, tmp_path: Path) -> None:
    result = train(config(digits, transforms=[{"type": "resize", "size": [16, 24]}, {"type": "to_tensor"}], epochs=1),
                   store=tmp_path)  # fmt: skip
    assert json.loads((result.path / "model.json").read_text())["kwargs"]["image_size"] == [16, 24]


# --------------------------------------------------------------------------- modules
def test_your_module_records_its_source_and_every_constructor_argument(
    digits: Path, tmp_path: Path, usercode: Path
) -> None:
    result = train(config(digits, model="myparts:Net", params={"width": 4}, epochs=1), store=tmp_path)
    spec = json.loads((result.path / "model.json").read_text())
    assert spec["kwargs"] == {"in_channels": 3, "num_classes": 3, "width": 4}  # defaults included
    assert any("model.json cannot record Net's default act=" in w for w in result.warnings)
    [code] = json.loads((result.path / "lineage.json").read_text())["code"]
    import hashlib

    assert (
        code["path"] == "myparts:Net" and code["sha256"] == hashlib.sha256(usercode.read_bytes()).hexdigest()
    )
    assert "use" not in code
    usercode.write_text(usercode.read_text() + "\n# edited\n")
    from mlpact.usercode import CodeChangedWarning

    with pytest.warns(CodeChangedWarning, match="was saved with a different version of myparts"):
        load(result.ref, store=tmp_path)


def test_a_shape_error_inside_your_module_is_your_error(digits: Path, tmp_path: Path, usercode: Path) -> None:
    with pytest.raises(UserCodeError) as info:
        train(config(digits, model="myparts:Wrong", params={}), store=tmp_path)
    assert (
        "myparts:Wrong raised RuntimeError in forward() on a batch of inputs of shape (8, 3, 16, 16)"
        in str(info.value)
    )
    assert "mat1 and mat2 shapes cannot be multiplied" in str(info.value)
    assert "an error in the module, not in mlpact" in str(info.value.hint)


def test_outputs_that_do_not_fit_the_loss_are_named(digits: Path, tmp_path: Path) -> None:
    cfg = config(digits, epochs=1)
    cfg["model"]["params"] = {"hidden_units": 4, "output_shape": 2}  # 3 classes
    with pytest.raises(
        UserCodeError, match=r"outputs of shape \(8, 2\) .* targets of shape \(8,\) \(int64\)"
    ) as info:
        train(cfg, store=tmp_path)
    assert "one column per class" in str(info.value.hint)


def test_a_module_file_beside_the_config_that_does_not_import_gets_a_hint(
    digits: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from conftest import write_config
    from mlpact.cli import app

    (tmp_path / "mynet.py").write_text(textwrap.dedent(USER_CODE))
    path = write_config(tmp_path, config(digits, model="mynet:Net", params={}))
    out = CliRunner().invoke(app, ["train", str(path), "--store", str(tmp_path / "store")])
    assert out.exit_code == 3
    text = " ".join(out.stderr.split())
    assert "cannot import module 'mynet'" in text
    assert f"mynet is in {tmp_path}, which is not on Python's import path" in text
    assert "[tool.mlpact] source-dirs" in text and f"PYTHONPATH={tmp_path}" in text


# --------------------------------------------------------------------------- threads and determinism
def test_threads_are_set_for_training_and_recorded(digits: Path, tmp_path: Path) -> None:
    before = torch.get_num_threads()
    result = train(config(digits, threads=1, epochs=1), store=tmp_path)
    lineage = json.loads((result.path / "lineage.json").read_text())
    assert lineage["training"]["threads"] == 1 and lineage["training"]["threads_setting"] == 1
    assert result.metrics["training"]["threads"] == 1
    assert torch.get_num_threads() == before  # restored afterwards


def test_a_predictor_cannot_be_refitted() -> None:
    from mlpact.torch.saving import TorchPredictor

    with pytest.raises(TypeError, match="holds a trained module; train with `mlpact train`"):
        TorchPredictor(torch.nn.Linear(2, 2), None, ["a", "b"]).fit([[1, 2]], ["a"])
