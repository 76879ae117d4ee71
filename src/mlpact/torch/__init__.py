"""PyTorch models with the same contract as scikit-learn ones: config-driven training, versioned,
verified, servable models saved without pickle.

Nothing here imports torch until it is used: `is_torch_config` only looks at the config, and the
names below load their module on first access.

- `mlpact.torch.models`: TinyVGG and MLP (any `torch.nn.Module` works through `model.type`).
- `mlpact.torch.images`: image folders and transforms with PIL + NumPy (no torchvision needed).
- `mlpact.torch.engine`: `train_step`, `test_step` and `fit` (history, early stopping, checkpoints).
- `mlpact.torch.training`: the training run that `mlpact train` hands torch configs to.
- `mlpact.torch.saving`: weights.safetensors + model.json, and rebuilding a module from them.
- `mlpact.torch.predicting`: the loaded model and predicting image files.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mlpact.errors import ConfigError
from mlpact.learn.pipeline import import_object

if TYPE_CHECKING:
    from mlpact.config import Config

__all__ = [
    "TORCH_PREFIX",
    "check_config",
    "check_engine",
    "fit",
    "is_image_config",
    "is_torch_config",
    "load_version",
    "predict_images",
    "ray_session",
    "require",
    "run_params",
    "shard",
]

TORCH_PREFIX = "mlpact.torch."
_LAZY = {
    "fit": "mlpact.torch.engine",
    "run_params": "mlpact.torch.training",
    "load_version": "mlpact.torch.predicting",
    "predict_images": "mlpact.torch.predicting",
    "require": "mlpact.torch.deps",
    "shard": "mlpact.torch._ray",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlpact.torch' has no attribute {name!r}")


def is_torch_config(cfg: Config) -> bool:
    """Whether a config trains a PyTorch model: `model.type` is in mlpact.torch or is a
    `torch.nn.Module` subclass, or the data source is an image folder."""
    if cfg.model.type.startswith(TORCH_PREFIX) or is_image_config(cfg):
        return True
    return is_module_path(cfg.model.type)


def is_image_config(cfg: Config) -> bool:
    """Whether a config's data source is a folder of images (class folders, or train/ and test/)."""
    path = cfg.source_path()
    return path is not None and path.is_dir()


def is_module_path(path: str) -> bool:
    """Whether an import path names a `torch.nn.Module` subclass (False if it does not import)."""

    try:
        cls = import_object(path)
    except Exception:  # the sklearn path reports a bad import with its own message
        return False
    if "torch" not in sys.modules or not isinstance(cls, type):
        return False
    return any(c.__module__.split(".")[0] == "torch" and c.__name__ == "Module" for c in cls.__mro__)


# --------------------------------------------------------------------------- config rules
def check_engine(cfg: Config) -> None:
    """`train.engine: ray` trains PyTorch models (data-parallel Ray Train workers): a scikit-learn
    config that asks for it is refused, not trained in this process as if it had not asked.

    Raises:
        ConfigError: `train.engine` is ray and the config trains a scikit-learn model.
    """
    if cfg.train.engine == "ray" and not is_torch_config(cfg):
        raise ConfigError([f"train.engine: ray trains PyTorch models; {cfg.model.type} is scikit-learn"])


@contextmanager
def ray_session(cfg: Config, address: str | None) -> Iterator[None]:
    """Connect to the Ray cluster at `address` for a run (`train.engine: ray`); else nothing.

    Raises:
        ConfigError: an `address` without `train.engine: ray`, or ray for a scikit-learn model.
    """
    if cfg.train.engine != "ray":
        if address:
            raise ConfigError(["--address needs --engine ray (train.engine: ray)"])
        yield
        return
    check_engine(cfg)
    if not address:
        yield
        return
    from mlpact.torch._ray import import_ray_train  # torch and ray, for this run only

    ray, _ = import_ray_train()
    ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


def check_config(cfg: Config) -> None:
    """PyTorch versions take the most probable class; a `decision:` section is refused, not ignored.

    Raises:
        ConfigError: `decision.objective` or `decision.calibration` is set for a PyTorch model.
    """
    if cfg.decision.active or cfg.decision.calibration != "none":
        raise ConfigError(
            [
                "decision: PyTorch models predict the most probable class; decisions and calibration "
                "apply to scikit-learn classifiers only. Remove the decision section."
            ]
        )
