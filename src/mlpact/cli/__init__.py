"""The `mlpact` command line: a thin layer over the Python API.

Every command turns mlpact's errors into a readable message and an exit code from one table
(docs/cli.md); `--debug` shows the traceback instead. Each command family lives in its own
module and registers on `app` when imported; none imports a heavy library at module level.
"""

from __future__ import annotations

import importlib

from mlpact.cli._app import app

__all__ = ["app", "run"]

# The order here is the order of `mlpact --help`.
FAMILIES = (
    "train",
    "tune",
    "predict",
    "serve",
    "ui",
    "evaluate",
    "check",
    "config",
    "models",
    "runs",
    "store",
    "nb",
    "init",
)
for _family in FAMILIES:
    importlib.import_module(f"mlpact.cli.{_family}")


def run() -> None:
    """Entry point of the `mlpact` script."""
    app()
