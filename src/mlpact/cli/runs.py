"""`mlpact runs ...`: the history of trainings, succeeded and failed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mlpact._core.html import fmt
from mlpact.cli._app import JsonOpt, StoreOpt, app, command, print_json, stdout
from mlpact.cli._output import iso
from mlpact.errors import plural

runs_app = typer.Typer(help="Training runs: list, show, compare.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("list")
@command
def runs_list(
    name: Annotated[Optional[str], typer.Argument(help="Only runs of this model.")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first: id, model, kind, status, started, version produced, the primary
    metric (the saved version's test metric; tune: the best cross-validated value; check: on the
    new data) and the rest (a verdict, other metrics, or the error).

    Kind is train, tune, check, reproduce, or external (your own loop, recorded with
    `mlpact.run`/`mlpact.save`)."""
    from rich.markup import escape
    from rich.table import Table

    from mlpact import registry

    found = registry.runs(name, store=store)
    if as_json:
        print_json(found)
        return
    if not found:
        stdout().print("No runs yet. Train with [bold]mlpact train CONFIG[/].")
        return
    table = Table()
    for col in ("run", "model", "kind", "status", "started", "version", "primary metric; more"):
        table.add_column(col, no_wrap=col == "started")
    for r in found:
        status = {"succeeded": "[green]succeeded[/]", "failed": "[red]failed[/]"}.get(
            r["status"], r["status"]
        )
        table.add_row(
            r["id"], r["name"], r["kind"], status, iso(r["started"]), str(r["version"] or "-"),
            escape(_metrics_text(r)),
        )  # fmt: skip
    stdout().print(table)


def _metrics_text(run: dict[str, Any]) -> str:
    """The primary metric first (``test accuracy 0.9444``), then a verdict or other metrics, or
    the error of a failed run."""
    from mlpact._core.html import fmt

    primary = run["primary"] or {}
    metric = str(primary.get("name", "")).rsplit(" ", 1)[-1]  # `test accuracy`, `cv accuracy`
    rest = [(k, v) for k, v in run["metrics"].items() if k not in (metric, f"cv_{metric}", "reasons")]
    parts = [f"{primary['name']} {fmt(primary['value'])}"] if primary else []
    parts += [", ".join(f"{k} {fmt(v)}" for k, v in rest[:2]) or (run["error"] or "")[:60]]
    return "; ".join(p for p in parts if p)


@runs_app.command("show")
@command
def runs_show(
    run_id: Annotated[
        str, typer.Argument(metavar="RUN", help="A run id or a unique prefix.", show_default=False)
    ],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one run: params, metrics, status, error, the version it produced."""
    from rich.markup import escape

    from mlpact import registry

    r = registry.run(run_id, store=store)
    if as_json:
        print_json(r)
        return
    out = stdout()
    out.print(
        f"[bold]{r['id']}[/]  {r['name']}  {r['kind']}  {r['status']}  "
        f"{iso(r['started'])} -> {iso(r['ended'] or '')}"
    )
    if r["version"]:
        out.print(f"produced {r['name']}:{r['version']}")
    if r["error"]:
        out.print(f"[red]error:[/] {escape(r['error'])}", soft_wrap=True)
    for title, values in (("params", r["params"]), ("metrics", r["metrics"])):
        if values:
            out.print(f"[bold]{title}[/]")
            for k, v in values.items():
                out.print(f"  {k} = {escape(fmt(v) if isinstance(v, float) else str(v))}")
    for key, points in (r.get("history") or {}).items():
        steps = [p for p in points if p["step"] is not None]
        span = f" (steps {steps[0]['step']}..{steps[-1]['step']})" if steps else ""
        out.print(f"  {key}: {plural(len(points), 'value')} logged{span}")


@runs_app.command("compare")
@command
def runs_compare(
    run_ids: Annotated[
        list[str], typer.Argument(metavar="RUN...", help="Two or more run ids.", show_default=False)
    ],
    metric: Annotated[Optional[str], typer.Option("--metric", help="Metric to plot.")] = None,
    plot: Annotated[
        Optional[Path], typer.Option("--plot", help="Write a bar chart of --metric to this PNG.")
    ] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Params and metrics of runs side by side; --plot FILE --metric M draws the metric per run.

    [bold]Example[/]

      mlpact runs compare 3f2a 9c1d --metric f1_macro --plot runs.png
    """
    from mlpact import registry

    comparison = registry.compare_runs(run_ids, store=store)
    if plot is not None:
        if metric is None:
            raise typer.BadParameter("--plot needs --metric to know what to draw", param_hint="--metric")
        registry.plot_runs(comparison, metric, plot)
    if as_json:
        print_json(comparison)
        return
    _print_comparison(comparison)
    if plot is not None:
        stdout().print(f"Wrote {plot}")


def _print_comparison(c: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table()
    table.add_column("")
    for r in c["runs"]:
        table.add_column(f"{r['id'][:8]}\n{r['name']}:{r['version'] or '-'}", justify="right")
    table.add_row("kind", *[r["kind"] for r in c["runs"]], style="dim")
    table.add_row("status", *[r["status"] for r in c["runs"]], style="dim")
    for section in ("params", "metrics"):
        for key, values in c[section].items():
            differs = len({str(v) for v in values}) > 1
            cells = [
                escape(fmt(v) if isinstance(v, float) else str(v) if v is not None else "-") for v in values
            ]
            table.add_row(key, *cells, style="bold" if differs and section == "params" else None)
    stdout().print(table)
