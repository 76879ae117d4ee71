"""The `mlpact` command line: a thin layer over the Python API.

Nothing heavy is imported at module level, so `mlpact --help` and argument errors are instant.
Every command turns mlpact's errors into a readable message and an exit code from one table
(docs/cli.md); `--debug` shows the traceback instead.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer

from mlpact import __version__

if TYPE_CHECKING:
    from rich.console import Console

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="mlpact",
    help="Config-driven training runs and trustworthy, versioned models.\n\n"
    "A run is one YAML file plus --set overrides; what is saved is the whole pipeline with its "
    "input schema, metrics, config and lineage, in a store (default ./.mlpact).\n\n"
    "Start with: mlpact train examples/wine/config.yaml",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(help="Show and check configs.", no_args_is_help=True)
models_app = typer.Typer(help="The model registry: list saved versions.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(models_app, name="models")

_state = {"debug": False}

StoreOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--store", envvar="MLPACT_HOME", help="Store folder [default: ./.mlpact].", show_default=False
    ),
]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Override a config value, e.g. --set model.params.C=0.5 (repeatable; "
        "values are parsed as YAML).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def _stdout() -> Console:
    from rich.console import Console

    return Console()


def _command(fn: F) -> F:
    """Run a command body, turning errors into a message and an exit code (see docs/cli.md)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mlpact.errors import ExitCode, MlpactError

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except MlpactError as exc:
            if _state["debug"]:
                raise
            _print_error(exc.message, exc.hint)
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            _stderr().print("[red]Interrupted.[/]")
            raise typer.Exit(130) from None
        except Exception as exc:
            if _state["debug"]:
                raise
            _print_error(
                f"Unexpected error: {type(exc).__name__}: {exc}",
                "This is a bug in mlpact or an unhandled case; run again with --debug for "
                "the traceback and report it.",
            )
            raise typer.Exit(int(ExitCode.INTERNAL)) from None

    return wrapper  # type: ignore[return-value]


def _print_error(message: str, hint: str | None) -> None:
    from rich.markup import escape

    console = _stderr()
    console.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        console.print(f"[yellow]Hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlpact {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks instead of short errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Config-driven training runs and trustworthy, versioned models."""
    _state["debug"] = debug


# --------------------------------------------------------------------------- train
@app.command()
@_command
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
    err = _stderr()
    result = run(cfg, store=Store.open(store), progress=RichProgress(err))
    if as_json:
        _print_json(
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

    out = _stdout()
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


# --------------------------------------------------------------------------- predict
@app.command()
@_command
def predict(
    model: Annotated[
        str, typer.Argument(help="NAME, NAME:VERSION, NAME@ALIAS or a version folder.", show_default=False)
    ],
    source: Annotated[Path, typer.Argument(metavar="INPUT", help="CSV or Parquet file.", show_default=False)],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="CSV or Parquet file to write.", show_default=False)
    ],
    keep: Annotated[
        Optional[list[str]],
        typer.Option("--keep", help="Copy this input column to the output (e.g. an id); repeatable."),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option(help="Rows per chunk; memory grows with this, not with the file.", min=1)
    ] = 200_000,
    sep: Annotated[str, typer.Option(help="Field separator of a CSV input.")] = ",",
    trust: Annotated[
        Optional[list[str]],
        typer.Option(help="Also trust this type when loading (only for files you trust); repeatable."),
    ] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Predict every row of a file with a saved version, streamed in chunks.

    The input is checked against the version's schema first: missing columns and values that
    cannot be converted stop the run and nothing is written; unseen categories and out-of-range
    values are warnings (the version's validation policy decides). The output has the kept
    columns, `prediction`, and `proba_<class>` per class for classifiers.

    [bold]Examples[/]

      mlpact predict wine data.csv -o predictions.csv

      mlpact predict churn@production customers.parquet -o scores.parquet --keep customer_id
    """
    from mlpact.model import load
    from mlpact.predict import predict_file
    from mlpact.progress import RichProgress

    loaded = load(model, store=store, trust=trust or ())
    err = _stderr()
    result = predict_file(
        loaded, source, output, keep=keep or (), chunk_rows=chunk_rows, sep=sep, progress=RichProgress(err)
    )
    if as_json:
        _print_json(
            {
                "model": loaded.ref,
                "rows": result.rows,
                "output": str(result.output),
                "seconds": result.seconds,
                "validation": result.report.to_dict(),
            }
        )
        return
    if result.report.warnings:
        err.print(
            f"[yellow]{len(result.report.warnings)} warnings[/] (the validation policy lets these through):"
        )
        err.print(result.report.format(), highlight=False, markup=False, soft_wrap=True)
    speed = f", {result.rows_per_s:,.0f} rows/s" if result.seconds >= 1 else ""
    _stdout().print(
        f"Wrote {result.rows:,} predictions of [bold]{loaded.ref}[/] to {result.output} "
        f"({result.seconds:.1f}s{speed})"
    )


# --------------------------------------------------------------------------- config
@config_app.command("show")
@_command
def config_show(
    config: Annotated[Path, typer.Argument(help="The run config (YAML).", show_default=False)],
    overrides: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the resolved config (defaults filled in, overrides applied) and its hash.

    [bold]Example[/]

      mlpact config show examples/wine/config.yaml --set model.params.n_estimators=50
    """
    from mlpact.config import load_config

    cfg = load_config(config, overrides or [])
    if as_json:
        _print_json({"config": cfg.to_dict(), "hash": cfg.hash()})
        return
    sys.stdout.write(cfg.to_yaml())
    sys.stdout.write(f"# config hash: {cfg.hash()}\n")


@config_app.command("schema")
@_command
def config_schema() -> None:
    """Print the JSON Schema of config files (for editor completion and validation)."""
    from mlpact.config import json_schema

    _print_json(json_schema())


@config_app.command("reference")
@_command
def config_reference() -> None:
    """Print the config reference (every key, type, default and meaning) as Markdown."""
    from mlpact.config import reference_markdown

    sys.stdout.write(reference_markdown())


# --------------------------------------------------------------------------- models
@models_app.command("list")
@_command
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
        _print_json([r.to_dict() for r in records])
        return
    if not records:
        _stdout().print("No versions yet. Train one with [bold]mlpact train CONFIG[/].")
        return
    table = Table()
    for col in ("model", "version", "created", "aliases", "metric", "data"):
        table.add_column(col)
    for r in records:
        metric = f"{r.metric_name} {fmt(r.metric_value)}" if r.metric_name else "-"
        table.add_row(
            r.name,
            str(r.version),
            _when(r.created),
            ", ".join(r.aliases),
            metric,
            (r.data_fingerprint or "")[:12],
        )
    _stdout().print(table)


def _when(iso: str) -> str:
    """An ISO timestamp as 'YYYY-MM-DD HH:MM' (UTC) for tables."""
    return iso[:16].replace("T", " ")


def run() -> None:
    """Entry point of the `mlpact` script."""
    app()


if __name__ == "__main__":
    run()
