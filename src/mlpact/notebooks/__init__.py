"""Notebooks that do not lie: static checks, clean re-runs, parameterised runs, export to modules.

`check` reads a notebook and finds what makes its saved state untrustworthy: cells run out of
order, cells run after unexecuted ones, names used before any earlier cell defines them
(static analysis with `ast` across cells), hard-coded absolute paths and oversized outputs.
With `rerun=True` it also executes the notebook top to bottom in a fresh kernel (nbclient) and
reports the first failing cell and the outputs that differ from the saved ones.
`run` executes a notebook with parameters injected after the cell tagged `parameters` (the
papermill convention), and `export` lifts cells marked for export into an importable module.
"""

from __future__ import annotations

from mlpact.notebooks._cells import Finding, NotebookReport, read
from mlpact.notebooks._check import DEFAULT_MAX_OUTPUT_BYTES, check
from mlpact.notebooks._execute import DEFAULT_TIMEOUT_S, parse_parameters, run
from mlpact.notebooks._export import export

__all__ = [
    "DEFAULT_MAX_OUTPUT_BYTES", "DEFAULT_TIMEOUT_S", "Finding", "NotebookReport", "check", "export",
    "parse_parameters", "read", "run",
]  # fmt: skip
