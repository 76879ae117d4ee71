"""Batch prediction: throughput on 1M Parquet rows, and peak memory for 1M vs 5M rows."""

from __future__ import annotations

from typing import Any

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
    base_cmd = [
        PYTHON,
        str(BENCH / "baselines" / "pandas_batch_predict.py"),
        info["joblib"],
        str(src),
        str(WORK / "base.parquet"),
    ]
    ours, base = alternate(lambda: run_timed(ours_cmd), lambda: run_timed(base_cmd), RUNS)
    return entry(
        "batch_predict_1m",
        unit="rows/s",
        value=rows / median(ours),
        baseline="pandas_read_predict_write",
        baseline_value=rows / median(base),
        better="higher",
        goal=">= 0.9",
        runs=RUNS,
        params={"rows": rows, "chunk_rows": 200_000, "timing": "whole process"},
        samples={"ours_s": ours, "baseline_s": base},
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
