"""Decisions: a threshold or cost matrix chosen on out-of-fold training predictions, saved with the
version and applied by every prediction path (predict, batch predict, serve, evaluate)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mlpact
from conftest import write_config
from mlpact.config import DecisionConfig
from mlpact.errors import ConfigError
from mlpact.learn.decision import Decision, choose

FAST = {"cv_folds": 0, "importance_repeats": 0, "leakage": False, "baseline": False}


def _config(name: str, source: str, **decision: Any) -> dict[str, Any]:
    return {
        "name": name,
        "data": {"source": f"sklearn:{source}", "target": "target"},
        "model": {"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 3000}},
        "evaluate": {**FAST, "plots": True},
        "decision": decision,
        "record": {"profile": False},
    }


@pytest.fixture(scope="module")
def cancer(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("decision")
    store = folder / "store"
    result = mlpact.train(
        write_config(folder, _config("bc", "breast_cancer", objective="recall>=1.0")), store=store
    )
    from sklearn.datasets import load_breast_cancer

    return {"store": store, "result": result, "frame": load_breast_cancer(as_frame=True).frame}


def test_threshold_is_saved_listed_and_applied_by_predict(cancer: dict[str, Any]) -> None:
    model = mlpact.load(cancer["result"].ref, store=cancer["store"])
    assert "decision.json" in model.manifest["files"]
    d = model.decision
    assert d is not None and d.rule == "threshold" and d.positive == 1
    assert 0 < d.threshold < 0.5  # recall 1.0 on class 1 needs a threshold below argmax's 0.5
    rows = cancer["frame"].drop(columns="target")
    proba = model.predict_proba(rows)
    assert np.allclose(proba.sum(axis=1), 1)  # probabilities are unchanged by the decision
    expected = np.where(proba[1].to_numpy() >= d.threshold, 1, 0)
    assert (model.predict(rows) == expected).all()
    assert (model.predict_frame(rows)["prediction"].to_numpy() == expected).all()
    argmax = proba.to_numpy().argmax(axis=1)
    assert (expected != argmax).sum() > 0  # the decision changes some labels on this data


def test_validation_recall_meets_the_target_and_test_reports_both(cancer: dict[str, Any]) -> None:
    metrics = cancer["result"].metrics
    validation = metrics["decision"]["validation"]
    assert validation["rows"] == metrics["rows"]["train"]  # out-of-fold on the training split only
    assert validation["objective_value"] > 0.5  # the best precision at recall 1.0
    assert validation["decided"]["accuracy"] > 0.8
    assert set(metrics["test_argmax"]) == set(metrics["test"])
    assert metrics["test_scored"] == 1
    card = (cancer["result"].path / "card.md").read_text()
    assert "## Decision" in card and "decision_threshold.png" in card
    assert (cancer["result"].path / "reports" / "decision_threshold.png").is_file()
    assert "<h2>Decision</h2>" in (cancer["result"].path / "report.html").read_text()
    assert "| precision (recall>=1.0) |" in card


def test_models_show_names_the_decision(cancer: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    out = CliRunner().invoke(app, ["models", "show", cancer["result"].ref, "--store", str(cancer["store"])])
    assert out.exit_code == 0 and "decision predict 1 when P(1) >=" in " ".join(out.output.split())


def test_batch_predict_and_serving_apply_the_decision(cancer: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from mlpact.serve import score

    model = mlpact.load(cancer["result"].ref, store=cancer["store"])
    rows = cancer["frame"].drop(columns="target")
    src = tmp_path / "in.csv"
    rows.to_csv(src, index=False)
    mlpact.predict_file(model, src, tmp_path / "out.csv")
    batch = pd.read_csv(tmp_path / "out.csv")
    assert (batch["prediction"].to_numpy() == model.predict(rows)).all()
    served = score(model, model.prepare(rows.head(50)))
    assert served["predictions"] == model.predict(rows.head(50)).tolist()


@pytest.mark.parametrize(
    "objective, check",
    [
        ("f1", lambda v: v["decided"]["f1_macro"] >= v["argmax"]["f1_macro"] - 0.02),
        ("precision>=0.98", lambda v: v["objective_value"] > 0),
        (
            "balanced_accuracy",
            lambda v: v["decided"]["balanced_accuracy"] >= v["argmax"]["balanced_accuracy"],
        ),
    ],
)
def test_binary_objectives_on_out_of_fold_probabilities(objective: str, check: Any) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    p1 = np.clip(0.35 * y + rng.uniform(0, 0.65, 400), 0, 1)  # positives score higher, below 0.5 often
    proba = np.c_[1 - p1, p1]
    d = choose(
        y, proba, [0, 1], DecisionConfig(objective=objective), metrics=["f1_macro", "balanced_accuracy"]
    )
    assert d.rule == "threshold" and 0 <= d.threshold <= 1
    assert check(d.validation)


def test_binary_cost_threshold_lowers_the_total_cost() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    p1 = np.clip(0.3 * y + rng.uniform(0, 0.7, 500), 0, 1)
    cfg = DecisionConfig(objective="cost", costs=[[0, 1], [10, 0]])  # a missed positive costs 10
    d = choose(y, np.c_[1 - p1, p1], [0, 1], cfg, metrics=["accuracy"])
    assert d.threshold < 0.5
    assert d.validation["cost_decided"] < d.validation["cost_argmax"]


def test_multiclass_cost_matrix_on_wine(tmp_path: Path) -> None:
    costs = [[0, 1, 1], [1, 0, 1], [20, 20, 0]]  # calling a class-2 wine anything else is expensive
    config = write_config(tmp_path, _config("wine", "wine", objective="cost", costs=costs))
    result = mlpact.train(config, store=tmp_path / "store")
    model = mlpact.load(result.ref, store=tmp_path / "store")
    assert model.decision is not None and model.decision.rule == "cost"
    from sklearn.datasets import load_wine

    rows = load_wine(as_frame=True).frame.drop(columns="target")
    proba = model.predict_proba(rows).to_numpy()
    assert (model.predict(rows) == (proba @ np.asarray(costs, float)).argmin(axis=1)).all()
    decided = model.predict(rows)
    assert (decided == 2).sum() >= (proba.argmax(axis=1) == 2).sum()  # the costly class is called more
    v = result.metrics["decision"]["validation"]
    assert v["rows"] == result.metrics["rows"]["train"] and v["cost_decided"] >= 0 and v["cost_argmax"] >= 0


def test_calibration_wraps_the_pipeline(tmp_path: Path) -> None:
    config = write_config(tmp_path, _config("bc", "breast_cancer", objective="f1", calibration="sigmoid"))
    result = mlpact.train(config, store=tmp_path / "store")
    model = mlpact.load(result.ref, store=tmp_path / "store")
    assert type(model.pipeline).__name__ == "CalibratedClassifierCV"
    assert "calibrated (sigmoid)" in result.metrics["decision"]["description"]


@pytest.mark.parametrize(
    "decision, message",
    [
        ({"objective": "f2"}, "unknown objective 'f2'"),
        ({"objective": "cost"}, "objective cost needs costs"),
        ({"objective": "f1", "costs": [[0, 1], [1, 0]]}, "costs is only used with objective: cost"),
        ({"objective": "precision>=1.5"}, "unknown objective"),
        ({"objective": "f1\n"}, r"unknown objective 'f1\\n'"),  # `$` would match before the newline
    ],
)
def test_bad_decision_configs_are_refused(decision: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DecisionConfig(**decision)


def test_threshold_objective_on_multiclass_says_to_use_costs() -> None:
    proba = np.full((6, 3), 1 / 3)
    with pytest.raises(ConfigError, match="needs two classes; this target has 3"):
        choose([0, 1, 2, 0, 1, 2], proba, [0, 1, 2], DecisionConfig(objective="f1"))
    with pytest.raises(ConfigError, match="expected a 3x3 matrix"):
        choose([0, 1, 2, 0, 1, 2], proba, [0, 1, 2], DecisionConfig(objective="cost", costs=[[0, 1], [1, 0]]))


def test_decision_on_regression_is_a_config_error(tmp_path: Path) -> None:
    cfg = _config("diab", "diabetes", objective="f1")
    cfg["model"] = {"type": "sklearn.linear_model.Ridge"}
    with pytest.raises(ConfigError, match="this target is a regression"):
        mlpact.train(write_config(tmp_path, cfg), store=tmp_path / "store")


def test_decision_is_part_of_the_config_hash_and_record_is_not() -> None:
    from mlpact.config import load_config

    base = _config("bc", "breast_cancer")
    plain = load_config(base)
    assert load_config({**base, "decision": {"objective": "f1"}}).hash() != plain.hash()
    assert load_config({**base, "record": {"golden_rows": 0}}).hash() == plain.hash()


def test_decision_round_trips_as_json() -> None:
    d = Decision("threshold", "f1", [0, 1], positive=1, threshold=0.3)
    again = Decision.from_dict(d.to_dict())
    assert again == d
    assert (again.apply(np.array([[0.8, 0.2], [0.6, 0.4]]), np.array([0, 1])) == [0, 1]).all()


def test_the_drift_reference_summarises_decided_predictions(cancer: dict[str, Any]) -> None:
    reference = json.loads((cancer["result"].path / "reference.json").read_text())
    model = mlpact.load(cancer["result"].ref, store=cancer["store"])
    from mlpact.learn.prepare import prepare

    data = prepare(model.config)
    X, _ = data.train()
    decided = pd.Series(model.decide(model.pipeline.predict_proba(X))).value_counts()
    argmax = pd.Series(model.pipeline.predict(X)).value_counts()
    counts = reference["prediction"]["counts"]
    assert counts == {str(k): int(v) for k, v in sorted(decided.items())}
    assert counts != {str(k): int(v) for k, v in sorted(argmax.items())}  # the decision moved some
