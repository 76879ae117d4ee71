"""`mlpact evaluate` and `mlpact report`: a saved version scored on new data, and its HTML page."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from mlpact._core.html import fmt
from mlpact.cli._app import JsonOpt, SepOpt, StoreOpt, TrustOpt, app, command, print_json, stderr, stdout
from mlpact.cli._output import print_warning
from mlpact.errors import plural

if TYPE_CHECKING:
    from rich.table import Table

ModelArg = Annotated[
    str, typer.Argument(help="NAME, NAME:VERSION, NAME@ALIAS or a version folder.", show_default=False)
]


@app.command()
@command
def evaluate(
    model: ModelArg,
    data: Annotated[
        Path,
        typer.Argument(
            help="Labelled CSV or Parquet file (with the target column). Image models: a folder of "
            "class folders (the labels), or a table with a `path` column and the label column.",
            show_default=False,
        ),
    ],
    target: Annotated[
        Optional[str], typer.Option(help="The label column \\[default: the version's target].")
    ] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write PNG plots and importance.")] = True,
    sep: SepOpt = ",",
    trust: TrustOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a saved version on new labelled data, with the metrics and plots of training.

    Recorded in the store as an evaluation of that version (see `mlpact models show`); the
    version itself is never changed. Metrics, plots and report.html go to the store's
    evaluations/ folder.

    [bold]Examples[/]

      mlpact evaluate wine:1 labelled_wines.csv

      mlpact evaluate pizza_steak_sushi:2 new_photos/   (an image model: new_photos/CLASS/*.jpg)
    """
    from mlpact.evaluate import evaluate_version

    result = evaluate_version(
        model, data, store=store, target=target, plots=plots, sep=sep, trust=trust or ()
    )
    if as_json:
        print_json(
            {"id": result.id, "model": result.ref, "path": str(result.path), "metrics": result.metrics}
        )
        return
    out = stdout()
    metrics = result.metrics
    out.print(
        evaluation_table(
            metrics, title=f"{result.ref} on {data.name} ({plural(metrics['rows']['evaluated'], 'row')})"
        )
    )
    for warning in result.warnings:
        print_warning(warning)
    out.print(f"Recorded evaluation [bold]{result.id}[/] of {result.ref}; report: {result.report}")


@app.command()
@command
def report(
    model: ModelArg,
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Write the page here.", show_default=False)
    ] = None,
    open_it: Annotated[bool, typer.Option("--open", help="Open the page in a web browser.")] = False,
    trust: TrustOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write (or find) a version's HTML report and print its path; --open shows it.

    One self-contained page: metrics beside the baseline, warnings, plots, slices, the input
    schema, lineage and the evaluations recorded since. The version's own report.html is used
    as it is unless evaluations were recorded after it (then a fresh page goes to the store's
    reports/ folder) or --output is given.

    [bold]Examples[/]

      mlpact report wine --open

      mlpact report wine:2 -o wine-2.html
    """
    from mlpact.version import load, report

    loaded = load.load(model, store=store, trust=trust or ())
    path = report.write_report(loaded, store=store, out=output)
    if as_json:
        print_json({"model": loaded.ref, "report": str(path)})
    else:
        stdout().print(f"Report of [bold]{loaded.ref}[/]: {path}")
    if open_it:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            stderr().print("[yellow]No browser found;[/] open the file above yourself.")


def evaluation_table(metrics: Mapping[str, Any], *, title: str) -> Table:
    """metric | this data | its 95% CI | test split at training."""
    from rich.table import Table

    from mlpact.version.report import interval_caption, interval_text

    caption = interval_caption(metrics).replace("test rows", "evaluated rows")
    table = Table(title=title, title_justify="left", caption=caption or None, caption_justify="left")
    for name in ("metric", "this data", "95% CI", "test split at training"):
        table.add_column(name, justify="left" if name == "metric" else "right")
    before = metrics.get("version_test") or {}
    for name, value in (metrics.get("test") or {}).items():
        table.add_row(
            name, fmt(value), interval_text(metrics.get("ci"), name), fmt(before.get(name)),
            style="bold" if name == metrics.get("primary") else None,
        )  # fmt: skip
    return table
