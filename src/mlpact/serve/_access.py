"""Who may call the server, and what it counts: the Host check (no DNS rebinding), bearer
tokens, Prometheus metrics, and the one pure ASGI middleware that applies them all (and names
the served version on every response).

Pure ASGI rather than Starlette's BaseHTTPMiddleware: it wraps `send` and adds a few
microseconds per request, where BaseHTTPMiddleware runs each request through extra tasks and
memory streams.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

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


# --------------------------------------------------------------------------- the Host header
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})


class Hosts:
    """Which `Host` headers a request may carry, so that a web page cannot reach the server by
    DNS rebinding (its requests name the attacker's domain, resolved to this machine).

    Accepted: the loopback names (any 127.x.x.x too), the names of `allowed` (``*.example.com``
    for subdomains), and, on a connection that did not arrive on a loopback address, any IP
    literal (rebinding needs a name; a client that dials an address sends the address).
    """

    CACHE = 256  # decisions remembered: clients use few names; unseen ones are still checked

    def __init__(self, allowed: list[str]) -> None:
        self.exact = frozenset(h for h in allowed if not h.startswith("*."))
        self.suffixes = tuple(h[1:] for h in allowed if h.startswith("*."))
        self._seen: dict[tuple[bytes, Any], bool] = {}

    @classmethod
    def from_settings(cls, allowed: list[str], *, authenticated: bool) -> Hosts | None:
        """The check to apply, or None: `*` allows any host, and with authentication on and no
        names listed a rebinding page is refused anyway (it cannot send a token)."""
        if "*" in allowed or (authenticated and not allowed):
            return None
        return cls(allowed)

    def allows(self, header: bytes | None, server: Any) -> bool:
        """Whether a Host header is accepted on a connection whose local address is `server`."""
        if header is None:
            return False
        key = (header, server[0] if server else None)
        found = self._seen.get(key)
        if found is None:
            found = self._decide(header.decode("latin-1"), server)
            if len(self._seen) < self.CACHE:
                self._seen[key] = found
        return found

    def _decide(self, header: str, server: Any) -> bool:
        name = _host_name(header)
        if name is None:
            return False
        if name in _LOOPBACK_NAMES or name in self.exact or name.endswith(self.suffixes):
            return True
        address = _ip(name)
        if address is None:
            return False
        return address.is_loopback or not _on_loopback(server)


def _host_name(host: str) -> str | None:
    """The lower-case name of a Host header value without its port; None when malformed."""
    host = host.strip().lower()
    end = host.find("]") + 1 if host.startswith("[") else len(host.split(":", 1)[0])
    name, port = host[:end], host[end:]
    if not name or (port and not (port[0] == ":" and 2 <= len(port) <= 6 and port[1:].isdigit())):
        return None
    return name.rstrip(".")


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(name[1:-1] if name.startswith("[") else name)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _on_loopback(server: Any) -> bool:
    """Whether the connection arrived on a loopback address (or a Unix socket, or unknown)."""
    if not server or server[1] is None:
        return True
    address = _ip(str(server[0]))
    return address is None or address.is_loopback


# --------------------------------------------------------------------------- tokens in URLs
_CREDENTIAL_WORDS = ("token", "key", "auth", "bearer", "secret", "pass", "jwt", "cred")


def _credential_in_query(query: bytes, tokens: Tokens | None) -> bool:
    """Whether a query string carries what looks like a credential: a parameter named like one,
    a `Bearer ...` value, or an accepted token."""
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True)[:100]:
        lowered = name.lower()
        if any(word in lowered for word in _CREDENTIAL_WORDS) or value.lower().startswith("bearer "):
            return True
        if tokens is not None and any(tokens.allows(b"Bearer " + v.encode("latin-1")) for v in (name, value)):
            return True
    return False


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
    """Pure ASGI middleware: the Host check, no credentials in URLs, the bearer-token check,
    metrics, and the X-Mlpact-Model header."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        holder: ModelHolder,
        tokens: Tokens | None,
        metrics: Metrics,
        hosts: Hosts | None = None,
    ) -> None:
        self.app, self.holder, self.tokens, self.metrics, self.hosts = app, holder, tokens, metrics, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        path: str = scope["path"]
        endpoint = path if path in ENDPOINTS else "other"
        status = await self._refuse(scope, path, send)
        if status:
            self.metrics.observe(endpoint, status, time.perf_counter() - start)
            return
        status = 500
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

    async def _refuse(self, scope: Scope, path: str, send: Send) -> int:
        """Answer a request that must go no further and return its status; 0 to let it through."""
        query: bytes = scope.get("query_string", b"")
        if query:  # no endpoint reads a query string; uvicorn's access log reads this scope
            scope["query_string"] = b""
        if self.hosts is not None:
            host = _header(scope, b"host")
            if not self.hosts.allows(host, scope.get("server")):
                return await _misdirected(send, host)
        if query and _credential_in_query(query, self.tokens):
            log.warning("400 a credential in the URL's query string: refused; the URL is not logged")
            return await _answer(send, 400, _IN_URL)
        if self.tokens is not None and path not in OPEN_PATHS:
            header = _header(scope, b"authorization")
            if not self.tokens.allows(header):
                await _unauthorized(send, missing=header is None)
                return 401
        return 0


_IN_URL = (
    "Credentials are accepted only in the Authorization header (Authorization: Bearer TOKEN), never "
    "in the URL, which access logs and proxies write down. The request was refused; rotate a real "
    "token that was sent this way."
)


async def _misdirected(send: Send, host: bytes | None) -> int:
    """421 for a Host this server does not answer to (400 without one); the name is not echoed."""
    if host is None:
        log.warning("400 a request without a Host header")
        return await _answer(send, 400, "A Host header is required.")
    name = host.decode("latin-1")[:100]
    log.warning(
        "421 Host %r is not one this server answers to: add it with --allowed-host (serve.allowed_hosts) "
        "if clients really use that name",
        name,
    )
    message = (
        "This server does not answer to the host name this request was sent to. Address it by a "
        "loopback name or an allowed host (mlpact serve --allowed-host)."
    )
    return await _answer(send, 421, message)


async def _answer(
    send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> int:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})
    return status


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


async def _unauthorized(send: Send, *, missing: bool) -> None:
    """401 with the challenge RFC 6750 asks for; the token itself is never logged or echoed."""
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
    log.warning("401 %s", "no bearer token" if missing else "bearer token not accepted")
    await _answer(send, 401, message, [(b"www-authenticate", challenge)])
