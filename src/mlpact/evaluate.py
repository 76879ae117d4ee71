"""The evaluation protocol: cross-validation on the training split, the test split scored once,
the baseline, slices, permutation importance, and scoring a saved version on new labelled data.

The metrics themselves live in mlpact.metrics (re-exported here, as the protocol and the metrics
are used together).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact.errors import plural
from mlpact.metrics import (
    CLASSIFICATION_METRICS,
    LOWER_IS_BETTER,
    METRIC_NAMES,
    NEEDS_PROBA,
    REGRESSION_METRICS,
    FoldProgress,
    compute_metrics,
    finite_json,
    has_proba,
    metrics_for,
    per_class,
    per_class_report,
    primary_metric,
    score,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlpact.config import Config
    from mlpact.decision import Decision
    from mlpact.model import Model
    from mlpact.store import Store

__all__ = [
    "CLASSIFICATION_METRICS",
    "LOWER_IS_BETTER",
    "METRIC_NAMES",
    "NEEDS_PROBA",
    "REGRESSION_METRICS",
    "Evaluation",
    "FoldProgress",
    "Importance",
    "Predictions",
    "assess",
    "baseline_estimator",
    "compute_metrics",
    "cross_validate",
    "cv_splits",
    "evaluate_version",
    "finite_json",
    "metrics_for",
    "per_class_report",
    "permutation_importance",
    "predictions",
    "primary_metric",
    "probability_facts",
    "record_evaluation",
    "score",
    "slice_metrics",
    "test_intervals",
]  # fmt: skip


# --------------------------------------------------------------------------- cross-validation
def cv_splits(
    cfg: Config, task: str, X: pd.DataFrame, y: pd.Series, groups: pd.Series | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Folds of the training split matching the split config: grouped, time-ordered or stratified."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit

    k = cfg.evaluate.cv_folds
    split = cfg.data.split
    splitter: Any
    if split.time_column:
        splitter = TimeSeriesSplit(n_splits=k)
    elif split.group_column and groups is not None:
        splitter = GroupKFold(n_splits=k)
    elif task == "classification" and split.stratify and y.value_counts().min() >= k:
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=cfg.seed)
    else:
        splitter = KFold(n_splits=k, shuffle=True, random_state=cfg.seed)
    yield from splitter.split(X, y, groups)


def cross_validate(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    names: Sequence[str],
    *,
    on_fold: FoldProgress | None = None,
    positive: Any = None,
) -> dict[str, dict[str, Any]]:
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
    summary = {}
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
@dataclass(frozen=True)
class Predictions:
    """What a fitted pipeline said about labelled rows: labels, probabilities and its classes
    (and, for a binary classifier, the positive class its metrics and curves are about)."""

    y: Any
    pred: Any
    proba: Any = None
    classes: list[Any] | None = None
    positive: Any = None


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
            entries.append({"value": _plain(value), "rows": int(count), "metrics": metrics})
        out[str(column)] = entries
    return out


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def test_intervals(found: Predictions, names: Sequence[str], *, task: str, seed: int) -> dict[str, Any]:
    """95% confidence intervals of the metrics on scored rows (`mlpact.bootstrap.intervals`:
    seeded, stratified by true class for classification; exact for accuracy, precision, recall),
    as metrics.json keeps them: ``{"level", "method", "resamples", "seed", "stratified", "rows",
    "test": {metric: {"low", "high", "se", "method"}}}`` (docs/behaviour.md)."""
    from mlpact.bootstrap import intervals, scored

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
        out["positive_class"] = _plain(positive)
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
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    full = X

    def scorer(estimator: Any, X_: pd.DataFrame, y_: pd.Series) -> float:
        if X_.shape[1] < full.shape[1]:  # a subset of the columns: the others as they are
            X_ = _replaced(full, {c: X_[c].to_numpy() for c in X_.columns})
        value = score(estimator, X_, y_, [metric], positive=positive).get(metric, math.nan)
        return sign * value

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


# --------------------------------------------------------------------------- a saved version on new data
@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a saved version on new labelled data, as recorded in the store."""

    id: str
    ref: str
    metrics: dict[str, Any]
    path: Path
    warnings: list[str]

    @property
    def report(self) -> Path:
        return self.path / "report.html"


