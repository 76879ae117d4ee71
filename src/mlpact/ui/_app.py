"""The FastAPI app of `mlpact ui`: server-rendered pages (Jinja2, autoescaped) over one store.

Every page is a GET with its whole state in the URL (filters, sort, columns, compared items),
so any view can be shared as a link. Nothing is fetched from the internet: the stylesheet and
the small script are files of this package. Writes are POST forms, present only with
``allow_writes`` (see :mod:`mlpact.ui._security`).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from mlpact.access import Tokens
from mlpact.errors import ConfigError
from mlpact.store import Store
from mlpact.ui import _catalog as catalog
from mlpact.ui import _pages
from mlpact.ui import _security as sec
from mlpact.ui._studies import StudyCache

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from starlette.responses import Response

HERE = Path(__file__).parent
STATIC = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"}
OPEN_PATHS = ("/health", "/login", "/static/")
CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-src 'self'; frame-ancestors 'self'; base-uri 'none'"
)
# The version's report.html: its own inline CSS and embedded PNGs, never script.
REPORT_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'; "
    "sandbox allow-same-origin"
)


def require_fastapi() -> None:
    """Raises MissingDependencyError with the install hint when the `ui` extra is missing."""
    from mlpact.errors import MissingDependencyError

    for module in ("fastapi", "jinja2", "uvicorn"):
        try:
            __import__(module)
        except ImportError:
            raise MissingDependencyError(module, extra="ui", feature="mlpact ui") from None


def create_app(
    store: str | Path | Store | None = None,
    *,
    tokens: Tokens | None = None,
    allow_writes: bool = False,
    host: str = "127.0.0.1",
) -> FastAPI:
    """The UI's ASGI app over `store`.

    Args:
        tokens: accepted bearer tokens; with them every page but /health and /login needs one.
        allow_writes: offer promote, rollback and archive (needs `tokens`).
        host: the address the server binds; bound to loopback, only loopback Host headers are served.

    Raises:
        ConfigError: `allow_writes` without tokens.
        MissingDependencyError: fastapi or jinja2 is missing.
    """
    require_fastapi()
    from fastapi import FastAPI

    if allow_writes and tokens is None:
        raise ConfigError(
            ["--allow-writes needs a token: writes from the UI are signed in with one "
             "(--auth-token-file FILE, or the comma-separated variable $MLPACT_UI_TOKENS)"]
        )  # fmt: skip
    st = Store.open(store)
    st.aliases("")  # opens (for a new folder: creates) the index now, with one cheap query
    app = FastAPI(title="mlpact ui", docs_url=None, redoc_url=None, openapi_url=None)
    state = State(st, tokens, allow_writes, host)
    app.state.ui = state
    app.middleware("http")(state.gate)
    from mlpact.ui._routes import add_routes  # fastapi at import: only once an app is built

    add_routes(app, state)
    return app


class State:
    """What every request needs: the store, the templates, the caches, the access rules."""

    def __init__(self, store: Store, tokens: Tokens | None, allow_writes: bool, host: str) -> None:
        self.store, self.tokens, self.allow_writes, self.host = store, tokens, allow_writes, host
        self.sessions = sec.Sessions(tokens) if tokens is not None else None
        self.pages = _pages.Pages(HERE / "templates")
        self.configs = catalog.ConfigCache()
        self.studies = StudyCache()

    def session(self, request: Request) -> sec.Session | None:
        return self.sessions.get(request.cookies.get(sec.COOKIE)) if self.sessions else None

    def bearer(self, request: Request) -> bytes | None:
        """The token of a valid Authorization header, else None."""
        header = request.headers.get("authorization")
        if self.tokens is None or header is None or not self.tokens.allows(header.encode()):
            return None
        return header.encode()[7:].strip()

    async def gate(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Host check, authentication and the security headers of every response."""
        from starlette.responses import PlainTextResponse, RedirectResponse

        if not sec.host_allowed(request.headers.get("host"), self.host):
            return PlainTextResponse("Host not allowed: this server answers only on its loopback name.", 421)
        path = request.url.path
        if self.signed_out(request):
            if request.method == "GET" and "authorization" not in request.headers:
                return _headers(RedirectResponse("/login?" + urlencode({"next": _here(request)}), 303))
            return _headers(
                PlainTextResponse("Authentication required: sign in at /login, or send "
                                  "Authorization: Bearer TOKEN.", 401,
                                  headers={"www-authenticate": 'Bearer realm="mlpact"'})
            )  # fmt: skip
        response = await call_next(request)
        return _headers(response, report=path.endswith("/report"))

    def signed_out(self, request: Request) -> bool:
        """Whether tokens are on and this request to a closed path carries none."""
        if self.tokens is None or request.url.path.startswith(OPEN_PATHS):
            return False
        return self.bearer(request) is None and self.session(request) is None

    def context(self, request: Request, **values: Any) -> dict[str, Any]:
        session = self.session(request)
        return {
            "request_path": _here(request),
            "store_root": str(self.store.root),
            "writes": self.allow_writes,
            "auth": self.tokens is not None,
            "session": session,
            "csrf": session.csrf if session else "",
            **values,
        }


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _headers(response: Response, *, report: bool = False) -> Response:
    response.headers["content-security-policy"] = REPORT_CSP if report else CSP
    response.headers["x-content-type-options"] = "nosniff"
    response.headers["referrer-policy"] = "same-origin"
    response.headers["x-frame-options"] = "SAMEORIGIN"
    response.headers.setdefault("cache-control", "no-store")
    return response


def environ_tokens(token_file: Path | None, environ: dict[str, str] | None = None) -> Tokens | None:
    """The UI's tokens: `token_file` and/or ``$MLPACT_UI_TOKENS`` (serve's rule, its own variable)."""
    from mlpact.config import AuthConfig

    auth = AuthConfig(token_file=str(token_file) if token_file else None, token_env="MLPACT_UI_TOKENS")
    try:
        return Tokens.from_config(auth, os.environ if environ is None else environ)
    except ConfigError as exc:  # name the UI's own options, not serve's config keys
        names = {"serve.auth.token_file": "--auth-token-file", "serve.auth.token_env": "$MLPACT_UI_TOKENS"}
        problems = [_renamed(p, names) for p in exc.problems]
        raise ConfigError(problems, source="the UI's token settings") from None


def _renamed(text: str, names: dict[str, str]) -> str:
    for old, new in names.items():
        text = text.replace(old, new)
    return text
