"""The verdict of a check, from per-test results: one family of hypotheses, one false-alarm rate.

Every question a check asks of new data is a :class:`Hypothesis` with a p-value that is valid at
its own sample size: a column has drifted (`mlpact.data.drift`), the predictions have drifted, the
primary metric has dropped (`mlpact._core.bootstrap.performance_test`), or anything else with such a
p-value (an image workload feeds image sizes, channel statistics and the predicted classes the
same way). :func:`decide` runs Holm's step-down procedure, weighted, over all of them at the
family-wise rate `alpha`: on data from the training distribution at most `alpha` of all checks
end in `retrain`, however many tests there are and however they correlate.

A rejected hypothesis counts only when its effect is also material (the caller says what that
is: PSI at or above `check.psi`, a drop beyond `check.performance_drop`). With nothing found, a
batch too small for the check to have caught the shift it is sized for is `inconclusive`, with
the number of rows that would be needed (:func:`rows_needed`), not `reload`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from mlpact.errors import plural

Outcome = Literal["reload", "retrain", "inconclusive"]


@dataclass(frozen=True)
class Hypothesis:
    """One test of the family: its name, p-value, whether its effect is material, its weight.

    `weight` shares the false-alarm rate: a hypothesis is tested at `alpha * weight / total
    weight` (Holm's weighted procedure); `reason` is what the verdict says when it is rejected.
    """

    name: str
    p_value: float
    material: bool = True
    weight: float = 1.0
    reason: str = ""


@dataclass(frozen=True)
class Judgement:
    """What :func:`decide` concluded, and why."""

    verdict: Outcome
    reasons: list[str]
    adjusted: dict[str, float]
    rejected: list[str]
    immaterial: list[str] = field(default_factory=list)
    rows: int = 0
    rows_needed: int | None = None


def holm(p_values: Sequence[float], weights: Sequence[float] | None = None) -> list[float]:
    """Holm-adjusted p-values (weighted: Holm 1979), in the order given.

    A hypothesis is rejected at family-wise rate `alpha` when its adjusted p-value is at most
    `alpha`. With equal weights this is the usual Holm step-down; a NaN p-value counts as 1.
    """
    w = [1.0] * len(p_values) if weights is None else [float(x) for x in weights]
    if len(w) != len(p_values) or any(x <= 0 for x in w):
        raise ValueError("holm: expected one positive weight per p-value")
    p = [1.0 if (v is None or math.isnan(v)) else min(max(float(v), 0.0), 1.0) for v in p_values]
    order = sorted(range(len(p)), key=lambda i: (p[i] / w[i], i))
    remaining = sum(w)
    adjusted = [1.0] * len(p)
    running = 0.0
    for i in order:
        running = max(running, min(1.0, p[i] / w[i] * remaining))
        adjusted[i] = running
        remaining -= w[i]
    return adjusted


def too_few(rows: int) -> str:
    """`1 row is too few`, `30 rows are too few`: the start of an inconclusive verdict's reason."""
    return f"{plural(rows, 'row')} {'is' if rows == 1 else 'are'} too few"


def decide(
    hypotheses: Sequence[Hypothesis],
    *,
    alpha: float,
    rows: int,
    min_rows: int = 1,
    rows_needed: int | None = 1,
) -> Judgement:
    """The verdict over a family of hypotheses at family-wise false-alarm rate `alpha`.

    Args:
        hypotheses: every test of the check (names must be distinct).
        alpha: the family-wise rate: the share of checks of unchanged data that may say retrain.
        rows: rows in the new data.
        min_rows: fewer rows than this are never judged (inconclusive).
        rows_needed: rows the check needs to catch the shift it is sized for (see
            :func:`rows_needed`; None: no batch size is enough). With nothing found on fewer
            rows, the verdict is inconclusive. Default 1: `min_rows` decides alone.

    Returns:
        `retrain` when a hypothesis is rejected (Holm, weighted) and material; else
        `inconclusive` when the batch is too small to judge; else `reload`.
    """
    names = [h.name for h in hypotheses]
    if len(set(names)) != len(names):
        raise ValueError(f"decide: hypothesis names must be distinct, found {sorted(names)!r}")
    adjusted = holm([h.p_value for h in hypotheses], [h.weight for h in hypotheses]) if hypotheses else []
    by_name = dict(zip(names, adjusted, strict=True))
    needed = max(min_rows, rows_needed) if rows_needed is not None else None
    if rows < min_rows:
        why = f"{too_few(rows)} to judge: the check needs at least {needed or min_rows}"
        return Judgement("inconclusive", [why], by_name, [], rows=rows, rows_needed=needed or min_rows)
    significant = [h for h, a in zip(hypotheses, adjusted, strict=True) if a <= alpha]
    rejected = [h for h in significant if h.material]
    immaterial = [h.name for h in significant if not h.material]
    if rejected:
        reasons = [h.reason or f"{h.name} (adjusted p={by_name[h.name]:.2g})" for h in rejected]
        return Judgement("retrain", reasons, by_name, [h.name for h in rejected], immaterial, rows, needed)
    if needed is None or rows < needed:
        why = f"nothing found, but {too_few(rows)} to rule out a change: " + (
            f"the check needs {needed} rows" if needed is not None else "no batch size is enough"
        )
        return Judgement("inconclusive", [why], by_name, [], immaterial, rows, needed)
    return Judgement("reload", [], by_name, [], immaterial, rows, needed)


def rows_needed(*, reference_rows: int, level: float, shift: float, power: float) -> int | None:
    """Rows a batch needs for the drift test of one numeric column to catch a shift of `shift`
    standard deviations with probability `power` when tested at `level`.

    The model is a normal location shift seen by the Wilcoxon part of the location-scale test
    (`mlpact.data.drift.location_scale`): its effect is theta = Phi(shift / sqrt 2) - 1/2, its variance
    (1/m + 1/n) / 12 for m new and n training rows, and the chi-squared statistic with 2 degrees
    of freedom has non-centrality theta^2 / variance.

    Returns:
        The smallest such number of rows, or None when even an unlimited batch is not enough
        (the training split is too small for this level, shift and power).
    """
    from scipy.optimize import brentq
    from scipy.stats import chi2, ncx2, norm

    if not (0 < level < 1 and 0 < power < 1 and shift > 0 and reference_rows > 0):
        raise ValueError("rows_needed: expected 0 < level < 1, 0 < power < 1, shift > 0, reference_rows > 0")
    theta = float(norm.cdf(shift / math.sqrt(2)) - 0.5)
    critical = float(chi2.isf(level, 2))

    def missing_power(lam: float) -> float:
        return float(ncx2.sf(critical, 2, lam)) - power

    ceiling = 12 * theta**2 * reference_rows  # the non-centrality of an unlimited batch
    if missing_power(ceiling) < 0:
        return None
    lam = brentq(missing_power, 1e-9, ceiling)
    per_row = 12 * theta**2 / lam - 1 / reference_rows
    return max(1, math.ceil(1 / per_row)) if per_row > 0 else None
