"""The scoring protocol: cross-validation on the training split, the baseline, the test split
scored once (metrics, per class, per slice), and permutation importance."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlpact._core.metrics import (
    FoldProgress,
    FoldStats,
    Predictions,
    compute_metrics,
    gain,
    per_class,
    plain,
    score,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlpact.learn.decision import Decision


# --------------------------------------------------------------------------- cross-validation
def cross_validate(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    names: Sequence[str],
    *,
    on_fold: FoldProgress | None = None,
) -> dict[str, FoldStats]:
    """Fit a fresh clone per fold (preprocessing included) and score the held-out fold.

    Returns:
        Per metric: mean, std and the value of every fold.
    """
    import numpy as np
    from sklearn.base import clone

    values: dict[str, list[float]] = {name: [] for name in names}
    for i, (fit_idx, val_idx) in enumerate(folds):
        model = clone(pipeline).fit(X.iloc[fit_idx], y.iloc[fit_idx])
        fold = score(model, X.iloc[val_idx], y.iloc[val_idx], names)
        for name, value in fold.items():
            values[name].append(value)
        if on_fold is not None:
            on_fold(i + 1, len(folds))
    summary: dict[str, FoldStats] = {}
    for name, vals in values.items():
        if vals:
            arr = np.asarray(vals, dtype=float)
            mean = float(np.nanmean(arr)) if not np.isnan(arr).all() else math.nan
            std = float(np.nanstd(arr)) if not np.isnan(arr).all() else math.nan
            summary[name] = {"mean": mean, "std": std, "folds": vals}
    return summary


# --------------------------------------------------------------------------- the baseline
def baseline_estimator(task: str) -> Any:
    """scikit-learn's dummy estimator: class priors (predicts the majority class) or the mean."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    if task == "classification":
        return DummyClassifier(strategy="prior")
    return DummyRegressor(strategy="mean")


# --------------------------------------------------------------------------- scoring a split once
def predictions(
    pipeline: Any, X: pd.DataFrame, y: pd.Series, *, decision: Decision | None = None
) -> Predictions:
    """Predict once (labels and, for classifiers, probabilities) so every metric and plot share it.

    Labels are the most probable class, or what the version's `decision` says.
    """
    import numpy as np

    classes = getattr(pipeline, "classes_", None)
    if classes is not None and hasattr(pipeline, "predict_proba"):
        proba = np.asarray(pipeline.predict_proba(X))
        labels = decision.apply(proba, classes) if decision else np.asarray(classes)[proba.argmax(axis=1)]
        return Predictions(y, labels, proba, list(classes))
    return Predictions(y, np.asarray(pipeline.predict(X)), None, None if classes is None else list(classes))


def assess(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    names: Sequence[str],
    *,
    task: str,
    slices: pd.DataFrame | None = None,
    max_values: int = 20,
    decision: Decision | None = None,
) -> tuple[dict[str, Any], Predictions]:
    """Score labelled rows once: the metrics, the per-class report and metrics per slice value.

    Returns:
        ``{"metrics": ..., "per_class": ... (classification), "slices": ... (when given)}`` and
        the predictions, for plots.
    """
    found = predictions(pipeline, X, y, decision=decision)
    out: dict[str, Any] = {"metrics": compute_metrics(names, y, found.pred, found.proba, found.classes)}
    if task == "classification":
        out["per_class"] = per_class(y, found.pred)
    if slices is not None and len(slices.columns):
        out["slices"] = slice_metrics(found, slices, names, max_values=max_values)
    return out, found


def slice_metrics(
    found: Predictions, slices: pd.DataFrame, names: Sequence[str], *, max_values: int = 20
) -> dict[str, list[dict[str, Any]]]:
    """Metrics per value of each slice column (its most frequent `max_values` values, missing included).

    Returns:
        Per column, one entry per value: ``{"value", "rows", "metrics"}``, largest slice first.
    """
    import numpy as np

    out: dict[str, list[dict[str, Any]]] = {}
    y = np.asarray(found.y)
    for column in slices.columns:
        values = slices[column].astype(object).where(slices[column].notna(), "(missing)")
        entries = []
        for value, count in values.value_counts().head(max_values).items():
            mask = (values == value).to_numpy()
            proba = found.proba[mask] if found.proba is not None else None
            metrics = compute_metrics(names, y[mask], found.pred[mask], proba, found.classes)
            entries.append({"value": plain(value), "rows": int(count), "metrics": metrics})
        out[str(column)] = entries
    return out


# --------------------------------------------------------------------------- permutation importance
def permutation_importance(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    metric: str,
    n_repeats: int = 5,
    max_rows: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """How much `metric` worsens when one input column is shuffled (on a seeded sample of rows).

    Returns:
        Per input column, the mean and std of the loss in `metric` (positive: the model uses it),
        sorted from most to least important.
    """
    from sklearn.inspection import permutation_importance as sk_importance

    if len(X) > max_rows:
        X = X.sample(max_rows, random_state=seed)
        y = y.loc[X.index]

    def scorer(estimator: Any, X_: pd.DataFrame, y_: pd.Series) -> float:
        value = score(estimator, X_, y_, [metric]).get(metric, math.nan)
        return gain(metric, 0.0, value)  # scikit-learn maximises: larger is better

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sk_importance(pipeline, X, y, scoring=scorer, n_repeats=n_repeats, random_state=seed)
    pairs = zip(map(str, X.columns), result.importances_mean, result.importances_std, strict=True)
    rows = {c: {"mean": float(m), "std": float(s)} for c, m, s in pairs}
    return dict(sorted(rows.items(), key=lambda kv: -kv[1]["mean"] if math.isfinite(kv[1]["mean"]) else 0))
