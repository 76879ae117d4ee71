"""The notebook API: registry DataFrames, HTML views of a model and of a run comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlpact


def test_models_and_runs_frames(trained_wine: dict[str, Any]) -> None:
    models = mlpact.models(store=trained_wine["store"])
    assert list(models["ref"]) == ["wine:1"]
    assert models.loc[0, "metric"] == "accuracy" and 0.9 < models.loc[0, "value"] <= 1.0
    runs = mlpact.runs(store=trained_wine["store"])
    runs = runs[runs["kind"] == "train"]  # other tests of the session may check this version (kind check)
    assert list(runs["status"]) == ["succeeded"]
    assert "metric.accuracy" in runs.columns and "param.model.type" in runs.columns


def test_empty_store_frames_have_columns(tmp_path: Path) -> None:
    assert list(mlpact.models(store=tmp_path).columns)[:3] == ["model", "version", "ref"]
    assert mlpact.runs(store=tmp_path).empty


def test_model_html_repr_and_inline_report(trained_wine: dict[str, Any]) -> None:
    model = mlpact.load(trained_wine["ref"], store=trained_wine["store"])
    card = model._repr_html_()
    assert "mlpact model wine:1" in card and "test accuracy" in card and "alcohol" in card
    inline = model.report()._repr_html_()
    assert inline.startswith("<iframe srcdoc=") and "&lt;html" in inline


def test_run_comparison_renders(tmp_path: Path) -> None:
    from conftest import wine_config

    for seed in (1, 2):
        mlpact.train(wine_config(evaluate={"cv_folds": 0, "plots": False}), [f"seed={seed}"], store=tmp_path)
    ids = list(mlpact.runs(store=tmp_path)["id"])
    comparison = mlpact.compare(ids, store=tmp_path)
    frame = comparison.to_frame()
    assert frame.loc["param.seed"].tolist() == [2, 1]
    assert "Runs compared" in comparison._repr_html_()
