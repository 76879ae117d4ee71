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
REGRESSION_METRICS = ("rmse", "mae", "r2", "mape")
METRIC_NAMES = CLASSIFICATION_METRICS + REGRESSION_METRICS
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "mape"})
NEEDS_PROBA = frozenset({"roc_auc_ovr", "log_loss"})

FoldProgress = Callable[[int, int], None]


def metrics_for(task: str, requested: Sequence[str] | None = None) -> list[str]:
    """The metrics computed for a task: the requested ones that apply, or all of the task's."""
    own = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    if requested is None:
        return list(own)
    return [m for m in requested if m in own]


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
) -> dict[str, float]:
    """Compute named metrics; a metric that cannot be computed on this data is NaN."""
    out = {}
    for name in names:
        if name in NEEDS_PROBA and proba is None:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[name] = float(_METRICS[name](y_true, y_pred, proba, classes))
        except ValueError:
            out[name] = math.nan
    return out


def _roc_auc(y: Any, _pred: Any, proba: np.ndarray, classes: Sequence[Any]) -> float:
    from sklearn.metrics import roc_auc_score

    if len(classes) == 2:
        return float(roc_auc_score(y, proba[:, 1]))
    return float(roc_auc_score(y, proba, multi_class="ovr", labels=list(classes)))


def _metric_table() -> dict[str, Callable[..., float]]:
    def sk(fn_name: str, **kw: Any) -> Callable[..., float]:
        def metric(y: Any, pred: Any, _proba: Any, _classes: Any) -> float:
            import sklearn.metrics as m

            return float(getattr(m, fn_name)(y, pred, **kw))

        return metric

    def log_loss(y: Any, _pred: Any, proba: Any, classes: Any) -> float:
        from sklearn.metrics import log_loss as ll

        return float(ll(y, proba, labels=list(classes)))

    def rmse(y: Any, pred: Any, _p: Any, _c: Any) -> float:
        from sklearn.metrics import mean_squared_error

        return math.sqrt(float(mean_squared_error(y, pred)))

    return {
        "accuracy": sk("accuracy_score"),
        "balanced_accuracy": sk("balanced_accuracy_score"),
        "f1_macro": sk("f1_score", average="macro", zero_division=0),
        "f1_weighted": sk("f1_score", average="weighted", zero_division=0),
        "precision_macro": sk("precision_score", average="macro", zero_division=0),
        "recall_macro": sk("recall_score", average="macro", zero_division=0),
        "roc_auc_ovr": _roc_auc,
        "log_loss": log_loss,
        "rmse": rmse,
        "mae": sk("mean_absolute_error"),
        "r2": sk("r2_score"),
        "mape": sk("mean_absolute_percentage_error"),
    }


_METRICS = _metric_table()


def score(pipeline: Any, X: pd.DataFrame, y: pd.Series, names: Sequence[str]) -> dict[str, float]:
    """Score a fitted pipeline on labelled rows."""
    pred = pipeline.predict(X)
    proba = None
    classes = getattr(pipeline, "classes_", None)
    if classes is not None and hasattr(pipeline, "predict_proba") and NEEDS_PROBA & set(names):
        proba = pipeline.predict_proba(X)
    return compute_metrics(names, y, pred, proba, classes)


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
    """A NumPy scalar as the matching Python scalar (for JSON, column names and messages)."""
    return value.item() if hasattr(value, "item") else value


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
    """What a fitted pipeline said about labelled rows: labels, probabilities and its classes."""

    y: Any
    pred: Any
    proba: Any = None
    classes: list[Any] | None = None
