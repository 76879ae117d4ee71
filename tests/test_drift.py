"""Drift tests against a saved summary: exact permutation moments, calibration and power by
simulation (seeded, small repetition counts; the full simulation is `make bench ONLY=check_false_alarm`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from mlpact.drift import (
    OTHER,
    bin_counts,
    chi_squared,
    combined,
    compare_categories,
    compare_numbers,
    fisher,
    ks_binned,
    location_scale,
    pooled,
    psi,
    reference_counts,
)
from mlpact.reference import summarise_categories, summarise_numbers


def _numbers(values: np.ndarray, bins: int = 10) -> dict:
    return summarise_numbers(pd.Series(values), bins=bins)


# --------------------------------------------------------------------------- the location-scale statistic
def test_permutation_moments_are_exact() -> None:
    """The mean and covariance of the Wilcoxon and Mood score sums under relabelling equal the
    formulas location_scale uses: checked against 3,000 random relabellings of a tied table."""
    rng = np.random.default_rng(0)
    reference, observed = np.array([3, 5, 0, 7, 2, 4]), np.array([2, 1, 3, 4, 0, 2])
    pooled_labels = np.repeat(np.arange(6), reference + observed)
    m = int(observed.sum())
    draws = np.stack([np.bincount(rng.permutation(pooled_labels)[:m], minlength=6) for _ in range(3000)])
    stats = np.array([location_scale(reference + observed - d, d)[0] for d in draws])
    # the statistic is a Mahalanobis distance with the exact covariance: its mean is its rank (2)
    assert stats.mean() == pytest.approx(2.0, abs=0.15)  # 4 standard errors of the mean


def test_location_part_agrees_with_mann_whitney_on_a_shift() -> None:
    rng = np.random.default_rng(1)
    train, new = rng.normal(size=3000), rng.normal(0.3, size=400)
    found = compare_numbers("x", _numbers(train), pd.Series(new))
    exact = mannwhitneyu(train, new).pvalue
    assert found.tests["location_scale"] < 1e-3 and exact < 1e-3
    assert np.log10(found.tests["location_scale"]) == pytest.approx(np.log10(exact), abs=1.5)


@pytest.mark.parametrize(
    "change, location_scale_p, ks_p",
    [
        (lambda x: x, (0.01, 1.0), (0.01, 1.0)),
        (lambda x: x + 0.5, (0.0, 1e-4), (0.0, 1e-3)),
        (lambda x: x * 1.5, (0.0, 1e-6), (1e-4, 1.0)),  # a change of spread: KS alone misses it
    ],
)
def test_shift_and_spread_at_200_rows(change, location_scale_p, ks_p) -> None:
    rng = np.random.default_rng(2)
    ref = _numbers(rng.normal(size=1000))
    found = compare_numbers("x", ref, pd.Series(change(rng.normal(size=200))))
    assert location_scale_p[0] <= found.tests["location_scale"] <= location_scale_p[1]
    assert ks_p[0] <= found.tests["ks"] <= ks_p[1]


def test_calibrated_under_no_change_continuous_and_tied() -> None:
    """On 300 seeded batches from the training distribution the combined p-value is below 0.05 at
    most a little more often than 5% of the time (continuous, integer-valued and mostly-zero data)."""
    rng = np.random.default_rng(3)
    for draw in (
        lambda n: rng.lognormal(size=n),
        lambda n: rng.poisson(2.0, size=n).astype(float),
        lambda n: np.where(rng.random(n) < 0.9, 0.0, rng.normal(size=n)),
    ):
        ref = _numbers(draw(400))
        p = np.array([compare_numbers("x", ref, pd.Series(draw(50))).p_value for _ in range(300)])
        assert (p < 0.05).mean() <= 0.07
        assert (p < 0.5).mean() >= 0.2  # and it is not stuck at 1


@pytest.mark.parametrize(
    "reference, observed, p",
    [
        ([0, 10, 0], [0, 5, 0], 1.0),  # one value on both sides
        ([10, 0], [0, 0], 1.0),  # nothing new
        ([0, 0], [3, 4], 1.0),  # no reference
    ],
)
def test_location_scale_degenerate_tables(reference: list[int], observed: list[int], p: float) -> None:
    assert location_scale(np.array(reference), np.array(observed))[1] == p


def test_a_constant_column_with_new_values_has_drifted() -> None:
    ref = _numbers(np.zeros(200))
    assert compare_numbers("x", ref, pd.Series(np.zeros(60))).p_value == 1.0
    assert compare_numbers("x", ref, pd.Series(np.r_[np.zeros(50), np.ones(10)])).p_value < 1e-3


def test_reference_counts_recover_the_training_bins() -> None:
    values = np.array([1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 7.0])
    ref = _numbers(values)
    counts = reference_counts(ref)
    assert counts.sum() == 7 and counts[-1] == 0
    assert (
        counts.tolist()
        == np.bincount(np.searchsorted(ref["quantiles"], values), minlength=len(counts)).tolist()
    )


def test_missing_share_is_tested_by_fisher_and_combined_by_bonferroni() -> None:
    ref = _numbers(np.r_[np.arange(100.0), [np.nan] * 10])
    found = compare_numbers("x", ref, pd.Series(np.r_[np.arange(0, 100.0, 2), [np.nan] * 50]))
    assert set(found.tests) == {"location_scale", "ks", "missing"}
    assert found.tests["missing"] == pytest.approx(fisher(10, 100, 50, 50))
    assert found.p_value == pytest.approx(min(1.0, 3 * min(found.tests.values())))
    assert "missing 9.1% in training, 50.0% now" in found.detail


def test_combined_takes_the_smallest_times_their_number() -> None:
    assert combined({"a": 0.01, "b": 0.5}) == pytest.approx(0.02)
    assert combined({"a": 0.6, "b": 0.9}) == 1.0
    assert combined({}) == 1.0


def test_ks_binned_matches_the_statistic_at_the_bin_edges() -> None:
    assert ks_binned(np.array([50, 50]), np.array([50, 50])) == pytest.approx(1.0)
    assert ks_binned(np.array([100, 0]), np.array([0, 100])) < 1e-10


# --------------------------------------------------------------------------- categories
def test_pooling_merges_the_rarest_buckets_until_5_are_expected() -> None:
    table = pooled(np.array([500.0, 300.0, 10.0, 5.0, 1.0]), np.array([50.0, 30.0, 1.0, 0.0, 2.0]))
    expected = table[1].sum() * table.sum(axis=0) / table.sum()
    assert (expected >= 5).all()
    assert sorted(table.T.tolist()) == [[316.0, 33.0], [500.0, 50.0]]  # 1, 5, 10, then 300 merged
    big = pooled(np.array([500.0, 300.0, 100.0]), np.array([50.0, 30.0, 10.0]))
    assert big.shape == (2, 3)


def test_categories_calibrated_with_many_rare_values() -> None:
    rng = np.random.default_rng(4)
    shares = np.r_[0.5, 0.2, np.full(30, 0.3 / 30)]
    names = [f"c{i}" for i in range(len(shares))]
    ref = summarise_categories(pd.Series(rng.choice(names, 2000, p=shares)))
    p = np.array(
        [compare_categories("c", ref, pd.Series(rng.choice(names, 50, p=shares))).p_value for _ in range(300)]
    )
    assert (p < 0.05).mean() <= 0.08 and (p < 0.01).mean() <= 0.025


def test_categories_new_values_and_chi_squared() -> None:
    ref = summarise_categories(pd.Series(["a"] * 60 + ["b"] * 40))
    assert ref == {"kind": "categorical", "count": 100, "missing": 0, "counts": {"a": 60, "b": 40}}
    same = compare_categories("c", ref, pd.Series(["a"] * 30 + ["b"] * 20))
    assert same.p_value == pytest.approx(1.0) and same.psi == pytest.approx(0.0)
    new = compare_categories("c", ref, pd.Series(["a"] * 30 + ["z"] * 20 + ["y"]))
    assert new.detail.startswith("new categories: 'y', 'z'") and new.p_value < 1e-6 and new.psi > 1
    assert OTHER == "__other__"


@pytest.mark.parametrize(
    "expected, observed, p",
    [([10, 0], [10, 0], 1.0), ([0, 0], [3, 4], 1.0), ([50, 50], [50, 50], 1.0)],
)
def test_chi_squared_degenerate_tables(expected: list[int], observed: list[int], p: float) -> None:
    assert chi_squared(expected, observed)[1] == pytest.approx(p)


# --------------------------------------------------------------------------- PSI, the effect size
@pytest.mark.parametrize(
    "expected, observed, value",
    [
        ([50, 50], [50, 50], 0.0),
        ([10, 20], [20, 40], 0.0),  # same shares, different sizes
        ([50, 50], [25, 75], (0.25 - 0.5) * np.log(0.5) + (0.75 - 0.5) * np.log(1.5)),
        ([100, 0], [50, 50], (0.5 - 1) * np.log(0.5) + (0.5 - 1e-4) * np.log(0.5 / 1e-4)),
        ([0, 0], [1, 2], 0.0),
    ],
)
def test_psi(expected: list[int], observed: list[int], value: float) -> None:
    assert psi(expected, observed) == pytest.approx(value)


def test_bin_counts_put_a_value_on_an_edge_in_the_lower_bin() -> None:
    assert bin_counts(np.array([0.0, 1.0, 1.5, 2.0, 9.0]), np.array([1.0, 2.0])).tolist() == [2, 2, 1]
