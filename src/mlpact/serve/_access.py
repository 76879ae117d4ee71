"""Who may call the server, and what it counts: bearer tokens (:class:`mlpact.access.Tokens`),
Prometheus metrics, and the one pure ASGI middleware that applies both (and names the served
version on every response).

Pure ASGI rather than Starlette's BaseHTTPMiddleware: it wraps `send` and adds a few
microseconds per request, where BaseHTTPMiddleware runs each request through extra tasks and
memory streams.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from mlpact.access import Tokens

if TYPE_CHECKING:
    from mlpact.schema import ValidationReport
    from mlpact.serve._holder import ModelHolder

log = logging.getLogger("mlpact.serve")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MODEL_HEADER = "x-mlpact-model"
OPEN_PATHS = frozenset({"/health"})
# Known paths are metric labels as they are; anything else is "other", so that scanning a
# server for URLs cannot create unbounded label values.
ENDPOINTS = frozenset(
    {"/predict", "/predict/image", "/health", "/ready", "/metadata", "/metrics", "/openapi.json", "/docs"}
)
# Endpoints whose handler sets MODEL_HEADER itself (to the version that really answered).
_SELF_LABELLED = frozenset({"/predict", "/predict/image"})


# --------------------------------------------------------------------------- metrics
class Metrics:
    """Prometheus metrics of one app, in its own registry (several apps in one process stay apart)."""

    def __init__(self, holder: ModelHolder) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

        self.holder = holder
        self.registry = CollectorRegistry()
        r = self.registry
        self._requests = Counter(
            "mlpact_requests", "HTTP requests by endpoint and status.", ["endpoint", "status"], registry=r
        )
        self._latency = Histogram(
            "mlpact_request_duration_seconds", "Time to answer a request.", ["endpoint"], registry=r
        )
        self._failures = Counter(
            "mlpact_validation_failures",
            "Refused /predict requests by kind: a schema check (e.g. unconvertible), `payload` "
            "(not JSON or not an accepted shape), `too_large` or `unscorable`.",
            ["kind"],
            registry=r,
        )
        self.rows = Counter("mlpact_rows_predicted", "Rows predicted.", registry=r)
        self.log_dropped = Counter(
            "mlpact_prediction_log_dropped_rows", "Rows not logged because the log fell behind.", registry=r
        )
        self._info = Info("mlpact_model", "The version being served.", registry=r)
        self._version = Gauge("mlpact_model_version", "Version number being served.", registry=r)
        self._children: dict[tuple[str, int], Any] = {}
        self._timers: dict[str, Any] = {}

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        key = (endpoint, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._requests.labels(endpoint, str(status))
        child.inc()
        timer = self._timers.get(endpoint)
        if timer is None:
            timer = self._timers[endpoint] = self._latency.labels(endpoint)
        timer.observe(seconds)

    def failed(self, kind: str) -> None:
        self._failures.labels(kind).inc()

    def refused(self, report: ValidationReport) -> None:
        for problem in report.errors:
            self.failed(problem.check)

    def exposition(self) -> tuple[bytes, str]:
        """The text format a Prometheus server scrapes, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        model = self.holder.model
        self._info.info({"name": model.name, "version": str(model.version), "ref": model.ref})
        self._version.set(model.version)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


# --------------------------------------------------------------------------- the middleware
class Gate:
    """Pure ASGI middleware: bearer-token check, metrics, and the X-Mlpact-Model header."""

    def __init__(self, app: ASGIApp, *, holder: ModelHolder, tokens: Tokens | None, metrics: Metrics) -> None:
        self.app, self.holder, self.tokens, self.metrics = app, holder, tokens, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path: str = scope["path"]
        endpoint = path if path in ENDPOINTS else "other"
        status = 500
        if self.tokens is not None and path not in OPEN_PATHS:
            header = _header(scope, b"authorization")
            if not self.tokens.allows(header):
                status = 401
                await _unauthorized(send, missing=header is None)
                self.metrics.observe(endpoint, status, time.perf_counter() - start)
                return
        label = path not in _SELF_LABELLED and path not in OPEN_PATHS
        ref = self.holder.model.ref.encode() if label else b""

        async def send_labelled(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if label:
                    message = {**message, "headers": [*message.get("headers", ()), (b"x-mlpact-model", ref)]}
            await send(message)

        try:
            await self.app(scope, receive, send_labelled)
        finally:
            self.metrics.observe(endpoint, status, time.perf_counter() - start)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


async def _unauthorized(send: Send, *, missing: bool) -> None:
    """401 with the challenge RFC 6750 asks for; the token itself is never logged or echoed."""
    import json

    if missing:
        challenge, message = (
            b'Bearer realm="mlpact"',
            "Authentication required: send Authorization: Bearer TOKEN.",
        )
    else:
        challenge, message = (
            b'Bearer realm="mlpact", error="invalid_token"',
            "The bearer token is not accepted.",
        )
    body = json.dumps({"error": message}).encode()
    log.warning("401 %s", "no bearer token" if missing else "bearer token not accepted")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", challenge),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
