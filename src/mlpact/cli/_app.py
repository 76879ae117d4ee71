"""The Typer app, the options every command shares, and error handling.

Command families live in sibling modules (train.py, predict.py, models.py, ...) and register on
`app` here. Nothing heavy is imported at module level, so `mlpact --help` stays instant.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer
from typer.core import TyperGroup

from mlpact import __version__
from mlpact.cli._output import console, gathered, reflow

if TYPE_CHECKING:
    from rich.console import Console
    from typer._click.core import Context  # typer carries its own click

    from mlpact._core.progress import RichProgress

F = TypeVar("F", bound=Callable[..., Any])


class _Group(TyperGroup):
    """The root command: `--debug` may come anywhere before `--` (before or after the command)."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        end = args.index("--") if "--" in args else len(args)
        if "--debug" in args[:end]:
            args = ["--debug", *(a for a in args[:end] if a != "--debug"), *args[end:]]
        return super().parse_args(ctx, args)


app = typer.Typer(
    name="mlpact",
    cls=_Group,
    help="Config-driven training runs and trustworthy, versioned models.\n\n"
    "A run is one YAML file plus --set overrides; what is saved is the whole pipeline with its "
    "input schema, metrics, config and lineage, in a store (default ./.mlpact).\n\n"
    "Start with: mlpact train examples/wine/config.yaml",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}

StoreOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--store", envvar="MLPACT_HOME", help="Store folder \\[default: ./.mlpact].", show_default=False
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
TrustOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        help="Also trust this exact class or function (module.Name) when loading, for files you "
        "trust; repeatable. Names that touch files, processes or threads are never loaded."
    ),
]


def _separator(value: str) -> str:
    """`--sep '\\t'` (a backslash and a t, as a shell passes it) or `--sep tab` means a tab."""
    return "\t" if value in ("\\t", "tab") else value


SepOpt = Annotated[
    str,
    typer.Option(help="Field separator of a CSV input ('\\t' or tab: a tab).", callback=_separator),
]


def stderr() -> Console:
    """Progress, warnings and errors (never the results)."""
    return console(stderr=True)


def stdout() -> Console:
    """The results: what a pipe or a file should get."""
    return console()


def progress() -> RichProgress:
    """Progress bars and spinners on stderr (the library is silent unless handed one)."""
    from mlpact._core.progress import RichProgress

    return RichProgress(stderr())


# typer re-exports BadParameter but not its base, click's UsageError (exit code 2).
_UsageError: type[Exception] = typer.BadParameter.__mro__[1]


def command(fn: F) -> F:
    """Run a command body, turning errors into a message and an exit code (see docs/cli.md)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from mlpact.errors import ExitCode, MlpactError

        try:
            with gathered(debug=_state["debug"]):  # warnings print, once each, before any error
                return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, _UsageError):
            raise
        except MlpactError as exc:
            if _state["debug"]:
                raise
            print_error(exc.message, exc.hint)
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            stderr().print("[red]Interrupted.[/]")
            raise typer.Exit(130) from None
        except Exception as exc:
            if _state["debug"]:
                raise
            print_error(
                f"Unexpected error: {type(exc).__name__}: {exc}",
                "This is a bug in mlpact or an unhandled case; run again with --debug for "
                "the traceback and report it.",
            )
            raise typer.Exit(int(ExitCode.INTERNAL)) from None

    wrapper.__doc__ = reflow(fn.__doc__)
    return wrapper  # type: ignore[return-value]


def print_error(message: str, hint: str | None) -> None:
    from rich.markup import escape

    console = stderr()
    console.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    if hint:
        console.print(f"[yellow]Hint:[/] {escape(hint)}", highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlpact {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Show tracebacks instead of short errors, and every Python warning with its "
            "source; also accepted after the command.",
        ),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Config-driven training runs and trustworthy, versioned models."""
    _state["debug"] = debug
