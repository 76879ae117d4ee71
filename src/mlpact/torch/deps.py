"""The optional `torch` extra: imported on use, with an install hint when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from mlpact.errors import MissingDependencyError

_PACKAGES = {"torch": "torch", "safetensors": "safetensors", "PIL": "pillow"}


def require(module: str, *, feature: str = "PyTorch models") -> ModuleType:
    """Import `module` (torch, safetensors or PIL) or raise MissingDependencyError with the hint.

    Raises:
        MissingDependencyError: the package is not installed (`pip install 'mlpact[torch]'`).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        package = _PACKAGES.get(module.split(".")[0], module)
        raise MissingDependencyError(package, extra="torch", feature=feature) from None
