"""Plots: which PNG files each task gets, and that they are real images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlpact._core.metrics import Predictions
from mlpact._core.plots import write_plots
from mlpact.learn.scoring import predictions

PNG = b"\x89PNG\r\n\x1a\n"


def _classifier(binary: bool) -> Predictions:
    from sklearn.datasets import load_breast_cancer, load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = (load_breast_cancer if binary else load_wine)(return_X_y=True, as_frame=True)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X.iloc[::2], y.iloc[::2])
    return predictions(model, X.iloc[1::2], y.iloc[1::2])


def _regressor() -> Predictions:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return predictions(Ridge().fit(X.iloc[::2], y.iloc[::2]), X.iloc[1::2], y.iloc[1::2])


CLASSIFICATION = ["confusion_matrix.png", "roc_curve.png", "precision_recall.png", "calibration.png"]


@pytest.mark.parametrize(
    "make, task, expected",
    [
        (lambda: _classifier(binary=True), "classification", CLASSIFICATION),
        (lambda: _classifier(binary=False), "classification", CLASSIFICATION),
        (_regressor, "regression", ["predicted_vs_actual.png", "residuals.png"]),
    ],
)
def test_each_task_gets_its_plots_as_png_files(tmp_path: Path, make, task: str, expected: list[str]) -> None:  # type: ignore[no-untyped-def]
    importance = {"a": {"mean": 0.2, "std": 0.01}, "b": {"mean": 0.0, "std": 0.0}}
    names = write_plots(make(), tmp_path / "reports", task=task, importance=importance, metric="accuracy")
    assert names == [*expected, "permutation_importance.png"]
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == sorted(names)
    for name in names:
        data = (tmp_path / "reports" / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000


def test_a_classifier_without_probabilities_gets_only_the_confusion_matrix(tmp_path: Path) -> None:
    found = Predictions(y=np.array([0, 1, 1, 0]), pred=np.array([0, 1, 0, 0]), classes=[0, 1])
    assert write_plots(found, tmp_path, task="classification") == ["confusion_matrix.png"]


def test_plots_are_byte_identical_for_the_same_data(tmp_path: Path) -> None:
    found = _regressor()
    write_plots(found, tmp_path / "a", task="regression")
    write_plots(found, tmp_path / "b", task="regression")
    assert (tmp_path / "a" / "residuals.png").read_bytes() == (tmp_path / "b" / "residuals.png").read_bytes()
