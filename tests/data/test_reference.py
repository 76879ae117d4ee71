"""Reference statistics: built from the training split, saved hashed, compared with new values."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from mlpact.data import reference
from mlpact.data.reference import (
    OTHER,
    bin_counts,
    chi_squared,
    compare,
    psi,
    summarise_categories,
    summarise_numbers,
)


def test_saved_with_every_version_hashed_and_without_rows(trained_mixed: dict[str, Any]) -> None:
    path = trained_mixed["result"].path
    manifest = json.loads((path / "manifest.json").read_text())
    assert reference.FILE in manifest["files"]
    ref = json.loads((path / reference.FILE).read_text())
    train_rows = trained_mixed["result"].metrics["rows"]["train"]
    assert ref["rows"] == train_rows
    assert set(ref["features"]) == {"x", "count", "color", "flag"}
    assert ref["skipped"] == {
        "note": "text columns are not compared for drift",
        "day": "datetime columns are not compared for drift",
    }
    x = ref["features"]["x"]
    assert x["count"] + x["missing"] == train_rows and sum(x["counts"]) == x["count"]
    assert len(x["quantiles"]) <= reference.QUANTILES and x["cdf"][-1] == 1.0
    assert sum(ref["features"]["color"]["counts"].values()) == ref["features"]["color"]["count"]
    assert set(ref["features"]["flag"]["counts"]) == {"0", "1"}
    assert ref["prediction"]["kind"] == "categorical" and set(ref["prediction"]["counts"]) <= {"yes", "no"}
    assert "row-00001" not in (path / reference.FILE).read_text()


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


@pytest.mark.parametrize("shift, drifts", [(0.0, False), (0.5, True)])
def test_ks_at_quantiles_matches_scipy_two_sample(shift: float, drifts: bool) -> None:
    rng = np.random.default_rng(1)
    train, new = rng.normal(size=2000), rng.normal(shift, size=800)
    found = compare("x", summarise_numbers(pd.Series(train), bins=10), pd.Series(new))
    exact = ks_2samp(train, new, method="asymp")
    assert found.statistic == pytest.approx(exact.statistic, abs=0.01)
    assert bool(found.p_value < 0.001) is drifts and bool(exact.pvalue < 0.001) is drifts
    assert bool(found.psi > 0.2) is drifts


def test_discrete_numbers_do_not_look_drifted_against_themselves() -> None:
    values = pd.Series(np.random.default_rng(0).integers(0, 4, 500))
    found = compare("count", summarise_numbers(values, bins=10), values)
    assert found.statistic == 0.0 and found.p_value == 1.0 and found.psi == 0.0


def test_missing_values_are_a_bucket_of_their_own() -> None:
    ref = summarise_numbers(pd.Series([1.0, 2.0, 3.0, np.nan] * 25), bins=4)
    assert ref["missing"] == 25
    found = compare("x", ref, pd.Series([1.0, 2.0, 3.0] * 25 + [np.nan] * 75))
    assert found.psi > 0.2


def test_categories_new_values_and_chi_squared() -> None:
    ref = summarise_categories(pd.Series(["a"] * 60 + ["b"] * 40))
    assert ref == {"kind": "categorical", "count": 100, "missing": 0, "counts": {"a": 60, "b": 40}}
    same = compare("c", ref, pd.Series(["a"] * 30 + ["b"] * 20))
    assert same.p_value == pytest.approx(1.0) and same.psi == pytest.approx(0.0)
    new = compare("c", ref, pd.Series(["a"] * 30 + ["z"] * 20 + ["y"]))
    assert new.detail == "new categories: 'y', 'z'" and new.p_value < 1e-6 and new.psi > 1


def test_category_keys_treat_3_and_3_point_0_alike() -> None:
    assert summarise_categories(pd.Series([3, 3.0, "3", None]))["counts"] == {"3": 3}
    assert OTHER == "__other__"


@pytest.mark.parametrize(
    "expected, observed, p",
    [([10, 0], [10, 0], 1.0), ([0, 0], [3, 4], 1.0), ([50, 50], [50, 50], 1.0)],
)
def test_chi_squared_degenerate_tables(expected: list[int], observed: list[int], p: float) -> None:
    assert chi_squared(expected, observed)[1] == pytest.approx(p)
