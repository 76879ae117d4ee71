"""The `train:` section: how a PyTorch model is trained (the engine loop) and its image transforms,
and (`refit`) whether the saved model is refit on every row once evaluated.

scikit-learn models use only `refit`; `model.type` naming a `torch.nn.Module` (or
`mlpact.torch.models:TinyVGG` / `:MLP`) uses the rest. The optimizer, loss, scheduler, callbacks and
transform steps are extension points: a built-in name, or an import path to your own code (whose
module, package version and source hash the version records, like any code a config names).
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mlpact.config._base import Section

BUILTIN_TRANSFORMS = ("resize", "center_crop", "random_crop", "hflip", "vflip", "to_tensor", "normalize")
_SIZED = ("resize", "center_crop", "random_crop")
BUILTIN_OPTIMIZERS = ("adam", "adamw", "sgd")
BUILTIN_LOSSES = ("auto", "cross_entropy", "mse", "l1")
BUILTIN_SCHEDULERS = ("none", "step", "cosine")
_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*[.:][A-Za-z_]\w*")
_CLASS_NAME = re.compile(r"[A-Z]\w*")


def is_import_path(value: str) -> bool:
    """Whether a name is an import path (``mypkg.aug:Policy``, ``torch.optim.RMSprop``)."""
    return bool(_IMPORT_PATH.fullmatch(value))


def _named(value: str, builtins: tuple[str, ...], library: str, key: str) -> str:
    """A built-in name, a class name of `library` (checked when training starts) or an import path."""
    if value in builtins or is_import_path(value) or _CLASS_NAME.fullmatch(value):
        return value
    close = difflib.get_close_matches(value, builtins, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"expected one of {', '.join(builtins)}, a {library} class name or an import path such as "
        f"mypkg.{key}:MyClass (found {value!r}){hint}"
    )


class TransformStep(Section):
    """One image transform, applied in order: a built-in step (the torchvision names, without
    torchvision) or your own callable / `torch.nn.Module` by import path."""

    type: str = Field(
        description="`resize`, `center_crop`, `random_crop` (need `size`), `hflip`, `vflip` "
        "(random, with probability `p`), `to_tensor` (0-255 HWC to 0-1 CHW), `normalize` "
        "(needs `mean` and `std`, after `to_tensor`), or an import path to your own step "
        "(`mypkg.augment:TrivialAugment`): a class (built with `params`) or a function, called with "
        "a PIL image before `to_tensor` and a CHW float tensor after it, returning the same kind "
        "(a PIL image, an HWC uint8 array or a tensor)."
    )
    size: int | list[int] | None = Field(
        None,
        description="Output size: one number for a square (`64` is 64x64) or `[height, width]`.",
    )
    interpolation: Literal["bilinear", "bicubic", "nearest"] = Field(
        "bilinear", description="Resampling filter of `resize` (PIL's)."
    )
    p: float = Field(0.5, ge=0, le=1, description="Probability of a random flip.")
    mean: list[float] | None = Field(None, description="Per-channel mean for `normalize`.")
    std: list[float] | None = Field(None, description="Per-channel standard deviation for `normalize`.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments of your own step's class (import paths only)."
    )
    random: bool | None = Field(
        None,
        description="Your own steps only, required: `true` for augmentation (training only, seeded per "
        "epoch and image, dropped at prediction), `false` for a deterministic step applied in "
        "training and prediction alike.",
    )

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        if value in BUILTIN_TRANSFORMS or is_import_path(value):
            return value
        close = difflib.get_close_matches(value, BUILTIN_TRANSFORMS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown transform {value!r}: expected one of {', '.join(BUILTIN_TRANSFORMS)} or an "
            f"import path such as mypkg.augment:Policy{hint}"
        )

    @model_validator(mode="after")
    def _check(self) -> TransformStep:
        if self.type not in BUILTIN_TRANSFORMS:
            return self._check_custom()
        if self.params or self.random is not None:
            raise ValueError(f"{self.type} is a built-in step: `params` and `random` are for your own steps")
        if self.type in _SIZED:
            sizes = [self.size] if isinstance(self.size, int) else (self.size or [])
            if len(sizes) not in (1, 2) or min(sizes) < 1:
                raise ValueError(f"{self.type} needs size: a positive number or [height, width]")
        elif self.size is not None:
            raise ValueError(f"{self.type} takes no size")
        if self.type == "normalize":
            if not self.mean or not self.std or len(self.mean) != len(self.std):
                raise ValueError("normalize needs mean and std lists of the same length")
            if min(self.std) <= 0:
                raise ValueError("normalize: every std must be positive")
        return self

    def _check_custom(self) -> TransformStep:
        if self.random is None:
            raise ValueError(
                f"{self.type}: say `random: true` (augmentation: training only) or `random: false` "
                "(applied in training and prediction)"
            )
        if self.size is not None or self.mean is not None or self.std is not None:
            raise ValueError(f"{self.type}: your own step takes its settings in `params`")
        return self


class CallbackStep(Section):
    """Your own code called at the end of every epoch with that epoch's metrics."""

    type: str = Field(
        description="Import path of a function or class (built with `params`) called as "
        "`callback(metrics)` after each epoch, `metrics` holding epoch, loss, accuracy, val_loss, "
        "val_accuracy, lr and seconds; returning True stops training after that epoch."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of a callback class.")

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        if not is_import_path(value):
            raise ValueError(f"expected an import path such as mypkg.callbacks:StopAt (found {value!r})")
        return value


def _default_transforms() -> list[TransformStep]:
    return [TransformStep(type="resize", size=64), TransformStep(type="to_tensor")]


class TrainConfig(Section):
    """The PyTorch training loop: optimizer, loss, schedule, stopping, device and data loading;
    and for scikit-learn models, whether the saved model is refit on every row."""

    refit: Literal["train", "all"] = Field(
        "train",
        description="`train`: the saved model is the one fitted on the training split and scored on "
        "the test split. `all` (scikit-learn): after cross-validation and the single test score, "
        "refit the same pipeline on training + test rows and save that; the test metrics then are "
        "those of the pre-refit fit, as metrics.json, the card and `models show` say.",
    )

    batch_size: int = Field(32, ge=1, description="Samples per batch (going_modular `--batch_size`).")
    lr: float = Field(0.001, gt=0, description="Learning rate (going_modular `--lr`).")
    epochs: int = Field(5, ge=1, description="Passes over the training data (going_modular `--num_epochs`).")
    optimizer: str = Field(
        "adam",
        description="`adam`, `adamw`, `sgd`, any `torch.optim` class name (`RMSprop`, `NAdam`) or an "
        "import path (`mypkg.optim:Lion`); built with `lr`, `weight_decay` (when it takes one), "
        "`momentum` (sgd) and `optimizer_params`.",
    )
    optimizer_params: dict[str, Any] = Field(
        default_factory=dict, description="More keyword arguments of the optimizer (e.g. `betas`)."
    )
    momentum: float = Field(0.9, ge=0, lt=1, description="Momentum (sgd only).")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty.")
    loss: str = Field(
        "auto",
        description="`auto` (cross-entropy for classification, mse for regression), `cross_entropy`, "
        "`mse`, `l1`, a `torch.nn` loss class name (`HuberLoss`) or an import path "
        "(`mypkg.losses:FocalLoss`), built with `loss_params`; called as `loss(outputs, targets)`.",
    )
    loss_params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the loss.")
    class_weights: Literal["balanced"] | list[float] | None = Field(
        None,
        description="Class weights passed to the loss as `weight`: `balanced` (rows / (classes x rows "
        "of the class), counted on the fitting split) or one number per class, in class order.",
    )
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Label smoothing of cross-entropy.")
    scheduler: str = Field(
        "none",
        description="`none`, `step`, `cosine`, any `torch.optim.lr_scheduler` class name (`OneCycleLR`, "
        "`ReduceLROnPlateau`) or an import path, built with `scheduler_params`. Filled in when the "
        "class needs them and they are not given: `max_lr` (= `lr`), `T_max`, and OneCycleLR's "
        "`epochs` and `steps_per_epoch`. ReduceLROnPlateau steps on the validation loss.",
    )
    scheduler_params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments of the scheduler."
    )
    scheduler_interval: Literal["auto", "epoch", "step"] = Field(
        "auto",
        description="Step the scheduler after every epoch or every batch; `auto`: every batch for "
        "OneCycleLR and CyclicLR, every epoch otherwise.",
    )
    step_size: int = Field(10, ge=1, description="Epochs between decays (`step` scheduler).")
    gamma: float = Field(0.1, gt=0, le=1, description="Decay factor (`step` scheduler).")
    callbacks: list[CallbackStep] = Field(
        default_factory=list,
        description="Your own code called after every epoch with its metrics; one returning True "
        "stops training.",
    )
    grad_clip: float | None = Field(None, gt=0, description="Clip the gradient norm to this; none: off.")
    val_size: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="Fraction of the training data held out (stratified, seeded) as the validation "
        "split that early stopping and the best checkpoint use; the test split is scored once. 0: none.",
    )
    patience: int | None = Field(
        None, ge=1, description="Stop after this many epochs without validation improvement; none: off."
    )
    monitor: Literal["val_loss", "val_accuracy"] = Field(
        "val_loss", description="What early stopping and the best epoch are chosen by."
    )
    restore_best: bool = Field(True, description="Keep the weights of the best validation epoch.")
    transforms: list[TransformStep] = Field(
        default_factory=_default_transforms,
        description="Image transforms for training, in order (default: resize to 64x64 and to_tensor). "
        "Prediction uses the same list with random steps made deterministic (random_crop becomes "
        "center_crop, flips and your own `random: true` steps are dropped); it is saved with the "
        "version.",
    )
    engine: Literal["local", "ray"] = Field(
        "local",
        description="`local`: this process. `ray`: data-parallel (DDP) workers on Ray Train "
        "(`mlpact train --address` picks the cluster); rank 0's model becomes the version.",
    )
    workers: int = Field(
        2, ge=1, description="Ray Train workers (`engine: ray`); each trains on its shard of the data."
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="`auto` picks cuda, then mps, then cpu."
    )
    amp: bool = Field(True, description="Mixed precision (float16 autocast) when the device is cuda.")
    threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads torch uses while training (`torch.set_num_threads`); none: as torch "
        "decides. The count used is recorded: on CPU the same count, torch version and config give "
        "bit-identical weights.",
    )
    num_workers: int = Field(
        0, ge=0, description="DataLoader worker processes (0: load in the main process)."
    )
    pin_memory: bool | None = Field(None, description="Pin host memory for faster copies; none: on for cuda.")
    cache_images: bool = Field(
        False,
        description="Decode each image once and keep it in memory after its deterministic leading "
        "transforms (e.g. resize): much faster epochs when the data fits in memory.",
    )
    checkpoints: bool = Field(True, description="Write a checkpoint after every epoch (for `train.resume`).")
    resume: bool = Field(
        False,
        description="Continue from the last checkpoint of the same config (any `train.epochs`); "
        "the result is the same as an uninterrupted run.",
    )

    @field_validator("optimizer")
    @classmethod
    def _check_optimizer(cls, value: str) -> str:
        return _named(value, BUILTIN_OPTIMIZERS, "torch.optim", "optim")

    @field_validator("loss")
    @classmethod
    def _check_loss(cls, value: str) -> str:
        return _named(value, BUILTIN_LOSSES, "torch.nn", "losses")

    @field_validator("scheduler")
    @classmethod
    def _check_scheduler(cls, value: str) -> str:
        return _named(value, BUILTIN_SCHEDULERS, "torch.optim.lr_scheduler", "schedules")

    @field_validator("class_weights")
    @classmethod
    def _check_weights(cls, value: Any) -> Any:
        if isinstance(value, list) and (not value or min(value) < 0):
            raise ValueError("class_weights: one non-negative number per class, or `balanced`")
        return value

    def import_paths(self) -> list[str]:
        """Your own code this section names (import paths), in config order."""
        named = [self.optimizer, self.loss, self.scheduler]
        named += [s.type for s in self.transforms if s.type not in BUILTIN_TRANSFORMS]
        named += [c.type for c in self.callbacks]
        return [n for n in named if is_import_path(n)]

    @model_validator(mode="after")
    def _check_engine(self) -> TrainConfig:
        if self.engine == "ray" and self.resume:
            raise ValueError(
                "resuming from a checkpoint needs engine: local (Ray workers keep no checkpoints)"
            )
        return self