def evaluate_version(
    model: str | Path | Model,
    data: str | Path | pd.DataFrame,
    *,
    store: str | Path | Store | None = None,
    target: str | None = None,
    plots: bool = True,
    sep: str = ",",
    trust: Sequence[str] = (),
) -> Evaluation:
    """Score a saved version on new labelled data once, with the metrics and plots of training.

    The result is recorded in the store as an evaluation of that version (listed by
    `models show`); the version's own folder is never touched. Plots, metrics.json and
    report.html go into a folder of their own under the store's ``evaluations/``.

    Args:
        model: a reference (``name``, ``name:3``, ``name@alias``), a version folder or a loaded model.
        data: a CSV or Parquet file, or a DataFrame, with the target column. Image models: a
            folder of class folders (labels are the folder names), or a CSV/Parquet file with a
            `path` column (relative to the file) and the label column.
        target: the label column; default: the target the version was trained on.
        plots: write the PNG plots (and permutation importance).

    Raises:
        DataError: the target column is missing or has no labels.
        InputValidationError: the data does not match the version's schema.
    """
    from mlpact.model import Model, load
    from mlpact.store import Store

    db = Store.open(store)
    loaded = model if isinstance(model, Model) else load(model, store=db, trust=trust)
    if getattr(loaded, "takes_images", False):
        from mlpact.torch.evaluating import evaluate_images

        return evaluate_images(loaded, data, store=db, target=target, plots=plots, sep=sep)  # type: ignore[arg-type]
    frame, label = _read_labelled(data, sep=sep)
    return _evaluate(loaded, frame, label, store=db, target=target, plots=plots)


def _read_labelled(data: str | Path | pd.DataFrame, *, sep: str) -> tuple[pd.DataFrame, str]:
    from mlpact.data import read_table

    if isinstance(data, str | Path):
        from mlpact.remote import is_url

        return read_table(data, sep=sep), str(data) if is_url(data) else str(Path(data).resolve())
    return data, "DataFrame"


def _evaluate(
    model: Model, frame: pd.DataFrame, label: str, *, store: Store, target: str | None, plots: bool
) -> Evaluation:
    from mlpact.data import fingerprint

    cfg = model.config
    notes: list[str] = []
    y, frame = _labels(
        frame, target or (model.schema.target.name if model.schema.target else "target"), notes
    )
    X, report = model.check(frame)
    report.raise_for_errors()
    lines = [line.strip() for line in report.format().splitlines()]
    notes += [
        f"Input: {line.removeprefix('warning:').strip()}" for line in lines if line.startswith("warning")
    ]
    y = match_labels(y, model)
    from mlpact.metrics import positive_class

    classes = getattr(model.pipeline, "classes_", None)
    positive = positive_class(model.metrics, None if classes is None else list(classes))
    names = metrics_for(model.task, cfg.evaluate.metrics, binary=positive is not None)
    slices = frame[[c for c in cfg.evaluate.slices if c in frame.columns]]
    result, found = assess(
        model.pipeline, X, y, names, task=model.task, slices=slices,
        max_values=cfg.evaluate.slice_max_values, decision=model.decision, positive=positive,
    )  # fmt: skip
    findings, seen = _against_training(model, frame, X)
    notes += [f"Possible leakage ({f.check}): {f.message}" for f in findings]
    metrics: dict[str, Any] = {
        "task": model.task,
        "primary": primary_metric(model.task, cfg.evaluate.primary),
        "test": result.pop("metrics"),
        "ci": test_intervals(found, names, task=model.task, seed=cfg.seed),
        **probability_facts(model.pipeline, names, positive=positive),
        **result,
        "rows": {"evaluated": len(frame)},
        "version_test": model.metrics.get("test", {}),
        "warnings": notes,
    }
    if seen is not None:
        metrics["overlap"] = seen
    folder = store.evaluation_dir()
    if plots:
        metrics["plots"] = _evaluation_plots(model, X, y, found, metrics, folder)
    return record_evaluation(
        model,
        store,
        folder,
        metrics,
        label=label,
        fingerprint=fingerprint(frame),
        rows=len(frame),
        notes=notes,
    )


