"""The parts of a training a config names: optimizer, loss, learning-rate scheduler and callbacks.

Each is a built-in name, a class name of the torch library it belongs to (`RMSprop`,
`HuberLoss`, `OneCycleLR`) or an import path to your own code (`mypkg.losses:FocalLoss`), resolved
the way `model.type` is: one function turns the entry into an object, and every failure is a
config error naming the key. Your own code that raises while mlpact runs it is a `UserCodeError`
naming it, not a bug in mlpact.
"""

from __future__ import annotations

import difflib
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpact.config._train import is_import_path
from mlpact.errors import ConfigError, UserCodeError
from mlpact.torch._deps import require

if TYPE_CHECKING:
    from mlpact.config._train import CallbackStep, TrainConfig

torch = require("torch")

_PER_STEP = ("OneCycleLR", "CyclicLR")


def resolve(name: str, *, key: str, library: ModuleType, builtins: Mapping[str, Any] | None = None) -> Any:
    """The object a config entry names: a built-in, a class of `library`, or an import path.

    Raises:
        ConfigError: the name is not in `library` (with a close match) or the path does not import.
    """
    from mlpact.pipeline import import_object

    if builtins and name in builtins:
        return builtins[name]
    if is_import_path(name):
        return import_object(name, key=key)
    found = getattr(library, name, None)
    if isinstance(found, type):
        return found
    names = [n for n in dir(library) if isinstance(getattr(library, n, None), type) and not n.startswith("_")]
    lowered = {n.lower(): n for n in names}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
    hint = f"; did you mean {lowered[close[0]]!r}?" if close else ""
    raise ConfigError([f"{key}: {library.__name__} has no class {name!r}{hint}"])


def build(cls: Any, args: Sequence[Any], kwargs: Mapping[str, Any], *, key: str) -> Any:
    """`cls(*args, **kwargs)`; a refusal of the values is a config error naming the key."""
    try:
        return cls(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        name = getattr(cls, "__qualname__", repr(cls))
        raise ConfigError([f"{key}: {name} refused {dict(kwargs)!r}: {exc}"]) from None


def accepts(cls: Any, name: str) -> bool:
    """Whether a class's constructor takes a keyword argument `name` (or any, through **kwargs)."""
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind == p.VAR_KEYWORD for p in params)


def _required(cls: Any, name: str) -> bool:
    try:
        param = inspect.signature(cls).parameters.get(name)
    except (TypeError, ValueError):
        return False
    return param is not None and param.default is param.empty


# --------------------------------------------------------------------------- optimizer
def make_optimizer(module: Any, train: TrainConfig) -> Any:
    """The optimizer `train.optimizer` names, over the module's parameters."""
    optim = torch.optim
    builtins = {"adam": optim.Adam, "adamw": optim.AdamW, "sgd": optim.SGD}
    cls = resolve(train.optimizer, key="train.optimizer", library=optim, builtins=builtins)
    kwargs: dict[str, Any] = {"lr": train.lr}
    if accepts(cls, "weight_decay"):
        kwargs["weight_decay"] = train.weight_decay
    if cls is optim.SGD:
        kwargs["momentum"] = train.momentum
    kwargs.update(train.optimizer_params)
    return build(cls, [module.parameters()], kwargs, key="train.optimizer")


# --------------------------------------------------------------------------- loss
def make_loss(train: TrainConfig, task: str, weight: Any = None) -> Any:
    """The loss `train.loss` names (`auto`: cross-entropy or mse), with class weights when given.

    Raises:
        ConfigError: class weights for a regression, or a loss that takes no `weight`.
    """
    nn = torch.nn
    name = train.loss if train.loss != "auto" else ("cross_entropy" if task == "classification" else "mse")
    builtins = {"cross_entropy": nn.CrossEntropyLoss, "mse": nn.MSELoss, "l1": nn.L1Loss}
    cls = resolve(name, key="train.loss", library=nn, builtins=builtins)
    kwargs = dict(train.loss_params)
    if cls is nn.CrossEntropyLoss and train.label_smoothing:
        kwargs.setdefault("label_smoothing", train.label_smoothing)
    if weight is not None:
        if not accepts(cls, "weight"):
            raise ConfigError(
                [f"train.class_weights: the loss {name!r} takes no `weight` argument; remove class_weights"]
            )
        kwargs["weight"] = weight
    return build(cls, [], kwargs, key="train.loss")


