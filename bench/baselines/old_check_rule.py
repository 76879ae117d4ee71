"""The drift and performance rule `mlpact check` used before issue 21, for the bench's baseline.

Per column (and the predictions): PSI over the saved bins at or above 0.2, or a KS p-value (at the
saved quantiles, scipy's asymptotic one) or a chi-squared p-value (unpooled) below 0.001, each
column judged alone with no correction; with labels, the primary metric worse than recorded by
more than 5% of it (a point difference). Any of these means retrain; fewer than 50 rows are not
judged. Run on the same saved reference statistics and batches as the new rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, kstwo

from mlpact.drift import bin_counts, category_keys, finite, psi

PSI, P_VALUE, MIN_ROWS, DROP = 0.2, 0.001, 50, 0.05


def old_verdict(reference: dict[str, Any], frame: pd.DataFrame, prediction: Any, perf: Any = None) -> str:
    """`retrain` or `reload` by the old rule; `frame` is coerced to the schema, `prediction` the labels."""
    if len(frame) < MIN_ROWS:
        return "reload"
    columns = [(ref, frame[name]) for name, ref in reference["features"].items()]
    columns.append((reference["prediction"], pd.Series(prediction)))
    if any(_drifted(ref, values) for ref, values in columns):
        return "retrain"
    if perf is not None and perf.drop is not None and perf.drop > DROP:
        return "retrain"
    return "reload"


def _drifted(ref: dict[str, Any], values: pd.Series) -> bool:
    if ref["kind"] == "numeric":
        present = finite(values)
        expected = [*ref["counts"], ref["missing"]]
        observed = [
            *bin_counts(present, np.asarray(ref["edges"], dtype=float)).tolist(),
            len(values) - present.size,
        ]
        return psi(expected, observed) >= PSI or _ks(ref, present) < P_VALUE
    keys = category_keys(values)
    counts = keys.dropna().value_counts()
    known = list(ref["counts"])
    new = [k for k in counts.index if k not in ref["counts"]]
    expected = [ref["counts"][k] for k in known] + [0, ref["missing"]]
    observed = [int(counts.get(k, 0)) for k in known] + [
        int(counts[new].sum()) if new else 0,
        int(keys.isna().sum()),
    ]
    return psi(expected, observed) >= PSI or _chi2(expected, observed) < P_VALUE


def _ks(ref: dict[str, Any], present: np.ndarray) -> float:
    n, m = int(ref["count"]), int(present.size)
    if n == 0 or m == 0:
        return 1.0
    ordered = np.sort(present)
    new_cdf = np.searchsorted(ordered, np.asarray(ref["quantiles"]), side="right") / m
    statistic = float(np.max(np.abs(new_cdf - np.asarray(ref["cdf"]))))
    return float(np.clip(kstwo.sf(statistic, max(1, round(n * m / (n + m)))), 0.0, 1.0))


def _chi2(expected: list[int], observed: list[int]) -> float:
    table = np.array([expected, observed], dtype=float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    return float(chi2_contingency(table, correction=False).pvalue)
