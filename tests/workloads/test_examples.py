"""Every example config trains as shipped (with fewer folds to stay quick)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import mlpact

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("config", sorted(EXAMPLES.glob("*/config.yaml")), ids=lambda p: p.parent.name)
def test_example_trains_and_predicts(config: Path, tmp_path: Path) -> None:
    result = mlpact.train(config, ["evaluate.cv_folds=2"], store=tmp_path)
    primary = result.metrics["primary"]
    assert result.metrics["test"][primary] == result.metrics["test"][primary]  # not NaN
    model = mlpact.load(result.ref, store=tmp_path)
    assert model.name == config.parent.name


def test_churn_example_uses_every_kind_of_column(tmp_path: Path) -> None:
    result = mlpact.train(EXAMPLES / "churn" / "config.yaml", ["evaluate.cv_folds=0"], store=tmp_path)
    plan = mlpact.load(result.ref, store=tmp_path).lineage["features"]
    assert plan["text"] == ["support_notes"]
    assert plan["datetime"] == ["signup_date"]
    assert set(plan["categorical"]) == {"plan", "region"}
    assert "customer_id" not in result.schema.names
    assert result.metrics["test"]["roc_auc_ovr"] > 0.8


def test_churn_data_generator_is_deterministic(tmp_path: Path) -> None:
    out = tmp_path / "c.csv"
    subprocess.run(
        [sys.executable, str(EXAMPLES / "churn" / "make_data.py"), "-o", str(out)],
        check=True,
        capture_output=True,
    )
    assert out.read_bytes() == (EXAMPLES / "churn" / "customers.csv").read_bytes()
    frame = pd.read_csv(out)
    assert frame.isna().any().sum() >= 3


def test_wine_demo_input_matches_the_wine_schema(tmp_path: Path) -> None:
    result = mlpact.train(EXAMPLES / "wine" / "config.yaml", ["evaluate.cv_folds=0"], store=tmp_path)
    model = mlpact.load(result.ref, store=tmp_path)
    report = model.validate(pd.read_csv(EXAMPLES / "wine" / "new_wines.csv"), ignore=["sample_id"])
    assert report.errors == []