def record_evaluation(
    model: Model,
    store: Store,
    folder: Path,
    metrics: dict[str, Any],
    *,
    label: str,
    fingerprint: str,
    rows: int,
    notes: list[str],
) -> Evaluation:
    """Record an evaluation in the store and write its metrics.json and report.html into `folder`
    (from `store.evaluation_dir()`, where its plots already are)."""
    eval_id = store.add_evaluation(
        model.name,
        model.version,
        data=label,
        metrics=finite_json(metrics),
        data_fingerprint=fingerprint,
        rows=rows,
        path=folder,
    )
    _write_evaluation_files(model, folder, metrics, label=label, fingerprint=fingerprint, rows=rows)
    return Evaluation(eval_id, model.ref, metrics, folder, notes)


def _labels(frame: pd.DataFrame, target: str, notes: list[str]) -> tuple[pd.Series, pd.DataFrame]:
    from mlpact.errors import DataError

    if target not in frame.columns:
        raise DataError(
            f"The target column {target!r} is not in the data; evaluating needs labelled rows.\n"
            f"The data has: {sorted(map(str, frame.columns))!r}.",
            hint="Add the labels, or name the label column with --target.",
        )
    missing = int(frame[target].isna().sum())
    if missing == len(frame):
        raise DataError(f"The target column {target!r} has no values: nothing to score against.")
    if missing:
        notes.append(f"Dropped {plural(missing, 'row')} whose target {target!r} is missing.")
        frame = frame[frame[target].notna()].reset_index(drop=True)
    return frame[target], frame


def match_labels(y: pd.Series, model: Model) -> pd.Series:
    """The labels in the type of the version's target: numbers for a regressor; for a
    classifier, the type of its classes (booleans from true/false/1/0, whole numbers from text
    that holds them, anything as text for text classes), so that metrics compare like with like.

    Raises:
        DataError: unusable labels (lists, bytes, infinite numbers), labels that cannot take that
            type, or none that is a class of the version.
    """
    from mlpact.data import check_values
    from mlpact.errors import DataError

    check_values(y.to_frame())
    name, classes = str(y.name), model.classes
    kind = _label_kind(classes if model.task == "classification" else None)
    converted = _as_kind(y, kind)
    bad = converted.isna().to_numpy()
    if bad.any():
        rows = ", ".join(str(i + 1) for i in bad.nonzero()[0][:5]) + (", ..." if bad.sum() > 5 else "")
        raise DataError(
            f"The target {name!r} must hold {_KIND_WORDS[kind]} for {model.ref} ({model.task}); "
            f"{int(bad.sum())} label(s) cannot be read as one (rows {rows}).",
            hint="Check that --target names the label column and that it holds the labels the "
            "version was trained on.",
        )
    converted = converted.astype(_DTYPES[kind])
    if classes and not converted.isin(classes).any():
        raise DataError(
            f"None of the {len(converted)} labels in {name!r} is a class {model.ref} knows "
            f"({sorted(map(str, classes))!r}): every prediction would count as wrong.",
            hint="Check that --target names the label column and that its labels are written the "
            "way they were in training.",
        )
    return converted


_KIND_WORDS = {"bool": "booleans", "int": "whole numbers", "float": "numbers", "text": "text labels"}
_DTYPES = {"bool": "bool", "int": "int64", "float": "float64", "text": "object"}


def _label_kind(classes: list[Any] | None) -> str:
    if classes is None:
        return "float"
    if all(isinstance(c, bool) for c in classes):
        return "bool"
    if all(isinstance(c, int) for c in classes):
        return "int"
    return "float" if all(isinstance(c, int | float) for c in classes) else "text"


def _as_kind(y: pd.Series, kind: str) -> pd.Series:
    """Labels converted to `kind`; NaN where one cannot be."""
    import pandas as pd

    from mlpact.schema import BOOL_TEXT, coerce_series

    if kind == "bool":
        return y.map(lambda v: BOOL_TEXT.get(str(v).strip().lower())).astype("float64")
    if kind == "text":
        return coerce_series(y, "string")  # 3.0 read from a CSV is the class "3", as in training
    numbers = pd.to_numeric(y, errors="coerce").astype("float64")
    return numbers.where(numbers % 1 == 0) if kind == "int" else numbers


