"""Who may use a server mlpact starts (`mlpact serve`, `mlpact ui`): accepted bearer tokens, and
whether an address is reachable from this machine only.

Both servers apply the same rule: tokens come from a file (re-read when it changes, so they
rotate without a restart) and/or an environment variable; each is compared in constant time and
never logged; a server bound to anything but loopback without tokens warns.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlpact.config import AuthConfig

__all__ = ["Tokens", "is_loopback"]

log = logging.getLogger("mlpact.serve")


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


# --------------------------------------------------------------------------- tokens
class Tokens:
    """The accepted bearer tokens: from a file (re-read when it changes) and/or a variable."""

    RECHECK_S = 1.0

    def __init__(self, file: Path | None, fixed: tuple[bytes, ...]) -> None:
        self.file, self.fixed = file, fixed
        self._from_file: tuple[bytes, ...] = ()
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        if file is not None:
            self._reload(initial=True)

    @classmethod
    def from_config(cls, auth: AuthConfig, environ: MutableMapping[str, str] | None = None) -> Tokens | None:
        """The tokens `auth` names, or None when it names none (authentication off).

        Raises:
            ConfigError: the token file is missing, unreadable, or has no token.
        """
        from mlpact.errors import ConfigError

        env = os.environ if environ is None else environ
        try:
            fixed = _parse(env.get(auth.token_env, "").replace(",", "\n"), f"${auth.token_env}")
        except ValueError as exc:
            raise ConfigError([f"serve.auth.token_env: {exc}"]) from None
        if auth.token_file is None:
            return cls(None, fixed) if fixed else None
        return cls(Path(auth.token_file).expanduser(), fixed)

    def allows(self, header: bytes | None) -> bool:
        """Whether an Authorization header carries an accepted token (constant time per token)."""
        if header is None or header[:7].lower() != b"bearer ":
            return False
        given = header[7:].strip()
        ok = False
        for token in self._current():  # every token is compared: no early exit on a match
            ok |= hmac.compare_digest(given, token)
        return ok

    def _current(self) -> tuple[bytes, ...]:
        if self.file is not None and time.monotonic() - self._checked > self.RECHECK_S:
            self._reload(initial=False)
        return self.fixed + self._from_file

    def _reload(self, *, initial: bool) -> None:
        from mlpact.errors import ConfigError

        assert self.file is not None
        self._checked = time.monotonic()
        try:
            stat = self.file.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return
            tokens = _parse(self.file.read_text(encoding="utf-8"), str(self.file))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            if initial:
                detail = str(exc) if type(exc) is ValueError else f"cannot read it: {type(exc).__name__}"
                problem = f"serve.auth.token_file: {str(self.file)!r}: {detail}"
                raise ConfigError([problem]) from None
            if self._from_file or self._stamp is not None:  # fail closed: its tokens stop working
                log.error(
                    "token file %s cannot be read (%s): its tokens are refused", self.file, type(exc).__name__
                )
            self._from_file, self._stamp = (), None
            return
        if initial and not tokens:
            raise ConfigError([f"serve.auth.token_file: {str(self.file)!r} has no token (one per line)"])
        if not initial:
            log.info("token file %s changed: %d token(s) now accepted", self.file, len(tokens))
        self._from_file, self._stamp = tokens, stamp


def _parse(text: str, where: str) -> tuple[bytes, ...]:
    tokens = [line.strip() for line in text.splitlines()]
    tokens = [t for t in tokens if t and not t.startswith("#")]
    bad = [i + 1 for i, t in enumerate(tokens) if not (t.isascii() and t.isprintable() and " " not in t)]
    if bad:
        raise ValueError(f"{where}: token(s) {bad} are not printable ASCII without spaces")
    return tuple(t.encode() for t in tokens)
