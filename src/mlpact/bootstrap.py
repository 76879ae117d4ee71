"""Bootstrap confidence intervals of metrics, and the test of a performance drop.

:func:`intervals` resamples the scored rows (seeded; within each true class for classification,
so every class keeps its size) and recomputes every metric on each resample. The metrics are
computed from resampling weights in a vectorised way (confusion counts, weighted means, weighted
ranks) and agree with scikit-learn's called with ``sample_weight`` set to the same weights
(tests/test_bootstrap.py); so 1,000 resamples of every metric cost milliseconds on a small test
split and about a second on 100,000 rows.

:func:`performance_test` asks whether a primary metric measured on new labelled rows is worse
than the one recorded on the test split, taking both sample sizes into account: an exact test
on the counts for accuracy (Fisher's, one-sided), a z-test with both bootstrap standard errors
otherwise (on the log scale for errors such as rmse, whose sampling distribution is skewed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

LEVEL = 0.95
RESAMPLES = 1000
METHOD = "percentile bootstrap"
_CELLS = 2_000_000  # resampling weights held in memory at once (resamples x rows)
_WORK = 200_000_000  # about this many weight-cells over all resamples and metrics, at most
_MIN_RESAMPLES = 100  # ... unless that leaves fewer resamples than this (inputs of 50,000+ rows)


# --------------------------------------------------------------------------- the scored rows
@dataclass(frozen=True)
class Scored:
    """Labelled rows as the metrics see them: codes for labels, arrays for values."""

    y: np.ndarray  # classification: codes into `labels`; regression: values
    pred: np.ndarray  # same coding as y
    labels: list[Any]  # the label set of label metrics (sorted union of truth and predictions)
    proba: np.ndarray | None = None  # columns in `classes` order
    truth_in_classes: np.ndarray | None = None  # codes of y into `classes` (-1: unknown)
    classes: list[Any] | None = None
    positive: int | None = None  # index of the positive class in `labels` (binary)
    positive_proba: int | None = None  # index of the positive class in `classes` (binary)

    @property
    def rows(self) -> int:
        return int(self.y.shape[0])


def scored(
    task: str,
    y: Any,
    pred: Any,
    proba: Any = None,
    classes: Sequence[Any] | None = None,
    positive: Any = None,
) -> Scored:
    """Encode labelled rows once for every resample (labels as codes, the positive class found)."""
    import numpy as np

    if task != "classification":
        return Scored(np.asarray(y, dtype=float), np.asarray(pred, dtype=float), [])
    truth, said = list(np.asarray(y, dtype=object)), list(np.asarray(pred, dtype=object))
    labels = _sorted_labels({*truth, *said})
    where = {v: i for i, v in enumerate(labels)}
    out = Scored(np.array([where[v] for v in truth]), np.array([where[v] for v in said]), labels)
    if positive is not None and positive in where:
        out = _replace(out, positive=where[positive])
    if proba is not None and classes is not None:
        index = {v: i for i, v in enumerate(classes)}
        codes = np.array([index.get(v, -1) for v in truth])
        pos = index.get(positive) if positive is not None else None
        out = _replace(out, proba=np.asarray(proba, dtype=float), truth_in_classes=codes,
                       classes=list(classes), positive_proba=pos)  # fmt: skip
    return out


def _replace(s: Scored, **changes: Any) -> Scored:
    from dataclasses import replace

    return replace(s, **changes)


def _sorted_labels(values: set[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


# --------------------------------------------------------------------------- intervals
def intervals(
    names: Sequence[str],
    data: Scored,
    *,
    stratify: bool,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> dict[str, Any]:
    """Confidence intervals of metrics on scored rows: percentile bootstrap, except for the
    proportions (accuracy, and binary precision and recall), whose interval is the exact binomial
    one (Clopper-Pearson): a bootstrap of 36 right answers out of 36 is 36 right answers every
    time and would say [1, 1]; the exact interval says [0.903, 1].

    Returns:
        ``{"level", "method", "resamples", "seed", "stratified", "rows", "metrics": {name:
        {"low", "high", "se", "method"}}}``. ``se`` is the bootstrap standard error; a metric no
        resample can compute has None values.
    """
    import numpy as np

    reps = replicates(names, data, stratify=stratify, resamples=resamples, seed=seed)
    exact = _proportions(data, names)
    tail = (1 - level) / 2
    metrics: dict[str, dict[str, Any]] = {}
    for name, values in reps.items():
        finite = values[np.isfinite(values)]
        if finite.size < 2:
            metrics[name] = {"low": None, "high": None, "se": None, "method": "bootstrap"}
            continue
        low, high = (float(v) for v in np.quantile(finite, [tail, 1 - tail]))
        method = "bootstrap"
        if name in exact:
            low, high = clopper_pearson(*exact[name], level=level)
            method = "exact"
        metrics[name] = {"low": low, "high": high, "se": float(np.std(finite, ddof=1)), "method": method}
    used = next(iter(reps.values())).size if reps else 0
    return {
        "level": level,
        "method": METHOD,
        "resamples": int(used),
        "seed": seed,
        "stratified": stratify,
        "rows": data.rows,
        "metrics": metrics,
    }


def _proportions(data: Scored, names: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(successes, trials) of the metrics that are binomial proportions."""
    import numpy as np

    if not data.labels:
        return {}
    tp, support, predicted = Resample(np.ones((1, data.rows))).per_class(data)
    out = {"accuracy": (int(tp.sum()), data.rows)}
    if data.positive is not None:
        p = data.positive
        out["precision"] = (int(tp[0, p]), int(predicted[0, p]))
        out["recall"] = (int(tp[0, p]), int(support[0, p]))
    return {k: v for k, v in out.items() if k in names and v[1] > 0}


