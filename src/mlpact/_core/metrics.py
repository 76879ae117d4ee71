"""Metrics: names per task, which direction is better, and computing them from predictions.

Importing this module is cheap (scikit-learn is imported inside the functions), so the config
can check metric names without paying for scikit-learn.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

CLASSIFICATION_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "f1_weighted",
    "precision_macro",
    "recall_macro",
    "roc_auc_ovr",
    "log_loss",
)


# Binary classification only: about the positive class (metrics.json names it).
BINARY_METRICS = ("precision", "recall", "f1", "average_precision", "brier")
REGRESSION_METRICS = ("rmse", "mae", "r2", "mape")
METRIC_NAMES = CLASSIFICATION_METRICS + BINARY_METRICS + REGRESSION_METRICS
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "rmse", "mae", "mape"})
NEEDS_PROBA = frozenset({"roc_auc_ovr", "log_loss", "average_precision", "brier"})

FoldProgress = Callable[[int, int], None]


def metrics_for(task: str, requested: Sequence[str] | None = None, *, binary: bool = False) -> list[str]:
    """The metrics computed for a task: the requested ones that apply, or all of the task's
    (with `binary`, the positive-class metrics too)."""
    own = (
        (CLASSIFICATION_METRICS + (BINARY_METRICS if binary else ()))
        if task == "classification"
        else REGRESSION_METRICS
    )
    if requested is None:
        return list(own)
    return [m for m in requested if m in own]


def task_of_metric(name: str) -> str:
    """`classification`, `binary` (a positive-class metric) or `regression`."""
    if name in BINARY_METRICS:
        return "binary"
    return "classification" if name in CLASSIFICATION_METRICS else "regression"


def positive_class(metrics: Mapping[str, Any] | None, classes: Sequence[Any] | None) -> Any:
    """The positive class of a binary classifier: as recorded in metrics.json, else the second
    class in sorted order (scikit-learn's convention); None unless there are two classes."""
    if classes is None or len(classes) != 2:
        return None
    recorded = (metrics or {}).get("positive_class")
    for value in classes:
        if recorded is not None and (value == recorded or str(value) == str(recorded)):
            return value
    return classes[1]


def primary_metric(task: str, requested: str | None = None) -> str:
    """The headline metric: the configured one, else accuracy or rmse."""
    if requested is not None:
        return requested
    return "accuracy" if task == "classification" else "rmse"


def compute_metrics(
    names: Sequence[str],
    y_true: Any,
    y_pred: Any,
    proba: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
    *,
    positive: Any = None,
) -> dict[str, float]:
    """Compute named metrics; a metric that cannot be computed on this data is NaN.

    Metrics that need probabilities are left out when `proba` is None (an estimator without
    `predict_proba`: `metrics.json` says so under `not_available`); positive-class metrics need
    `positive` (default: the second of two `classes`).
    """
    if positive is None and classes is not None and len(classes) == 2:
        positive = classes[1]
    out = {}
    for name in names:
        if (name in NEEDS_PROBA and proba is None) or (name in BINARY_METRICS and positive is None):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[name] = float(_METRICS[name](y_true, y_pred, proba, classes, positive))
        except ValueError:
            out[name] = math.nan
    return out


def _roc_auc(y: Any, _pred: Any, proba: np.ndarray, classes: Sequence[Any], _pos: Any) -> float:
    from sklearn.metrics import roc_auc_score

    if len(classes) == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    return float(roc_auc_score(y, proba, multi_class="ovr", labels=list(classes)))


def _metric_table() -> dict[str, Callable[..., float]]:
    def sk(fn_name: str, **kw: Any) -> Callable[..., float]:
        def metric(y: Any, pred: Any, _proba: Any, _classes: Any, _pos: Any) -> float:
            import sklearn.metrics as m

            return float(getattr(m, fn_name)(y, pred, **kw))

        return metric

    def binary(fn_name: str) -> Callable[..., float]:
        def metric(y: Any, pred: Any, _proba: Any, _classes: Any, pos: Any) -> float:
            import sklearn.metrics as m

            return float(getattr(m, fn_name)(y, pred, pos_label=pos, average="binary", zero_division=0))

        return metric

    def log_loss(y: Any, _pred: Any, proba: Any, classes: Any, _pos: Any) -> float:
        from sklearn.metrics import log_loss as ll

        return float(ll(y, proba, labels=list(classes)))

    def positive_proba(proba: Any, classes: Any, pos: Any) -> Any:
        return proba[:, [str(c) for c in classes].index(str(pos))]

    def average_precision(y: Any, _pred: Any, proba: Any, classes: Any, pos: Any) -> float:
        import numpy as np
        from sklearn.metrics import average_precision_score

        truth = np.asarray([v == pos or str(v) == str(pos) for v in y])
        return float(average_precision_score(truth, positive_proba(proba, classes, pos)))

    def brier(y: Any, _pred: Any, proba: Any, classes: Any, pos: Any) -> float:
        import numpy as np

        truth = np.asarray([v == pos or str(v) == str(pos) for v in y], dtype=float)
        return float(np.mean((positive_proba(proba, classes, pos) - truth) ** 2))

    def rmse(y: Any, pred: Any, _p: Any, _c: Any, _pos: Any) -> float:
        from sklearn.metrics import mean_squared_error

        return math.sqrt(float(mean_squared_error(y, pred)))

    return {
        "accuracy": sk("accuracy_score"),
        "balanced_accuracy": sk("balanced_accuracy_score"),
        "f1_macro": sk("f1_score", average="macro", zero_division=0),
        "f1_weighted": sk("f1_score", average="weighted", zero_division=0),
        "precision_macro": sk("precision_score", average="macro", zero_division=0),
        "recall_macro": sk("recall_score", average="macro", zero_division=0),
        "precision": binary("precision_score"),
        "recall": binary("recall_score"),
        "f1": binary("f1_score"),
        "roc_auc_ovr": _roc_auc,
        "average_precision": average_precision,
        "brier": brier,
        "log_loss": log_loss,
        "rmse": rmse,
        "mae": sk("mean_absolute_error"),
        "r2": sk("r2_score"),
        "mape": sk("mean_absolute_percentage_error"),
    }


_METRICS = _metric_table()


def score(
    pipeline: Any, X: pd.DataFrame, y: pd.Series, names: Sequence[str], *, positive: Any = None
) -> dict[str, float]:
    """Score a fitted pipeline on labelled rows."""
    pred = pipeline.predict(X)
    proba = None
    classes = getattr(pipeline, "classes_", None)
    if classes is not None and has_proba(pipeline) and NEEDS_PROBA & set(names):
        proba = pipeline.predict_proba(X)
    return compute_metrics(names, y, pred, proba, classes, positive=positive)


def has_proba(estimator: Any) -> bool:
    """Whether an estimator (or pipeline) gives class probabilities (`predict_proba`)."""
    try:
        return hasattr(estimator, "predict_proba")
    except Exception:  # scikit-learn's available_if raises the wrapped estimator's error
        return False


def per_class_report(pipeline: Any, X: pd.DataFrame, y: pd.Series) -> dict[str, Any]:
    """Precision, recall, F1 and support per class (scikit-learn's classification report)."""
    return per_class(y, pipeline.predict(X))


def per_class(y: Any, pred: Any) -> dict[str, Any]:
    """Precision, recall, F1 and support per class, from labels and predictions."""
    from sklearn.metrics import classification_report

    report = classification_report(y, pred, output_dict=True, zero_division=0)
    return {str(k): v for k, v in report.items() if k not in ("accuracy", "macro avg", "weighted avg")}


# --------------------------------------------------------------------------- metrics.json
class FoldStats(TypedDict):
    """One metric across cross-validation folds."""

    mean: float
    std: float
    folds: list[float]


class CrossValidation(TypedDict):
    folds: int
    metrics: dict[str, FoldStats]


class Baseline(TypedDict):
    """The dummy estimator, scored the way the model was."""

    estimator: str
    cv: dict[str, FoldStats]
    test: dict[str, float]


class MetricsFile(TypedDict, total=False):
    """A version's metrics.json (and an evaluation's): what was scored, on which rows, and how.

    `task`, `primary` and `test` are always there; the rest when the run had them (cross-validation,
    a baseline, slices, a decision, a profile, PyTorch epochs, metrics given to `mlpact.save` ...).
    """

    task: str
    primary: str
    test: Mapping[str, float | None]
    test_scored: int
    rows: dict[str, int]
    cv: CrossValidation
    baseline: Baseline
    validation: dict[str, float]
    test_argmax: dict[str, float]
    per_class: dict[str, Any]
    slices: dict[str, list[dict[str, Any]]]
    importance: dict[str, Any]
    plots: list[str]
    decision: dict[str, Any]
    profile: dict[str, Any]
    leakage: list[dict[str, Any]]
    epochs: dict[str, Any]
    training: dict[str, Any]
    given: dict[str, float]
    warnings: list[str]
    version_test: Mapping[str, float | None]
    ci: dict[str, Any]
    positive_class: Any
    not_available: dict[str, str]
    refit: dict[str, Any]
    overlap: dict[str, Any]
    probability: dict[str, Any]


# --------------------------------------------------------------------------- better or worse
def higher_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` is better (accuracy, r2) or a smaller one (rmse, log_loss)."""
    return metric not in LOWER_IS_BETTER


def gain(metric: str, old: float, new: float) -> float:
    """How much better `new` is than `old`, in the metric's units (negative: worse)."""
    return new - old if higher_is_better(metric) else old - new


def better(metric: str, a: Any, b: Any) -> bool | None:
    """Whether `a` is strictly better than `b` on `metric` (None when either is not a finite number)."""
    if not (_finite_number(a) and _finite_number(b)):
        return None
    return gain(metric, b, a) > 0


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


# --------------------------------------------------------------------------- plain values
def plain(value: Any) -> Any:
    """A NumPy scalar, or any 0-d array or tensor, as the matching Python scalar (for JSON, column
    names and messages); anything else, arrays and lists included, as it is."""
    import numpy as np

    scalar = isinstance(value, np.generic) or (hasattr(value, "item") and getattr(value, "ndim", None) == 0)
    return value.item() if scalar else value


def finite_json(value: Any) -> Any:
    """NaN and infinities become None, so stored metrics are strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_json(v) for v in value]
    return value


@dataclass(frozen=True)
class Predictions:
    """What a fitted pipeline said about labelled rows: labels, probabilities and its classes
    (and, for a binary classifier, the positive class its metrics and curves are about)."""

    y: Any
    pred: Any
    proba: Any = None
    classes: list[Any] | None = None
    positive: Any = None
