"""mlpact: config-driven, repeatable training runs and trustworthy, versioned models.

The public API is imported lazily, so ``import mlpact`` (and ``mlpact --help``) stays fast:
scikit-learn and pandas are imported only when a function that needs them runs.

`check`, `reproduce` and `tune` are both the workload's module and its function: the module is
callable (``mlpact.check(model, data)`` runs `mlpact.check.check_data`, ``mlpact.tune(config)``
runs `mlpact.tune.tune`), so the name means the same whichever was imported first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mlpact._version import __version__

__all__ = [
    "Config",
    "Model",
    "Store",
    "TrainResult",
    "__version__",
    "check",
    "compare",
    "evaluate_version",
    "load",
    "load_config",
    "models",
    "predict",
    "predict_file",
    "reproduce",
    "run",
    "runs",
    "save",
    "train",
    "tune",
    "use_project",
]

_LAZY = {
    "Config": "mlpact.config",
    "load_config": "mlpact.config",
    "Model": "mlpact.version.model",
    "load": "mlpact.version.load",
    "Store": "mlpact.store",
    "TrainResult": "mlpact.training",
    "train": "mlpact.training",
    "predict": "mlpact.prediction",
    "predict_file": "mlpact.prediction",
    "evaluate_version": "mlpact.evaluate",
    "models": "mlpact.registry.frames",
    "runs": "mlpact.registry.frames",
    "compare": "mlpact.registry.frames",
    "use_project": "mlpact._core.project",
    "save": "mlpact.external",
    "run": "mlpact.external",
}
# Callable modules (see mlpact._callable): the attribute is the module itself.
_CALLABLE_MODULES = {"check": "mlpact.check", "reproduce": "mlpact.reproduce", "tune": "mlpact.tune"}

if TYPE_CHECKING:
    from mlpact._core.project import use_project
    from mlpact.config import Config, load_config
    from mlpact.evaluate import evaluate_version
    from mlpact.external import run, save
    from mlpact.prediction import predict, predict_file
    from mlpact.registry.frames import compare, models, runs
    from mlpact.store import Store
    from mlpact.training import TrainResult, train
    from mlpact.version.load import load
    from mlpact.version.model import Model


def __getattr__(name: str) -> Any:
    if name in _CALLABLE_MODULES:
        return importlib.import_module(_CALLABLE_MODULES[name])  # importing sets the attribute
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlpact' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
