"""Nonsense refused before work starts: each refusal's message, hint, exit code, and how early."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mlpact
from conftest import write_config
from mlpact.cli import app
from mlpact.errors import ConfigError, DataError

runner = CliRunner()
FAST = {"plots": False, "leakage": False, "baseline": False, "importance_repeats": 0}


def _frames(folder: Path) -> None:
    from sklearn.datasets import load_diabetes, load_iris

    load_diabetes(as_frame=True).frame.to_csv(folder / "diabetes.csv", index=False)
    iris = load_iris(as_frame=True).frame
    iris["name"] = np.array(["setosa", "versicolor", "virginica"])[iris.pop("target")]
    iris.to_csv(folder / "iris.csv", index=False)
    iris.assign(name="setosa").to_csv(folder / "one.csv", index=False)
    binary = iris[iris["name"] != "virginica"]
    binary.to_csv(folder / "binary.csv", index=False)
    iris.assign(group="g1").to_csv(folder / "grouped.csv", index=False)
    pd.DataFrame({"x": [1.0, 2, 3, 4], "t": [1, 2, 3, 4], "name": ["a", "b", "a", "b"]}).to_csv(
        folder / "tiny.csv", index=False
    )


CASES: list[tuple[str, dict[str, Any], type, int, str, str]] = [
    (
        "classifier on a continuous target",
        {"data": {"source": "diabetes.csv", "target": "target"},
         "model": {"type": "sklearn.linear_model.LogisticRegression"}},
        ConfigError, 3,
        r"model.type: sklearn.linear_model.LogisticRegression is a classifier, but the target 'target' is "
        r"continuous \(\d+ distinct values such as .*\): expected a regressor",
        "Use a regressor (e.g. sklearn.linear_model.Ridge), or set data.task: classification",
    ),
    (
        "regressor on string labels",
        {"data": {"source": "iris.csv", "target": "name"}, "model": {"type": "sklearn.linear_model.Ridge"}},
        ConfigError, 3,
        r"model.type: sklearn.linear_model.Ridge is a regressor, but the target 'name' holds 3 class labels "
        r"\('setosa', 'versicolor', 'virginica'\): expected a classifier",
        "Use a classifier (e.g. sklearn.linear_model.LogisticRegression).",
    ),
    (
        "classifier with a declared regression",
        {"data": {"source": "nowhere.csv", "target": "y", "task": "regression"},
         "model": {"type": "sklearn.ensemble.RandomForestClassifier"}},
        ConfigError, 3,
        r"model.type: sklearn.ensemble.RandomForestClassifier is a classifier, but data.task is regression: "
        r"expected a regressor \(e.g. sklearn.linear_model.Ridge\)",
        "Use a regressor, or set data.task: classification if that is what the target is.",
    ),
    (
        "a regression primary on a classifier",
        {"data": {"source": "nowhere.csv", "target": "name"},
         "model": {"type": "sklearn.linear_model.LogisticRegression"}, "evaluate": {"primary": "rmse"}},
        ConfigError, 3,
        r"evaluate.primary: 'rmse' is a regression metric, but sklearn.linear_model.LogisticRegression is a "
        r"classifier: expected one of accuracy, balanced_accuracy",
        "Name metrics of the task",
    ),
    (
        "classification metrics on an inferred regression",
        {"data": {"source": "diabetes.csv", "target": "target"},
         "model": {"type": "sklearn.neighbors.KNeighborsRegressor"}, "evaluate": {"metrics": ["rmse", "f1_macro"]}},
        ConfigError, 3,
        r"evaluate.metrics: 'f1_macro' is a classification metric, but sklearn.neighbors.KNeighborsRegressor "
        r"is a regressor: expected one of rmse, mae, r2, mape",
        "Name metrics of the task",
    ),
    (
        "a positive-class metric on three classes",
        {"data": {"source": "iris.csv", "target": "name"},
         "model": {"type": "sklearn.linear_model.LogisticRegression"}, "evaluate": {"primary": "f1"}},
        ConfigError, 3,
        r"evaluate.primary: 'f1' is about the positive class of a binary target, but the target has 3 classes",
        "Name metrics of the task",
    ),
    (
        "a target with one class",
        {"data": {"source": "one.csv", "target": "name"}, "model": {"type": "sklearn.linear_model.LogisticRegression"}},
        DataError, 4,
        r"The target 'name' has 1 class \('setosa'\) in 150 rows: a classifier needs at least two classes\.",
        "Check data.target, or that filtering the data left more than one class.",
    ),
    (
        "fewer rows per class than folds",
        {"data": {"source": "iris.csv", "target": "name"},
         "model": {"type": "sklearn.linear_model.LogisticRegression"}, "evaluate": {"cv_folds": 50}},
        ConfigError, 3,
        r"evaluate.cv_folds: 50 stratified folds need at least 50 training rows of every class; found fewer "
        r"for 'setosa' \(40\), 'versicolor' \(40\), 'virginica' \(40\)",
        "Set evaluate.cv_folds to 40 or fewer (0: no cross-validation), or use more rows.",
    ),
    (
        "one group to split by",
        {"data": {"source": "grouped.csv", "target": "name", "split": {"group_column": "group"}},
         "model": {"type": "sklearn.linear_model.LogisticRegression"}},
        DataError, 4,
        r"Expected at least 2 values of data.split.group_column 'group' to split by; found 1 \('g1'\), so one "
        r"split would be empty\.",
        "Name a column that groups rows",
    ),
    (
        "an empty training split",
        {"data": {"source": "tiny.csv", "target": "name", "split": {"time_column": "t", "test_size": 0.9}},
         "model": {"type": "sklearn.linear_model.LogisticRegression"}, "evaluate": {"cv_folds": 0}},
        DataError, 4,
        r"Expected rows in both splits; found 0 training and 4 test rows \(4 rows split by time \('t'\) with "
        r"test_size 0.9\)\.",
        "Use more rows, or change data.split.test_size.",
    ),
    (
        "a decision without probabilities",
        {"data": {"source": "nowhere.csv", "target": "name"}, "model": {"type": "sklearn.svm.LinearSVC"},
         "decision": {"objective": "f1"}},
        ConfigError, 3,
        r"decision.objective: f1 chooses on class probabilities, but LinearSVC gives none \(no predict_proba\)",
        "Set decision.calibration: sigmoid",
    ),
    (
        "a probability metric without probabilities",
        {"data": {"source": "nowhere.csv", "target": "name"}, "model": {"type": "sklearn.svm.LinearSVC"},
         "evaluate": {"primary": "roc_auc_ovr"}},
        ConfigError, 3,
        r"evaluate: roc_auc_ovr need class probabilities, but LinearSVC gives none",
        "use an estimator with predict_proba",
    ),
    (
        "an unknown estimator parameter",
        {"data": {"source": "nowhere.csv", "target": "name"},
         "model": {"type": "sklearn.linear_model.LogisticRegression", "params": {"C_": 1}}},
        ConfigError, 3,
        r"model.params.C_: not a parameter of LogisticRegression; did you mean `model.params.C`\?",
        "",
    ),
    (
        "a decision.positive that is not a class",
        {"data": {"source": "binary.csv", "target": "name"},
         "model": {"type": "sklearn.linear_model.LogisticRegression"}, "decision": {"positive": "virginica"}},
        ConfigError, 3,
        r"decision.positive: 'virginica' is not a class of 'name'; expected one of \['setosa', 'versicolor'\]",
        "Name one of the target's two classes.",
    ),
    (
        "a cross-entropy loss on a declared regression",
        {"data": {"source": "nowhere.csv", "target": "y", "task": "regression"},
         "model": {"type": "mlpact.torch.models:MLP"}, "train": {"loss": "cross_entropy"}},
        ConfigError, 3,
        r"train.loss: cross_entropy is a classification loss, but data.task is regression: expected mse or l1",
        "Set train.loss: auto (or mse or l1).",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case, config, error, code, message, hint", CASES, ids=[c[0] for c in CASES])
def test_refusals(
    tmp_path: Path, case: str, config: dict[str, Any], error: type, code: int, message: str, hint: str
) -> None:
    _frames(tmp_path)
    path = write_config(
        tmp_path, {"name": "refused", **config, "evaluate": {**FAST, **config.get("evaluate", {})}}
    )
    with pytest.raises(error, match=message) as caught:
        mlpact.train(path, store=tmp_path / "store")
    assert hint in (caught.value.hint or "")
    result = runner.invoke(app, ["train", str(path), "--store", str(tmp_path / "store")])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and (not hint or "Hint:" in result.output)
    assert not any((tmp_path / "store" / "models").glob("*/*"))  # nothing saved


@pytest.mark.parametrize("case", [c for c in CASES if "nowhere.csv" in str(c[1])], ids=lambda c: c[0])
def test_config_refusals_come_before_the_data_is_read(tmp_path: Path, case: Any) -> None:
    """nowhere.csv does not exist: the refusal is raised before anything tries to read it."""
    _, config, error, _, message, _ = case
    path = write_config(tmp_path, {"name": "refused", **config})
    with pytest.raises(error, match=message):
        mlpact.train(path, store=tmp_path / "store")


def test_a_classifier_on_integer_labels_still_trains(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(size=60), "y": np.arange(60) % 2})
    frame.to_csv(tmp_path / "ok.csv", index=False)
    path = write_config(
        tmp_path,
        {"name": "ok", "data": {"source": "ok.csv", "target": "y"},
         "model": {"type": "sklearn.linear_model.LogisticRegression"}, "evaluate": {**FAST, "cv_folds": 3}},
    )  # fmt: skip
    result = mlpact.train(path, store=tmp_path / "store")
    assert result.metrics["positive_class"] == 1 and "f1" in result.metrics["test"]
