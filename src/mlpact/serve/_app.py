"""The FastAPI app: `/predict`, `/health`, `/ready`, `/metadata` and the generated OpenAPI.

FastAPI is imported only here, inside functions (the optional `serve` extra).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact._core.access import Tokens
from mlpact._core.startup import starting_up
from mlpact.errors import MissingDependencyError, PayloadError
from mlpact.serve._access import MODEL_HEADER, Gate, Hosts, Metrics
from mlpact.serve._answer import Telemetry, answer, client_gone, error_body, finite, request_id
from mlpact.serve._holder import ModelHolder
from mlpact.serve._images import add_image_predict
from mlpact.serve._payload import parse_records, read_body
from mlpact.serve._predlog import PredictionLog
from mlpact.version.rowpath import row_path

if TYPE_CHECKING:
    from fastapi import FastAPI, Request, Response

    from mlpact.config import ServeConfig
    from mlpact.serve._access import Metrics
    from mlpact.serve._predlog import PredictionLog
    from mlpact.store import Store
    from mlpact.version.model import Model

log = logging.getLogger("mlpact.serve")
ENV_VAR = "MLPACT_SERVE_OPTIONS"


def require_fastapi() -> None:
    """Raise MissingDependencyError (with the install hint) when the `serve` extra is missing."""

    for package in ("fastapi", "uvicorn", "orjson", "prometheus_client"):
        try:
            __import__(package)
        except ImportError as exc:
            raise MissingDependencyError(package, extra="serve", feature="mlpact serve") from exc


def create_app(
    ref: str,
    *,
    store: str | Path | Store | None = None,
    trust: Iterable[str] = (),
    settings: ServeConfig | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> FastAPI:
    """A FastAPI app serving one version (or following an alias): the model is loaded now, once.

    Args:
        ref: ``name``, ``name:3``, ``name@alias`` (followed when it moves) or a version folder.
        store: the store to resolve names in.
        trust: extra type names to trust when loading.
        settings: the `serve:` settings to use; default: the version's saved `serve:` section
            with `overrides` applied (e.g. ``{"max_rows": 100, "cors": {"origins": [...]}}``).

    Raises:
        MissingDependencyError: fastapi, uvicorn or prometheus_client is not installed.
        NotFoundError, IntegrityError, UntrustedTypesError: as `mlpact.load`.
        ConfigError: an override is invalid, or the auth token file is missing or empty.
    """
    require_fastapi()
    holder = ModelHolder(ref, store=store, trust=trust)
    return build_app(holder, settings or settings_for(holder.model, overrides))


def settings_for(model: Model, overrides: Mapping[str, Any] | None = None) -> ServeConfig:
    """The version's `serve:` section with overrides (CLI flags, None meaning unset) applied."""
    from mlpact.config import validate_config

    cfg = model.config
    given = _set(overrides or {})
    if not given:
        return cfg.serve
    raw = cfg.to_dict(reveal=True)
    raw["serve"] = _merge(raw.get("serve") or {}, given)
    return validate_config(raw, label="serve settings").serve


