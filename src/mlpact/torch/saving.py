"""Saving without pickle: `weights.safetensors` + `model.json` (import path and keyword arguments),
and rebuilding a module from them under mlpact's trust rule.

`model.json` names the module class; loading imports it only when it is exactly the class the
version's config names (`model.type`, as the store's index recorded it), one of mlpact's own
module classes, or one the user trusts explicitly (`--trust`).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlpact._core import files
from mlpact.errors import ConfigError, UntrustedTypesError
from mlpact.learn.pipeline import import_object
from mlpact.torch.deps import require

torch = require("torch")

WEIGHTS = "weights.safetensors"
MODEL_JSON = "model.json"
TRANSFORMS_JSON = "transforms.json"
HISTORY_JSON = "history.json"
# Keyword arguments filled in from the data when the module takes them and the config does not set them.
DATA_KWARGS = {
    "input_shape": "channels",
    "in_channels": "channels",
    "output_shape": "outputs",
    "num_classes": "outputs",
    "out_features": "outputs",
    "image_size": "image_size",
    "in_features": "features",
}


# --------------------------------------------------------------------------- building
def module_class(path: str, *, key: str = "model.type", near: Path | None = None) -> type:
    """The `torch.nn.Module` subclass an import path names.

    Args:
        near: the config's folder: a module file there that does not import gets a hint.

    Raises:
        ConfigError: it does not import or is not a module class.
    """

    cls = import_object(path, key=key, near=near)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        found = f"{type(cls).__name__} {getattr(cls, '__name__', cls)!r}"
        raise ConfigError([f"{key}: {path!r} is not a torch.nn.Module subclass (found {found})"])
    return cls


def init_params(cls: type) -> list[str]:
    """The keyword arguments a module's constructor takes (by name)."""
    return list(_parameters(cls))


