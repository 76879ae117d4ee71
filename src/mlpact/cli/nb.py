"""`mlpact nb check|run|export`: notebooks for thinking, checked before they are trusted."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlpact.cli._app import JsonOpt, app, command, print_json, stderr, stdout
from mlpact.errors import ExitCode, plural

nb_app = typer.Typer(
    help="Notebooks: find hidden state, re-run them clean, run them with parameters, export cells.",
    no_args_is_help=True,
)
app.add_typer(nb_app, name="nb")

NotebookArg = Annotated[Path, typer.Argument(metavar="NOTEBOOK", help="A .ipynb file.", show_default=False)]
TimeoutOpt = Annotated[int, typer.Option("--timeout", help="Seconds allowed per cell.", min=1)]


@nb_app.command("check")
@command
def nb_check(
    paths: Annotated[
        list[Path], typer.Argument(metavar="NOTEBOOK...", help="Notebooks to check.", show_default=False)
    ],
    rerun: Annotated[
        bool, typer.Option("--rerun", help="Also run each top to bottom in a fresh kernel.")
    ] = False,
    timeout: TimeoutOpt = 600,
    max_output_kb: Annotated[
        int, typer.Option(help="Largest allowed saved output per cell, in kB.", min=1)
    ] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Find what makes a notebook's saved state untrustworthy.

    Checks: cells run out of order; cells run after unexecuted ones; names used before any
    earlier cell defines them (hidden state: running top to bottom would fail); hard-coded
    absolute paths; oversized outputs. --rerun executes the notebook top to bottom in a fresh
    kernel and reports the first failing cell and outputs that differ from the saved ones.

    Exit code 0 when no errors were found, 10 otherwise: use it in CI or as the pre-commit hook
    `mlpact-nb-check` (see .pre-commit-hooks.yaml).

    [bold]Example[/]

      mlpact nb check notebooks/*.ipynb --rerun
    """
    from mlpact import notebooks

    limit = max_output_kb * 1000
    reports = [notebooks.check(p, rerun=rerun, timeout=timeout, max_output_bytes=limit) for p in paths]
    if as_json:
        print_json([r.to_dict() for r in reports])
    else:
        for report in reports:
            _print_report(report)
    if not all(r.ok for r in reports):
        raise typer.Exit(int(ExitCode.NOTEBOOK))


def _print_report(report: object) -> None:
    from rich.markup import escape

    from mlpact.notebooks import NotebookReport

    assert isinstance(report, NotebookReport)
    out = stdout()
    errors = sum(f.severity == "error" for f in report.findings)
    warnings = len(report.findings) - errors
    status = "[green]ok[/]" if report.ok else f"[red]{plural(errors, 'error')}[/]"
    rerun = " (re-run clean)" if report.rerun and report.ok else ""
    out.print(
        f"{escape(report.path)}: {status}{rerun}" + (f", {plural(warnings, 'warning')}" if warnings else "")
    )
    for f in report.findings:
        color = "red" if f.severity == "error" else "yellow"
        out.print(
            f"  [{color}]{f.severity}[/] cell {f.cell} {escape('[' + f.check + ']')}: {escape(f.message)}",
            soft_wrap=True,
        )


@nb_app.command("run")
@command
def nb_run(
    notebook: NotebookArg,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to save the executed notebook.", show_default=False)
    ],
    parameters: Annotated[
        Optional[list[str]],
        typer.Option("--param", "-p", metavar="NAME=VALUE", help="A parameter (YAML value); repeatable."),
    ] = None,
    timeout: TimeoutOpt = 600,
) -> None:
    """Run a notebook top to bottom with parameters, saving the executed copy.

    Parameters are injected right after the cell tagged `parameters` (the papermill
    convention), which must assign every parameter passed: a misspelt name is an error, not a
    silent no-op. The executed notebook is written even when a cell fails (exit code 10).

    [bold]Example[/]

      mlpact nb run notebooks/train.ipynb -p alpha=0.5 -p features=\\[a,b] -o runs/alpha-0.5.ipynb
    """
    from mlpact import notebooks

    values = notebooks.parse_parameters(parameters or [])
    with stderr().status(f"Running {notebook.name}..."):
        out = notebooks.run(notebook, output, parameters=values, timeout=timeout)
    stdout().print(f"Ran {notebook} -> {out}")


@nb_app.command("export")
@command
def nb_export(
    notebook: NotebookArg,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The module to write, e.g. src/pkg/features.py.")
    ],
    check_only: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 10 if the module is not up to date.")
    ] = False,
) -> None:
    """Lift the cells marked for export into a module, imports gathered at the top.

    A cell is exported when it is tagged `export` or its first line is `#| export`. The module
    is importable, testable, and usable from a config by import path (e.g.
    `model.type: mypkg.models:MyModel`).
    """
    from mlpact import notebooks

    notebooks.export(notebook, output, check_only=check_only)
    stdout().print(f"{output} is up to date." if check_only else f"Wrote {output} from {notebook}.")
