"""Reference statistics: what the training split looked like, saved with every version.

At training time :func:`build` summarises the training split (never its rows): per numeric
column its quantiles with the exact share of rows at or below each, and counts per quantile bin;
per category its counts; and the same for the model's predictions on that split. It is written
into the version folder as ``reference.json`` before the manifest, so it is hashed like every
other file.

:func:`compare` tests new values against one such summary (`mlpact.drift`: two-sample tests
valid at any batch size, PSI beside them as the size of the change); `mlpact check` decides over
all columns together (`mlpact.verdict`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlpact.drift import OTHER, Drift, bin_counts, category_keys, compare_categories, compare_numbers
from mlpact.drift import finite as _numbers

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.dataset import Prepared
    from mlpact.schema import Schema

FILE = "reference.json"
QUANTILES = 101  # 0%, 1%, ..., 100%: enough for the KS statistic, far from the raw rows
NUMERIC = ("int", "float")
CATEGORICAL = ("category", "bool")
__all__ = ["FILE", "OTHER", "Drift", "bin_counts", "build", "build_from", "compare",
           "summarise_categories", "summarise_numbers", "summarise_predictions"]  # fmt: skip


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
    keys = category_keys(values)
    counts = keys.dropna().value_counts()
    return {
        "kind": "categorical",
        "count": int(counts.sum()),
        "missing": int(keys.isna().sum()),
        "counts": {str(k): int(v) for k, v in sorted(counts.items())},
    }


# --------------------------------------------------------------------------- comparing
def compare(
    column: str, reference: Mapping[str, Any], values: pd.Series, *, level: float | None = None
) -> Drift:
    """Test new values of one column against its summary (see `mlpact.drift`), with PSI beside.

    `level`: the level its p-value will be judged at (refines tail p-values, `mlpact.drift`).
    `drifted` is left False; the caller decides over all columns together (`mlpact.verdict`).
    """
    if reference["kind"] == "numeric":
        return compare_numbers(column, reference, values, level=level)
    return compare_categories(column, reference, values, level=level)
