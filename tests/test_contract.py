"""One validation policy everywhere: the same bad rows get the same findings, at the same severity,
from `Model.predict`, batch `predict_file`, the serve app's /predict and `check`."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import mlpact
from conftest import mixed_frame, write_config
from mlpact.check import check_data
from mlpact.errors import InputValidationError
from mlpact.model import InputWarning

Findings = dict[tuple[str, str], str]


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A version whose policy makes unseen categories errors and extra columns warnings."""
    folder = tmp_path_factory.mktemp("contract")
    mixed_frame(200).to_csv(folder / "mixed.csv", index=False)
    config = write_config(
        folder,
        {
            "name": "contract",
            "data": {"source": "mixed.csv", "target": "label", "drop": ["id"]},
            "model": {"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 500}},
            "evaluate": {"cv_folds": 0, "plots": False, "leakage": False, "baseline": False},
            "validation": {"unseen_category": "error", "extra_column": "warn", "out_of_range": "warn"},
        },
    )
    result = mlpact.train(config, store=folder / "store")
    return {"folder": folder, "store": folder / "store", "ref": result.ref}


def _rows(unseen: bool) -> pd.DataFrame:
    rows = mixed_frame(5, seed=3).drop(columns=["label", "id"]).assign(x=[0.1, 99.0, 0.2, 0.3, 0.4], junk=1)
    rows["color"] = ["red", "green", "purple" if unseen else "blue", "red", "blue"]
    return rows


CASES = [
    (
        True,
        {
            ("unseen_category", "color"): "error",
            ("out_of_range", "x"): "warn",
            ("extra_column", "junk"): "warn",
        },
    ),
    (False, {("out_of_range", "x"): "warn", ("extra_column", "junk"): "warn"}),
]


def _findings(problems: list[Any]) -> Findings:
    return {(p.check, p.column): p.severity for p in problems}


def _through_predict(model: mlpact.Model, rows: pd.DataFrame) -> Findings:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.predict(rows)
    except InputValidationError as exc:
        return _findings(exc.report.problems)  # type: ignore[attr-defined]
    (warned,) = [w for w in caught if issubclass(w.category, InputWarning)]
    return _parse(str(warned.message))


_WORDS = {
    "column is missing": "missing_column",
    "not used by the model": "extra_column",
    "cannot be converted": "unconvertible",
    "training data had none": "unexpected_null",
    "not among the categories": "unseen_category",
    "outside the training range": "out_of_range",
}


def _parse(message: str) -> Findings:
    """Findings from the text of an InputWarning ("  warning: COLUMN: detail")."""
    found = {}
    for line in message.splitlines()[1:]:
        column, detail = line.strip().removeprefix("warning: ").split(": ", 1)
        (check,) = [c for words, c in _WORDS.items() if words in detail]
        found[(check, column)] = "warn"
    return found


def _through_batch(model: mlpact.Model, rows: pd.DataFrame, folder: Path) -> Findings:
    rows.to_csv(folder / "in.csv", index=False)
    try:
        result = mlpact.predict_file(model, folder / "in.csv", folder / "out.csv", chunk_rows=2)
    except InputValidationError as exc:
        assert not (folder / "out.csv").exists()
        return _findings(exc.report.problems)  # type: ignore[attr-defined]
    return _findings(result.report.problems)


def _through_serve(ref: str, store: Path, rows: pd.DataFrame) -> Findings:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlpact.serve import create_app

    client = TestClient(create_app(ref, store=store), base_url="http://localhost")
    response = client.post("/predict", json=json.loads(rows.to_json(orient="records")))
    body = response.json()
    problems = body["problems"] if response.status_code == 422 else body["warnings"]
    assert response.status_code in (200, 422)
    return {(p["check"], p["field"]): p["severity"] for p in problems}


@pytest.mark.parametrize("unseen, expected", CASES)
def test_same_findings_everywhere(
    strict: dict[str, Any], tmp_path: Path, unseen: bool, expected: Findings
) -> None:
    model = mlpact.load(strict["ref"], store=strict["store"])
    rows = _rows(unseen)
    found = {
        "predict": _through_predict(model, rows),
        "batch": _through_batch(model, rows, tmp_path),
        "serve": _through_serve(strict["ref"], strict["store"], rows),
        "check": _findings(check_data(model, rows).validation.problems),
    }
    assert found == dict.fromkeys(found, expected)
    verdict = check_data(model, rows, thresholds={"min_rows": 1000}).verdict
    assert verdict == ("incompatible" if unseen else "inconclusive")  # a schema break is found on any rows
