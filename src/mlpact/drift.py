"""Two-sample drift tests of new values against a saved summary of the training split.

Pure statistics over the summaries `mlpact.reference` saves (no rows of the training split are
kept): every test here is a two-sample test, so its p-value accounts for both the number of new
rows and the number of training rows, and stays valid with ties and at small batch sizes.

- Numbers: the reference keeps quantiles with the exact share of training rows at or below each.
  The new values are counted in the same bins and the pooled 2 x k ordered table is tested
  twice: a Lepage-type location-scale test (the Wilcoxon and Mood scores of the pooled
  mid-ranks, with their exact permutation covariance; chi-squared with 2 degrees of freedom)
  and a Kolmogorov-Smirnov test at the bin edges. A change in the share of missing values is
  tested by Fisher's exact test. The column's p-value is the smallest of these times their
  number (Bonferroni), so it is one valid p-value per column.
- Categories (and predicted classes): a chi-squared test of homogeneity of the 2 x k table of
  counts (missing values and unseen categories are buckets of their own), buckets whose expected
  count in the new data is under 5 pooled first so the chi-squared approximation holds.
- PSI (population stability index) over the saved bins, reported beside each test as the size
  of the change, never as the test.

The chi-squared approximations are accurate at ordinary levels, and far in the tail for smooth
data, but can be several times too small there when the table is lumpy (a binary or mostly-zero
column: one bin with 10% of the rows or more; a rare category or class: a bucket expecting fewer
than 20 new rows) and the batch is small. So with `level` given (the smallest level the caller
will judge this p-value at, e.g. the Bonferroni share of the check's false-alarm rate), a lumpy
table's asymptotic p-value within a factor of 20 of it is replaced by the Monte Carlo p-value of
the same statistic under random relabelling of the pooled rows (draws from the multivariate
hypergeometric distribution of the table with its margins fixed, 10 / level of them): (1 +
exceedances) / (1 + draws), valid at any sample size.

`tests/test_drift.py` checks the calibration by simulation; `bench/bench_check.py` measures
false alarms and power on real data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MIN_EXPECTED = 5.0  # a chi-squared bucket needs at least this many expected new rows
REFINE_BELOW = 20.0  # a lumpy table's p-value under this many times its level is checked exactly ...
DRAWS_PER_LEVEL = 10.0  # ... by this many over the level random relabellings (Monte Carlo)
LUMPY_SHARE = 0.1  # a numeric table is lumpy when one bin holds this share of the pooled rows
LUMPY_EXPECTED = 20.0  # a category table is lumpy when a bucket expects fewer new rows than this
MAX_DRAWS = 200_000
_CHUNK = 20_000
_EXACT_POOL = 200_000  # pools up to this many rows are relabelled exactly
_EPS = 1e-4  # the share an empty bucket counts as in PSI, so the logarithm stays finite
OTHER = "__other__"  # new categories, in the new data only


@dataclass
class Drift:
    """How far one column (or the predictions) of new data is from the training split.

    `p_value` is the column's own (Bonferroni over its `tests`); `adjusted` is the Holm-adjusted
    p-value over the whole check, set by the caller, as are `drifted` and `judged`.
    """

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
    tests: dict[str, float] = field(default_factory=dict)
    adjusted: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- numbers
def compare_numbers(
    column: str, ref: Mapping[str, Any], values: pd.Series, *, level: float | None = None
) -> Drift:
    """Location-scale and KS tests of new numbers against a numeric summary, plus missing values.

    `level`: the level the column's p-value will be judged at (see the module docstring).
    """
    import numpy as np

    present = finite(values)
    missing = len(values) - present.size
    edges = np.asarray(ref["quantiles"], dtype=float)
    reference = reference_counts(ref)
    observed = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(reference))
    tests: dict[str, float] = {}
    statistic = float("nan")
    has_missing = bool(missing or int(ref["missing"]))
    if present.size and int(ref["count"]):
        each = None if level is None else level / (3 if has_missing else 2)
        statistic, tests["location_scale"] = location_scale(reference, observed, level=each)
        tests["ks"] = ks_binned(reference, observed)
    if has_missing:
        tests["missing"] = fisher(int(ref["missing"]), int(ref["count"]), missing, present.size)
    expected = [*ref["counts"], ref["missing"]]
    binned = [*bin_counts(present, np.asarray(ref["edges"], dtype=float)).tolist(), missing]
    return Drift(
        column, "numeric", "lepage+ks", statistic, combined(tests), psi(expected, binned), len(values),
        detail=_number_detail(ref, present, missing), tests=tests,
    )  # fmt: skip


def reference_counts(ref: Mapping[str, Any]) -> np.ndarray:
    """Training rows per bin (-inf, q0], (q0, q1], ..., (q_last, inf) from the saved quantiles and
    the exact share of rows at or below each (the last bin is empty in training)."""
    import numpy as np

    cdf = np.asarray(ref["cdf"], dtype=float)
    at_or_below = np.rint(cdf * int(ref["count"]))
    return np.diff(np.concatenate([[0.0], at_or_below, [float(ref["count"])]]))


def location_scale(
    reference: np.ndarray, observed: np.ndarray, *, level: float | None = None
) -> tuple[float, float]:
    """Lepage-type test of two samples given as counts over the same ordered bins.

    Scores of the pooled mid-ranks: Wilcoxon (location) and Mood (scale). Their sums over the new
    sample, standardised by the exact permutation mean and covariance (ties included), give a
    chi-squared statistic with as many degrees of freedom as the covariance has rank (2, or 1
    when only two bins hold values); near `level`, its Monte Carlo p-value instead.

    Returns:
        The statistic and its p-value.
    """
    import numpy as np
    from scipy.special import chdtrc

    total = reference + observed
    keep = total > 0
    r, c, t = reference[keep], observed[keep].astype(float), total[keep].astype(float)
    n, m, N = float(r.sum()), float(c.sum()), float(t.sum())
    if n == 0 or m == 0 or t.size < 2:
        return 0.0, 1.0
    u = (np.cumsum(t) - t + (t + 1) / 2) / (N + 1) - 0.5
    scores = np.stack([u, u**2])
    centred = scores - (scores @ t / N)[:, None]
    cov = (m * n / (N * (N - 1))) * (centred * t) @ centred.T
    diff = centred @ c
    inverse, rank = _inverse_2x2(cov)
    if rank == 0:
        return 0.0, 1.0
    statistic = float(diff @ inverse @ diff)
    p = float(chdtrc(rank, statistic))

    def quadratic(draws: np.ndarray) -> np.ndarray:
        d = draws @ centred.T
        return np.einsum("ij,jk,ik->i", d, inverse, d)  # type: ignore[no-any-return]

    lumpy = bool(t.max() >= LUMPY_SHARE * N)
    return statistic, refined(p, statistic, t, int(m), quadratic, level=level if lumpy else None)


def refined(
    p: float,
    statistic: float,
    totals: np.ndarray,
    drawn: int,
    measure: Callable[[np.ndarray], np.ndarray],
    *,
    level: float | None,
) -> float:
    """`p`, or, when it is within REFINE_BELOW times `level`, the Monte Carlo p-value of
    `statistic`: how often `measure` of the new sample's counts is at least as large when its
    `drawn` rows are drawn at random from the pooled `totals` (seeded: the same data give the
    same p-value). `level` None: `p` as it is."""
    import numpy as np

    if level is None or p >= REFINE_BELOW * level:
        return p
    draws = int(min(MAX_DRAWS, np.ceil(DRAWS_PER_LEVEL / level)))
    rng = np.random.default_rng(0)
    colors = np.rint(totals).astype(np.int64)
    exact = colors.sum() <= _EXACT_POOL
    above, done = 0, 0
    while done < draws:
        size = min(_CHUNK, draws - done)
        sample = (
            rng.multivariate_hypergeometric(colors, drawn, size=size, method="count")
            if exact  # a large pool: drawing with replacement is the same to within drawn / pool
            else rng.multinomial(drawn, colors / colors.sum(), size=size)
        ).astype(float)
        above += int(np.count_nonzero(measure(sample) >= statistic * (1 - 1e-9)))
        done += size
    return (1 + above) / (1 + draws)


def _inverse_2x2(cov: np.ndarray) -> tuple[np.ndarray, int]:
    """The (pseudo-)inverse of a 2 x 2 covariance and its rank (the two scores are collinear when
    only two bins hold values: then the inverse along their one direction)."""
    import numpy as np

    trace = float(np.trace(cov))
    if trace <= 0:
        return np.zeros((2, 2)), 0
    det = float(cov[0, 0] * cov[1, 1] - cov[0, 1] * cov[1, 0])
    if det > 1e-10 * trace * trace:
        return np.array([[cov[1, 1], -cov[0, 1]], [-cov[1, 0], cov[0, 0]]]) / det, 2
    return cov / (trace * trace), 1  # rank one: C = trace * v v', so C / trace^2 = v v' / trace


def ks_binned(reference: np.ndarray, observed: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value at the bin edges (conservative with ties): the
    Kolmogorov limit distribution at sqrt(n*m/(n+m)) times the statistic, as R's `ks.test`
    computes it without `exact` (slightly conservative for small samples)."""
    import numpy as np
    from scipy.special import kolmogorov

    n, m = float(reference.sum()), float(observed.sum())
    if n == 0 or m == 0:
        return 1.0
    statistic = float(np.max(np.abs(np.cumsum(reference) / n - np.cumsum(observed) / m)))
    return float(np.clip(kolmogorov(np.sqrt(n * m / (n + m)) * statistic), 0.0, 1.0))


