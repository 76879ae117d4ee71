"""`mlpact --help` wall time (fresh processes) beside bare Python start-up."""

from __future__ import annotations

from typing import Any

from common import MLPACT, PYTHON, alternate, entry, median, run_timed

RUNS = 7


def run() -> list[dict[str, Any]]:
    ours, base = alternate(
        lambda: run_timed([MLPACT, "--help"]), lambda: run_timed([PYTHON, "-c", "pass"]), RUNS
    )
    return [
        entry(
            "cli_help",
            unit="s",
            value=median(ours),
            baseline="python_startup",
            baseline_value=median(base),
            better="lower",
            goal="<= 0.3",
            goal_on="value",
            runs=RUNS,
            samples={"ours": ours, "baseline": base},
        )
    ]
