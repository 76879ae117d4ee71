"""`mlpact train`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mlpact.cli._app import JsonOpt, SetOpt, StoreOpt, app, command, print_json, progress, stdout
from mlpact.cli._output import print_warning


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
    engine: Annotated[
        Optional[str],
        typer.Option(
            "--engine",
            help="PyTorch: local (this process) or ray (data-parallel Ray Train workers); sets train.engine.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        Optional[int],
        typer.Option("--workers", help="Ray Train workers (sets train.workers).", min=1, show_default=False),
    ] = None,
    address: Annotated[
        Optional[str],
        typer.Option(
            "--address",
            help="Ray cluster for --engine ray (ray://head:10001, auto) \\[default: a local Ray].",
            show_default=False,
        ),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="Fast iteration: no plots, permutation importance, data profile or baseline "
            "(evaluate.profile=quick).",
        ),
    ] = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train, evaluate and save a new version of the model a config describes.

    scikit-learn: cross-validates on the training split (evaluate.cv_folds). PyTorch (model.type
    a torch.nn.Module, or an image folder as data.source): trains train.epochs epochs, keeping
    the weights of the best epoch on a validation split carved from the training data
    (train.val_size); no cross-validation. Either way the test split is scored once, and the
    model is saved with its schema, metrics, resolved config and lineage as the next version,
    whose reference (e.g. wine:3) is printed.

    [bold]Examples[/]

      mlpact train examples/wine/config.yaml

      mlpact train examples/wine/config.yaml --set model.params.n_estimators=500 --set seed=7

      mlpact train examples/wine/config.yaml --quick   (no plots, importance, profile or baseline)

      mlpact train images.yaml --set train.epochs=10 --resume   (PyTorch: from the last checkpoint)

      mlpact train images.yaml --engine ray --workers 4 --address ray://head:10001   (PyTorch DDP)
    """
    from mlpact.training import train

    if engine not in (None, "local", "ray"):
        raise typer.BadParameter(f"expected local or ray, found {engine!r}", param_hint="--engine")
    flags = [*(["train.resume=true"] if resume else []), *([f"train.engine={engine}"] if engine else []),
             *([f"train.workers={workers}"] if workers else []),
             *(["evaluate.profile=quick"] if quick else [])]  # fmt: skip
    result = train(config, [*(overrides or []), *flags], store=store, progress=progress(), address=address)
    if as_json:
        print_json(
            {
                "ref": result.ref,
                "path": str(result.path),
                "run_id": result.run_id,
                "metrics": result.metrics,
                "history": _history(result),
                "warnings": result.warnings,
            }
        )
        return
    _print_train_result(result)


def _history(result: Any) -> list[dict[str, Any]] | None:
    """The per-epoch history of a PyTorch version (None for others)."""
    import json

    path = result.path / "history.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _print_train_result(result: Any) -> None:

    from mlpact.cli._tables import epochs_table, metrics_table

    out = stdout()
    metrics = result.metrics
    history = _history(result)
    if history:
        best = (metrics.get("epochs") or {}).get("best") if metrics.get("validation") else None
        out.print(epochs_table(history, best=best, title=f"{result.ref}: epochs"))
    title = (
        f"{result.ref}  ({metrics['task']}, {metrics['rows']['train']} train / "
        f"{metrics['rows']['test']} test rows)"
    )
    out.print(metrics_table(metrics, title=title))
    for warning in result.warnings:
        print_warning(warning)
    out.print(f"Saved [bold green]{result.ref}[/] at {result.path}")
