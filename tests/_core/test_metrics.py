"""mlpact._core.metrics: metric names per task, computing them, and which way is better."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlpact._core.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    better,
    compute_metrics,
    gain,
    higher_is_better,
    metrics_for,
    primary_metric,
)


def test_metric_sets_per_task() -> None:
    assert metrics_for("classification") == list(CLASSIFICATION_METRICS)
    assert metrics_for("regression", ["rmse", "accuracy"]) == ["rmse"]
    assert primary_metric("classification") == "accuracy"
    assert primary_metric("regression") == "rmse"
    assert primary_metric("regression", "mae") == "mae"


def test_classification_metrics_on_known_values() -> None:
    y = np.array([0, 0, 1, 1])
    pred = np.array([0, 1, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.1, 0.9]])
    out = compute_metrics(CLASSIFICATION_METRICS, y, pred, proba, [0, 1])
    assert out["accuracy"] == 0.75
    assert out["roc_auc_ovr"] == 1.0
    assert out["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.9])))


def test_probability_metrics_are_skipped_without_probabilities() -> None:
    out = compute_metrics(CLASSIFICATION_METRICS, [0, 1], [0, 1])
    assert "roc_auc_ovr" not in out and out["accuracy"] == 1.0


def test_regression_metrics_on_known_values() -> None:
    out = compute_metrics(REGRESSION_METRICS, np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert out["rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert out["mae"] == pytest.approx(2 / 3)


def test_undefined_metric_is_nan_not_an_error() -> None:
    out = compute_metrics(
        ["roc_auc_ovr"], np.array([1, 1]), np.array([1, 1]), np.array([[0.2, 0.8], [0.3, 0.7]]), [0, 1]
    )
    assert math.isnan(out["roc_auc_ovr"])


@pytest.mark.parametrize(
    "metric, a, b, expected",
    [
        ("accuracy", 0.9, 0.8, True),
        ("accuracy", 0.8, 0.9, False),
        ("accuracy", 0.8, 0.8, False),
        ("rmse", 1.0, 2.0, True),
        ("log_loss", 0.5, 0.4, False),
        ("r2", None, 0.5, None),
        ("rmse", math.nan, 1.0, None),
        ("accuracy", math.inf, 0.5, None),
    ],
)
def test_better_knows_which_way_each_metric_goes(
    metric: str, a: float, b: float, expected: bool | None
) -> None:
    assert better(metric, a, b) is expected


def test_gain_is_positive_when_the_new_value_is_better() -> None:
    assert higher_is_better("accuracy") and not higher_is_better("mae")
    assert gain("accuracy", 0.8, 0.9) == pytest.approx(0.1)
    assert gain("mae", 2.0, 1.5) == pytest.approx(0.5)
    assert gain("mae", 1.5, 2.0) == pytest.approx(-0.5)
