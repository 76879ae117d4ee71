"""Batch prediction: throughput on 1M Parquet rows, and peak memory for 1M vs 5M rows.

`batch_predict_1m` times whole processes: `mlpact predict` (its defaults: compiled pipeline,
every core) against a plain script that reads the file with pandas, calls the joblib pipeline's
`predict_proba` and writes Parquet, alternated, for a random forest of scikit-learn's defaults
(100 fully grown trees): the estimator-bound pipeline the goal is stated for.
`batch_predict_1m_linear` is the same race for a logistic regression, where start-up and I/O
weigh most. `mlpact predict --no-compiled` runs in the same rounds, so the compiled path's own
share is visible. The outputs are read back and compared value for value (the files' bytes
differ: row groups and pandas metadata); a run that differs is refused.
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from common import MLPACT, PYTHON, ROOT, WORK, alternate, entry, median, peak_rss_mib, run_timed
from fixtures import parquet_input, trained_model

BENCH = ROOT / "bench"
RUNS = 5


PIPELINES = {
    "forest": "impute+scale 8 numeric, impute+one-hot 2 categorical, RandomForestClassifier() "
    "(100 fully grown trees)",
    "linear": "impute+scale 8 numeric, impute+one-hot 2 categorical, LogisticRegression",
}


def batch_throughput(info: dict[str, Any], rows: int, *, name: str, kind: str, goal: str) -> dict[str, Any]:
    src = parquet_input(rows)
    ours_cmd = [
        MLPACT,
        "predict",
        info["ref"],
        str(src),
        "-o",
        str(WORK / "ours.parquet"),
        "--store",
        info["store"],
    ]
    plain_cmd = [*ours_cmd[:5], str(WORK / "plain.parquet"), *ours_cmd[6:], "--no-compiled"]
    base_cmd = [
        PYTHON,
        str(BENCH / "baselines" / "pandas_batch_predict.py"),
        info["joblib"],
        str(src),
        str(WORK / "base.parquet"),
    ]
    plain: list[float] = []

    def ours() -> float:
        plain.append(run_timed(plain_cmd))
        return run_timed(ours_cmd)

    mine, base = alternate(ours, lambda: run_timed(base_cmd), RUNS)
    written = pd.read_parquet(WORK / "ours.parquet")
    same = written.equals(pd.read_parquet(WORK / "base.parquet")) and written.equals(
        pd.read_parquet(WORK / "plain.parquet")
    )
    if not same:
        raise RuntimeError("mlpact predict wrote other predictions than the plain script: not a valid run")
    return entry(
        name,
        unit="rows/s",
        value=rows / median(mine),
        baseline="pandas_read_predict_write",
        baseline_value=rows / median(base),
        better="higher",
        goal=goal,
        runs=RUNS,
        params={
            "rows": rows,
            "chunk_rows": 200_000,
            "timing": "whole process",
            "pipeline": PIPELINES[kind],
            "cores": os.cpu_count(),
            "same_output": same,
            "no_compiled_rows_per_s": round(rows / median(plain), 1),
        },
        samples={"ours_s": mine, "baseline_s": base, "ours_no_compiled_s": plain},
    )


def batch_memory(info: dict[str, Any]) -> list[dict[str, Any]]:
    def ours(rows: int) -> float:
        src = parquet_input(rows)
        return peak_rss_mib(
            [
                MLPACT,
                "predict",
                info["ref"],
                str(src),
                "-o",
                str(WORK / f"mem_{rows}.parquet"),
                "--store",
                info["store"],
            ]
        )

    small, large = ours(1_000_000), ours(5_000_000)
    base = peak_rss_mib(
        [
            PYTHON,
            str(BENCH / "baselines" / "pandas_batch_predict.py"),
            info["joblib"],
            str(parquet_input(1_000_000)),
            str(WORK / "base_mem.parquet"),
        ]
    )
    return [
        entry(
            "batch_memory_5m_vs_1m",
            unit="MiB",
            value=large,
            baseline="ours_1m_rows",
            baseline_value=small,
            better="lower",
            goal="<= 1.15",
            runs=1,
            params={"rows": [1_000_000, 5_000_000]},
        ),
        entry(
            "batch_memory_1m",
            unit="MiB",
            value=small,
            baseline="pandas_read_predict_write",
            baseline_value=base,
            better="lower",
            goal="<= 1.0",
            runs=1,
            params={"rows": 1_000_000},
        ),
    ]


def run() -> list[dict[str, Any]]:
    linear = trained_model()
    return [
        batch_throughput(
            trained_model("forest"), 1_000_000, name="batch_predict_1m", kind="forest", goal=">= 1.5"
        ),
        # start-up bound: never slower than the script is the floor here
        batch_throughput(linear, 1_000_000, name="batch_predict_1m_linear", kind="linear", goal=">= 1.0"),
        *batch_memory(linear),
    ]