def fisher(ref_missing: int, ref_present: int, new_missing: int, new_present: int) -> float:
    """Fisher's exact test (two-sided) of the share of missing values in two samples."""
    from scipy.stats import fisher_exact

    table = [[ref_missing, ref_present], [new_missing, new_present]]
    return float(fisher_exact(table).pvalue)


def combined(tests: Mapping[str, float]) -> float:
    """One p-value for a column tested several ways: the smallest times their number (Bonferroni)."""
    return min(1.0, len(tests) * min(tests.values())) if tests else 1.0


def _number_detail(ref: Mapping[str, Any], present: np.ndarray, missing: int) -> str:
    import numpy as np

    if not present.size or not ref["quantiles"]:
        return ""
    q = np.asarray(ref["quantiles"], dtype=float)
    cdf = np.asarray(ref["cdf"], dtype=float)
    then = [float(np.interp(p, cdf, q)) for p in (0.25, 0.5, 0.75)]
    now = [float(v) for v in np.quantile(present, [0.25, 0.5, 0.75])]
    text = (
        f"median {then[1]:.4g} in training, {now[1]:.4g} now; "
        f"IQR {then[2] - then[0]:.4g} in training, {now[2] - now[0]:.4g} now"
    )
    total = int(ref["count"]) + int(ref["missing"])
    if missing or int(ref["missing"]):
        was = int(ref["missing"]) / total if total else 0.0
        text += f"; missing {was:.1%} in training, {missing / (missing + present.size):.1%} now"
    return text


