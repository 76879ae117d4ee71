"""`mlpact train`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlpact.cli._app import JsonOpt, SetOpt, StoreOpt, app, command, print_json, stderr, stdout


@app.command()
@command
def train(
    config: Annotated[Path, typer.Argument(help="The run config (YAML).", show_default=False)],
    overrides: SetOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train, evaluate and save a new version of the model a config describes.

    Cross-validates on the training split, scores the test split once, saves the fitted
    pipeline with its schema, metrics, resolved config and lineage as the next version, and
    prints its reference (e.g. wine:3).

    [bold]Examples[/]

      mlpact train examples/wine/config.yaml

      mlpact train examples/wine/config.yaml --set model.params.n_estimators=500 --set seed=7
    """
    from mlpact.config import load_config
    from mlpact.progress import RichProgress
    from mlpact.store import Store
    from mlpact.training import run

    cfg = load_config(config, overrides or [])
    err = stderr()
    result = run(cfg, store=Store.open(store), progress=RichProgress(err))
    if as_json:
        print_json(
            {
                "ref": result.ref,
                "path": str(result.path),
                "run_id": result.run_id,
                "metrics": result.metrics,
                "warnings": result.warnings,
            }
        )
        return
    _print_train_result(result)


def _print_train_result(result: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    from mlpact.report import metric_rows

    out = stdout()
    metrics = result.metrics
    folds = metrics["cv"]["folds"]
    table = Table(
        title=f"{result.ref}  ({metrics['task']}, {metrics['rows']['train']} train / "
        f"{metrics['rows']['test']} test rows)",
        title_justify="left",
    )
    table.add_column("metric")
    table.add_column(f"CV ({folds} folds, train split)" if folds else "CV (off)", justify="right")
    table.add_column("test (scored once)", justify="right")
    for name, cv, test in metric_rows(metrics):
        style = "bold" if name == metrics["primary"] else None
        table.add_row(name, cv, test, style=style)
    out.print(table)
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    out.print(f"Saved [bold green]{result.ref}[/] at {result.path}")
