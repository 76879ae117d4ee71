"""Batch prediction: throughput on 1M Parquet rows, and peak memory for 1M vs 5M rows.

`batch_predict_1m` times whole processes: `mlpact predict` (compiled pipeline, the default)
against a plain script that reads the file with pandas, calls the joblib pipeline's
`predict_proba` and writes Parquet, alternated. `mlpact predict --no-compiled` runs in the same
rounds, so the compiled path's own share is visible. Both outputs are read back and compared
value for value (the files' bytes differ: row groups and pandas metadata).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from common import MLPACT, PYTHON, ROOT, WORK, alternate, entry, median, peak_rss_mib, run_timed
from fixtures import parquet_input, trained_model

BENCH = ROOT / "bench"
RUNS = 5


def batch_throughput(info: dict[str, Any], rows: int) -> dict[str, Any]:
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
        "batch_predict_1m",
        unit="rows/s",
        value=rows / median(mine),
        baseline="pandas_read_predict_write",
        baseline_value=rows / median(base),
        better="higher",
        goal=">= 1.5",
        runs=RUNS,
        params={
            "rows": rows,
            "chunk_rows": 200_000,
            "timing": "whole process",
            "pipeline": "impute+scale 8 numeric, impute+one-hot 2 categorical, LogisticRegression",
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
    info = trained_model()
    return [batch_throughput(info, 1_000_000), *batch_memory(info)]
