"""`mlpact config show|schema|reference`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mlpact.cli._app import JsonOpt, SetOpt, app, command, print_json

config_app = typer.Typer(help="Show and check configs.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
@command
def config_show(
    config: Annotated[Path, typer.Argument(help="The run config (YAML).", show_default=False)],
    overrides: SetOpt = None,
    changed: Annotated[
        bool,
        typer.Option("--changed", help="Only the required keys and the values that differ from defaults."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print the resolved config (defaults filled in, overrides applied) and its hash.

    With --changed, only what the config sets: the required keys and every value that differs
    from its default (the hash is still the whole config's).

    [bold]Examples[/]

      mlpact config show examples/wine/config.yaml --set model.params.n_estimators=50

      mlpact config show examples/wine/config.yaml --changed
    """
    import yaml

    from mlpact.config import load_config

    cfg = load_config(config, overrides or [])
    shown = cfg.changed() if changed else cfg.to_dict()
    if as_json:
        print_json({"config": shown, "hash": cfg.hash()})
        return
    sys.stdout.write(yaml.safe_dump(shown, sort_keys=False, allow_unicode=True))
    sys.stdout.write(f"# config hash: {cfg.hash()}\n")


@config_app.command("schema")
@command
def config_schema() -> None:
    """Print the JSON Schema of config files (for editor completion and validation)."""
    from mlpact.config import json_schema

    print_json(json_schema())


@config_app.command("reference")
@command
def config_reference() -> None:
    """Print the config reference (every key, type, default and meaning) as Markdown."""
    from mlpact.docs import reference_markdown

    sys.stdout.write(reference_markdown())
