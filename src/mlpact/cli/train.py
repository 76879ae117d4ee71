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
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="PyTorch: continue from the last epoch checkpoint (train.resume=true)."
        ),
    ] = False,
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

      mlpact train images.yaml --set train.epochs=10 --resume   (PyTorch: from the last checkpoint)
    """
    from mlpact.config import load_config
    from mlpact.progress import RichProgress
    from mlpact.store import Store
    from mlpact.training import run

    cfg = load_config(config, [*(overrides or []), *(["train.resume=true"] if resume else [])])
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

    from mlpact.cli._tables import metrics_table

    out = stdout()
    metrics = result.metrics
    title = (
        f"{result.ref}  ({metrics['task']}, {metrics['rows']['train']} train / "
        f"{metrics['rows']['test']} test rows)"
    )
    out.print(metrics_table(metrics, title=title))
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    out.print(f"Saved [bold green]{result.ref}[/] at {result.path}")