def clopper_pearson(successes: int, trials: int, *, level: float = LEVEL) -> tuple[float, float]:
    """The exact (Clopper-Pearson) confidence interval of a binomial proportion."""
    from scipy.stats import beta

    tail = (1 - level) / 2
    low = float(beta.ppf(tail, successes, trials - successes + 1)) if successes > 0 else 0.0
    high = float(beta.ppf(1 - tail, successes + 1, trials - successes)) if successes < trials else 1.0
    return low, high


def replicates(
    names: Sequence[str], data: Scored, *, stratify: bool, resamples: int = RESAMPLES, seed: int = 0
) -> dict[str, np.ndarray]:
    """Each metric on each bootstrap resample (fewer resamples on very large inputs, see _WORK)."""
    import numpy as np

    known = [n for n in names if n in _WEIGHTED and _available(n, data)]
    if not known or data.rows == 0:
        return {}
    cost = max(1, sum(_COST.get(n, 1) for n in known)) * (len(data.classes or []) or 1)
    count = max(min(resamples, _MIN_RESAMPLES), min(resamples, _WORK // max(1, data.rows * cost)))
    out: dict[str, list[np.ndarray]] = {n: [] for n in known}
    for weights in resampling_weights(data.rows, count, seed=seed, groups=data.y if stratify else None):
        chunk = Resample(weights)
        for name in known:
            out[name].append(_WEIGHTED[name](data, chunk))
    return {n: np.concatenate(v) for n, v in out.items()}


def resampling_weights(
    rows: int, resamples: int, *, seed: int, groups: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """Bootstrap resamples as count weights (resamples x rows), in chunks that fit in memory.

    With `groups`, each group is resampled within itself (a stratified bootstrap).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    members = (
        [np.arange(rows)] if groups is None else [np.flatnonzero(groups == g) for g in np.unique(groups)]
    )
    chunk = max(1, min(resamples, _CELLS // max(1, rows)))
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        weights = np.zeros((b, rows))
        for index in members:
            k = index.size
            draws = rng.integers(0, k, size=(b, k)) + (np.arange(b) * k)[:, None]
            weights[:, index] = np.bincount(draws.ravel(), minlength=b * k).reshape(b, k)
        done += b
        yield weights


# --------------------------------------------------------------------------- weighted metrics
class Resample:
    """A chunk of bootstrap resamples (count weights, resamples x rows), with what several metrics
    share computed once."""

    def __init__(self, weights: np.ndarray) -> None:
        self.w = weights
        self._counts: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def per_class(self, data: Scored) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """True positives, support (true counts) and predicted counts per class and resample."""
        import numpy as np

        if self._counts is None:
            c = _confusion(data, self.w)
            self._counts = (np.diagonal(c, axis1=1, axis2=2), c.sum(axis=2), c.sum(axis=1))
        return self._counts


def _available(name: str, data: Scored) -> bool:
    if name in PROBA_METRICS:
        return data.proba is not None and not (name in BINARY_METRICS and data.positive_proba is None)
    if name in BINARY_METRICS:
        return data.positive is not None
    return True


def _confusion(data: Scored, w: np.ndarray) -> np.ndarray:
    """Weighted confusion counts, resamples x true x predicted, over `data.labels`."""
    import numpy as np

    k = len(data.labels)
    pair = data.y * k + data.pred
    order = np.argsort(pair, kind="stable")
    codes, starts = np.unique(pair[order], return_index=True)
    sums = np.add.reduceat(w[:, order], starts, axis=1)
    flat = np.zeros((w.shape[0], k * k))
    flat[:, codes] = sums
    return flat.reshape(w.shape[0], k, k)


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


def _accuracy(data: Scored, r: Resample) -> np.ndarray:
    hit = (data.y == data.pred).astype(float)
    return _divide(r.w @ hit, r.w.sum(axis=1))


def _balanced_accuracy(data: Scored, r: Resample) -> np.ndarray:
    import numpy as np

    tp, support, _ = r.per_class(data)
    recall = np.where(support > 0, _divide(tp, support), np.nan)
    with np.errstate(invalid="ignore"):
        return np.nanmean(recall, axis=1)  # type: ignore[no-any-return]


def _macro(kind: str) -> Callable[[Scored, Resample], np.ndarray]:
    def metric(data: Scored, r: Resample) -> np.ndarray:
        tp, support, predicted = r.per_class(data)
        values = _class_scores(kind, tp, support, predicted)
        if kind == "f1_weighted":
            return _divide((values * support).sum(axis=1), support.sum(axis=1))
        return values.mean(axis=1)  # type: ignore[no-any-return]

    return metric


def _class_scores(kind: str, tp: np.ndarray, support: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    if kind.startswith("precision"):
        return _divide(tp, predicted)
    if kind.startswith("recall"):
        return _divide(tp, support)
    return _divide(2 * tp, support + predicted)


def _binary(kind: str) -> Callable[[Scored, Resample], np.ndarray]:
    def metric(data: Scored, r: Resample) -> np.ndarray:
        tp, support, predicted = r.per_class(data)
        p = int(data.positive)  # type: ignore[arg-type]
        return _class_scores(kind, tp[:, p], support[:, p], predicted[:, p])

    return metric


def _row_mean(values: Callable[[Scored], np.ndarray]) -> Callable[[Scored, Resample], np.ndarray]:
    """A metric that is the weighted mean of a per-row value."""

    def metric(data: Scored, r: Resample) -> np.ndarray:
        return _divide(r.w @ values(data), r.w.sum(axis=1))

    return metric


def _log_loss_rows(data: Scored) -> np.ndarray:
    import numpy as np

    proba, codes = data.proba, data.truth_in_classes
    assert proba is not None and codes is not None
    eps = np.finfo(proba.dtype).eps
    p = np.clip(proba, eps, 1 - eps)[np.arange(len(codes)), np.maximum(codes, 0)]
    return np.where(codes >= 0, -np.log(p), np.nan)


def _brier_rows(data: Scored) -> np.ndarray:
    proba, codes, pos = data.proba, data.truth_in_classes, data.positive_proba
    assert proba is not None and codes is not None and pos is not None
    return (proba[:, pos] - (codes == pos)) ** 2  # type: ignore[no-any-return]


def _by_score(score: np.ndarray, w: np.ndarray, flag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights of flagged and unflagged rows per run of equal scores, in ascending score order."""
    import numpy as np

    order = np.argsort(score, kind="stable")
    ordered, flagged = w[:, order], flag[order]
    yes = ordered * flagged
    no = ordered - yes
    sorted_score = score[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_score[1:] != sorted_score[:-1]]))
    if starts.size == score.size:  # no ties
        return yes, no
    return np.add.reduceat(yes, starts, axis=1), np.add.reduceat(no, starts, axis=1)


def _auc(score: np.ndarray, positive: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted ROC AUC (ties count half) of `score` for the boolean `positive`, per resample."""
    import numpy as np

    pos, neg = _by_score(score, w, positive)
    below = np.cumsum(neg, axis=1) - neg
    area = (pos * (below + neg / 2)).sum(axis=1)
    total = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, area / np.where(total > 0, total, 1), np.nan)


def _roc_auc(data: Scored, r: Resample) -> np.ndarray:
    import numpy as np

    proba, codes = data.proba, data.truth_in_classes
    assert proba is not None and codes is not None
    if (codes < 0).any():
        return np.full(r.w.shape[0], np.nan)
    if proba.shape[1] == 2:
        return _auc(proba[:, 1], codes == 1, r.w)
    return np.mean([_auc(proba[:, k], codes == k, r.w) for k in range(proba.shape[1])], axis=0)  # type: ignore[no-any-return]


def _average_precision(data: Scored, r: Resample) -> np.ndarray:
    """scikit-learn's average precision: the sum over thresholds of (recall step) x precision."""
    import numpy as np

    proba, codes, p = data.proba, data.truth_in_classes, data.positive_proba
    assert proba is not None and codes is not None and p is not None
    pos, neg = _by_score(-proba[:, p], r.w, codes == p)  # descending scores
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    recall = _divide(tp, tp[:, -1:])
    precision = _divide(tp, tp + fp)
    steps = np.diff(recall, axis=1, prepend=0.0)
    return np.where(tp[:, -1] > 0, (steps * precision).sum(axis=1), np.nan)


def _regression(kind: str) -> Callable[[Scored, Resample], np.ndarray]:
    def metric(data: Scored, r: Resample) -> np.ndarray:
        import numpy as np

        w, error = r.w, data.y - data.pred
        total = w.sum(axis=1)
        if kind == "rmse":
            return np.sqrt(_divide(w @ error**2, total))  # type: ignore[no-any-return]
        if kind == "mae":
            return _divide(w @ np.abs(error), total)
        if kind == "mape":
            scale = np.maximum(np.abs(data.y), np.finfo(np.float64).eps)
            return _divide(w @ (np.abs(error) / scale), total)
        mean = _divide(w @ data.y, total)
        spread = w @ data.y**2 - total * mean**2
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(spread > 0, 1 - (w @ error**2) / np.where(spread > 0, spread, 1), np.nan)

    return metric


_WEIGHTED: dict[str, Callable[[Scored, Resample], np.ndarray]] = {
    "accuracy": _accuracy,
    "balanced_accuracy": _balanced_accuracy,
    "f1_macro": _macro("f1_macro"),
    "f1_weighted": _macro("f1_weighted"),
    "precision_macro": _macro("precision_macro"),
    "recall_macro": _macro("recall_macro"),
    "precision": _binary("precision"),
    "recall": _binary("recall"),
    "f1": _binary("f1"),
    "roc_auc_ovr": _roc_auc,
    "average_precision": _average_precision,
    "log_loss": _row_mean(_log_loss_rows),
    "brier": _row_mean(_brier_rows),
    "rmse": _regression("rmse"),
    "mae": _regression("mae"),
    "r2": _regression("r2"),
    "mape": _regression("mape"),
}
PROBA_METRICS = frozenset({"roc_auc_ovr", "average_precision", "log_loss", "brier"})
BINARY_METRICS = frozenset({"precision", "recall", "f1", "average_precision", "brier"})
_COST = {"roc_auc_ovr": 6, "average_precision": 6}


# --------------------------------------------------------------------------- a performance drop
@dataclass(frozen=True)
class DropTest:
    """Whether a metric on new rows is worse than the recorded one, beyond chance."""

    metric: str
    method: str
    p_value: float
    recorded_se: float | None
    now_se: float | None


def performance_test(
    metric: str,
    *,
    recorded: float,
    recorded_rows: int,
    recorded_se: float | None,
    now: float,
    now_rows: int,
    now_se: float | None,
    lower_is_better: bool,
) -> DropTest:
    """One-sided test that `now` (on `now_rows` new rows) is worse than `recorded` (on the test
    split's `recorded_rows`).

    Accuracy: Fisher's exact test on the counts of right and wrong answers. Other metrics: a
    z-test with the two bootstrap standard errors (log scale for errors, which are positive and
    right-skewed). A missing standard error makes the test say nothing (p-value 1).
    """
    if metric == "accuracy" and recorded_rows > 0 and now_rows > 0:
        from scipy.stats import fisher_exact

        right_then, right_now = round(recorded * recorded_rows), round(now * now_rows)
        table = [[right_then, recorded_rows - right_then], [right_now, now_rows - right_now]]
        p = float(fisher_exact(table, alternative="greater").pvalue)
        return DropTest(
            metric, "Fisher's exact test (one-sided) on right/wrong counts", p, recorded_se, now_se
        )
    if recorded_se is None or now_se is None:
        return DropTest(metric, "no standard error: not tested", 1.0, recorded_se, now_se)
    worse, spread, scale = _z_parts(recorded, recorded_se, now, now_se, lower_is_better=lower_is_better)
    if spread <= 0:
        p = 0.0 if worse > 0 else 1.0
    else:
        from scipy.stats import norm

        p = float(norm.sf(worse / spread))
    return DropTest(metric, f"z-test with bootstrap standard errors ({scale} scale)", p, recorded_se, now_se)


def _z_parts(
    recorded: float, recorded_se: float, now: float, now_se: float, *, lower_is_better: bool
) -> tuple[float, float, str]:
    if lower_is_better and recorded > 0 and now > 0:
        worse = math.log(now) - math.log(recorded)
        return worse, math.hypot(recorded_se / recorded, now_se / now), "log"
    worse = (now - recorded) if lower_is_better else (recorded - now)
    return worse, math.hypot(recorded_se, now_se), "metric"


def standard_error(ci: Mapping[str, Any] | None, metric: str) -> float | None:
    """The bootstrap standard error of one metric in :func:`intervals`' result, or in metrics.json's
    `ci` (its `test` intervals); None when absent."""
    found = ci or {}
    entry = (found.get("metrics") or found.get("test") or {}).get(metric) or {}
    value = entry.get("se")
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None
