"""Metrics and cross-validation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlpact.evaluate import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    compute_metrics,
    cross_validate,
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


def test_cross_validate_refits_per_fold_and_reports_mean_and_std() -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    X, y = load_iris(return_X_y=True, as_frame=True)
    folds = list(StratifiedKFold(4, shuffle=True, random_state=0).split(X, y))
    seen: list[tuple[int, int]] = []
    out = cross_validate(
        LogisticRegression(max_iter=500), X, y, folds, ["accuracy"], on_fold=lambda i, n: seen.append((i, n))
    )
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert len(out["accuracy"]["folds"]) == 4
    assert out["accuracy"]["mean"] == pytest.approx(np.mean(out["accuracy"]["folds"]))
    assert 0.85 < out["accuracy"]["mean"] <= 1.0


def test_cross_validate_never_fits_on_the_held_out_fold() -> None:
    from sklearn.base import BaseEstimator, ClassifierMixin

    X = pd.DataFrame({"a": np.arange(20.0)})
    y = pd.Series([0, 1] * 10)
    fitted_on: list[set[float]] = []

    class Spy(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):  # type: ignore[no-untyped-def]
            fitted_on.append(set(X["a"]))
            self.classes_ = np.array([0, 1])
            return self

        def predict(self, X):  # type: ignore[no-untyped-def]
            return np.zeros(len(X), dtype=int)

    folds = [(np.arange(10, 20), np.arange(10)), (np.arange(10), np.arange(10, 20))]
    cross_validate(Spy(), X, y, folds, ["accuracy"])
    assert fitted_on == [set(np.arange(10, 20.0)), set(np.arange(10.0))]
