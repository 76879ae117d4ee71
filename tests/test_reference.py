"""Reference statistics: built from the training split, saved hashed, compared with new values."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from mlpact import reference
from mlpact.reference import compare, summarise_categories, summarise_numbers


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


@pytest.mark.parametrize("shift, drifts", [(0.0, False), (0.5, True)])
def test_ks_at_quantiles_agrees_with_scipy_two_sample(shift: float, drifts: bool) -> None:
    rng = np.random.default_rng(1)
    train, new = rng.normal(size=2000), rng.normal(shift, size=800)
    found = compare("x", summarise_numbers(pd.Series(train), bins=10), pd.Series(new))
    exact = ks_2samp(train, new, method="asymp")
    assert bool(found.tests["ks"] < 0.001) is drifts and bool(exact.pvalue < 0.001) is drifts
    assert bool(found.p_value < 0.001) is drifts
    assert bool(found.psi > 0.2) is drifts


def test_discrete_numbers_do_not_look_drifted_against_themselves() -> None:
    values = pd.Series(np.random.default_rng(0).integers(0, 4, 500))
    found = compare("count", summarise_numbers(values, bins=10), values)
    assert found.statistic == pytest.approx(0.0, abs=1e-12) and found.p_value == 1.0 and found.psi == 0.0


def test_missing_values_are_a_bucket_of_their_own() -> None:
    ref = summarise_numbers(pd.Series([1.0, 2.0, 3.0, np.nan] * 25), bins=4)
    assert ref["missing"] == 25
    found = compare("x", ref, pd.Series([1.0, 2.0, 3.0] * 25 + [np.nan] * 75))
    assert found.psi > 0.2


def test_category_keys_treat_3_and_3_point_0_alike() -> None:
    assert summarise_categories(pd.Series([3, 3.0, "3", None]))["counts"] == {"3": 3}
