"""`mlpact ui`: a local web UI over the store (FastAPI + Jinja2 templates, a little plain JavaScript).

Models, versions (their report, card, schema, config, lineage, golden rows, evaluations, checks,
reproductions and alias history), runs of every kind, comparisons of 2-6 runs or versions, and
tuning studies; every view has a stable URL. Read-only unless started with ``allow_writes``
(promote, rollback, archive: signed in with a token, CSRF-protected, recorded with who and why).
The stylesheet and script ship in this package: the pages work offline. FastAPI, uvicorn and
Jinja2 are the optional ``ui`` extra, imported only when the UI starts.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlpact.access import Tokens, is_loopback
from mlpact.ui._app import create_app, environ_tokens, require_fastapi

if TYPE_CHECKING:
    from mlpact.store import Store

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "TOKEN_ENV", "create_app", "run_ui", "tokens_from"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
TOKEN_ENV = "MLPACT_UI_TOKENS"
log = logging.getLogger("mlpact.ui")


def tokens_from(token_file: Path | None = None) -> Tokens | None:
    """The UI's accepted tokens: `token_file` (one per line, re-read when it changes) and/or the
    comma-separated ``$MLPACT_UI_TOKENS``; None when neither gives one.

    Raises:
        ConfigError: the token file is missing, unreadable or empty.
    """
    return environ_tokens(token_file)


def run_ui(
    store: str | Path | Store | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token_file: Path | None = None,
    allow_writes: bool = False,
    log_level: str = "warning",
) -> None:
    """Serve the UI until interrupted.

    Raises:
        MissingDependencyError: the `ui` extra is not installed.
        ConfigError: `allow_writes` without a token, or a bad token file.
    """
    require_fastapi()
    import uvicorn

    tokens = tokens_from(token_file)
    app = create_app(store, tokens=tokens, allow_writes=allow_writes, host=host)
    if tokens is None and not is_loopback(host):
        _warn(
            f"the UI is on {host}, which other machines can reach, WITHOUT a token: anyone who can "
            "connect can read every model's metrics, config, lineage and golden rows. Set tokens "
            f"with --auth-token-file or ${TOKEN_ENV}, or bind 127.0.0.1."
        )
    shown = f"[{host}]" if ":" in host else host
    print(
        f"mlpact ui: http://{shown}:{port}/  (store {app.state.ui.store.root}; Ctrl+C stops)", file=sys.stderr
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)


def _warn(message: str) -> None:
    """Print a warning once, and log it for handlers an application configured."""
    print(f"Warning: {message}", file=sys.stderr)
    if not log.handlers:
        log.addHandler(logging.NullHandler())  # no "last resort" second copy on stderr
    log.warning(message)
