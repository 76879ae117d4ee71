"""The UI's ASGI app: the state every request needs, its gate, and its routes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlpact._core.access import Tokens
from mlpact.errors import ConfigError
from mlpact.store import Store
from mlpact.ui._app import State, require_fastapi

if TYPE_CHECKING:
    from fastapi import FastAPI


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
