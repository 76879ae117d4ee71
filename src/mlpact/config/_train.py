"""The `train:` section: how a PyTorch model is trained (the engine loop) and its image transforms,
and (`refit`) whether the saved model is refit on every row once evaluated.

scikit-learn models use only `refit`; `model.type` naming a `torch.nn.Module` (or
`mlpact.torch.models:TinyVGG` / `:MLP`) uses the rest.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlpact.config._base import Section

TransformType = Literal["resize", "center_crop", "random_crop", "hflip", "vflip", "to_tensor", "normalize"]
_SIZED = ("resize", "center_crop", "random_crop")


class TransformStep(Section):
    """One image transform, applied in order (the torchvision names, without torchvision)."""

    type: TransformType = Field(
        description="`resize`, `center_crop`, `random_crop` (need `size`), `hflip`, `vflip` "
        "(random, with probability `p`), `to_tensor` (0-255 HWC to 0-1 CHW), `normalize` "
        "(needs `mean` and `std`, after `to_tensor`)."
    )
    size: int | list[int] | None = Field(
        None, description="Output size: one number (square) or [height, width]."
    )
    p: float = Field(0.5, ge=0, le=1, description="Probability of a random flip.")
    mean: list[float] | None = Field(None, description="Per-channel mean for `normalize`.")
    std: list[float] | None = Field(None, description="Per-channel standard deviation for `normalize`.")

    @model_validator(mode="after")
    def _check(self) -> TransformStep:
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
    optimizer: Literal["adam", "adamw", "sgd"] = Field("adam", description="The optimizer.")
    momentum: float = Field(0.9, ge=0, lt=1, description="Momentum (sgd only).")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty.")
    loss: Literal["auto", "cross_entropy", "mse", "l1"] = Field(
        "auto", description="`auto`: cross-entropy for classification, mse for regression."
    )
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Label smoothing of cross-entropy.")
    scheduler: Literal["none", "step", "cosine"] = Field(
        "none", description="Learning-rate schedule, stepped once per epoch."
    )
    step_size: int = Field(10, ge=1, description="Epochs between decays (`step` scheduler).")
    gamma: float = Field(0.1, gt=0, le=1, description="Decay factor (`step` scheduler).")
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
        description="Image transforms for training, in order (default: resize to 64 and to_tensor). "
        "Prediction uses the same list with random steps made deterministic (random_crop becomes "
        "center_crop, flips are dropped); it is saved with the version.",
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

    @model_validator(mode="after")
    def _check_engine(self) -> TrainConfig:
        if self.engine == "ray" and self.resume:
            raise ValueError(
                "resuming from a checkpoint needs engine: local (Ray workers keep no checkpoints)"
            )
        return self
