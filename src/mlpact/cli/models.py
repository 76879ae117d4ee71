"""`mlpact models ...`: the registry."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mlpact.cli._app import JsonOpt, StoreOpt, app, command, print_json, stdout, when

models_app = typer.Typer(help="The model registry: versions, aliases, integrity.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
@command
def models_list(
    name: Annotated[Optional[str], typer.Argument(help="Only this model.")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List saved versions: name, version, created, aliases, headline metric, data fingerprint."""
    from rich.table import Table

    from mlpact.report import fmt
    from mlpact.store import Store

    records = Store.open(store).versions(name)
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    if not records:
        stdout().print("No versions yet. Train one with [bold]mlpact train CONFIG[/].")
        return
    table = Table()
    for col in ("model", "version", "created", "aliases", "metric", "data"):
        table.add_column(col)
    for r in records:
        metric = f"{r.metric_name} {fmt(r.metric_value)}" if r.metric_name else "-"
        table.add_row(
            r.name,
            str(r.version),
            when(r.created),
            ", ".join(r.aliases),
            metric,
            (r.data_fingerprint or "")[:12],
        )
    stdout().print(table)
