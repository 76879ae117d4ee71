"""Bootstrap intervals and the performance-drop test: the vectorised metrics agree with
scikit-learn's under the same weights; intervals cover; the test holds its level (seeded)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as sk

from mlpact.bootstrap import (
    _WEIGHTED,
    Resample,
    clopper_pearson,
    intervals,
    performance_test,
    resampling_weights,
    scored,
    standard_error,
)
from mlpact.metrics import BINARY_METRICS, CLASSIFICATION_METRICS, REGRESSION_METRICS


def _sklearn(name: str, y: Any, pred: Any, proba: Any, classes: list[str], pos: str, w: Any) -> float:
    score = {
        "accuracy": lambda: sk.accuracy_score(y, pred, sample_weight=w),
        "balanced_accuracy": lambda: sk.balanced_accuracy_score(y, pred, sample_weight=w),
        "f1_macro": lambda: sk.f1_score(y, pred, average="macro", zero_division=0, sample_weight=w),
        "f1_weighted": lambda: sk.f1_score(y, pred, average="weighted", zero_division=0, sample_weight=w),
        "precision_macro": lambda: sk.precision_score(
            y, pred, average="macro", zero_division=0, sample_weight=w
        ),
        "recall_macro": lambda: sk.recall_score(y, pred, average="macro", zero_division=0, sample_weight=w),
        "precision": lambda: sk.precision_score(y, pred, pos_label=pos, zero_division=0, sample_weight=w),
        "recall": lambda: sk.recall_score(y, pred, pos_label=pos, zero_division=0, sample_weight=w),
        "f1": lambda: sk.f1_score(y, pred, pos_label=pos, zero_division=0, sample_weight=w),
        "log_loss": lambda: sk.log_loss(y, proba, labels=classes, sample_weight=w),
        "roc_auc_ovr": lambda: (
            sk.roc_auc_score(y, proba[:, 1], sample_weight=w)
            if len(classes) == 2
            else sk.roc_auc_score(y, proba, multi_class="ovr", labels=classes, sample_weight=w)
        ),
        "average_precision": lambda: sk.average_precision_score(
            np.asarray(y) == pos, proba[:, classes.index(pos)], sample_weight=w
        ),
        "brier": lambda: sk.brier_score_loss(y, proba[:, classes.index(pos)], pos_label=pos, sample_weight=w),
    }[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(score())


def _classified(k: int, n: int = 60, seed: int = 1) -> tuple[Any, Any, Any, list[str]]:
    rng = np.random.default_rng(seed)
    classes = ["a", "b", "c"][:k]
    y = rng.choice(classes, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), [classes.index(v) for v in y]] += 1
    proba = np.round(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), 1)  # rounded: ties
    proba = proba / proba.sum(1, keepdims=True)
    pred = np.array(classes)[proba.argmax(1)]
    if k == 3:
        pred[:3] = "z"  # a label the model predicts but no row has
    return y, pred, proba, classes


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("name", [*CLASSIFICATION_METRICS, *BINARY_METRICS])
def test_weighted_classification_metrics_match_sklearn(k: int, name: str) -> None:
    if name in BINARY_METRICS and k != 2:
        pytest.skip("positive-class metrics are for binary targets")
    y, pred, proba, classes = _classified(k)
    data = scored("classification", y, pred, proba, classes, "b")
    weights = next(resampling_weights(len(y), 6, seed=3, groups=data.y))
    ours = _WEIGHTED[name](data, Resample(weights))
    theirs = [_sklearn(name, y, pred, proba, classes, "b", w) for w in weights]
    assert ours == pytest.approx(theirs, abs=1e-12, nan_ok=True)


@pytest.mark.parametrize("name", REGRESSION_METRICS)
def test_weighted_regression_metrics_match_sklearn(name: str) -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(size=50) * 3 + 1
    pred = y + rng.normal(size=50)
    data = scored("regression", y, pred)
    weights = next(resampling_weights(50, 6, seed=3))
    reference = {
        "rmse": lambda w: math.sqrt(sk.mean_squared_error(y, pred, sample_weight=w)),
        "mae": lambda w: sk.mean_absolute_error(y, pred, sample_weight=w),
        "r2": lambda w: sk.r2_score(y, pred, sample_weight=w),
        "mape": lambda w: sk.mean_absolute_percentage_error(y, pred, sample_weight=w),
    }[name]
    assert _WEIGHTED[name](data, Resample(weights)) == pytest.approx([reference(w) for w in weights])


def test_stratified_resamples_keep_every_class_size() -> None:
    groups = np.array([0] * 7 + [1] * 3 + [2] * 20)
    for weights in resampling_weights(30, 50, seed=0, groups=groups):
        assert (weights[:, :7].sum(axis=1) == 7).all() and (weights[:, 7:10].sum(axis=1) == 3).all()


def test_intervals_are_seeded_contain_the_estimate_and_say_how_they_were_made() -> None:
    y, pred, proba, classes = _classified(2, n=80)
    data = scored("classification", y, pred, proba, classes, "b")
    names = ["accuracy", "f1_macro", "roc_auc_ovr", "log_loss", "precision", "recall", "brier"]
    first = intervals(names, data, stratify=True, seed=7)
    assert first == intervals(names, data, stratify=True, seed=7)
    assert {k: first[k] for k in ("level", "resamples", "seed", "stratified", "rows")} == {
        "level": 0.95, "resamples": 1000, "seed": 7, "stratified": True, "rows": 80,
    }  # fmt: skip
    for name in names:
        entry = first["metrics"][name]
        point = _sklearn(name, y, pred, proba, classes, "b", None)
        assert entry["low"] <= point <= entry["high"] and entry["se"] > 0
        assert entry["method"] == ("exact" if name in ("accuracy", "precision", "recall") else "bootstrap")


def test_a_perfect_small_test_split_shows_how_little_it_says() -> None:
    y = np.array(["no", "yes"] * 18)
    found = intervals(
        ["accuracy", "f1_macro"], scored("classification", y, y, None, None, "yes"), stratify=True
    )
    assert found["metrics"]["accuracy"]["low"] == pytest.approx(0.9026, abs=1e-4)  # 36/36: exact bound
    assert found["metrics"]["accuracy"]["high"] == 1.0
    assert clopper_pearson(0, 10) == (0.0, pytest.approx(0.3085, abs=1e-4))


def test_bootstrap_interval_covers_about_95_percent() -> None:
    """The rmse interval of 40 rows covers the true value (1.0) in about 95% of 150 seeded trials."""
    rng = np.random.default_rng(4)
    covered = 0
    for _ in range(150):
        y = rng.normal(size=40)
        ci = intervals(
            ["rmse"], scored("regression", y + rng.normal(size=40), y), stratify=False, resamples=400
        )
        covered += ci["metrics"]["rmse"]["low"] <= 1.0 <= ci["metrics"]["rmse"]["high"]
    assert 0.85 <= covered / 150 <= 0.99


def test_large_inputs_use_fewer_resamples() -> None:
    rng = np.random.default_rng(5)
    y = rng.choice(["a", "b", "c"], 60_000)
    proba = rng.dirichlet([1, 1, 1], 60_000)
    pred = np.array(["a", "b", "c"])[proba.argmax(1)]
    found = intervals(
        ["roc_auc_ovr"], scored("classification", y, pred, proba, ["a", "b", "c"]), stratify=True
    )
    assert 100 <= found["resamples"] < 1000 and found["metrics"]["roc_auc_ovr"]["se"] < 0.01


# --------------------------------------------------------------------------- a performance drop
def test_accuracy_drop_is_fishers_exact_test() -> None:
    from scipy.stats import fisher_exact

    found = performance_test(
        "accuracy", recorded=0.95, recorded_rows=100, recorded_se=None, now=0.80, now_rows=60,
        now_se=None, lower_is_better=False,
    )  # fmt: skip
    assert found.p_value == pytest.approx(fisher_exact([[95, 5], [48, 12]], alternative="greater").pvalue)
    assert found.method.startswith("Fisher's exact test")


@pytest.mark.parametrize(
    "metric, recorded, se_then, now, se_now, lower, p",
    [
        ("f1_macro", 0.9, 0.02, 0.8, 0.03, False, 1 - 0.9973),  # z = 0.1 / 0.036 = 2.77
        ("rmse", 2.0, 0.1, 2.0, 0.1, True, 0.5),
        ("rmse", 2.0, 0.0, 2.5, 0.0, True, 0.0),  # no spread at all and worse: certain
        ("r2", 0.5, None, 0.1, 0.1, False, 1.0),  # no recorded uncertainty: not tested
    ],
)
def test_z_test_with_both_standard_errors(
    metric: str, recorded: float, se_then: float | None, now: float, se_now: float, lower: bool, p: float
) -> None:
    found = performance_test(
        metric, recorded=recorded, recorded_rows=50, recorded_se=se_then, now=now, now_rows=60,
        now_se=se_now, lower_is_better=lower,
    )  # fmt: skip
    assert found.p_value == pytest.approx(p, abs=2e-3)


def test_60_rows_of_the_training_distribution_rarely_look_worse() -> None:
    """200 seeded batches of 60 rows from the distribution a 200-row test split came from: the
    drop test is significant at 0.5% (its share of a 1% check) at most a few times."""
    rng = np.random.default_rng(6)
    alarms = 0
    for _ in range(200):
        test_y = rng.normal(size=200)
        test_pred = test_y + rng.normal(size=200)
        batch_y = rng.normal(size=60)
        batch_pred = batch_y + rng.normal(size=60)
        then = intervals(["rmse"], scored("regression", test_y, test_pred), stratify=False, resamples=300)
        now = intervals(["rmse"], scored("regression", batch_y, batch_pred), stratify=False, resamples=300)
        found = performance_test(
            "rmse",
            recorded=float(np.sqrt(np.mean((test_y - test_pred) ** 2))),
            recorded_rows=200,
            recorded_se=standard_error(then, "rmse"),
            now=float(np.sqrt(np.mean((batch_y - batch_pred) ** 2))),
            now_rows=60,
            now_se=standard_error(now, "rmse"),
            lower_is_better=True,
        )
        alarms += found.p_value <= 0.005
    assert alarms <= 4  # 0.5% of 200 is 1