def _against_training(
    model: Model, frame: pd.DataFrame, X: pd.DataFrame
) -> tuple[list[Any], dict[str, Any] | None]:
    """Cross-split leakage guards between the version's training data and the new data.

    Rows are counted against the version's own split (`inspection.overlap`): identical to a row
    of its training split (memory, not generalisation), or a row of its test split (already
    scored once: a re-score, not new evidence). Groups and times are compared with the training
    split of the recorded source, when it can still be read with the recorded fingerprint.
    """
    from mlpact.inspection import overlap
    from mlpact.leakage import older_test_rows, shared_groups

    if not model.config.evaluate.leakage:
        return [], None
    seen = overlap(model, X)
    found = _overlap_findings(seen)
    training = _training_split(model)
    split = model.config.data.split
    if training is not None and split.group_column and split.group_column in frame.columns:
        found.append(shared_groups(training[split.group_column], frame[split.group_column]))
    if training is not None and split.time_column and split.time_column in frame.columns:
        found.append(older_test_rows(training[split.time_column], frame[split.time_column]))
    return [f for f in found if f is not None], seen


def _overlap_findings(seen: dict[str, Any] | None) -> list[Any]:
    from mlpact.leakage import Finding

    if not seen:
        return []
    rows, out = seen["rows"], []
    if seen["training"]:
        n = seen["training"]
        out.append(
            Finding(
                "duplicate_rows",
                f"{n} of {rows} evaluation rows ({n / rows:.0%}) are identical in every feature to a row "
                "of the version's training split, so this score partly measures memory, not "
                f"generalisation (compared with {seen['compared_with']}). Evaluate on rows the version "
                "was not trained on.",
            )
        )
    if seen["test"]:
        n = seen["test"]
        out.append(
            Finding(
                "test_rows",
                f"{n} of {rows} evaluation rows ({n / rows:.0%}) are rows of the version's test split: "
                "they were scored once at training, so they add no new evidence (not counted as "
                "training rows).",
            )
        )
    return out


def _training_split(model: Model) -> pd.DataFrame | None:
    """The recorded source's training-split rows, when readable with the recorded fingerprint."""
    import pandas as pd

    from mlpact.inspection import SPLIT, recorded_rows

    source = recorded_rows(model)
    if source is None:
        return None
    if SPLIT not in (model.manifest.get("files") or {}):
        return source
    table = pd.read_parquet(model.path / SPLIT)
    return source.iloc[table.loc[table["split"] == "train", "row"].to_numpy()]


def _evaluation_plots(
    model: Model, X: pd.DataFrame, y: pd.Series, found: Predictions, metrics: dict[str, Any], folder: Path
) -> list[str]:
    from mlpact.plots import write_plots

    ev = model.config.evaluate
    importance: dict[str, dict[str, float]] = {}
    if ev.importance_repeats:
        found_importance = permutation_importance(
            model.pipeline,
            X,
            y,
            metric=metrics["primary"],
            n_repeats=ev.importance_repeats,
            max_rows=ev.importance_max_rows,
            max_columns=ev.importance_max_columns,
            seed=model.config.seed,
        )
        importance = found_importance.columns
        metrics["importance"] = importance_metrics(found_importance, metrics["primary"], "evaluated")
        note = found_importance.note(metrics["primary"])
        if note:
            metrics["warnings"].append(note)
    return write_plots(
        found,
        folder / "reports",
        task=model.task,
        importance=importance,
        metric=metrics["primary"],
        split="new data",
    )


def _write_evaluation_files(
    model: Model, folder: Path, metrics: dict[str, Any], *, label: str, fingerprint: str, rows: int
) -> None:
    from mlpact import bundle
    from mlpact.report import render_evaluation_html
    from mlpact.store import now

    bundle.write_json(folder / "metrics.json", finite_json(metrics))
    record = {
        "data": label,
        "rows": rows,
        "data_fingerprint": fingerprint,
        "created": now(),
        "metrics": metrics,
    }
    page = render_evaluation_html(
        {"ref": model.ref, "test": model.metrics.get("test")}, record, reports=folder / "reports"
    )
    bundle.write_bytes(folder / "report.html", page.encode())