def _parameters(cls: type) -> dict[str, inspect.Parameter]:
    params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    return {
        n: p for n, p in params.items() if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def resolve_kwargs(cls: type, params: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """`model.params` checked against the constructor, plus the data-derived arguments it takes,
    plus every other argument's default (so a default that changes later cannot change a saved
    model; defaults that are not plain JSON values are left out, see `unrecorded_defaults`).

    Raises:
        ConfigError: a parameter is not an argument of the module (all of them named, sorted).
    """
    accepted = _parameters(cls)
    takes_any = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())  # type: ignore[misc]
    unknown = sorted(set(params) - set(accepted))
    if unknown and not takes_any:
        raise ConfigError(
            [
                f"model.params: {cls.__name__} has no parameter {n!r}; it takes: {', '.join(accepted)}"
                for n in unknown
            ]
        )
    defaults = {n: p.default for n, p in accepted.items() if p.default is not p.empty and _plain(p.default)}
    filled = {name: data[src] for name, src in DATA_KWARGS.items() if name in accepted and src in data}
    return {**defaults, **filled, **params}


def _plain(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def unrecorded_defaults(path: str, kwargs: Mapping[str, Any]) -> list[str]:
    """A warning per constructor default that model.json cannot record (not a plain JSON value)."""
    cls = module_class(path)
    return [
        f"model.json cannot record {cls.__name__}'s default {name}={p.default!r} (not a plain JSON value): "
        "if that default changes, loading this version builds a different module; set it in model.params"
        for name, p in _parameters(cls).items()
        if name not in kwargs and p.default is not p.empty
    ]


def build_module(
    path: str, params: Mapping[str, Any], data: Mapping[str, Any], *, near: Path | None = None
) -> tuple[Any, dict[str, Any]]:
    """Instantiate the module `model.type` names; return it and the keyword arguments used
    (every constructor argument, defaults included).

    Raises:
        ConfigError: the class cannot be imported, takes no such parameter, or refuses the values.
    """
    cls = module_class(path, near=near)
    kwargs = resolve_kwargs(cls, params, data)
    try:
        return cls(**kwargs), kwargs
    except (TypeError, ValueError) as exc:
        raise ConfigError([f"model.params: {path} refused {kwargs!r}: {exc}"]) from None


# --------------------------------------------------------------------------- saving
def save_module(module: Any, directory: Path, spec: Mapping[str, Any]) -> None:
    """Write weights.safetensors (tensors only) and model.json (import path, kwargs, classes).

    safetensors writes the file itself (owner-only permissions, no fsync): it is given the
    permissions of the version's other files and synced like them, so a completed save survives
    a crash and the version reads the same for everyone who can read the store.
    """
    import os
    import shutil

    safetensors_torch = require("safetensors.torch")
    module = module.to("cpu")
    files.write_json(directory / MODEL_JSON, dict(spec))
    weights = directory / WEIGHTS
    safetensors_torch.save_model(module, str(weights))
    shutil.copymode(directory / MODEL_JSON, weights)
    with open(weights, "rb") as fh:
        os.fsync(fh.fileno())


# The module classes mlpact ships (`model.type: mlpact.torch.models.MLP`).
OWN_MODULES = ("mlpact.torch.models.TinyVGG", "mlpact.torch.models.MLP")


def trusted_module_type(spec: Mapping[str, Any], config_type: str, trust: Iterable[str]) -> str:
    """The module import path from model.json, if the trust rule allows importing it: exactly a
    class mlpact ships, the one the version's config names (from the index), or one in `trust`.

    Raises:
        UntrustedTypesError: model.json names any other class.
    """
    path = str(spec.get("type", ""))
    allowed = {a.replace(":", ".") for a in (config_type, *trust, *OWN_MODULES) if a}
    if path.replace(":", ".") in allowed:
        return path
    raise UntrustedTypesError([path], file=MODEL_JSON)


def load_module(directory: Path, config_type: str, trust: Iterable[str] = ()) -> tuple[Any, dict[str, Any]]:
    """Rebuild the module of a (verified) version and load its weights; returns it with model.json."""
    safetensors_torch = require("safetensors.torch")
    spec = json.loads((directory / MODEL_JSON).read_text(encoding="utf-8"))
    path = trusted_module_type(spec, config_type, trust)
    cls = module_class(path)
    if f"{cls.__module__}.{cls.__qualname__}" != path.replace(":", "."):  # a re-export is not itself
        raise UntrustedTypesError([path], file=MODEL_JSON)
    module = cls(**spec.get("kwargs", {}))
    safetensors_torch.load_model(module, str(directory / WEIGHTS), strict=True)
    module.eval()
    return module, spec


# --------------------------------------------------------------------------- predicting
def inference_batch(train_batch: int, *, images: bool) -> int:
    """Inputs per forward pass when predicting: for images, the training batch size (at least
    16), which the user chose for their hardware; larger is not faster on a CPU (TinyVGG on 64x64
    images, 2 threads: 90 images in batches of 32 took 40 ms, in batches of 64, 52 ms). Tables:
    at least 256 rows, where a forward pass is cheap and per-call overhead dominates."""
    return max(train_batch, 16) if images else max(train_batch, 256)


class TorchPredictor:
    """A module with its input conversion, behaving like a fitted scikit-learn estimator
    (`predict`, `predict_proba`, `classes_`), so evaluation, reports and serving reuse their code.

    Args:
        module: the trained module (eval mode).
        to_tensor: turns a batch of inputs (a DataFrame, or image paths/arrays) into a float tensor.
        classes: class names for classifiers, None for regression.
        batch_size: inputs per forward pass.
    """

    def __init__(
        self, module: Any, to_tensor: Any, classes: Sequence[Any] | None, *, batch_size: int = 256
    ) -> None:
        self.module = module.eval()
        self.to_tensor = to_tensor
        self.classes_ = np.asarray(classes) if classes is not None else None
        self.batch_size = batch_size
        self.device = next(iter(module.parameters()), torch.empty(0)).device

    def _outputs(self, X: Any) -> np.ndarray:
        n = len(X)
        outs = []
        with torch.inference_mode():
            for start in range(0, n, self.batch_size):
                batch = (
                    X.iloc[start : start + self.batch_size]
                    if hasattr(X, "iloc")
                    else X[start : start + self.batch_size]
                )
                out = self.module(self.to_tensor(batch).to(self.device))
                if self.classes_ is not None:
                    out = torch.softmax(out.float(), dim=1)
                outs.append(out.float().cpu().numpy())
        width = len(self.classes_) if self.classes_ is not None else 1
        return np.concatenate(outs) if outs else np.empty((0, width), dtype=np.float32)

    def fit(self, X: Any, y: Any = None) -> TorchPredictor:
        """Not available: the module is trained by `mlpact train` (or your own loop). Present so
        scikit-learn's inspection tools (permutation importance) accept the predictor.

        Raises:
            TypeError: always.
        """
        raise TypeError("a TorchPredictor holds a trained module; train with `mlpact train`")

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (softmax of the outputs), one column per class."""
        if self.classes_ is None:
            raise TypeError("predict_proba is only available for classifiers")
        return self._outputs(X)

    def predict(self, X: Any) -> np.ndarray:
        """Class names (the most probable) or predicted values."""
        out = self._outputs(X)
        if self.classes_ is not None:
            return self.classes_[out.argmax(axis=1)]  # type: ignore[no-any-return]
        return out.reshape(len(out), -1)[:, 0]
