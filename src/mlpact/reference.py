"""Reference statistics: what the training split looked like, saved with every version.

At training time :func:`build` summarises the training split (never its rows): per numeric
column its quantiles with the exact share of rows at or below each, and counts per quantile bin;
per category its counts; and the same for the model's predictions on that split. It is written
into the version folder as ``reference.json`` before the manifest, so it is hashed like every
other file.

:func:`compare` measures how far new values are from one such summary: the population stability
index (PSI) for every column, plus a Kolmogorov-Smirnov test for numbers or a chi-squared test
for categories. These are what `mlpact check` calls drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlpact.dataset import Prepared
    from mlpact.schema import Schema

FILE = "reference.json"
QUANTILES = 101  # 0%, 1%, ..., 100%: enough for the KS statistic, far from the raw rows
NUMERIC = ("int", "float")
CATEGORICAL = ("category", "bool")
_EPS = 1e-4  # the share an empty bucket counts as in PSI, so the logarithm stays finite
OTHER = "__other__"  # new categories, in the new data only


# --------------------------------------------------------------------------- building
def build(
    data: Prepared, pipeline: Any, *, bins: int | None = None, rows: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Reference statistics of a prepared training split and a pipeline fitted on it.

    Args:
        data: the prepared data of the run (only its training split is summarised).
        pipeline: the fitted pipeline, whose predictions on the training split are summarised.
        bins: quantile bins per numeric column; default: the config's `check.bins`.
        rows: the rows to summarise instead of the training split (every row, when the saved
            model was refit on all of them: `train.refit: all`).

    Returns:
        Plain JSON-ready data: ``{"rows", "features", "skipped", "prediction"}``.
    """
    X = data.train()[0] if rows is None else rows
    return build_from(X, data.schema, data.task, pipeline, bins=bins or data.cfg.check.bins)


def build_from(X: pd.DataFrame, schema: Schema, task: str, pipeline: Any, *, bins: int) -> dict[str, Any]:
    """Reference statistics of training rows `X` (already coerced to `schema`) and a predictor."""
    n_bins = bins
    features: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for col in schema.columns:
        if col.type in NUMERIC:
            features[col.name] = summarise_numbers(X[col.name], bins=n_bins)
        elif col.type in CATEGORICAL:
            features[col.name] = summarise_categories(X[col.name])
        else:
            skipped[col.name] = f"{col.type} columns are not compared for drift"
    return {
        "rows": len(X),
        "bins": n_bins,
        "features": features,
        "skipped": skipped,
        "prediction": summarise_predictions(pipeline.predict(X) if len(X) else [], task, bins=n_bins),
    }


def summarise_predictions(pred: Any, task: str, *, bins: int) -> dict[str, Any]:
    """Predicted labels as categories (classification) or predicted values as numbers."""
    import pandas as pd

    series = pd.Series(pred)
    if task == "classification":
        return summarise_categories(series)
    return summarise_numbers(series.astype("float64"), bins=bins)


def summarise_numbers(values: pd.Series, *, bins: int) -> dict[str, Any]:
    """Quantiles (with the exact share of values at or below each), bin edges and counts."""
    import numpy as np

    present = _numbers(values)
    out: dict[str, Any] = {
        "kind": "numeric",
        "count": int(present.size),
        "missing": int(len(values) - present.size),
    }
    if present.size == 0:
        return {**out, "quantiles": [], "cdf": [], "edges": [], "counts": []}
    ordered = np.sort(present)
    quantiles = np.unique(np.quantile(ordered, np.linspace(0, 1, QUANTILES)))
    cdf = np.searchsorted(ordered, quantiles, side="right") / ordered.size
    edges = np.unique(np.quantile(ordered, np.linspace(0, 1, bins + 1)[1:-1]))
    return {
        **out,
        "quantiles": quantiles.tolist(),
        "cdf": cdf.tolist(),
        "edges": edges.tolist(),
        "counts": bin_counts(present, edges).tolist(),
    }


