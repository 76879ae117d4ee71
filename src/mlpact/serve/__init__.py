"""Serve a version over HTTP (FastAPI + uvicorn) with its input schema as the contract.

- ``POST /predict``: records (or ``dataframe_records`` / ``dataframe_split`` / ``inputs``) in,
  predictions and class probabilities out. Input is checked by ``Model.check``, the same checks
  and validation policy as ``Model.predict`` and ``mlpact predict``.
- ``GET /health`` (liveness), ``GET /ready`` (model loaded), ``GET /metadata`` (name, version,
  aliases, schema, policy, metrics), ``GET /openapi.json`` and ``/docs``.

The model is loaded once per worker process. ``NAME@ALIAS`` is followed by polling the store.
FastAPI and uvicorn are the optional ``serve`` extra, imported only when serving.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from mlpact.serve._app import (
    ENV_VAR,
    ServeSettings,
    app_from_environment,
    create_app,
    environment_options,
    require_fastapi,
)
from mlpact.serve._holder import ModelHolder

__all__ = ["ModelHolder", "ServeSettings", "app_from_environment", "create_app", "serve"]

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
    settings: ServeSettings | None = None,
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Run an HTTP server for a version until interrupted.

    Args:
        ref: ``name``, ``name:3``, ``name@alias`` (followed when it moves) or a version folder.
        host: the interface to bind; the default serves this machine only.
        workers: worker processes, each loading the model once.
        settings: request limits, alias poll interval, CORS origins.

    Raises:
        MissingDependencyError: fastapi or uvicorn is not installed.
        NotFoundError, IntegrityError, UntrustedTypesError: the version cannot be loaded.
    """
    require_fastapi()
    import uvicorn

    settings = settings or ServeSettings()
    _configure_logging(log_level)
    common = {"host": host, "port": port, "log_level": log_level, "access_log": access_log}
    if workers <= 1:
        uvicorn.run(create_app(ref, store=store, trust=trust, settings=settings), **common)  # type: ignore[arg-type]
        return
    ModelHolder(ref, store=store, trust=trust)  # fail here, once, with a clear error
    root = str(Path(store).resolve()) if store is not None else None
    os.environ[ENV_VAR] = environment_options(ref, root, trust, settings)
    uvicorn.run(f"{__name__}:app_from_environment", factory=True, workers=workers, **common)  # type: ignore[arg-type]


def _configure_logging(level: str) -> None:
    logger = logging.getLogger("mlpact.serve")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())
