"""`mlpact init`: scaffold a project, or write a starter config from a data file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlpact.cli._app import app, command, stdout
from mlpact.errors import plural


@app.command("init")
@command
def init(
    directory: Annotated[
        Optional[Path], typer.Argument(metavar="[DIR]", help="Folder for a new project.")
    ] = None,
    package: Annotated[
        Optional[str], typer.Option(help="Python package name for src/ (default: from DIR).")
    ] = None,
    from_data: Annotated[
        Optional[Path],
        typer.Option("--from-data", metavar="FILE", help="Write a starter config for this CSV/Parquet."),
    ] = None,
    target: Annotated[Optional[str], typer.Option(help="With --from-data: the column to predict.")] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="With --from-data: the config to write.")
    ] = Path("config.yaml"),
) -> None:
    """Start a project, or a config for your data.

    `mlpact init DIR` scaffolds configs/, notebooks/01-explore.ipynb, src/PACKAGE/ for custom
    features, tests/, a Makefile, a .gitignore for the store and a pre-commit config; it trains
    out of the box: `cd DIR && mlpact train configs/model.yaml`.

    `mlpact init --from-data FILE --target COL` writes a starter config whose `schema:` section
    is the schema inferred from FILE (types, categories, ranges), ready to edit.

    [bold]Examples[/]

      mlpact init churn-model --package churn

      mlpact init --from-data data/customers.csv --target churned -o configs/churn.yaml
    """
    from mlpact import scaffold

    if from_data is not None:
        if target is None:
            raise typer.BadParameter("--from-data needs --target COLUMN", param_hint="--target")
        out = scaffold.write_starter_config(from_data, target, output)
        stdout().print(f"Wrote {out}. Train with: mlpact train {out}")
        return
    if directory is None:
        raise typer.BadParameter("give a folder for the project, or --from-data FILE", param_hint="DIR")
    written = scaffold.init_project(directory, package=package)
    stdout().print(
        f"Created {plural(len(written), 'file')} in {directory}. Next:\n"
        f"  cd {directory} && mlpact train configs/model.yaml"
    )
