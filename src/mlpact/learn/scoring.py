"""The scoring protocol: cross-validation on the training split, the baseline, the test split
scored once (metrics, per class, per slice), and permutation importance."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlpact._core.bootstrap import intervals, scored
from mlpact._core.metrics import (
    NEEDS_PROBA,
    FoldProgress,
    FoldStats,
    Predictions,
    compute_metrics,
    gain,
    has_proba,
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
    positive: Any = None,
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
        fold = score(model, X.iloc[val_idx], y.iloc[val_idx], names, positive=positive)
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
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    decision: Decision | None = None,
    positive: Any = None,
) -> Predictions:
    """Predict once (labels and, for classifiers, probabilities) so every metric and plot share it.

    Labels are the most probable class, or what the version's `decision` says.
    """
    import numpy as np

    classes = getattr(pipeline, "classes_", None)
    if classes is not None and has_proba(pipeline):
        proba = np.asarray(pipeline.predict_proba(X))
        labels = decision.apply(proba, classes) if decision else np.asarray(classes)[proba.argmax(axis=1)]
        return Predictions(y, labels, proba, list(classes), positive)
    known = None if classes is None else list(classes)
    return Predictions(y, np.asarray(pipeline.predict(X)), None, known, positive)


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
    positive: Any = None,
) -> tuple[dict[str, Any], Predictions]:
    """Score labelled rows once: the metrics, the per-class report and metrics per slice value.

    Returns:
        ``{"metrics": ..., "per_class": ... (classification), "slices": ... (when given)}`` and
        the predictions, for plots.
    """
    found = predictions(pipeline, X, y, decision=decision, positive=positive)
    out: dict[str, Any] = {
        "metrics": compute_metrics(names, y, found.pred, found.proba, found.classes, positive=positive)
    }
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
            metrics = compute_metrics(
                names, y[mask], found.pred[mask], proba, found.classes, positive=found.positive
            )
            entries.append({"value": plain(value), "rows": int(count), "metrics": metrics})
        out[str(column)] = entries
    return out


def test_intervals(found: Predictions, names: Sequence[str], *, task: str, seed: int) -> dict[str, Any]:
    """95% confidence intervals of the metrics on scored rows (`mlpact._core.bootstrap.intervals`:
    seeded, stratified by true class for classification; exact for accuracy, precision, recall),
    as metrics.json keeps them: ``{"level", "method", "resamples", "seed", "stratified", "rows",
    "test": {metric: {"low", "high", "se", "method"}}}`` (docs/behaviour.md)."""

    data = scored(task, found.y, found.pred, found.proba, found.classes, found.positive)
    found_ci = intervals(names, data, stratify=task == "classification", seed=seed)
    return {**{k: v for k, v in found_ci.items() if k != "metrics"}, "test": found_ci["metrics"]}


def probability_facts(pipeline: Any, names: Sequence[str], *, positive: Any) -> dict[str, Any]:
    """What metrics.json says about a classifier beyond its metrics: its positive class (binary)
    and, when it gives no probabilities, which metrics and plots are not available and why."""
    if getattr(pipeline, "classes_", None) is None:
        return {}
    out: dict[str, Any] = {"probabilities": has_proba(pipeline)}
    if positive is not None:
        out["positive_class"] = plain(positive)
    if not out["probabilities"]:
        why = f"{_estimator_name(pipeline)} gives no probabilities (no predict_proba)"
        out["not_available"] = {name: why for name in names if name in NEEDS_PROBA}
    return out


def _estimator_name(pipeline: Any) -> str:
    steps = getattr(pipeline, "steps", None)
    return type(steps[-1][1] if steps else pipeline).__name__


# --------------------------------------------------------------------------- permutation importance
def importance_metrics(importance: Importance, metric: str, split: str) -> dict[str, Any]:
    """What metrics.json records about permutation importance (`bound` only when one applied)."""
    out: dict[str, Any] = {"metric": metric, "split": split, "columns": importance.columns}
    if importance.bound is not None:
        out["bound"] = importance.bound
    return out


@dataclass(frozen=True)
class Importance:
    """Permutation importance per scored input column, and how the work was bounded.

    `columns`: per column, the mean and std of the loss in the metric when it is shuffled
    (positive: the model uses it), most important first. `bound`: None when every input column
    was scored; otherwise what was done instead (see `permutation_importance`).
    """

    columns: dict[str, dict[str, float]]
    bound: dict[str, Any] | None = None

    def note(self, metric: str) -> str | None:
        """One sentence for the output and the report when the work was bounded."""
        b = self.bound
        if b is None:
            return None
        rounds = ", then ".join(f"{r['groups']} groups of up to {r['group_size']}" for r in b["rounds"])
        return (
            f"Permutation importance scored {b['scored']} of {b['columns']:,} input columns "
            f"(evaluate.importance_max_columns: {b['max_columns']}): it shuffled neighbouring columns "
            f"in blocks ({rounds}), kept the blocks whose shuffling cost {metric} most, and scored "
            "their columns one by one. The other columns are left out of the importance table and plot."
        )


# --------------------------------------------------------------------------- permutation importance
def permutation_importance(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    metric: str,
    n_repeats: int = 5,
    max_rows: int = 2000,
    max_columns: int = 100,
    seed: int = 0,
    positive: Any = None,
) -> Importance:
    """How much `metric` worsens when one input column is shuffled (on a seeded sample of rows).

    Each scored column costs `n_repeats` predictions of the whole pipeline, and a prediction
    costs time in proportion to the number of columns, so scoring every column of a wide table
    grows with the square of its width (5,000 columns: 15,000 predictions). Up to `max_columns`
    columns, every one is scored (scikit-learn's `permutation_importance`). Beyond, rounds of
    screening (`_screen`) shuffle groups of neighbouring columns as blocks and keep the groups
    that cost the most, until `max_columns` columns are left to score one by one: about
    (rounds + 1) x `max_columns` x `n_repeats` predictions, with rounds = log10(columns /
    `max_columns`) rounded up, deterministic for a seed.

    Returns:
        The scores of the scored columns, most important first, and the bound when one applied.
    """
    if len(X) > max_rows:
        X = X.sample(max_rows, random_state=seed)
        y = y.loc[X.index]
    full = X

    def scorer(estimator: Any, X_: pd.DataFrame, y_: pd.Series) -> float:
        if X_.shape[1] < full.shape[1]:  # a subset of the columns: the others as they are
            X_ = _replaced(full, {c: X_[c].to_numpy() for c in X_.columns})
        value = score(estimator, X_, y_, [metric], positive=positive).get(metric, math.nan)
        return gain(metric, 0.0, value)  # scikit-learn maximises: larger is better

    if X.shape[1] <= max_columns:
        return Importance(_sk_importance(pipeline, X, y, scorer, n_repeats, seed))
    chosen, rounds = _screen(pipeline, X, y, scorer, max_columns=max_columns, n_repeats=n_repeats, seed=seed)
    bound = {"columns": X.shape[1], "scored": len(chosen), "max_columns": max_columns, "rounds": rounds}
    return Importance(_sk_importance(pipeline, X[chosen], y, scorer, n_repeats, seed), bound)


_SHRINK = 10  # each screening round keeps a tenth of its candidates (never fewer than max_columns)


def _screen(
    pipeline: Any, X: pd.DataFrame, y: pd.Series, scorer: Any, *, max_columns: int, n_repeats: int, seed: int
) -> tuple[list[Any], list[dict[str, int]]]:
    """The `max_columns` (at most) columns to score one by one, and what each round did.

    A round cuts the candidates into `max_columns` groups of neighbours, shuffles each group as a
    block (`n_repeats` times), and keeps the costliest groups, a tenth of the candidates or
    `max_columns` columns, whichever is more: 5,000 columns and 100 give 5,000 -> 500 -> 100 in
    two rounds of 100 groups each.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = scorer(pipeline, X, y)
    candidates, rounds = list(X.columns), []
    while len(candidates) > max_columns:
        groups = _column_groups(candidates, max(2, max_columns))
        costs = _group_costs(pipeline, X, y, scorer, groups, n_repeats, rng, base)
        candidates = _columns_of_costliest(groups, costs, max(max_columns, len(candidates) // _SHRINK))
        rounds.append({"groups": len(groups), "group_size": len(groups[0]), "kept": len(candidates)})
    return candidates, rounds


def _sk_importance(
    pipeline: Any, X: pd.DataFrame, y: pd.Series, scorer: Any, n_repeats: int, seed: int
) -> dict[str, dict[str, float]]:
    from sklearn.inspection import permutation_importance as sk_importance

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sk_importance(pipeline, X, y, scoring=scorer, n_repeats=n_repeats, random_state=seed)
    pairs = zip(map(str, X.columns), result.importances_mean, result.importances_std, strict=True)
    rows = {c: {"mean": float(m), "std": float(s)} for c, m, s in pairs}
    return dict(sorted(rows.items(), key=lambda kv: -kv[1]["mean"] if math.isfinite(kv[1]["mean"]) else 0))


def _column_groups(columns: list[Any], count: int) -> list[list[Any]]:
    """`columns` cut into `count` groups of neighbours (the last one may be shorter)."""
    size = -(-len(columns) // count)
    return [columns[i : i + size] for i in range(0, len(columns), size)]


def _group_costs(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    scorer: Any,
    groups: list[list[Any]],
    n_repeats: int,
    rng: np.random.Generator,
    base: float,
) -> list[float]:
    """The mean loss in the score when each group's columns are shuffled together (one row
    order for the whole group: the block keeps its own structure and loses its link to y)."""
    import numpy as np

    costs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for group in groups:
            losses = []
            for _ in range(n_repeats):
                order = rng.permutation(len(X))
                losses.append(
                    base - scorer(pipeline, _replaced(X, {c: X[c].to_numpy()[order] for c in group}), y)
                )
            finite = [v for v in losses if math.isfinite(v)]
            costs.append(float(np.mean(finite)) if finite else -math.inf)
    return costs


def _replaced(frame: pd.DataFrame, values: dict[Any, Any]) -> pd.DataFrame:
    """A frame with some columns' values replaced; `frame` itself is left as it is."""
    out = frame.copy(deep=False)
    for column, column_values in values.items():
        out[column] = column_values
    return out


def _columns_of_costliest(groups: list[list[Any]], costs: list[float], limit: int) -> list[Any]:
    """The columns of the costliest whole groups, at most `limit` of them (at least one group),
    in their original order."""
    kept: list[int] = []
    size = 0
    for i in sorted(range(len(groups)), key=lambda i: -costs[i]):
        if kept and size + len(groups[i]) > limit:
            break
        kept.append(i)
        size += len(groups[i])
    return [c for i in sorted(kept) for c in groups[i]]