# --------------------------------------------------------------------------- categories
def compare_categories(
    column: str, ref: Mapping[str, Any], values: pd.Series, *, level: float | None = None
) -> Drift:
    """Chi-squared test of homogeneity of new category counts against a categorical summary.

    `level`: the level the p-value will be judged at (see the module docstring).
    """
    keys = category_keys(values)
    counts = keys.dropna().value_counts()
    known = list(ref["counts"])
    new = sorted(str(k) for k in counts.index if k not in ref["counts"])
    expected = [ref["counts"][k] for k in known] + [0, ref["missing"]]
    observed = [int(counts.get(k, 0)) for k in known] + [
        int(counts[new].sum()) if new else 0,
        int(keys.isna().sum()),
    ]
    statistic, p_value = chi_squared(expected, observed, level=level)
    detail = _category_detail(ref, known, expected, observed, new)
    return Drift(
        column, "categorical", "chi2", statistic, p_value, psi(expected, observed), len(values),
        detail=detail, tests={"chi2": p_value},
    )  # fmt: skip


def chi_squared(
    expected: Sequence[float], observed: Sequence[float], *, level: float | None = None
) -> tuple[float, float]:
    """Chi-squared test of homogeneity of two count vectors over the same buckets.

    Buckets whose expected count in the second sample is under 5 are pooled (rarest first) so the
    chi-squared approximation holds at small sample sizes; buckets empty in both are dropped.
    Near `level`, the Monte Carlo p-value of the same statistic instead (module docstring).
    """
    import numpy as np
    from scipy.stats import chi2_contingency

    table = pooled(np.asarray(expected, dtype=float), np.asarray(observed, dtype=float))
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = chi2_contingency(table, correction=False)
    statistic = float(result.statistic)
    totals, m = table.sum(axis=0), float(table[1].sum())
    n, N = float(table[0].sum()), float(totals.sum())
    share = m * totals / N

    def pearson(draws: np.ndarray) -> np.ndarray:
        return ((draws - share) ** 2 / share).sum(axis=1) * N / n  # type: ignore[no-any-return]

    lumpy = bool(share.min() < LUMPY_EXPECTED)
    p = float(result.pvalue)
    return statistic, refined(p, statistic, totals, int(m), pearson, level=level if lumpy else None)


