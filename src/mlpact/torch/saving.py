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

from mlpact.errors import ConfigError, UntrustedTypesError
from mlpact.torch._deps import require

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
def module_class(path: str, *, key: str = "model.type") -> type:
    """The `torch.nn.Module` subclass an import path names.

    Raises:
        ConfigError: it does not import or is not a module class.
    """
    from mlpact.pipeline import import_object

    cls = import_object(path, key=key)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        found = f"{type(cls).__name__} {getattr(cls, '__name__', cls)!r}"
        raise ConfigError([f"{key}: {path!r} is not a torch.nn.Module subclass (found {found})"])
    return cls


def init_params(cls: type) -> list[str]:
    """The keyword arguments a module's constructor takes (by name)."""
    params = inspect.signature(cls.__init__).parameters.values()  # type: ignore[misc]
    return [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def resolve_kwargs(cls: type, params: Mapping[str, Any], data: Mapping[str, int]) -> dict[str, Any]:
    """`model.params` checked against the constructor, plus the data-derived arguments it takes.

    Raises:
        ConfigError: a parameter is not an argument of the module (all of them named, sorted).
    """
    accepted = init_params(cls)
    takes_any = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())  # type: ignore[misc]
    unknown = sorted(set(params) - set(accepted))
    if unknown and not takes_any:
        raise ConfigError(
            [
                f"model.params: {cls.__name__} has no parameter {n!r}; it takes: {', '.join(accepted)}"
                for n in unknown
            ]
        )
    filled = {name: data[src] for name, src in DATA_KWARGS.items() if name in accepted and src in data}
    return {**filled, **params}


def build_module(path: str, params: Mapping[str, Any], data: Mapping[str, int]) -> tuple[Any, dict[str, Any]]:
    """Instantiate the module `model.type` names; return it and the keyword arguments used.

    Raises:
        ConfigError: the class cannot be imported, takes no such parameter, or refuses the values.
    """
    cls = module_class(path)
    kwargs = resolve_kwargs(cls, params, data)
    try:
        return cls(**kwargs), kwargs
    except (TypeError, ValueError) as exc:
        raise ConfigError([f"model.params: {path} refused {kwargs!r}: {exc}"]) from None


# --------------------------------------------------------------------------- saving
def save_module(module: Any, directory: Path, spec: Mapping[str, Any]) -> None:
    """Write weights.safetensors (tensors only) and model.json (import path, kwargs, classes)."""
    from mlpact import bundle

    safetensors_torch = require("safetensors.torch")
    module = module.to("cpu")
    safetensors_torch.save_model(module, str(directory / WEIGHTS))
    bundle.write_json(directory / MODEL_JSON, dict(spec))


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