def class_weights(train: TrainConfig, labels: np.ndarray | None, classes: int, task: str) -> Any:
    """The `weight` tensor `train.class_weights` asks for (None when it is not set).

    Raises:
        ConfigError: weights for a regression, or a list whose length is not the number of classes.
    """
    setting = train.class_weights
    if setting is None:
        return None
    if task != "classification" or labels is None:
        raise ConfigError(["train.class_weights: class weights apply to classification only"])
    if setting == "balanced":
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=classes).astype(np.float64)
        weights = np.where(counts > 0, len(labels) / (classes * np.maximum(counts, 1)), 0.0)
    else:
        if len(setting) != classes:
            raise ConfigError(
                [f"train.class_weights: expected {classes} numbers (one per class), found {len(setting)}"]
            )
        weights = np.asarray(setting, dtype=np.float64)
    return torch.tensor(weights, dtype=torch.float32)


# --------------------------------------------------------------------------- scheduler
@dataclass
class Schedule:
    """A learning-rate scheduler and when it steps."""

    scheduler: Any
    per_step: bool
    plateau: bool

    def after_batch(self) -> None:
        if self.per_step:
            with warnings.catch_warnings():  # AMP may skip an optimizer step; the schedule goes on
                warnings.simplefilter("ignore", UserWarning)
                self.scheduler.step()

    def after_epoch(self, monitored: float | None) -> None:
        if self.per_step:
            return
        if self.plateau:
            if monitored is not None:
                self.scheduler.step(monitored)
            return
        self.scheduler.step()


def make_scheduler(optimizer: Any, train: TrainConfig, steps_per_epoch: int) -> Schedule | None:
    """The scheduler `train.scheduler` names, with what it needs filled in from the run."""
    if train.scheduler == "none":
        return None
    lr_scheduler = torch.optim.lr_scheduler
    builtins = {"step": lr_scheduler.StepLR, "cosine": lr_scheduler.CosineAnnealingLR}
    cls = resolve(train.scheduler, key="train.scheduler", library=lr_scheduler, builtins=builtins)
    interval = train.scheduler_interval
    if interval == "auto":
        interval = "step" if getattr(cls, "__name__", "") in _PER_STEP else "epoch"
    per_step = interval == "step"
    steps = steps_per_epoch if per_step else 1
    kwargs: dict[str, Any] = {}
    if cls is lr_scheduler.StepLR:
        kwargs = {"step_size": train.step_size, "gamma": train.gamma}
    kwargs.update(train.scheduler_params)
    fill = {"max_lr": train.lr, "T_max": train.epochs * steps}
    kwargs.update({k: v for k, v in fill.items() if k not in kwargs and _required(cls, k)})
    if accepts(cls, "steps_per_epoch") and not {"total_steps", "epochs", "steps_per_epoch"} & set(kwargs):
        kwargs.update(epochs=train.epochs, steps_per_epoch=steps)
    scheduler = build(cls, [optimizer], kwargs, key="train.scheduler")
    plateau = isinstance(scheduler, lr_scheduler.ReduceLROnPlateau)
    return Schedule(scheduler, per_step and not plateau, plateau)


# --------------------------------------------------------------------------- callbacks
@dataclass
class Callback:
    """Your own code called after every epoch; returning True stops training."""

    path: str
    call: Callable[[dict[str, Any]], Any]

    def __call__(self, metrics: Mapping[str, Any]) -> bool:
        try:
            return self.call(dict(metrics)) is True
        except Exception as exc:
            raise UserCodeError(
                f"The callback {self.path} raised {type(exc).__name__}: {exc}",
                hint="It is your code, named in train.callbacks; fix it or remove it from the config.",
            ) from exc


def make_callbacks(steps: Sequence[CallbackStep]) -> list[Callback]:
    """The callbacks `train.callbacks` names: classes built with their params, functions as they are."""
    from mlpact.pipeline import import_object

    out = []
    for i, step in enumerate(steps):
        key = f"train.callbacks.{i}"
        obj = import_object(step.type, key=f"{key}.type")
        if isinstance(obj, type):
            obj = build(obj, [], step.params, key=key)
        elif step.params:
            raise ConfigError([f"{key}.params: {step.type} is a function; only a class takes params"])
        if not callable(obj):
            raise ConfigError([f"{key}.type: {step.type} is not callable"])
        out.append(Callback(step.type, obj))
    return out