def pooled(reference: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """The 2 x k table with buckets of too few expected new rows merged, rarest first."""
    import numpy as np

    total = reference + observed
    keep = total > 0
    reference, observed, total = reference[keep], observed[keep], total[keep]
    m, N = observed.sum(), total.sum()
    if N == 0:
        return np.zeros((2, 0))
    order = np.argsort(total, kind="stable")
    ref, obs = list(reference[order]), list(observed[order])
    while len(ref) > 1 and m * (ref[0] + obs[0]) / N < MIN_EXPECTED:
        rarest_ref, rarest_obs = ref.pop(0), obs.pop(0)
        ref[0] += rarest_ref
        obs[0] += rarest_obs
        pairs = sorted(zip(ref, obs, strict=True), key=lambda p: p[0] + p[1])
        ref, obs = [p[0] for p in pairs], [p[1] for p in pairs]
    return np.array([ref, obs], dtype=float)


def _category_detail(
    ref: Mapping[str, Any], known: list[str], expected: list[int], observed: list[int], new: list[str]
) -> str:
    parts = []
    if new:
        parts.append(f"new categories: {', '.join(map(repr, new[:5]))}{', ...' if len(new) > 5 else ''}")
    n, m = sum(expected), sum(observed)
    if n and m and known:
        shares = [
            (abs(o / m - e / n), k, e / n, o / m) for k, e, o in zip(known, expected, observed, strict=False)
        ]
        gap, name, was, now = max(shares)
        if gap > 0:
            parts.append(f"{name!r} {was:.1%} in training, {now:.1%} now")
    return "; ".join(parts)


def category_keys(values: pd.Series) -> pd.Series:
    """Category values as the text saved in the reference (3.0 and 3 are both "3")."""
    import pandas as pd

    def key(value: Any) -> Any:
        if value is None or (isinstance(value, float) and value != value):
            return None
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value.item() if hasattr(value, "item") else value)

    return pd.Series([key(v) for v in values.tolist()], dtype=object)


# --------------------------------------------------------------------------- shared
def finite(values: pd.Series) -> np.ndarray:
    """The finite numbers of a column, as float64."""
    import numpy as np

    array: np.ndarray = values.to_numpy(dtype="float64", na_value=np.nan)
    present: np.ndarray = array[np.isfinite(array)]
    return present


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """How many values fall in each bin: (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    import numpy as np

    index = np.searchsorted(edges, values, side="left")
    counts: np.ndarray = np.bincount(index, minlength=len(edges) + 1)
    return counts


def psi(expected: Sequence[float], observed: Sequence[float]) -> float:
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
