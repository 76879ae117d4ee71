"""`mlpact tune`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from mlpact._core.html import fmt
from mlpact.cli._app import JsonOpt, SetOpt, StoreOpt, app, command, print_json, progress, stderr, stdout
from mlpact.errors import plural

if TYPE_CHECKING:
    from rich.console import Console

    from mlpact.tune import FinishedTrial
    from mlpact.tune._backends import OnTrial


@app.command()
@command
def tune(
    config: Annotated[
        Path, typer.Argument(help="The run config (YAML) with a tune: section.", show_default=False)
    ],
    overrides: SetOpt = None,
    trials: Annotated[
        Optional[int], typer.Option("--trials", min=1, help="Trials to add \\[default: tune.trials].")
    ] = None,
    timeout: Annotated[
        Optional[float], typer.Option("--timeout", min=0.001, help="Seconds to spend at most.")
    ] = None,
    jobs: Annotated[
        Optional[int],
        typer.Option(
            "--jobs", min=1, help="Parallel trials (processes; PyTorch: the CPU threads shared out)."
        ),
    ] = None,
    backend: Annotated[
        str, typer.Option("--backend", help="optuna (this machine) or ray (Ray Tune).")
    ] = "optuna",
    address: Annotated[
        Optional[str], typer.Option("--address", help="Ray cluster address (with --backend ray).")
    ] = None,
    train_best: Annotated[
        bool, typer.Option("--train-best", help="Then train and save the best config.")
    ] = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search hyperparameters on the training split only, and write the best config (best.yaml).

    The study is kept in the store (SQLite), so running the same command again continues it.
    The test split is never used while tuning: scikit-learn trials are cross-validated on the
    training split; PyTorch trials (train.* and model.params.* keys) train on it and are scored on
    the validation split carved from it after every epoch, which the pruner judges.

    [bold]Examples[/]

      mlpact tune examples/wine/tune.yaml --trials 30 --jobs 2

      mlpact tune images.yaml --trials 20 --jobs 2   (PyTorch: train.lr, model.params.hidden_units, ...)

      mlpact tune examples/wine/tune.yaml --backend ray --address ray://head:10001 --train-best
    """
    from mlpact.tune import tune, tuning_config

    if backend not in ("optuna", "ray"):
        raise typer.BadParameter(f"expected optuna or ray, found {backend!r}", param_hint="--backend")
    cfg = tuning_config(config, overrides or [])
    err = stderr()
    with _live(err, cfg.tune.metric or cfg.evaluate.primary or "score") as on_trial:
        result = tune(
            cfg,
            store=store,
            trials=trials,
            timeout=timeout,
            jobs=jobs,
            backend=backend,  # type: ignore[arg-type]
            address=address,
            train_best=train_best,
            on_trial=on_trial,
            progress=progress(),
        )
    if as_json:
        print_json(result.to_dict())
        return
    _print_result(result)


@contextmanager
def _live(console: Console, label: str) -> Iterator[OnTrial]:
    """On stderr: one line per finished trial with its score, under a live bar (trials done,
    the best value so far) when stderr is a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("Tuning"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[best]}")]
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("tune", total=None, best="")

        def on_trial(done: int, total: int | None, best: float | None, trial: FinishedTrial) -> None:
            text = f"best {label} {best:.4f}" if best is not None else ""
            bar.update(task, completed=done, total=total, best=text)
            line = trial_line(trial, done, total, trial.metric or label, best)
            bar.console.print(line, markup=False, highlight=False)

        yield on_trial


def trial_line(trial: FinishedTrial, done: int, total: int | None, label: str, best: float | None) -> str:
    """``trial 3: accuracy 0.9543 (best 0.9612) [4/20]``; pruned and failed trials say so."""
    count = f"[{done}/{total}]" if total else f"[{done}]"
    if trial.state != "COMPLETE" or trial.value is None:
        return f"trial {trial.number}: {trial.state.lower()} {count}"
    shown = f" (best {best:.4f})" if best is not None else ""
    return f"trial {trial.number}: {label} {trial.value:.4f}{shown} {count}"


def _print_result(result: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = stdout()
    title = (
        f"{result.study}: {plural(len(result.trials), 'trial')} ({result.new_trials} new), "
        f"{result.direction} {result.metric}"
    )
    out.print(title, soft_wrap=True)
    table = Table()
    for name in ("trial", result.metric, "params"):
        table.add_column(name, justify="right" if name != "params" else "left")
    for row in result.top(5):
        params = ", ".join(f"{k.rsplit('.', 1)[-1]}={_fmt(v)}" for k, v in row["params"].items())
        table.add_row(str(row["number"]), f"{row['value']:.4f}", escape(params))
    out.print(table)
    out.print(f"Best: trial {result.best_trial}, {result.metric} {result.best_value:.4f}")
    out.print(f"Best config: {result.best_yaml}")
    if result.plots:
        out.print(f"Plots: {result.plots[0].parent} ({', '.join(p.name for p in result.plots)})")
    if result.trained is not None:
        out.print(f"Saved [bold green]{result.trained.ref}[/] at {result.trained.path}")


def _fmt(value: Any) -> str:
    return fmt(value, significant=True) if isinstance(value, float) else str(value)
