"""Leakage guards: each one fires on data built to trigger it and stays quiet on clean data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlpact
from conftest import mixed_frame, wine_config, write_config
from mlpact.leakage import (
    check_split,
    duplicate_rows,
    id_like_columns,
    older_test_rows,
    shared_groups,
    single_column_leaks,
)


@pytest.fixture(scope="module")
def wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).frame


def _halves(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    shuffled = frame.sample(frac=1.0, random_state=0)
    cut = int(len(shuffled) * 0.8)
    return shuffled.iloc[:cut], shuffled.iloc[cut:]


FEATURES = ["alcohol", "malic_acid", "ash", "magnesium", "flavanoids", "proline"]


def test_duplicate_rows_counts_test_rows_seen_in_training(wine: pd.DataFrame) -> None:
    train, test = _halves(wine)
    leaky_test = pd.concat([test, train.iloc[:7]])
    found = duplicate_rows(train, leaky_test, columns=FEATURES)
    assert found is not None and found.check == "duplicate_rows"
    assert found.message.startswith(f"7 of {len(leaky_test)} test rows")


def test_duplicate_rows_is_quiet_on_a_clean_split(wine: pd.DataFrame) -> None:
    assert duplicate_rows(*_halves(wine), columns=FEATURES) is None


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_single_column_that_knows_the_target_is_found(task: str) -> None:
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 3, n) if task == "classification" else rng.normal(size=n)
    X = pd.DataFrame(
        {"noise": rng.normal(size=n), "other": rng.normal(size=n), "leak": y * 10 + rng.normal(0, 0.01, n)}
    )
    found = single_column_leaks(X, pd.Series(y), task=task, columns=list(X.columns))
    assert found is not None and found.columns == ("leak",)
    assert "'leak' (" in found.message and "data.drop" in found.message


def test_a_category_copy_of_the_target_is_found() -> None:
    rng = np.random.default_rng(1)
    y = pd.Series(rng.choice(["yes", "no"], 200))
    X = pd.DataFrame({"status": y.map({"yes": "closed", "no": "open"}), "x": rng.normal(size=200)})
    found = single_column_leaks(X, y, task="classification", columns=["status", "x"])
    assert found is not None and found.columns == ("status",)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_single_column_guard_is_quiet_on_clean_data(task: str) -> None:
    from sklearn.datasets import load_diabetes, load_wine

    X, y = (load_wine if task == "classification" else load_diabetes)(return_X_y=True, as_frame=True)
    assert single_column_leaks(X, y, task=task, columns=list(X.columns)) is None


def test_id_like_columns_are_found_by_name_and_by_shape(wine: pd.DataFrame) -> None:
    frame = wine.copy()
    rng = np.random.default_rng(0)
    frame["customer_id"] = rng.permutation(len(frame)) * 7 + 1000  # named like an id
    frame["n"] = rng.permutation(len(frame))  # unique consecutive integers
    found = id_like_columns(frame, columns=[*FEATURES, "customer_id", "n"])
    assert found is not None and found.columns == ("customer_id", "n")


def test_id_guard_is_quiet_on_real_features(wine: pd.DataFrame) -> None:
    assert id_like_columns(wine, columns=list(wine.columns)) is None


def test_groups_in_both_splits_are_found() -> None:
    found = shared_groups(pd.Series(["a", "b", "c"], name="patient"), pd.Series(["c", "d", "c"]))
    assert found is not None and found.columns == ("patient",)
    assert found.message.startswith("1 groups appear in both splits (e.g. c), covering 2 of 3 test rows")


def test_disjoint_groups_are_quiet() -> None:
    assert shared_groups(pd.Series(["a", "b"]), pd.Series(["c", "d"])) is None


def test_test_rows_older_than_training_rows_are_found() -> None:
    train = pd.Series(pd.to_datetime(["2024-01-01", "2024-03-01"]), name="day")
    found = older_test_rows(train, pd.Series(["2024-02-01", "2024-04-01"]))
    assert found is not None and found.message.startswith(
        "1 of 2 test rows are older than the latest training row"
    )


def test_test_rows_after_training_rows_are_quiet() -> None:
    train = pd.Series(["2024-01-01", "2024-03-01"])
    assert older_test_rows(train, pd.Series(["2024-03-01", "2024-04-01"])) is None


def test_check_split_runs_every_guard_that_applies(wine: pd.DataFrame) -> None:
    frame = wine.assign(leak=wine["target"] * 3.0, site=np.arange(len(wine)) % 9, day=np.arange(len(wine)))
    train, test = _halves(frame)
    found = check_split(
        train,
        test,
        target="target",
        task="classification",
        features=[*FEATURES, "leak"],
        group_column="site",
        time_column="day",
    )
    assert [f.check for f in found] == ["single_column", "shared_groups", "time_order"]
    clean = check_split(*_halves(wine), target="target", task="classification", features=FEATURES)
    assert clean == []


def _described(rows: int = 240, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """A free-text description that names the label in the middle of ordinary words, and one that does not."""
    rng = np.random.default_rng(seed)
    y = pd.Series(rng.choice(["spam", "ham", "eggs"], rows))
    words = np.array(["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa"])
    told = [" ".join(rng.choice(words, 5)) + f" filed under {v} on receipt" for v in y]
    noise = [" ".join(rng.choice(words, 9)) for _ in y]
    return pd.DataFrame({"description": told, "remarks": noise}), y


def test_a_text_column_that_contains_the_label_is_found() -> None:
    X, y = _described()
    found = single_column_leaks(
        X, y, task="classification", columns=["description", "remarks"], text=["description", "remarks"]
    )
    assert found is not None and found.columns == ("description",)
    assert "'description' (balanced accuracy 1.000)" in found.message
    # without the text model the column is skipped, as it was before
    assert single_column_leaks(X, y, task="classification", columns=["description"]) is None


def test_training_warns_about_a_leaky_text_column(tmp_path: Path) -> None:
    X, y = _described()
    X.assign(label=y, size=np.arange(len(y)) % 7).to_csv(tmp_path / "t.csv", index=False)
    cfg = {
        "name": "told",
        "data": {"source": "t.csv", "target": "label"},
        "features": {"text": {"columns": ["description", "remarks"]}},
        "model": {"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 1000}},
        "evaluate": {"cv_folds": 0, "plots": False, "baseline": False},
    }
    result = mlpact.train(write_config(tmp_path, cfg), store=tmp_path / "s")
    (leak,) = [f for f in result.metrics["leakage"] if f["check"] == "single_column"]
    assert leak["columns"] == ["description"]


def test_training_warns_about_a_leaky_column_in_output_metrics_and_report(tmp_path: Path) -> None:
    frame = mixed_frame(200)
    frame["refund_issued"] = (frame["label"] == "yes").astype(int) * 5 + 1
    frame.to_csv(tmp_path / "d.csv", index=False)
    cfg = {
        "name": "leaky",
        "data": {"source": "d.csv", "target": "label", "drop": ["id", "note"]},
        "model": {"type": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 3}},
        "evaluate": {"cv_folds": 3, "plots": False},
    }
    result = mlpact.train(write_config(tmp_path, cfg), store=tmp_path / "s")
    assert any(
        w.startswith("Possible leakage (single_column): Alone, 'refund_issued'") for w in result.warnings
    )
    assert [f["check"] for f in result.metrics["leakage"]] == ["single_column"]
    assert "Possible leakage (single_column)" in (result.path / "report.html").read_text()


def test_time_split_with_a_group_column_warns_about_shared_groups(tmp_path: Path) -> None:
    frame = mixed_frame(200)
    frame["customer"] = np.arange(200) % 20
    frame.to_csv(tmp_path / "d.csv", index=False)
    cfg = {
        "name": "g",
        "data": {
            "source": "d.csv",
            "target": "label",
            "drop": ["id", "note"],
            "split": {"group_column": "customer", "time_column": "day"},
        },
        "model": {"type": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 3}},
        "evaluate": {"cv_folds": 0, "plots": False},
    }
    result = mlpact.train(write_config(tmp_path, cfg), store=tmp_path / "s")
    assert [f["check"] for f in result.metrics["leakage"]] == ["shared_groups"]


def test_inference_never_uses_an_id_like_column_without_saying_so(tmp_path: Path) -> None:
    frame = mixed_frame(100).assign(n=range(100))
    frame.to_csv(tmp_path / "d.csv", index=False)
    cfg = wine_config(
        name="ids", data={"source": "d.csv", "target": "label"}, evaluate={"cv_folds": 0, "plots": False}
    )
    result = mlpact.train(write_config(tmp_path, cfg), store=tmp_path / "s")
    assert "n" not in result.schema.names
    said = [w for w in result.warnings if w.startswith("Column 'n' is not used")]
    assert said and "looks like a row id (unique integers in row order" in said[0]
    assert any(
        "Column 'day' (a date) is used as a feature" in w and "time_column: day" in w for w in result.warnings
    )


def test_clean_training_has_no_leakage_warning(trained_wine: dict[str, object]) -> None:
    result = trained_wine["result"]
    assert not [w for w in result.warnings if "leakage" in w]  # type: ignore[attr-defined]
    assert "leakage" not in result.metrics  # type: ignore[attr-defined]


@pytest.mark.parametrize("enabled, checks", [(True, ["id_like"]), (False, [])])
def test_leakage_checks_can_be_turned_off(tmp_path: Path, enabled: bool, checks: list[str]) -> None:
    frame = mixed_frame(100).assign(n=range(100))
    frame.to_csv(tmp_path / "d.csv", index=False)
    cfg = wine_config(
        name="off",
        data={"source": "d.csv", "target": "label", "drop": ["id"]},
        features={"numeric": {"columns": ["x", "count", "n"]}},  # listed: the id-like n is used
        evaluate={"cv_folds": 0, "plots": False, "leakage": enabled},
    )
    result = mlpact.train(write_config(tmp_path, cfg), store=tmp_path / "s")
    assert [f["check"] for f in result.metrics.get("leakage", [])] == checks
    assert len([w for w in result.warnings if w.startswith("Possible leakage")]) == len(checks)
