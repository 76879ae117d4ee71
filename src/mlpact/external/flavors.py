"""The two kinds of model `mlpact.save` takes: scikit-learn estimators/pipelines and PyTorch modules.

Each knows its task, its import path (`model.type`), how to write itself into a version folder
under the trust rule, and how to predict for scoring the test data.
"""

from __future__ import annotations

import abc
import inspect
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact.errors import DataError, UntrustedTypesError
from mlpact.version import bundle

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.config import Config
    from mlpact.data.schema import Schema


def class_path(obj: Any, what: str) -> str:
    cls = type(obj)
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        raise DataError(
            f"{what} {cls.__qualname__} is defined in {cls.__module__} (a notebook cell, a script or "
            "a function), so it cannot be imported again to rebuild the saved model.",
            hint="Move the class into a module of your project (e.g. with `mlpact nb export`), "
            "import it from there, fit again and save.",
        )
    return f"{cls.__module__}:{cls.__qualname__}"


def is_torch_module(obj: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


# --------------------------------------------------------------------------- flavors
class External(abc.ABC):
    """What differs between a scikit-learn and a torch model saved from outside."""

    flavor = "sklearn"
    packages: tuple[str, ...] = ()
    schema: Schema

    @abc.abstractmethod
    def task(self) -> str | None:
        """classification, regression, or None when it cannot be told."""

    @abc.abstractmethod
    def model_type(self) -> str:
        """The import path recorded as `model.type`."""

    def params(self) -> dict[str, Any]:
        return {}

    def prepare(self, cfg: Config, X: pd.DataFrame, y: pd.Series) -> None:
        from mlpact.data.schema import infer_schema

        self.schema = infer_schema(X.assign(**{cfg.data.target: y}), cfg.schema_, target=cfg.data.target,
                                   task=cfg.data.task)  # fmt: skip

    @abc.abstractmethod
    def dump(self, tmp: Path, named: list[str]) -> list[str]:
        """Write the model's files into `tmp`; the types it needs trusted."""

    @abc.abstractmethod
    def predictor(self) -> Any:
        """What scores the test data (an object with predict/predict_proba)."""

    def frame(self, X: pd.DataFrame) -> pd.DataFrame:
        return X

    def describe(self) -> dict[str, Any]:
        return {"type": self.model_type(), "flavor": self.flavor}


class SklearnExternal(External):
    def __init__(self, fitted: Any) -> None:
        self.fitted = fitted
        self.final = fitted.steps[-1][1] if hasattr(fitted, "steps") and fitted.steps else fitted

    def task(self) -> str | None:
        from sklearn.base import is_regressor

        if getattr(self.fitted, "classes_", None) is not None:
            return "classification"
        return "regression" if is_regressor(self.final) else None

    def model_type(self) -> str:
        return class_path(self.final, "The estimator")

    def params(self) -> dict[str, Any]:
        params = self.final.get_params(deep=False) if hasattr(self.final, "get_params") else {}
        return {k: v for k, v in params.items() if v is None or isinstance(v, (str, int, float, bool))}

    def dump(self, tmp: Path, named: list[str]) -> list[str]:

        try:
            return bundle.dump_pipeline(self.fitted, tmp, allowed=named)
        except UntrustedTypesError as exc:
            local = [t for t in exc.types if t.startswith("__main__.")]
            if local:
                raise DataError(
                    f"The pipeline holds {', '.join(local)}, defined in __main__ (a notebook cell or a "
                    "script), which cannot be imported again to rebuild it.",
                    hint="Move the class into a module of your project, import it from there, fit "
                    "again, and save with trust=['mypkg.module:ClassName'].",
                ) from None
            exc.hint = "Pass the import paths of your own classes with trust=[...] if you trust them."
            raise

    def predictor(self) -> Any:
        return self.fitted


class TorchExternal(External):
    flavor = "torch"
    packages = ("torch", "safetensors")

    def __init__(
        self, module: Any, kwargs: Mapping[str, Any] | None, classes: Iterable[Any] | None, pre: Any
    ) -> None:
        self.module = module
        self.kwargs = dict(kwargs) if kwargs is not None else None
        self.classes = list(classes) if classes is not None else None
        self.pre = pre

    def task(self) -> str | None:
        return "classification" if self.classes is not None else None

    def model_type(self) -> str:
        return class_path(self.module, "The module class")

    def prepare(self, cfg: Config, X: pd.DataFrame, y: pd.Series) -> None:
        import pandas as pd

        super().prepare(cfg, X, y)
        self.task_name = cfg.data.task
        if cfg.data.task == "classification" and self.classes is None:
            self.classes = sorted(pd.unique(y))
        self.rebuilt = self._rebuild()
        if self.pre is None:
            from sklearn.preprocessing import FunctionTransformer

            self.pre = FunctionTransformer().fit(self.frame(X))

    def _rebuild(self) -> Any:
        """The module rebuilt from its class and init_kwargs, holding its weights: what loading does."""
        cls = type(self.module)
        named_kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        required = [
            p.name for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.default is p.empty and p.kind in named_kinds
        ]  # fmt: skip
        kwargs = self.kwargs if self.kwargs is not None else {}
        missing = sorted(set(required) - set(kwargs))
        if missing:
            raise DataError(
                f"{cls.__qualname__} cannot be rebuilt: its constructor needs {missing!r} and "
                "init_kwargs does not give them.",
                hint="Pass init_kwargs={...}: the keyword arguments you built the module with.",
            )
        try:
            json.dumps(kwargs)
            rebuilt = cls(**kwargs)
            rebuilt.load_state_dict(self.module.state_dict(), strict=True)
        except Exception as exc:
            raise DataError(
                f"{cls.__qualname__} cannot be rebuilt from init_kwargs={kwargs!r}: "
                f"{type(exc).__name__}: {exc}",
                hint="init_kwargs must be plain JSON values that rebuild a module with the same "
                "weights (the same shapes) as the one you trained.",
            ) from None
        return rebuilt.eval()

    def frame(self, X: pd.DataFrame) -> pd.DataFrame:
        from mlpact.data.schema import coerce

        return coerce(X, self.schema)

    def dump(self, tmp: Path, named: list[str]) -> list[str]:
        from mlpact.torch.saving import save_module

        spec = {"type": self.model_type(), "kwargs": self.kwargs or {}, "task": self.task_name,
                "classes": self.classes, "input": "table"}  # fmt: skip
        save_module(self.rebuilt, tmp, spec)
        return bundle.dump_pipeline(self.pre, tmp, allowed=named)

    def predictor(self) -> Any:
        from mlpact.torch.inputs import TableInput
        from mlpact.torch.saving import TorchPredictor

        return TorchPredictor(self.rebuilt, TableInput(self.pre), self.classes)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "init_kwargs": self.kwargs or {}}
