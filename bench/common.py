"""Helpers shared by the benchmarks: fresh-process timing, peak memory, result entries."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work"
PYTHON = sys.executable
MLPACT = str(Path(sys.executable).with_name("mlpact"))

_RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def run_timed(cmd: Sequence[str], *, env: dict[str, str] | None = None) -> float:
    """Wall time of one fresh process; fails loudly if it fails."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def peak_rss_mib(cmd: Sequence[str], *, env: dict[str, str] | None = None) -> float:
    """Peak resident memory (MiB) of one fresh process, measured by a wrapper that only runs it."""
    done = subprocess.run(
        [PYTHON, "-c", _RSS_WRAPPER, *cmd], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def alternate(
    ours: Callable[[], float], baseline: Callable[[], float], runs: int
) -> tuple[list[float], list[float]]:
    """Run ours and the baseline alternately, `runs` times each (noise hits both alike)."""
    a, b = [], []
    for _ in range(runs):
        a.append(ours())
        b.append(baseline())
    return a, b


def entry(
    name: str,
    *,
    unit: str,
    value: float,
    baseline: str,
    baseline_value: float,
    better: str,
    goal: str,
    goal_on: str = "ratio",
    runs: int,
    params: dict[str, Any] | None = None,
    samples: dict[str, list[float]] | None = None,
) -> dict[str, Any]:
    """One result: value beside its baseline, the ratio, and whether the goal is met (computed)."""
    ratio = value / baseline_value if baseline_value else float("inf")
    op, target = goal.split()
    measured = ratio if goal_on == "ratio" else value
    meets = measured <= float(target) if op == "<=" else measured >= float(target)
    result = {
        "name": name,
        "unit": unit,
        "value": round(value, 4),
        "baseline": baseline,
        "baseline_value": round(baseline_value, 4),
        "ratio": round(ratio, 3),
        "better": better,
        "goal": goal,
        "goal_on": goal_on,
        "meets_goal": meets,
        "runs": runs,
        "params": params or {},
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if samples:
        result["samples"] = {k: [round(x, 4) for x in v] for k, v in samples.items()}
    flag = "meets" if meets else "MISSES"
    print(
        f"  {name}: {value:.4g} {unit} vs {baseline} {baseline_value:.4g} {unit} "
        f"(ratio {ratio:.3f}; goal {goal_on} {goal}: {flag})",
        flush=True,
    )
    return result


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def write_results(path: Path, entries: list[dict[str, Any]]) -> None:
    """Replace entries of the same name in results.json, keep the others."""
    existing = json.loads(path.read_text()) if path.exists() else []
    names = {e["name"] for e in entries}
    merged = [e for e in existing if e["name"] not in names] + entries
    path.write_text(json.dumps(merged, indent=2) + "\n")


def write_summary(results: Path, page: Path) -> None:
    """Rewrite the results table between the markers of docs/performance.md."""
    entries = json.loads(results.read_text())
    lines = [
        "| benchmark | ours | baseline | ratio | goal | met | date |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for e in entries:
        lines.append(
            f"| `{e['name']}` | {e['value']:.4g} {e['unit']} | {e['baseline']}: {e['baseline_value']:.4g} {e['unit']} "
            f"| {e['ratio']:.3f} | {e.get('goal_on', 'ratio')} {e['goal']} | {'yes' if e['meets_goal'] else '**no**'} "
            f"| {e['date'][:10]} |"
        )
    text = page.read_text()
    begin, end = "<!-- BEGIN RESULTS -->", "<!-- END RESULTS -->"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    page.write_text(f"{head}{begin}\n" + "\n".join(lines) + f"\n{end}{tail}")
