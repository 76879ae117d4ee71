"""`mlpact serve`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mlpact.cli._app import StoreOpt, TrustOpt, app, command


@app.command()
@command
def serve(
    model: Annotated[
        str, typer.Argument(help="NAME, NAME:VERSION, NAME@ALIAS or a version folder.", show_default=False)
    ],
    host: Annotated[str, typer.Option(help="Interface to bind; the default serves this machine only.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="TCP port.", min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes; each loads the model once.", min=1)] = 1,
    max_rows: Annotated[int, typer.Option(help="Most rows per request; more get a 413.", min=1)] = 10_000,
    max_bytes: Annotated[
        int, typer.Option(help="Largest request body in bytes; larger gets a 413.", min=1)
    ] = 10 * 1024 * 1024,
    poll_interval: Annotated[
        float,
        typer.Option(
            help="Seconds between checks of the store when MODEL is NAME@ALIAS; 0 turns it off.", min=0
        ),
    ] = 2.0,
    cors_origin: Annotated[
        Optional[list[str]],
        typer.Option(help="Allow browser requests from this origin (repeatable). CORS is off by default."),
    ] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request line (method, path, status).")] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    trust: TrustOpt = None,
    store: StoreOpt = None,
) -> None:
    """Serve a version over HTTP: POST /predict, GET /health, /ready, /metadata, /docs.

    [bold]Requests[/]: POST /predict takes a list of records ({"column": value, ...}), or the
    MLflow/pandas shapes {"dataframe_records": [...]}, {"dataframe_split": {"columns": [...],
    "data": [...]}} and {"inputs": ...}. It returns predictions and, for classifiers, class
    probabilities.

    [bold]Validation[/]: every request is checked with the same checks and the same validation
    policy (the version's saved `validation:` section) as `mlpact predict` and Model.predict.
    Errors give a 422 naming each field and problem; warnings come back beside the predictions.
    The request schema in /docs is generated from the version's schema and never stricter than
    the policy: a category is an enum only when unseen categories are errors, a number has
    bounds only when out-of-range values are errors, a field is required only when a missing
    column is an error; otherwise the rule is in the field's description. A request over
    --max-rows or --max-bytes gets a 413. Errors are logged with a request id (X-Request-ID),
    never with values from the payload.

    [bold]Aliases[/]: with MODEL as NAME@ALIAS the server polls the store every --poll-interval
    seconds (polling, not signals) and switches to the version the alias points at after
    `mlpact models promote/rollback`. The new version is loaded beside the old one and swapped
    in; requests in flight finish on the old one, none is dropped.

    Limits and CORS are command-line options for now (not config keys).

    [bold]Examples[/]

      mlpact serve wine

      mlpact serve churn@production --port 8080 --workers 2
    """
    from mlpact.serve import ServeSettings
    from mlpact.serve import serve as run_server

    settings = ServeSettings(
        max_rows=max_rows,
        max_bytes=max_bytes,
        poll_interval_s=poll_interval,
        cors_origins=tuple(cors_origin or ()),
    )
    run_server(
        model,
        host=host,
        port=port,
        workers=workers,
        store=store,
        trust=trust or (),
        settings=settings,
        log_level=log_level.lower(),
        access_log=access_log,
    )
