"""Who may use the UI and how writes are protected.

- Tokens are `mlpact serve`'s rule (:class:`mlpact.access.Tokens`: a file re-read when it
  changes, and/or ``$MLPACT_UI_TOKENS``). With tokens, every page but /health and /login needs
  one: in an ``Authorization: Bearer`` header (scripts) or through a session made by signing in
  with it at /login (browsers). A session is a random id in an HttpOnly, SameSite=Strict cookie,
  kept in memory; its token is checked again on every request, so removing a token from the file
  ends its sessions.
- Writes (promote, rollback, archive) exist only with ``allow_writes``, which needs tokens; a
  browser's write also needs the session's CSRF token in the form, and a request whose Origin is
  not this server is refused.
- Bound to loopback, only loopback Host headers are answered (a DNS-rebinding page cannot read
  the store through the victim's browser).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from mlpact.access import Tokens, is_loopback

COOKIE = "mlpact_ui_session"
SESSION_TTL_S = 12 * 3600
MAX_SESSIONS = 1000


@dataclass
class Session:
    """A signed-in browser: the token it signed in with, the name it gave, its CSRF token."""

    token: bytes
    user: str
    csrf: str
    expires: float

    @property
    def who(self) -> str:
        return who(self.user, self.token)


def who(user: str, token: bytes) -> str:
    """How a write is attributed in the alias history: the name given, and which token (a short
    sha256 prefix, so whoever holds the token file can tell which one it was)."""
    return f"{user} (mlpact ui, token {hashlib.sha256(token).hexdigest()[:8]})"


class Sessions:
    """Signed-in browsers, in memory (a restart signs everyone out)."""

    def __init__(self, tokens: Tokens) -> None:
        self.tokens = tokens
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, token: str, user: str) -> tuple[str, Session] | None:
        """A new session when `token` is accepted; None otherwise."""
        raw = token.strip().encode()
        if not self.tokens.allows(b"Bearer " + raw):
            return None
        session = Session(raw, user, secrets.token_urlsafe(32), time.time() + SESSION_TTL_S)
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._expire()
            self._by_id[sid] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        """The live session of a cookie value, if its token is still accepted."""
        if not sid:
            return None
        with self._lock:
            session = self._by_id.get(sid)
        if session is None or session.expires < time.time():
            return None
        if not self.tokens.allows(b"Bearer " + session.token):  # the token was revoked
            self.drop(sid)
            return None
        return session

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)

    def _expire(self) -> None:
        now = time.time()
        for sid in [s for s, v in self._by_id.items() if v.expires < now]:
            del self._by_id[sid]
        while len(self._by_id) >= MAX_SESSIONS:  # oldest first
            del self._by_id[next(iter(self._by_id))]


def csrf_ok(session: Session | None, given: str | None) -> bool:
    """Whether a form carries the session's CSRF token (constant-time comparison)."""
    return session is not None and given is not None and hmac.compare_digest(session.csrf, given)


def same_origin(origin: str | None, host: str | None) -> bool:
    """Whether a request's Origin header (when a browser sent one) names this server's host."""
    if origin is None:
        return True
    if origin == "null" or host is None:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


def host_allowed(host_header: str | None, bound: str) -> bool:
    """Whether a request's Host is one this server answers: any when bound to a public address;
    only loopback names when bound to loopback (DNS-rebinding defence)."""
    if not is_loopback(bound):
        return True
    if not host_header:
        return False
    name = urlsplit(f"//{host_header}").hostname or ""
    return is_loopback(name)


def safe_next(path: str | None) -> str:
    """A local path to go to after signing in; anything else (another site) becomes /."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path
