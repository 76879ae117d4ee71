"""Serve a version over HTTP (FastAPI + uvicorn) with its input schema as the contract.

- ``POST /predict``: records (or ``dataframe_records`` / ``dataframe_split`` / ``inputs``) in,
  predictions and class probabilities out. Input is checked by ``Model.check``, the same checks
  and validation policy as ``Model.predict`` and ``mlpact predict``.
- ``GET /health`` (liveness), ``GET /ready`` (model loaded), ``GET /metadata`` (name, version,
  aliases, schema, policy, metrics), ``GET /metrics`` (Prometheus), ``GET /openapi.json`` and
  ``/docs``. Every response but /health names the version in ``X-Mlpact-Model``.

Settings are the version's ``serve:`` section (limits, alias polling, CORS, bearer-token auth,
the prediction log), overridden by arguments. Everything but /health needs a token when tokens
are configured. The model is loaded once per worker process. ``NAME@ALIAS`` is followed by
polling the store. FastAPI, uvicorn and prometheus_client are the optional ``serve`` extra,
imported only when serving.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact._core.access import is_loopback
from mlpact._core.startup import starting_up
from mlpact.errors import UsageError
from mlpact.serve._answer import score
from mlpact.serve._app import (
    ENV_VAR,
    app_from_environment,
    build_app,
    create_app,
    environment_options,
    require_fastapi,
    settings_for,
)
from mlpact.serve._holder import ModelHolder
from mlpact.serve._predlog import PredictionLog

if TYPE_CHECKING:
    from mlpact.config import ServeConfig

__all__ = [
    "ENV_VAR", "ModelHolder", "PredictionLog", "app_from_environment", "build_app", "create_app",
    "environment_options", "is_loopback", "score", "serve", "settings_for",
]  # fmt: skip

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def serve(
    ref: str,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workers: int = 1,
    store: str | Path | None = None,
    trust: Iterable[str] = (),
    settings: ServeConfig | None = None,
    overrides: Mapping[str, Any] | None = None,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Run an HTTP server for a version until interrupted.

    Args:
        ref: ``name``, ``name:3``, ``name@alias`` (followed when it moves) or a version folder.
        host: the interface to bind; the default serves this machine only. Binding any other
            address without authentication logs a warning (and prints it to stderr).
        workers: worker processes, each loading the model once.
        settings: the `serve:` settings; default: the version's `serve:` section with
            `overrides` (keys of that section; None values are ignored) applied.

    Raises:
        MissingDependencyError: fastapi, uvicorn or prometheus_client is not installed.
        NotFoundError, IntegrityError, UntrustedTypesError: the version cannot be loaded.
        ConfigError: an override is invalid, or the auth token file is missing or empty.
        UsageError: the port is taken or not allowed, or the host is not an address here
            (checked before the model is loaded).
    """
    check_port(host, port)
    with starting_up():
        require_fastapi()
        import uvicorn

        _configure_logging(log_level)
        holder = ModelHolder(ref, store=store, trust=trust)  # fail here, once, with a clear error
        settings = settings or settings_for(holder.model, overrides)
        app = build_app(holder, settings)  # reads the tokens: a bad token file fails here too
    if not app.state.authenticated:
        _warn_if_exposed(host)
    common = {"host": host, "port": port, "log_level": log_level, "access_log": access_log}
    if workers <= 1:
        try:
            uvicorn.run(app, **common)  # type: ignore[arg-type]
        finally:
            gc.unfreeze()  # serve() called from Python: what start-up made is collectable again
        return
    del app, holder
    gc.unfreeze()  # this process only supervises the workers, which load the model themselves
    root = str(Path(store).resolve()) if store is not None else None
    os.environ[ENV_VAR] = environment_options(ref, root, trust, settings)
    uvicorn.run(f"{__name__}:app_from_environment", factory=True, workers=workers, **common)  # type: ignore[arg-type]


def check_port(host: str, port: int) -> None:
    """Refuse, before anything slow, a host:port this process cannot listen on.

    The port is bound and released at once, the way uvicorn binds it (SO_REUSEADDR), so a
    port that only has connections closing still counts as free.

    Raises:
        UsageError: another program listens there, the port needs privileges, or the host is
            not an address of this machine.
    """
    import errno
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise UsageError(
            f"Cannot serve on --host {host!r}: expected an address or name of this machine, and "
            f"{host!r} does not resolve ({exc.strerror}).",
            hint="Use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface).",
        ) from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise _bind_error(host, port, exc.errno or 0, errno) from None


def _bind_error(host: str, port: int, code: int, errno: Any) -> Exception:

    other = 8000 if port != 8000 else 8080
    if code == errno.EADDRINUSE:
        return UsageError(
            f"Port {port} on {host} is already in use by another program; expected a free port.",
            hint=f"Pick another with --port (e.g. --port {other}), or stop the program that holds "
            f"it (`ss -ltnp 'sport = :{port}'` names it).",
        )
    if code == errno.EACCES:
        return UsageError(
            f"Port {port} on {host} needs administrator rights (ports below 1024 do).",
            hint=f"Pick a port from 1024 up with --port (e.g. --port {other}).",
        )
    return UsageError(
        f"Cannot listen on {host}:{port}: {os.strerror(code)}.",
        hint="Check --host is an address of this machine (127.0.0.1, 0.0.0.0) and --port is free.",
    )


def _warn_if_exposed(host: str) -> None:
    if is_loopback(host):
        return
    message = (
        f"serving on {host}, which other machines can reach, WITHOUT authentication: anyone who can "
        "connect can call /predict, /metadata and /metrics. Set tokens with --auth-token-file or "
        "$MLPACT_SERVE_TOKENS (or serve.auth in the config), or bind 127.0.0.1."
    )
    logger = logging.getLogger("mlpact.serve")
    logger.warning(message)
    if not any(getattr(h, "stream", None) is sys.stderr for h in logger.handlers):
        print(f"Warning: {message}", file=sys.stderr)


def _configure_logging(level: str) -> None:
    logger = logging.getLogger("mlpact.serve")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())
