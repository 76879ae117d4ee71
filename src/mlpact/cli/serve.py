"""`mlpact serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from mlpact.cli._app import StoreOpt, TrustOpt, app, command
from mlpact.cli._output import live

_FROM_CONFIG = "the version's serve: section"


@app.command()
@command
def serve(
    model: Annotated[
        str, typer.Argument(help="NAME, NAME:VERSION, NAME@ALIAS or a version folder.", show_default=False)
    ],
    host: Annotated[
        str,
        typer.Option(
            help="Interface to bind; the default serves this machine only. Any other address without "
            "authentication prints a warning."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes; each loads the model once.", min=1)] = 1,
    max_rows: Annotated[
        Optional[int],
        typer.Option(
            help=f"Most rows per request; more get a 413 \\[default: {_FROM_CONFIG}, 10000].", min=1
        ),
    ] = None,
    max_bytes: Annotated[
        Optional[int],
        typer.Option(
            help=f"Largest request body in bytes; larger gets a 413 \\[default: {_FROM_CONFIG}, 10 MiB].",
            min=1,
        ),
    ] = None,
    poll_interval: Annotated[
        Optional[float],
        typer.Option(
            help="Seconds between checks of the store when MODEL is NAME@ALIAS; 0 turns it off "
            f"\\[default: {_FROM_CONFIG}, 2].",
            min=0,
        ),
    ] = None,
    cors_origin: Annotated[
        Optional[list[str]],
        typer.Option(
            help="Allow browser requests from this origin (repeatable; replaces serve.cors.origins). "
            "CORS is off by default."
        ),
    ] = None,
    allowed_host: Annotated[
        Optional[list[str]],
        typer.Option(
            help="A host name clients address the server by (repeatable; replaces serve.allowed_hosts; "
            "`*.example.com` for subdomains, `*` for any). Loopback names always work, IP addresses "
            "too on other interfaces; other names get a 421 while auth is off.",
            show_default=False,
        ),
    ] = None,
    auth_token_file: Annotated[
        Optional[Path],
        typer.Option(
            help="Require a bearer token from this file (one per line; # comments; re-read when it "
            "changes) on every endpoint but /health.",
            show_default=False,
        ),
    ] = None,
    prediction_log: Annotated[
        Optional[Path],
        typer.Option(
            help="Log validated input rows and predictions as Parquet files in this folder "
            "(serve.prediction_log.path; `mlpact check MODEL FOLDER` reads it).",
            show_default=False,
        ),
    ] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request line (method, path, status).")] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    trust: TrustOpt = None,
    store: StoreOpt = None,
) -> None:
    """Serve a version over HTTP: POST /predict, GET /health, /ready, /metadata, /metrics, /docs.

    [bold]Requests[/]: POST /predict takes a list of records ({"column": value, ...}), or the
    MLflow/pandas shapes {"dataframe_records": [...]}, {"dataframe_split": {"columns": [...],
    "data": [...]}} and {"inputs": ...}. It returns predictions and, for classifiers, class
    probabilities. Every response but /health names the version in X-Mlpact-Model (e.g. wine:3).

    [bold]Images[/]: an image model also answers POST /predict/image: multipart/form-data files
    (curl -F file=@cat.jpg -F file=@dog.jpg), one prediction per file, with the file names,
    class probabilities and warnings (the /docs page has an upload form). A file that is not an
    image is named: under the version's validation.unreadable_image (default warn) the others
    are predicted and its entries are null; under error the request gets a 422. JSON sent to
    /predict of an image model gets a 415 pointing to /predict/image.

    [bold]Validation[/]: every request is checked with the same checks and the same validation
    policy (the version's saved `validation:` section) as `mlpact predict` and Model.predict.
    Errors give a 422 naming each field and problem; warnings come back beside the predictions.
    The request schema in /docs is generated from the version's schema and never stricter than
    the policy: a category is an enum only when unseen categories are errors, a number has
    bounds only when out-of-range values are errors, a field is required only when a missing
    column is an error; otherwise the rule is in the field's description. A request
    over --max-rows or --max-bytes gets a 413. Errors are logged with a request id (X-Request-ID),
    never with values from the payload.

    [bold]Settings[/]: the version's saved `serve:` section (max_rows, max_bytes, poll_interval,
    allowed_hosts, cors, auth, prediction_log; see docs/serve.md); the flags here override it.

    [bold]Access[/]: binds 127.0.0.1 unless --host says otherwise. With tokens (--auth-token-file,
    serve.auth.token_file, or the comma-separated variable $MLPACT_SERVE_TOKENS) every endpoint
    but /health needs "Authorization: Bearer TOKEN"; without one, or with a wrong one, the answer
    is 401 (tokens are compared in constant time and never logged). A token in the URL's query
    string is refused (400), and no query string reaches the access log. Without tokens, a request
    must address the server by a loopback name (localhost, 127.0.0.1, [::1]), by IP address on
    another interface, or by a name in --allowed-host (serve.allowed_hosts); any other Host gets a
    421, so a web page cannot reach the server by DNS rebinding. CORS is off unless --cors-origin
    or serve.cors.origins names origins.

    [bold]Observability[/]: GET /metrics in Prometheus format (requests by endpoint and status,
    latency, validation failures by kind, rows predicted, the served version). --prediction-log
    (or serve.prediction_log) writes validated rows + predictions off the request path, with
    columns redacted or dropped as configured.

    [bold]Aliases[/]: with MODEL as NAME@ALIAS the server polls the store every --poll-interval
    seconds (polling, not signals) and switches to the version the alias points at after
    `mlpact models promote/rollback`. The new version is loaded beside the old one and swapped
    in; requests in flight finish on the old one, none is dropped.

    [bold]Examples[/]

      mlpact serve wine

      mlpact serve churn@production --port 8080 --workers 2

      mlpact serve churn@production --host 0.0.0.0 --auth-token-file /etc/mlpact/tokens

      mlpact serve churn@production --host 0.0.0.0 --allowed-host churn.internal
    """
    import gc

    gc.disable()  # start-up runs without the collector (see mlpact.serve starting_up), imports too
    try:
        from mlpact.serve import serve as run_server
    finally:
        gc.enable()

    live()  # a server runs until stopped: each warning shows when it first comes
    overrides = {
        "max_rows": max_rows,
        "max_bytes": max_bytes,
        "poll_interval": poll_interval,
        "allowed_hosts": allowed_host or None,
        "cors": {"origins": cors_origin or None},
        "auth": {"token_file": str(auth_token_file) if auth_token_file else None},
        "prediction_log": {"path": str(prediction_log) if prediction_log else None},
    }
    run_server(
        model,
        host=host,
        port=port,
        workers=workers,
        store=store,
        trust=trust or (),
        overrides=overrides,
        log_level=log_level.lower(),
        access_log=access_log,
    )
