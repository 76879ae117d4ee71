"""Metrics and cross-validation."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from conftest import mixed_frame, wine_config
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


# --------------------------------------------------------------------------- baseline, slices, importance
@pytest.mark.parametrize(
    "task, kind", [("classification", "DummyClassifier"), ("regression", "DummyRegressor")]
)
def test_baseline_is_sklearns_dummy_estimator(task: str, kind: str) -> None:
    from mlpact.evaluate import baseline_estimator

    assert type(baseline_estimator(task)).__name__ == kind


def test_assess_scores_once_with_per_class_and_slices() -> None:
    from sklearn.linear_model import LogisticRegression

    from mlpact.evaluate import assess

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
    from mlpact.evaluate import Predictions, slice_metrics

    found = Predictions(y=np.array([1.0, 2.0, 3.0, 4.0]), pred=np.array([1.0, 2.0, 3.0, 5.0]))
    slices = pd.DataFrame({"s": ["x", "x", None, "y"]})
    out = slice_metrics(found, slices, ["mae"], max_values=2)
    assert [(e["value"], e["rows"]) for e in out["s"]] == [("x", 2), ("(missing)", 1)]


def test_permutation_importance_ranks_the_informative_column_first() -> None:
    from sklearn.linear_model import LinearRegression

    from mlpact.evaluate import permutation_importance

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

    from mlpact.evaluate import permutation_importance

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

    from mlpact.evaluate import permutation_importance

    X, y = _wide(20, informative=(1, 7), rows=200)
    model = LinearRegression().fit(X, y)
    found = permutation_importance(model, X, y, metric="rmse", n_repeats=3, max_columns=20, seed=4)
    expected = sk_importance(model, X, y, scoring="neg_root_mean_squared_error", n_repeats=3, random_state=4)
    assert found.bound is None and found.note("rmse") is None
    assert set(found.columns) == set(X.columns)
    for i, name in enumerate(X.columns):
        assert found.columns[name]["mean"] == pytest.approx(expected.importances_mean[i])
        assert found.columns[name]["std"] == pytest.approx(expected.importances_std[i])


def _labelled(rows: int = 50, seed: int = 5) -> pd.DataFrame:
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).frame.sample(rows, random_state=seed).reset_index(drop=True)


def load_sample_positions(rows: int = 50, seed: int = 5) -> list[int]:
    """The positions in the wine data of the rows `_labelled` draws."""
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).frame.sample(rows, random_state=seed).index.tolist()


def test_evaluate_records_an_evaluation_and_never_touches_the_version(
    trained_wine: dict, tmp_path: Path
) -> None:  # type: ignore[type-arg]
    from mlpact import bundle
    from mlpact.evaluate import evaluate_version
    from mlpact.store import Store

    path, store = trained_wine["result"].path, trained_wine["store"]
    before = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    csv = tmp_path / "new.csv"
    _labelled().to_csv(csv, index=False)
    result = evaluate_version(trained_wine["ref"], csv, store=store)
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == before
    bundle.verify(path)
    (recorded,) = [e for e in Store.open(store).evaluations("wine", 1) if e["id"] == result.id]
    assert recorded["rows"] == 50 and recorded["data"] == str(csv.resolve())
    assert recorded["metrics"]["test"]["accuracy"] == result.metrics["test"]["accuracy"] > 0.8
    assert sorted(p.name for p in (result.path / "reports").iterdir()) == [
        "calibration.png",
        "confusion_matrix.png",
        "permutation_importance.png",
        "precision_recall.png",
        "roc_curve.png",
    ]
    assert "Evaluation of wine:1 on new.csv" in (result.path / "report.html").read_text()
    # the rows were drawn from the version's data: counted against its own split, test rows apart
    split = pd.read_parquet(path / "split.parquet")
    sampled = load_sample_positions()
    in_train = int(split.loc[split["split"] == "train", "row"].isin(sampled).sum())
    assert 0 < in_train < 50
    assert result.metrics["overlap"] == {
        "rows": 50, "training": in_train, "test": 50 - in_train,
        "compared_with": "the feature hashes of the version's training and test splits (split.parquet)",
    }  # fmt: skip
    assert any(
        w.startswith(f"Possible leakage (duplicate_rows): {in_train} of 50 evaluation rows")
        and "of the version's training split" in w
        for w in result.warnings
    )
    assert any(
        w.startswith(f"Possible leakage (test_rows): {50 - in_train} of 50 evaluation rows")
        for w in result.warnings
    )


def test_evaluate_on_regression_data_uses_regression_metrics(tmp_path: Path) -> None:
    import mlpact
    from mlpact.evaluate import evaluate_version

    cfg = wine_config(
        name="diabetes",
        data={"source": "sklearn:diabetes"},
        model={"type": "sklearn.linear_model.Ridge"},
        evaluate={"cv_folds": 0, "plots": False},
    )
    trained = mlpact.train(cfg, store=tmp_path)
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame.iloc[:40]
    result = evaluate_version(trained.ref, frame, store=tmp_path, plots=False)
    assert set(result.metrics["test"]) == {"rmse", "mae", "r2", "mape"}
    assert "plots" not in result.metrics


@pytest.mark.parametrize(
    "frame, message",
    [
        (_labelled().drop(columns="target"), r"The target column 'target' is not in the data"),
        (_labelled().assign(target=np.nan), r"The target column 'target' has no values"),
    ],
)
def test_evaluate_needs_labels(trained_wine: dict, frame: pd.DataFrame, message: str) -> None:  # type: ignore[type-arg]
    from mlpact.errors import DataError
    from mlpact.evaluate import evaluate_version

    with pytest.raises(DataError, match=message):
        evaluate_version(trained_wine["ref"], frame, store=trained_wine["store"], plots=False)


def test_evaluate_drops_unlabelled_rows_with_a_warning(trained_wine: dict) -> None:  # type: ignore[type-arg]
    from mlpact.evaluate import evaluate_version

    frame = _labelled(30)
    frame.loc[:2, "target"] = np.nan
    result = evaluate_version(trained_wine["ref"], frame, store=trained_wine["store"], plots=False)
    assert "Dropped 3 rows whose target 'target' is missing." in result.warnings
    assert result.metrics["rows"] == {"evaluated": 27}


def test_evaluate_command_prints_a_table_and_records_the_evaluation(
    trained_wine: dict, tmp_path: Path
) -> None:  # type: ignore[type-arg]
    from typer.testing import CliRunner

    from mlpact.cli import app

    csv = tmp_path / "new.csv"
    _labelled(40, seed=9).to_csv(csv, index=False)
    args = ["evaluate", trained_wine["ref"], str(csv), "--store", str(trained_wine["store"]), "--no-plots"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "this data" in result.output and "test split at training" in result.output
    assert "Recorded evaluation" in result.output
    as_json = CliRunner().invoke(app, [*args, "--json"])
    assert json.loads(as_json.stdout)["metrics"]["rows"] == {"evaluated": 40}
    missing = CliRunner().invoke(app, [*args[:2], str(tmp_path / "nope.csv"), *args[3:]])
    assert missing.exit_code == 4 and "does not exist" in missing.output


# --------------------------------------------------------------------------- labels of another type
def _wine_labels(labels: Any) -> pd.DataFrame:
    frame = _labelled(40, seed=3)
    frame["target"] = labels(frame) if callable(labels) else labels
    return frame


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (lambda f: f["target"].astype(float).where(f.index != 3, 1.5),
         r"The target 'target' must hold whole numbers for wine:\d+ \(classification\); 1 label\(s\) cannot be "
         r"read as one \(rows 4\)\."),
        (lambda f: f["target"].map({0: "zero", 1: "one", 2: "two"}),
         r"must hold whole numbers .*; 40 label\(s\) cannot be read as one \(rows 1, 2, 3, 4, 5, \.\.\.\)\."),
        ([7] * 40, r"None of the 40 labels in 'target' is a class wine:\d+ knows \(\['0', '1', '2'\]\): every "
         r"prediction would count as wrong\."),
        ([[1]] * 40, r"Columns hold values no model can use:\n  - 'target': 40 lists \(rows 1, 2, 3, 4, 5, \.\.\.\)"),
        ([b"1"] * 40, r"'target': 40 bytes values"),
        (lambda f: f["target"].astype(float).where(f.index != 0, np.inf), r"'target': 1 infinite number \(row 1\)"),
    ],
)  # fmt: skip
def test_evaluate_refuses_labels_the_version_cannot_score(
    trained_wine: dict[str, Any], labels: Any, message: str
) -> None:
    from mlpact.errors import DataError
    from mlpact.evaluate import evaluate_version

    with pytest.raises(DataError, match=message):
        evaluate_version(trained_wine["ref"], _wine_labels(labels), store=trained_wine["store"], plots=False)


@pytest.mark.parametrize(
    "labels",
    [
        lambda f: f["target"].astype(float),  # whole numbers read as floats (a CSV with a gap)
        lambda f: f["target"].astype(str),  # whole numbers read as text
        lambda f: f["target"].astype(object),
    ],
)
def test_evaluate_reads_labels_in_the_type_of_the_versions_classes(
    trained_wine: dict[str, Any], labels: Any
) -> None:
    from mlpact.evaluate import evaluate_version

    store = trained_wine["store"]
    expected = evaluate_version(trained_wine["ref"], _labelled(40, seed=3), store=store, plots=False)
    found = evaluate_version(trained_wine["ref"], _wine_labels(labels), store=store, plots=False)
    assert found.metrics["test"] == expected.metrics["test"]


def test_evaluate_and_check_read_boolean_classes_from_text(tmp_path: Path) -> None:
    import mlpact
    from mlpact.check import check_data
    from mlpact.evaluate import evaluate_version

    frame = mixed_frame(200).drop(columns="label")
    frame.to_csv(tmp_path / "train.csv", index=False)
    config = {**wine_config(), "data": {"source": str(tmp_path / "train.csv"), "target": "flag"}}
    config["evaluate"] = {"cv_folds": 0, "plots": False, "leakage": False}
    trained = mlpact.train(config, store=tmp_path / "store")
    assert trained.schema.target is not None and trained.schema.target.classes == (False, True)
    new = mixed_frame(60, seed=4).drop(columns="label")
    expected = evaluate_version(trained.ref, new, store=tmp_path / "store", target="flag", plots=False)
    as_text = new.assign(flag=new["flag"].map({True: "yes", False: "no"}))
    found = evaluate_version(trained.ref, as_text, store=tmp_path / "store", target="flag", plots=False)
    assert found.metrics["test"] == expected.metrics["test"]
    checked = check_data(trained.ref, as_text, store=tmp_path / "store", target="flag")
    assert checked.performance is not None and checked.performance.rows == 60
