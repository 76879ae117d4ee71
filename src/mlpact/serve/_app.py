"""The FastAPI app: `/predict`, `/health`, `/ready`, `/metadata` and the generated OpenAPI.

FastAPI is imported only here, inside functions (the optional `serve` extra).
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact.rowpath import row_path
from mlpact.serve._access import MODEL_HEADER
from mlpact.serve._holder import ModelHolder
from mlpact.serve._payload import PayloadError, parse_records, read_body

if TYPE_CHECKING:
    import pandas as pd
    from fastapi import FastAPI, Request, Response

    from mlpact.config import ServeConfig
    from mlpact.model import Model
    from mlpact.schema import Problem, ValidationReport
    from mlpact.serve._access import Metrics
    from mlpact.serve._predlog import PredictionLog
    from mlpact.store import Store

log = logging.getLogger("mlpact.serve")
ENV_VAR = "MLPACT_SERVE_OPTIONS"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # fullmatch: `$` accepts a final newline
FAST_ROWS = 1_000  # larger requests amortise sklearn's per-call overhead; its path is as fast


def require_fastapi() -> None:
    """Raise MissingDependencyError (with the install hint) when the `serve` extra is missing."""
    from mlpact.errors import MissingDependencyError

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

    from mlpact.access import Tokens
    from mlpact.serve._access import Gate, Hosts, Metrics

    tokens = Tokens.from_config(settings.auth)
    hosts = Hosts.from_settings(settings.allowed_hosts, authenticated=tokens is not None)
    metrics = Metrics(holder)
    predictions = _prediction_log(settings, metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
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
    _add_predict(app, holder, settings, _Telemetry(metrics, predictions))
    if getattr(holder.model, "takes_images", False):
        from mlpact.serve._images import add_image_predict

        add_image_predict(app, holder, settings)
    _add_info(app, holder, settings)
    _add_metrics(app, metrics)
    _add_openapi(app, holder, settings)
    return app


def _prediction_log(settings: ServeConfig, metrics: Metrics) -> PredictionLog | None:
    if settings.prediction_log.path is None:
        return None
    from mlpact.serve._predlog import PredictionLog

    return PredictionLog(settings.prediction_log, on_drop=metrics.log_dropped.inc)


class _Telemetry:
    """What `/predict` reports besides its answer: metrics, and rows for the prediction log."""

    def __init__(self, metrics: Metrics, predictions: PredictionLog | None) -> None:
        self.metrics, self.predictions = metrics, predictions

    def refused(self, report: ValidationReport) -> None:
        self.metrics.refused(report)

    def predicted(self, model: Model, X: pd.DataFrame, result: dict[str, Any], rid: str) -> None:
        found = result["predictions"]
        self.metrics.rows.inc(len(found))
        if self.predictions is not None:
            self.predictions.add(model.ref, X, found, rid)


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
def _add_predict(app: FastAPI, holder: ModelHolder, settings: ServeConfig, telemetry: _Telemetry) -> None:
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


CLIENT_CLOSED = 499  # nginx's "client closed request": nobody reads it, /metrics counts it


def client_gone(rid: str) -> tuple[bytes, int]:
    """The answer to a client that disconnected before sending its whole body: not a server
    error, so no 500 in the log or /metrics (the server cannot send it anyway)."""
    log.info("request %s: the client disconnected before sending the whole body", rid)
    return b"", CLIENT_CLOSED


def request_id(given: str | None) -> str:
    """The client's X-Request-ID when it is a plain token, else a new random one."""
    return given if given is not None and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def answer(
    model: Model, records: list[dict[str, Any]], rid: str, telemetry: _Telemetry | None = None
) -> tuple[bytes, int]:
    """Validate records under the version's policy, then predict: (JSON body, status)."""
    if not records:
        return _dumps({"model": model.ref, "predictions": [], "probabilities": None, "warnings": []}), 200
    try:
        X, report = model.check(records)
    except (ValueError, TypeError, OverflowError) as exc:
        raise PayloadError(422, f"The input could not be read as a table ({type(exc).__name__}).") from None
    if report.errors:
        if telemetry is not None:
            telemetry.refused(report)
        return _refuse(report, rid), 422
    try:
        result = score(model, X)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _Unscorable(
            422,
            f"The model could not score this input ({type(exc).__name__} in the pipeline), although it "
            "passed the schema checks: look for extreme or non-finite numbers.",
        ) from None
    if telemetry is not None:
        telemetry.predicted(model, X, result, rid)
    warnings = [problem_json(p) for p in report.warnings]
    return _dumps({"model": model.ref, **result, "warnings": warnings}), 200


class _Unscorable(PayloadError):
    kind = "unscorable"


def _refuse(report: ValidationReport, rid: str) -> bytes:
    n = len(report.errors)
    message = f"Input does not match the model's schema: {n} error{'s' if n != 1 else ''}."
    log.warning("request %s: 422 %s\n%s", rid, message, report.format(show_values=False))
    return error_body(message, rid, [problem_json(p) for p in report.problems])


def score(model: Model, X: Any) -> dict[str, Any]:
    """Predictions (and class probabilities for classifiers) as plain JSON-ready lists.

    Requests of up to FAST_ROWS rows go through the pipeline's compiled fast path when it has one
    (`mlpact.rowpath`: the same numbers, without sklearn's per-call overhead); any value it was
    not compiled for sends the request through the pipeline itself.
    """
    pipeline = model.pipeline
    fast = row_path(pipeline) if len(X) <= FAST_ROWS else None
    if model.task == "classification" and hasattr(pipeline, "predict_proba"):
        proba = fast.predict_proba(X) if fast is not None else None
        if proba is None:
            proba = pipeline.predict_proba(X)
        classes = pipeline.classes_
        keys = [str(c.item() if hasattr(c, "item") else c) for c in classes]
        rows = [dict(zip(keys, row, strict=True)) for row in proba.tolist()]
        return {"predictions": model.decide(proba).tolist(), "probabilities": rows}
    predictions = fast.predict(X) if fast is not None else None
    if predictions is None:
        predictions = pipeline.predict(X)
    return {"predictions": [_finite(v) for v in predictions.tolist()], "probabilities": None}


def problem_json(problem: Problem) -> dict[str, Any]:
    """A validation finding for a response: field, check, severity, rows and words (no values)."""
    return {
        "field": problem.column,
        "check": problem.check,
        "severity": problem.severity,
        "count": problem.count,
        "rows": problem.rows,
        "message": problem.describe(show_values=False),
    }


def error_body(message: str, rid: str, problems: list[dict[str, Any]] | None = None) -> bytes:
    return _dumps({"error": message, "request_id": rid, "problems": problems or []})


def _dumps(data: Any) -> bytes:
    import orjson

    return orjson.dumps(data)  # a non-finite float becomes null: JSON has no NaN


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


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
        return _finite(value)
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


# --------------------------------------------------------------------------- start-up
@contextlib.contextmanager
def starting_up(*, freeze: bool = True) -> Iterator[None]:
    """Start a server without the cyclic garbage collector, then set aside what start-up made.

    Start-up imports scikit-learn, pandas and FastAPI and loads a model: a few million objects,
    almost none of them garbage, which the collector walks again and again as they are created
    (measured on `mlpact serve`: ~450 young and 3 full collections, about 13% of the time to
    the first answer, the same share for a hand-written FastAPI app). Afterwards `gc.freeze()`
    moves those long-lived objects out of the collector's view, so that collections while
    serving do not walk them either (`freeze=False`: a process that does more than serve).
    A failed start-up only turns the collector back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        if freeze:
            gc.freeze()
    finally:
        if enabled:
            gc.enable()


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