def _set(overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in overrides.items():
        value = _set(value) if isinstance(value, Mapping) else value
        if value is not None and value != {}:
            out[key] = value
    return out


def _merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        both = isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
        out[key] = _merge(out[key], value) if both else value
    return out


def build_app(holder: ModelHolder, settings: ServeConfig) -> FastAPI:
    """The app around an already loaded holder.

    Raises:
        ConfigError: the auth token file is missing, unreadable or empty.
    """
    from fastapi import FastAPI

    tokens = Tokens.from_config(settings.auth)
    hosts = Hosts.from_settings(settings.allowed_hosts, authenticated=tokens is not None)
    metrics = Metrics(holder)
    predictions = _prediction_log(settings, metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if holder.model.compiled:
            row_path(holder.model.pipeline)  # compile the fast path before the first request
        stop = holder.start_polling(settings.poll_interval)
        if predictions is not None:
            predictions.start()
        yield
        stop.set()
        if predictions is not None:
            predictions.close()

    app = FastAPI(
        title=f"mlpact: {holder.ref}",
        version=str(holder.model.version),
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.metrics, app.state.prediction_log, app.state.authenticated = (
        metrics,
        predictions,
        tokens is not None,
    )
    app.add_middleware(Gate, holder=holder, tokens=tokens, metrics=metrics, hosts=hosts)
    cors = settings.cors
    if cors.origins:  # outermost, so that preflight requests (which carry no token) are answered
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors.origins,
            allow_methods=cors.methods,
            allow_headers=cors.headers,
            allow_credentials=cors.credentials,
            expose_headers=["X-Request-ID", "X-Mlpact-Model"],
        )
    _add_predict(app, holder, settings, Telemetry(metrics, predictions))
    if getattr(holder.model, "takes_images", False):
        add_image_predict(app, holder, settings)
    _add_info(app, holder, settings)
    _add_metrics(app, metrics)
    _add_openapi(app, holder, settings)
    return app


def _prediction_log(settings: ServeConfig, metrics: Metrics) -> PredictionLog | None:
    if settings.prediction_log.path is None:
        return None

    return PredictionLog(settings.prediction_log, on_drop=metrics.log_dropped.inc)


_DESCRIPTION = (
    "Predictions from a saved mlpact version. The request body's fields are the version's input "
    "columns; every request is checked against the version's schema under its saved validation "
    "policy (the same checks as `Model.predict` and `mlpact predict`): errors give a 422 naming "
    "each field and problem, warnings are returned beside the predictions."
)


_IMAGES_ELSEWHERE = (
    "{ref} is an image model: POST the image files as multipart/form-data to /predict/image "
    "(e.g. curl -F file=@cat.jpg http://HOST:PORT/predict/image); /predict takes table rows as JSON."
)


# --------------------------------------------------------------------------- /predict
def _add_predict(app: FastAPI, holder: ModelHolder, settings: ServeConfig, telemetry: Telemetry) -> None:
    from fastapi import Request, Response
    from starlette.requests import ClientDisconnect

    from mlpact.serve._contract import ErrorResponse, PredictResponse

    errors = {"model": ErrorResponse}
    responses: dict[int | str, dict[str, Any]] = {
        200: {"model": PredictResponse, "description": "Predictions, in input order."},
        413: {**errors, "description": "Too many rows or bytes (see --max-rows, --max-bytes)."},
        422: {**errors, "description": "The input does not match the schema; each field and problem."},
        500: {**errors, "description": "A bug: the log has the request id."},
    }

    async def predict(request: Request) -> Response:
        """Predict a list of records (or `dataframe_records`, `dataframe_split`, `inputs`)."""
        rid = request_id(request.headers.get("x-request-id"))
        model = holder.model  # one version for the whole request, even if the alias moves
        try:
            if getattr(model, "takes_images", False):
                raise PayloadError(415, _IMAGES_ELSEWHERE.format(ref=model.ref))
            body = await read_body(
                request.stream(), request.headers.get("content-length"), max_bytes=settings.max_bytes
            )
            content, status = answer(model, parse_records(body, max_rows=settings.max_rows), rid, telemetry)
        except PayloadError as exc:
            log.warning("request %s: %d %s", rid, exc.status, exc.message)
            telemetry.metrics.failed(getattr(exc, "kind", "too_large" if exc.status == 413 else "payload"))
            content, status = error_body(exc.message, rid), exc.status
        except ClientDisconnect:
            content, status = client_gone(rid)
        except Exception as exc:
            log.error(
                "request %s: 500 unexpected %s while predicting with %s", rid, type(exc).__name__, model.ref
            )
            content, status = error_body("Internal error; the server log has this request id.", rid), 500
        headers = {"x-request-id": rid, MODEL_HEADER: model.ref}
        return Response(content, status_code=status, media_type="application/json", headers=headers)

    # This module postpones annotations; FastAPI needs the real Request class to inject it.
    predict.__annotations__ = {"request": Request, "return": Response}
    app.post("/predict", response_model=None, responses=responses, summary="Predict input rows")(predict)


# --------------------------------------------------------------------------- info endpoints
def _add_info(app: FastAPI, holder: ModelHolder, settings: ServeConfig) -> None:
    from fastapi.responses import JSONResponse

    @app.get("/health", summary="Liveness")
    async def health() -> dict[str, str]:
        """The process is up and answering."""
        return {"status": "ok"}

    @app.get(
        "/ready",
        summary="Readiness",
        response_model=None,
        responses={503: {"description": "No model loaded."}},
    )
    async def ready() -> JSONResponse:
        """The model is loaded and predictions can be served."""
        model = getattr(holder, "model", None)
        if model is None:
            return JSONResponse({"ready": False}, status_code=503)
        return JSONResponse({"ready": True, "model": model.ref, "follow_error": holder.last_error})

    @app.get("/metadata", summary="The served version", response_model=None)
    async def metadata() -> JSONResponse:
        """Name, version, aliases, schema, validation policy, metrics and request limits."""
        return JSONResponse(_clean(describe(holder, settings)))


def describe(holder: ModelHolder, settings: ServeConfig) -> dict[str, Any]:
    """What `/metadata` says about the served version."""
    model = holder.model
    return {
        "name": model.name,
        "version": model.version,
        "ref": model.ref,
        "served_as": holder.ref,
        "follows_alias": holder.follows,
        "aliases": _aliases(holder, model),
        "task": model.task,
        "classes": model.classes,
        "schema": model.schema.to_dict(),
        "validation": dict(model.policy),
        "metrics": model.metrics,
        "created": model.manifest.get("created"),
        "limits": {"max_rows": settings.max_rows, "max_bytes": settings.max_bytes},
    }


def _aliases(holder: ModelHolder, model: Model) -> list[str]:
    if holder.store is None:
        return []
    try:
        return list(holder.store.get(model.name, model.version).aliases)
    except Exception:  # the index is informational here; never fail /metadata for it
        return list(model.record.aliases) if model.record else []


def _clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become null (JSON has no NaN)."""
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


# --------------------------------------------------------------------------- OpenAPI
def _add_metrics(app: FastAPI, metrics: Metrics) -> None:
    from fastapi import Response

    async def prometheus() -> Response:
        """Requests by endpoint and status, latency, validation failures by kind, rows predicted,
        the served version (Prometheus text format)."""
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    prometheus.__annotations__ = {"return": Response}
    app.get("/metrics", response_model=None, include_in_schema=False)(prometheus)


def _add_openapi(app: FastAPI, holder: ModelHolder, settings: ServeConfig) -> None:
    """OpenAPI with the request body generated from the served version's schema and policy."""
    from fastapi.openapi.utils import get_openapi

    from mlpact.serve._contract import request_models

    cache: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        model = holder.model
        if cache.get("ref") != model.ref:
            body, components = request_models(model, max_rows=settings.max_rows)
            doc = get_openapi(
                title=f"mlpact: {model.ref}",
                version=str(model.version),
                description=_DESCRIPTION,
                routes=app.routes,
            )
            doc.setdefault("components", {}).setdefault("schemas", {}).update(components)
            doc["paths"]["/predict"]["post"]["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body}},
            }
            cache.update(ref=model.ref, doc=doc)
        return dict(cache["doc"])

    app.openapi = openapi  # type: ignore[method-assign]


# --------------------------------------------------------------------------- several workers
def app_from_environment() -> FastAPI:
    """uvicorn factory for `--workers N`: each worker process builds the app (and loads the model)."""
    from mlpact.config import ServeConfig

    with starting_up(freeze=False):  # also called in-process (tests, embedding): nothing frozen
        options = json.loads(os.environ[ENV_VAR])
        settings = ServeConfig.model_validate(options["settings"])
        return create_app(options["ref"], store=options["store"], trust=options["trust"], settings=settings)


def environment_options(ref: str, store: str | None, trust: Iterable[str], settings: ServeConfig) -> str:
    """What `app_from_environment` reads, as JSON (settings name token files, never tokens)."""
    data = {"ref": ref, "store": store, "trust": list(trust), "settings": settings.model_dump(mode="json")}
    return json.dumps(data)
