"""Static checks of a notebook's saved state, and the optional clean re-run."""

from __future__ import annotations

import ast
import itertools
import json
import re
from pathlib import Path
from typing import Any

from mlpact.notebooks._cells import Finding, NotebookReport, code_cells, names_before_definition, parse, read
from mlpact.notebooks._execute import DEFAULT_TIMEOUT_S, rerun_findings

DEFAULT_MAX_OUTPUT_BYTES = 1_000_000
_ABS_PATH = re.compile(r"^(/(?!/)[^\s:*?\"<>|]+/[^\s]*|[A-Za-z]:[\\/][^\s]+|~[\\/][^\s]+)$")


# --------------------------------------------------------------------------- check
def check(
    path: str | Path,
    *,
    rerun: bool = False,
    timeout: int = DEFAULT_TIMEOUT_S,
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
    kernel: str | None = None,
) -> NotebookReport:
    """Find hidden state and fragility in a notebook; optionally re-run it in a fresh kernel.

    Args:
        path: the .ipynb file.
        rerun: also execute it top to bottom and compare outputs with the saved ones.
        timeout: seconds allowed per cell when re-running.
        max_output_bytes: a cell whose saved outputs are larger than this is reported.
        kernel: kernel name for the re-run (default: the notebook's, else python3).
    """
    nb = read(path)
    findings = (
        _execution_order(nb.cells)
        + names_before_definition(nb.cells)
        + _paths(nb.cells)
        + _output_sizes(nb.cells, max_output_bytes)
    )
    if rerun:
        findings += rerun_findings(nb, Path(path), timeout=timeout, kernel=kernel)
    findings.sort(key=lambda f: (f.cell, f.check))
    return NotebookReport(str(path), findings, rerun)


def _execution_order(cells: list[Any]) -> list[Finding]:
    findings = []
    code = code_cells(cells)
    unexecuted = [n for n, c in code if c.get("execution_count") is None]
    executed = [(n, c.execution_count) for n, c in code if c.get("execution_count") is not None]
    if unexecuted and executed and executed[-1][0] > unexecuted[0]:
        later = [n for n, _ in executed if n > unexecuted[0]]
        findings.append(
            Finding(
                "unexecuted",
                unexecuted[0],
                f"cell {unexecuted[0]} was never run, but later cells were (cell {later[0]}): "
                "the saved state does not come from running top to bottom",
            )
        )
    in_order = _in_order(executed)
    findings += [_out_of_order(n, count, executed, in_order) for n, count in executed if n not in in_order]
    kept = [(n, count) for n, count in executed if n in in_order]
    held = {count for _, count in executed}  # a count an out-of-order cell holds is no gap
    for (_, before), (n, count) in itertools.pairwise(kept):
        if any(c not in held for c in range(before + 1, count)):
            findings.append(
                Finding(
                    "re-run",
                    n,
                    f"execution count jumps from {before} to {count}: cells were "
                    "re-run, or cells that no longer exist ran",
                    severity="warning",
                )
            )
    return findings


def _in_order(executed: list[tuple[int, int]]) -> set[int]:
    """The cells of the longest run of rising execution counts, top to bottom (ties: the upper
    cells): what ran in order. Every other cell is out of order, one finding each, so one cell
    inserted and run later is one finding, not one for every cell below it."""
    best: list[list[int]] = []  # best[i]: the longest rising run ending at executed[i]
    for i, (n, count) in enumerate(executed):
        before = [best[j] for j in range(i) if executed[j][1] < count]
        best.append([*_longest(before), n])
    return set(_longest(best))


def _longest(runs: list[list[int]]) -> list[int]:
    """The first of the longest runs (the one that keeps the upper cells)."""
    found: list[int] = []
    for run in runs:
        if len(run) > len(found):
            found = run
    return found


def _out_of_order(n: int, count: int, executed: list[tuple[int, int]], in_order: set[int]) -> Finding:
    above = [(m, c) for m, c in executed if m < n and m in in_order and c >= count]
    if above:
        m, c = above[-1]
        return Finding(
            "out-of-order", n, f"cell {n} ran (execution count {count}) before cell {m} above it "
            f"(execution count {c})"
        )  # fmt: skip
    m, c = next((m, c) for m, c in executed if m > n and m in in_order and c < count)
    return Finding(
        "out-of-order", n, f"cell {n} ran (execution count {count}) after cell {m} below it "
        f"(execution count {c})"
    )  # fmt: skip


def _paths(cells: list[Any]) -> list[Finding]:
    findings = []
    for n, cell in code_cells(cells):
        tree = parse(cell.source)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and _ABS_PATH.match(node.value.strip())
            ):
                findings.append(
                    Finding(
                        "absolute-path",
                        n,
                        f"hard-coded absolute path {node.value.strip()!r}: use a path relative to "
                        "the project, or a parameter",
                    )
                )
    return findings


def _output_sizes(cells: list[Any], limit: int) -> list[Finding]:
    findings = []
    for n, cell in code_cells(cells):
        size = sum(len(json.dumps(o)) for o in cell.get("outputs", []))
        if size > limit:
            findings.append(
                Finding(
                    "output-size",
                    n,
                    f"outputs take {size / 1e6:.1f} MB (limit {limit / 1e6:.1f} MB): clear them or "
                    "save large results to files",
                )
            )
    return findings
