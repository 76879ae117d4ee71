"""`mlpact ui`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlpact.cli._app import StoreOpt, app, command
from mlpact.cli._output import live


@app.command()
@command
def ui(
    host: Annotated[
        str,
        typer.Option(
            help="Interface to bind; the default serves this machine only. Any other address without "
            "a token prints a warning."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=0, max=65535)] = 8765,
    allow_writes: Annotated[
        bool,
        typer.Option(
            "--allow-writes",
            help="Offer promote, rollback and archive (needs a token; each change is recorded with "
            "who and why).",
        ),
    ] = False,
    auth_token_file: Annotated[
        Optional[Path],
        typer.Option(
            help="Require a token from this file (one per line; # comments; re-read when it changes) "
            "for every page but /health; also read from $MLPACT_UI_TOKENS (comma-separated).",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "warning",
    store: StoreOpt = None,
) -> None:
    """Browse the store in a web browser: models, versions, runs, comparisons, tuning studies.

    [bold]Pages[/]: /models (every model, its aliases and headline metric), /models/NAME/N (a
    version: report, card, schema, config, lineage, golden rows, evaluations, checks and
    reproductions, alias history), /runs (every kind; choose columns, filter by config key=value,
    sort by any metric), /compare?runs=ID,ID or ?versions=NAME:N,NAME:N (2 to 6: what differs,
    metrics with the best marked, plots overlaid), /studies (tuning studies with Optuna's plots).
    Every view is a URL you can share.

    [bold]Access[/]: read-only and bound to 127.0.0.1 by default. With tokens (--auth-token-file
    or $MLPACT_UI_TOKENS) every page needs one: browsers sign in at /login, scripts send
    "Authorization: Bearer TOKEN". --allow-writes needs a token; writes are CSRF-protected and land
    in the model's history with who and why. Nothing is fetched from the internet.

    [bold]Examples[/]

      mlpact ui

      mlpact ui --store /data/mlpact --port 9000

      MLPACT_UI_TOKENS=s3cret mlpact ui --allow-writes
    """
    import os

    from mlpact.ui import TOKEN_ENV, run_ui

    if allow_writes and auth_token_file is None and not os.environ.get(TOKEN_ENV):
        raise typer.BadParameter(
            f"writes need a token: add --auth-token-file FILE, or set ${TOKEN_ENV} (comma-separated)",
            param_hint="--allow-writes",
        )
    live()  # a server runs until stopped: each warning shows when it first comes
    run_ui(
        store, host=host, port=port, token_file=auth_token_file, allow_writes=allow_writes,
        log_level=log_level.lower(),
    )  # fmt: skip