def summarise_categories(values: pd.Series) -> dict[str, Any]:
    """Counts per category value (as text), and how many were missing."""
    keys = _keys(values)
    counts = keys.dropna().value_counts()
    return {
        "kind": "categorical",
        "count": int(counts.sum()),
        "missing": int(keys.isna().sum()),
        "counts": {str(k): int(v) for k, v in sorted(counts.items())},
    }


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """How many values fall in each bin: (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    import numpy as np

    index = np.searchsorted(edges, values, side="left")
    counts: np.ndarray = np.bincount(index, minlength=len(edges) + 1)
    return counts


def _numbers(values: pd.Series) -> np.ndarray:
    import numpy as np

    array: np.ndarray = values.to_numpy(dtype="float64", na_value=np.nan)
    present: np.ndarray = array[np.isfinite(array)]
    return present


def _keys(values: pd.Series) -> pd.Series:
    """Category values as the text saved in the reference (3.0 and 3 are both "3")."""
    import pandas as pd

    def key(value: Any) -> Any:
        if value is None or (isinstance(value, float) and value != value):
            return None
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value.item() if hasattr(value, "item") else value)

    return pd.Series([key(v) for v in values.tolist()], dtype=object)


# --------------------------------------------------------------------------- comparing
@dataclass
class Drift:
    """How far one column (or the predictions) of new data is from the training split."""

    column: str
    kind: str
    test: str
    statistic: float
    p_value: float
    psi: float
    rows: int
    drifted: bool = False
    judged: bool = True
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(column: str, reference: Mapping[str, Any], values: pd.Series) -> Drift:
    """PSI and a KS (numbers) or chi-squared (categories) test of new values against a summary.

    `drifted` is left False; the caller judges it against its thresholds.
    """
    if reference["kind"] == "numeric":
        return _compare_numbers(column, reference, values)
    return _compare_categories(column, reference, values)


def _compare_numbers(column: str, ref: Mapping[str, Any], values: pd.Series) -> Drift:
    import numpy as np

    present = _numbers(values)
    missing = len(values) - present.size
    expected = [*ref["counts"], ref["missing"]]
    observed = [*bin_counts(present, np.asarray(ref["edges"], dtype=float)).tolist(), missing]
    statistic, p_value = ks_against(ref, present)
    shift = ""
    if present.size and ref["quantiles"]:
        median = float(np.interp(0.5, ref["cdf"], ref["quantiles"]))
        shift = f"median {median:.4g} in training, {float(np.median(present)):.4g} now"
    return Drift(
        column, "numeric", "ks", statistic, p_value, psi(expected, observed), len(values), detail=shift
    )


def ks_against(ref: Mapping[str, Any], present: np.ndarray) -> tuple[float, float]:
    """The two-sample KS statistic at the reference quantiles, and its asymptotic p-value.

    The training split's distribution is known exactly at its saved quantiles; the statistic is
    the largest gap between the two distributions at those points, and the p-value is scipy's
    two-sample asymptotic one (`kstwo` with n*m/(n+m) rows), as `scipy.stats.ks_2samp` computes it.
    """
    import numpy as np
    from scipy.stats import kstwo

    n, m = int(ref["count"]), int(present.size)
    if n == 0 or m == 0:
        return float("nan"), 1.0
    ordered = np.sort(present)
    new_cdf = np.searchsorted(ordered, np.asarray(ref["quantiles"]), side="right") / m
    statistic = float(np.max(np.abs(new_cdf - np.asarray(ref["cdf"]))))
    effective = max(1, round(n * m / (n + m)))
    return statistic, float(np.clip(kstwo.sf(statistic, effective), 0.0, 1.0))


def _compare_categories(column: str, ref: Mapping[str, Any], values: pd.Series) -> Drift:
    keys = _keys(values)
    counts = keys.dropna().value_counts()
    known = list(ref["counts"])
    new = sorted(str(k) for k in counts.index if k not in ref["counts"])
    expected = [ref["counts"][k] for k in known] + [0, ref["missing"]]
    observed = [int(counts.get(k, 0)) for k in known] + [
        int(counts[new].sum()) if new else 0,
        int(keys.isna().sum()),
    ]
    statistic, p_value = chi_squared(expected, observed)
    detail = (
        f"new categories: {', '.join(map(repr, new[:5]))}{', ...' if len(new) > 5 else ''}" if new else ""
    )
    return Drift(
        column, "categorical", "chi2", statistic, p_value, psi(expected, observed), len(values), detail=detail
    )


def chi_squared(expected: list[int], observed: list[int]) -> tuple[float, float]:
    """Chi-squared test of homogeneity of two count vectors (buckets empty in both dropped)."""
    import numpy as np
    from scipy.stats import chi2_contingency

    table = np.array([expected, observed], dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def psi(expected: list[int], observed: list[int]) -> float:
    """Population stability index of two count vectors over the same buckets.

    Sum over buckets of (new share - training share) * ln(new share / training share); a share of
    zero counts as 0.0001 so a bucket empty on one side adds a large but finite amount.
    """
    import numpy as np

    e, o = np.asarray(expected, dtype=float), np.asarray(observed, dtype=float)
    if e.sum() == 0 or o.sum() == 0:
        return 0.0
    p, q = np.maximum(e / e.sum(), _EPS), np.maximum(o / o.sum(), _EPS)
    return float(np.sum((q - p) * np.log(q / p)))
