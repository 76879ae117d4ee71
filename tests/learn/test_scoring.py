"""mlpact.learn.scoring: cross-validation, the baseline, the test split scored once, slices and
permutation importance."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlpact.learn.scoring import cross_validate


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


# --------------------------------------------------------------------------- baseline, slices, importance
@pytest.mark.parametrize(
    "task, kind", [("classification", "DummyClassifier"), ("regression", "DummyRegressor")]
)
def test_baseline_is_sklearns_dummy_estimator(task: str, kind: str) -> None:
    from mlpact.learn.scoring import baseline_estimator

    assert type(baseline_estimator(task)).__name__ == kind


def test_assess_scores_once_with_per_class_and_slices() -> None:
    from sklearn.linear_model import LogisticRegression

    from mlpact.learn.scoring import assess

    X = pd.DataFrame({"x": [0.0, 0.1, 0.2, 1.0, 1.1, 1.2, 0.05, 1.05]})
    y = pd.Series([0, 0, 0, 1, 1, 1, 1, 0])  # the last two are wrong for any monotone model
    region = pd.DataFrame({"region": ["a", "a", "a", "b", "b", "b", "b", "a"]})
    out, found = assess(
        LogisticRegression().fit(X, y), X, y, ["accuracy"], task="classification", slices=region
    )
    assert out["metrics"]["accuracy"] == 0.75 and list(found.pred) == [0, 0, 0, 1, 1, 1, 0, 1]
    assert set(out["per_class"]) == {"0", "1"}
    assert out["slices"]["region"] == [
        {"value": "a", "rows": 4, "metrics": {"accuracy": 0.75}},
        {"value": "b", "rows": 4, "metrics": {"accuracy": 0.75}},
    ]


def test_slice_metrics_keep_the_most_frequent_values_and_name_missing_ones() -> None:
    from mlpact._core.metrics import Predictions
    from mlpact.learn.scoring import slice_metrics

    found = Predictions(y=np.array([1.0, 2.0, 3.0, 4.0]), pred=np.array([1.0, 2.0, 3.0, 5.0]))
    slices = pd.DataFrame({"s": ["x", "x", None, "y"]})
    out = slice_metrics(found, slices, ["mae"], max_values=2)
    assert [(e["value"], e["rows"]) for e in out["s"]] == [("x", 2), ("(missing)", 1)]


def test_permutation_importance_ranks_the_informative_column_first() -> None:
    from sklearn.linear_model import LinearRegression

    from mlpact.learn.scoring import permutation_importance

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"noise": rng.normal(size=300), "signal": rng.normal(size=300)})
    y = pd.Series(3 * X["signal"] + rng.normal(0, 0.1, 300))
    out = permutation_importance(
        LinearRegression().fit(X, y), X, y, metric="rmse", n_repeats=3, max_rows=100
    ).columns
    assert list(out) == ["signal", "noise"]
    assert out["signal"]["mean"] > 1.0 and abs(out["noise"]["mean"]) < 0.1


# --------------------------------------------------------------------------- a saved version on new data
class _Counting:
    """A fitted estimator that counts the predictions asked of it."""

    def __init__(self, estimator: Any) -> None:
        self.estimator, self.calls = estimator, 0

    def fit(self, X: pd.DataFrame, y: pd.Series) -> _Counting:
        return self

    def predict(self, X: pd.DataFrame) -> Any:
        self.calls += 1
        return self.estimator.predict(X)


def _wide(columns: int, informative: tuple[int, ...], rows: int = 300) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(rows, columns)), columns=[f"c{i:03d}" for i in range(columns)])
    y = sum((k + 2) * X[f"c{i:03d}"] for k, i in enumerate(informative)) + rng.normal(0, 0.1, rows)
    return X, pd.Series(y)


@pytest.mark.parametrize(
    ("columns", "max_columns", "repeats", "rounds"),
    [
        (60, 6, 3, [(6, 10, 10), (5, 2, 6)]),  # one block of 10 is more than 6: cut again
        (200, 10, 2, [(10, 20, 20), (10, 2, 10)]),
        (2000, 20, 1, [(20, 100, 200), (20, 10, 20)]),  # a tenth kept per round: 2,000 -> 200 -> 20
        (13, 5, 3, [(5, 3, 3)]),  # whole blocks only: 3 columns, as a second block of 3 would be 6
    ],
)
def test_wide_tables_score_a_bounded_number_of_columns(
    columns: int, max_columns: int, repeats: int, rounds: list[tuple[int, int, int]]
) -> None:
    from sklearn.linear_model import LinearRegression

    from mlpact.learn.scoring import permutation_importance

    X, y = _wide(columns, informative=(3, columns - 2))
    model = _Counting(LinearRegression().fit(X, y))
    found = permutation_importance(
        model, X, y, metric="rmse", n_repeats=repeats, max_rows=300, max_columns=max_columns
    )
    scored = rounds[-1][2]
    assert found.bound == {"columns": columns, "scored": scored, "max_columns": max_columns,
                           "rounds": [{"groups": g, "group_size": s, "kept": k} for g, s, k in rounds]}  # fmt: skip
    assert len(found.columns) == scored
    assert next(iter(found.columns)) == f"c{columns - 2:03d}"  # the strongest column, found and first
    # a base score and `repeats` per group of each round; then the same per scored column
    assert model.calls == 2 + repeats * (sum(g for g, _, _ in rounds) + scored)
    again = permutation_importance(
        model, X, y, metric="rmse", n_repeats=repeats, max_rows=300, max_columns=max_columns
    )
    assert again == found  # seeded: the same groups, the same columns, the same numbers
    blocks = ", then ".join(f"{g} groups of up to {s}" for g, s, _ in rounds)
    assert found.note("rmse") == (
        f"Permutation importance scored {scored} of {columns:,} input columns (evaluate.importance_max_columns: "
        f"{max_columns}): it shuffled neighbouring columns in blocks ({blocks}), kept the blocks whose shuffling "
        "cost rmse most, and scored their columns one by one. The other columns are left out of the importance "
        "table and plot."
    )


def test_up_to_the_bound_every_column_is_scored_as_scikit_learn_does() -> None:
    from sklearn.inspection import permutation_importance as sk_importance
    from sklearn.linear_model import LinearRegression

    from mlpact.learn.scoring import permutation_importance

    X, y = _wide(20, informative=(1, 7), rows=200)
    model = LinearRegression().fit(X, y)
    found = permutation_importance(model, X, y, metric="rmse", n_repeats=3, max_columns=20, seed=4)
    expected = sk_importance(model, X, y, scoring="neg_root_mean_squared_error", n_repeats=3, random_state=4)
    assert found.bound is None and found.note("rmse") is None
    assert set(found.columns) == set(X.columns)
    for i, name in enumerate(X.columns):
        assert found.columns[name]["mean"] == pytest.approx(expected.importances_mean[i])
        assert found.columns[name]["std"] == pytest.approx(expected.importances_std[i])
