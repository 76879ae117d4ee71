"""Refuse nonsense before work starts, each as early as it can be known.

:func:`before_data` checks what the config alone can tell: the estimator imports and takes its
params, its kind (classifier or regressor) fits `data.task` when that is declared, the metrics
and the primary one belong to that task, and a `decision:` that needs probabilities has them.
:func:`after_data` checks the prepared data against the config before anything is fitted: the
estimator's kind against the inferred task, a target with one class, a split with an empty side,
and fewer training rows per class than cross-validation folds (an error: mlpact does not change
the folds behind your back; docs/behaviour.md). Every failure is a ConfigError (exit 3) or, when
the data itself cannot be used, a DataError (exit 4), saying what was expected, what was found,
and a Hint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlpact.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.config import Config
    from mlpact.dataset import Prepared

_KIND = {"classification": "a classifier", "regression": "a regressor"}
_EXAMPLE = {
    "classification": "sklearn.linear_model.LogisticRegression",
    "regression": "sklearn.linear_model.Ridge",
}


# --------------------------------------------------------------------------- the config alone
def before_data(cfg: Config) -> str | None:
    """Check the estimator, its params and what the config asks of it; before any data is read.

    Returns:
        The task the estimator is made for (`classification`, `regression`), None when it does not
        say (a custom estimator without scikit-learn's estimator tags).

    Raises:
        ConfigError: the estimator does not import or build, or contradicts the config.
    """
    from mlpact.pipeline import custom_steps, make_estimator

    estimator = make_estimator(cfg.model, seed=cfg.seed)
    custom_steps(cfg.features, seed=cfg.seed)
    kind = estimator_task(estimator)
    declared = cfg.data.task if cfg.data.task != "auto" else None
    if declared and kind and declared != kind:
        raise ConfigError(
            [
                f"model.type: {cfg.model.type} is {_KIND[kind]}, but data.task is {declared}: expected "
                f"{_KIND[declared]} (e.g. {_EXAMPLE[declared]})"
            ],
            hint=f"Use {_KIND[declared]}, or set data.task: {kind} if that is what the target is.",
        )
    expected = declared or kind
    if expected:
        _check_metrics(cfg, expected, why=f"{cfg.model.type} is {_KIND[expected]}")
    _check_probabilities(cfg, estimator)
    return expected


def estimator_task(estimator: Any) -> str | None:
    """`classification` or `regression` by scikit-learn's estimator tags; None when neither."""
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(estimator):
        return "classification"
    if is_regressor(estimator):
        return "regression"
    return None


def _check_metrics(cfg: Config, task: str, *, why: str, classes: int | None = None) -> None:
    from mlpact.metrics import task_of_metric

    ev = cfg.evaluate
    named = [("evaluate.primary", ev.primary)] if ev.primary else []
    named += [("evaluate.metrics", m) for m in ev.metrics or []]
    problems = []
    for key, metric in named:
        belongs = task_of_metric(metric)
        if (belongs == "regression") != (task == "regression"):
            other = "regression" if belongs == "regression" else "classification"
            problems.append(f"{key}: {metric!r} is a {other} metric, but {why}: expected one of {_own(task)}")
        elif belongs == "binary" and classes is not None and classes != 2:
            problems.append(
                f"{key}: {metric!r} is about the positive class of a binary target, but the target has "
                f"{classes} classes: expected one of {_own(task)}"
            )
    if problems:
        raise ConfigError(
            sorted(set(problems)), hint="Name metrics of the task (docs/behaviour.md lists them per task)."
        )


def _own(task: str) -> str:
    from mlpact.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS

    return ", ".join(CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS)


def _check_probabilities(cfg: Config, estimator: Any) -> None:
    """An estimator without predict_proba cannot take a decision or a metric that needs them."""
    from mlpact.metrics import NEEDS_PROBA, has_proba

    if (
        has_proba(estimator)
        or cfg.decision.calibration != "none"
        or estimator_task(estimator) != "classification"
    ):
        return
    name = type(estimator).__name__
    problems = []
    if cfg.decision.objective is not None:
        problems.append(
            f"decision.objective: {cfg.decision.objective} chooses on class probabilities, but {name} "
            "gives none (no predict_proba)"
        )
    ev = cfg.evaluate
    asked = sorted({m for m in [ev.primary, *(ev.metrics or [])] if m in NEEDS_PROBA})
    if asked:
        problems.append(f"evaluate: {', '.join(asked)} need class probabilities, but {name} gives none")
    if problems:
        raise ConfigError(
            problems,
            hint="Set decision.calibration: sigmoid (probabilities from CalibratedClassifierCV), use an "
            "estimator with predict_proba, or drop what needs them.",
        )


def torch_loss(cfg: Config, task: str | None, *, why: str = "") -> None:
    """A PyTorch loss of the other task (cross-entropy for a regression, mse/l1 for classes).

    Raises:
        ConfigError: `train.loss` does not fit `task` (None: not known yet, nothing to check).
    """
    loss = cfg.train.loss
    if task is None or loss not in ("cross_entropy", "mse", "l1"):
        return  # auto, or your own loss (an import path): mlpact cannot tell what it is for
    made_for = "classification" if loss == "cross_entropy" else "regression"
    if made_for != task:
        own = "cross_entropy" if task == "classification" else "mse or l1"
        raise ConfigError(
            [f"train.loss: {loss} is a {made_for} loss, but {why or f'data.task is {task}'}: expected {own}"],
            hint=f"Set train.loss: auto (or {own}).",
        )


# --------------------------------------------------------------------------- the data against the config
def after_data(cfg: Config, data: Prepared, kind: str | None) -> None:
    """Check the prepared data against the config before anything is fitted.

    Args:
        kind: what :func:`before_data` returned (the estimator's task).

    Raises:
        ConfigError: the estimator, metrics or folds do not fit this target.
        DataError: the target has one class, or a split has no rows.
    """
    task, target = data.task, cfg.data.target
    if kind is not None and kind != task:
        raise _kind_error(cfg, data.y, task, kind)
    classes = int(data.y.nunique()) if task == "classification" else None
    _check_metrics(cfg, task, why=f"the target {target!r} makes this a {task}", classes=classes)
    _check_split(data)
    if task == "classification":
        _check_classes(data)
    _check_folds(cfg, data)


def _kind_error(cfg: Config, y: pd.Series, task: str, kind: str) -> ConfigError:
    target = cfg.data.target
    values = ", ".join(repr(v) for v in _examples(y))
    if task == "regression":
        found = f"the target {target!r} is continuous ({y.nunique()} distinct values such as {values})"
        hint = (
            f"Use a regressor (e.g. {_EXAMPLE['regression']}), or set data.task: classification "
            "if these values are class labels."
        )
    else:
        found = f"the target {target!r} holds {y.nunique()} class labels ({values})"
        numeric = _numeric(y)
        hint = f"Use a classifier (e.g. {_EXAMPLE['classification']})" + (
            ", or set data.task: regression if these are numbers to predict." if numeric else "."
        )
    return ConfigError(
        [f"model.type: {cfg.model.type} is {_KIND[kind]}, but {found}: expected {_KIND[task]}"], hint=hint
    )


def _examples(y: pd.Series, n: int = 3) -> list[Any]:
    values = y.dropna().unique()[:n]
    return [v.item() if hasattr(v, "item") else v for v in values]


def _numeric(y: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(y)) and not pd.api.types.is_bool_dtype(y)


def _check_split(data: Prepared) -> None:
    spec = data.cfg.data.split
    sizes = {"training": len(data.split.train), "test": len(data.split.test)}
    empty = [name for name, size in sizes.items() if size == 0]
    if not empty:
        return
    how = (
        f"by {spec.group_column!r} groups"
        if spec.group_column
        else (f"by time ({spec.time_column!r})" if spec.time_column else "at random")
    )
    raise DataError(
        f"Expected rows in both splits; found {sizes['training']} training and {sizes['test']} test rows "
        f"({len(data.frame)} rows split {how} with test_size {spec.test_size}).",
        hint="Use more rows, or change data.split.test_size"
        + (" or the group column (one group cannot be in both splits)." if spec.group_column else "."),
    )


def _check_classes(data: Prepared) -> None:
    target = data.cfg.data.target  # one class in the whole target: refused when the data is read
    train = data.y.iloc[data.split.train].value_counts()
    if len(train) < 2:
        raise DataError(
            f"Expected at least 2 classes in the training split of {target!r}; found one: "
            f"{train.index[0]!r} ({len(data.split.train)} rows). The other classes are only in the "
            "test split.",
            hint="Use more rows, or split at random with data.split.stratify: true.",
        )


def _check_folds(cfg: Config, data: Prepared) -> None:
    """Cross-validation needs at least `cv_folds` training rows (and groups, and rows per class)."""
    k = cfg.evaluate.cv_folds
    if not k:
        return
    split = cfg.data.split
    y = data.y.iloc[data.split.train]
    if split.group_column and data.groups is not None:
        groups = int(data.groups.iloc[data.split.train].nunique())
        if groups < k:
            raise ConfigError(
                [f"evaluate.cv_folds: {k} grouped folds need at least {k} groups in the training split; "
                 f"found {groups} values of {split.group_column!r}"],
                hint=_fewer(groups),
            )  # fmt: skip
        return
    needed = k + 1 if split.time_column else k
    if len(y) < needed:
        raise ConfigError(
            [f"evaluate.cv_folds: {k} folds need at least {needed} training rows; found {len(y)}"],
            hint=_fewer(len(y) - (needed - k)),
        )
    if data.task == "classification" and not split.time_column and split.stratify:
        counts = y.value_counts()
        short = sorted(str(c) for c in counts.index[counts < k])
        if short:
            said = ", ".join(f"{c!r} ({int(counts[_key(counts, c)])})" for c in short[:5])
            raise ConfigError(
                [f"evaluate.cv_folds: {k} stratified folds need at least {k} training rows of every class; "
                 f"found fewer for {said}{', ...' if len(short) > 5 else ''}"],
                hint=_fewer(int(counts.min())) + " A fold without a class scores it blank.",
            )  # fmt: skip


def _key(counts: pd.Series, text: str) -> Any:
    return next(k for k in counts.index if str(k) == text)


def _fewer(most: int) -> str:
    if most < 2:
        return "Set evaluate.cv_folds: 0 (no cross-validation), or use more rows."
    return f"Set evaluate.cv_folds to {most} or fewer (0: no cross-validation), or use more rows."


# --------------------------------------------------------------------------- the positive class
def positive_class(cfg: Config, task: str, y: pd.Series) -> Any:
    """The positive class of a binary target: `decision.positive`, else the second class in sorted
    order (scikit-learn's convention); None for regression and multiclass targets.

    Raises:
        ConfigError: `decision.positive` is not one of the classes.
    """
    if task != "classification":
        return None
    classes = sorted_classes(y.dropna().unique())
    if len(classes) != 2:
        return None
    wanted = cfg.decision.positive
    if wanted is None:
        return classes[1]
    for value in classes:
        if value == wanted or str(value) == str(wanted):
            return value
    raise ConfigError(
        [f"decision.positive: {wanted!r} is not a class of {cfg.data.target!r}; expected one of {classes!r}"],
        hint="Name one of the target's two classes.",
    )


def sorted_classes(values: Sequence[Any]) -> list[Any]:
    """Classes in the order scikit-learn's classifiers keep them (`classes_`)."""
    import numpy as np

    plain = [v.item() if hasattr(v, "item") else v for v in values]
    try:
        return [v.item() if hasattr(v, "item") else v for v in np.unique(np.asarray(plain))]
    except TypeError:
        return sorted(plain, key=str)
