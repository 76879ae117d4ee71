"""The FastAPI app: `/predict`, `/health`, `/ready`, `/metadata` and the generated OpenAPI.

FastAPI is imported only here, inside functions (the optional `serve` extra).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact.serve._holder import ModelHolder
from mlpact.serve._payload import PayloadError, parse_records, read_body

if TYPE_CHECKING:
    from fastapi import FastAPI, Request, Response

    from mlpact.model import Model
    from mlpact.schema import Problem, ValidationReport
    from mlpact.store import Store

log = logging.getLogger("mlpact.serve")
ENV_VAR = "MLPACT_SERVE_OPTIONS"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(frozen=True)
class ServeSettings:
    """Limits and behaviour of a server (CLI options of `mlpact serve`)."""

    max_rows: int = 10_000
    max_bytes: int = 10 * 1024 * 1024
    poll_interval_s: float = 2.0
    cors_origins: tuple[str, ...] = field(default_factory=tuple)


def require_fastapi() -> None:
    """Raise MissingDependencyError (with the install hint) when the `serve` extra is missing."""
    from mlpact.errors import MissingDependencyError

    for package in ("fastapi", "uvicorn"):
        try:
            __import__(package)
        except ImportError as exc:
            raise MissingDependencyError(package, extra="serve", feature="mlpact serve") from exc


def create_app(
    ref: str,
    *,
    store: str | Path | Store | None = None,
    trust: Iterable[str] = (),
    settings: ServeSettings | None = None,
) -> FastAPI:
    """A FastAPI app serving one version (or following an alias): the model is loaded now, once.

    Args:
        ref: ``name``, ``name:3``, ``name@alias`` (followed when it moves) or a version folder.
        store: the store to resolve names in.
        trust: extra type names to trust when loading.
        settings: request limits, alias poll interval, CORS origins.

    Raises:
        MissingDependencyError: fastapi or uvicorn is not installed.
        NotFoundError, IntegrityError, UntrustedTypesError: as `mlpact.load`.
    """
    require_fastapi()
    holder = ModelHolder(ref, store=store, trust=trust)
    return build_app(holder, settings or ServeSettings())


def build_app(holder: ModelHolder, settings: ServeSettings) -> FastAPI:
    """The app around an already loaded holder."""
    from fastapi import FastAPI

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = holder.start_polling(settings.poll_interval_s)
        yield
        stop.set()

    app = FastAPI(
        title=f"mlpact: {holder.ref}",
        version=str(holder.model.version),
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )
    _add_predict(app, holder, settings)
    if getattr(holder.model, "takes_images", False):
        from mlpact.serve._images import add_image_predict

        add_image_predict(app, holder, settings)
    _add_info(app, holder, settings)
    _add_openapi(app, holder, settings)
    return app


_DESCRIPTION = (
    "Predictions from a saved mlpact version. The request body's fields are the version's input "
    "columns; every request is checked against the version's schema under its saved validation "
    "policy (the same checks as `Model.predict` and `mlpact predict`): errors give a 422 naming "
    "each field and problem, warnings are returned beside the predictions."
)


# --------------------------------------------------------------------------- /predict
def _add_predict(app: FastAPI, holder: ModelHolder, settings: ServeSettings) -> None:
    from fastapi import Request, Response

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
            body = await read_body(
                request.stream(), request.headers.get("content-length"), max_bytes=settings.max_bytes
            )
            content, status = answer(model, parse_records(body, max_rows=settings.max_rows), rid)
        except PayloadError as exc:
            log.warning("request %s: %d %s", rid, exc.status, exc.message)
            content, status = error_body(exc.message, rid), exc.status
        except Exception as exc:
            log.error(
                "request %s: 500 unexpected %s while predicting with %s", rid, type(exc).__name__, model.ref
            )
            content, status = error_body("Internal error; the server log has this request id.", rid), 500
        return Response(
            content, status_code=status, media_type="application/json", headers={"x-request-id": rid}
        )

    # This module postpones annotations; FastAPI needs the real Request class to inject it.
    predict.__annotations__ = {"request": Request, "return": Response}
    app.post("/predict", response_model=None, responses=responses, summary="Predict input rows")(predict)


def request_id(given: str | None) -> str:
    """The client's X-Request-ID when it is a plain token, else a new random one."""
    return given if given is not None and _REQUEST_ID.match(given) else uuid.uuid4().hex


def answer(model: Model, records: list[dict[str, Any]], rid: str) -> tuple[bytes, int]:
    """Validate records under the version's policy, then predict: (JSON body, status)."""
    if not records:
        return _dumps({"model": model.ref, "predictions": [], "probabilities": None, "warnings": []}), 200
    try:
        X, report = model.check(records)
    except (ValueError, TypeError, OverflowError) as exc:
        raise PayloadError(422, f"The input could not be read as a table ({type(exc).__name__}).") from None
    if report.errors:
        return _refuse(report, rid), 422
    try:
        result = score(model, X)
    except (ValueError, TypeError, OverflowError) as exc:
        raise PayloadError(
            422,
            f"The model could not score this input ({type(exc).__name__} in the pipeline), although it "
            "passed the schema checks: look for extreme or non-finite numbers.",
        ) from None
    warnings = [problem_json(p) for p in report.warnings]
    return _dumps({"model": model.ref, **result, "warnings": warnings}), 200


def _refuse(report: ValidationReport, rid: str) -> bytes:
    n = len(report.errors)
    message = f"Input does not match the model's schema: {n} error{'s' if n != 1 else ''}."
    log.warning("request %s: 422 %s\n%s", rid, message, report.format(show_values=False))
    return error_body(message, rid, [problem_json(p) for p in report.problems])


def score(model: Model, X: Any) -> dict[str, Any]:
    """Predictions (and class probabilities for classifiers) as plain JSON-ready lists."""
    pipeline = model.pipeline
    if model.task == "classification" and hasattr(pipeline, "predict_proba"):
        proba = pipeline.predict_proba(X)
        classes = pipeline.classes_
        keys = [str(c.item() if hasattr(c, "item") else c) for c in classes]
        rows = [dict(zip(keys, row, strict=True)) for row in proba.tolist()]
        return {"predictions": model.decide(proba).tolist(), "probabilities": rows}
    return {"predictions": [_finite(v) for v in pipeline.predict(X).tolist()], "probabilities": None}


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
    return json.dumps(data, allow_nan=False, separators=(",", ":")).encode()


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


# --------------------------------------------------------------------------- info endpoints
def _add_info(app: FastAPI, holder: ModelHolder, settings: ServeSettings) -> None:
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


def describe(holder: ModelHolder, settings: ServeSettings) -> dict[str, Any]:
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
def _add_openapi(app: FastAPI, holder: ModelHolder, settings: ServeSettings) -> None:
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
    options = json.loads(os.environ[ENV_VAR])
    settings = ServeSettings(
        **{**options["settings"], "cors_origins": tuple(options["settings"]["cors_origins"])}
    )
    return create_app(options["ref"], store=options["store"], trust=options["trust"], settings=settings)


def environment_options(ref: str, store: str | None, trust: Iterable[str], settings: ServeSettings) -> str:
    """What `app_from_environment` reads, as JSON."""
    return json.dumps({"ref": ref, "store": store, "trust": list(trust), "settings": asdict(settings)})
