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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlpact.config import Config

__all__ = [
    "TORCH_PREFIX",
    "fit",
    "is_image_config",
    "is_torch_config",
    "load_version",
    "predict_images",
    "run",
]

TORCH_PREFIX = "mlpact.torch."
_LAZY = {
    "fit": "mlpact.torch.engine",
    "run": "mlpact.torch.training",
    "load_version": "mlpact.torch.predicting",
    "predict_images": "mlpact.torch.predicting",
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
    from mlpact.pipeline import import_object

    try:
        cls = import_object(path)
    except Exception:  # the sklearn path reports a bad import with its own message
        return False
    if "torch" not in sys.modules or not isinstance(cls, type):
        return False
    return any(c.__module__.split(".")[0] == "torch" and c.__name__ == "Module" for c in cls.__mro__)
