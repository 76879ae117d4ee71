"""Cold start: a fresh process loads a version and predicts one row, beside joblib.load + predict."""

from __future__ import annotations

import json
from typing import Any

from common import PYTHON, ROOT, alternate, entry, median, run_timed
from fixtures import trained_model

BENCH = ROOT / "bench"
RUNS = 9


def cold_one_row(info: dict[str, Any]) -> dict[str, Any]:
    row = json.dumps(info["row"])
    ours, base = alternate(
        lambda: run_timed([PYTHON, str(BENCH / "ours_predict_1row.py"), info["ref"], info["store"], row]),
        lambda: run_timed([PYTHON, str(BENCH / "baselines" / "joblib_predict_1row.py"), info["joblib"], row]),
        RUNS,
    )
    return entry(
        "predict_cold_1row",
        unit="s",
        value=median(ours),
        baseline="joblib_load_predict",
        baseline_value=median(base),
        better="lower",
        goal="<= 1.2",
        runs=RUNS,
        params={"rows": 1, "model": "LogisticRegression, 8 numeric + 2 categorical columns"},
        samples={"ours": ours, "baseline": base},
    )


def run() -> list[dict[str, Any]]:
    return [cold_one_row(trained_model())]
