"""The model a server answers with, and following an alias when it moves.

`serve NAME@ALIAS` polls the store every few seconds; when the alias points at another
version, that version is loaded (integrity-checked, as always) beside the one in use and then
swapped in with one assignment. A request reads the current model once at its start and uses
that object to the end, so requests in flight finish on the old version and none is dropped.
If the new version cannot be loaded, the old one keeps serving and the error is logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from mlpact.store import Store, parse_ref
from mlpact.version.golden import verify as verify_golden
from mlpact.version.rowpath import row_path

if TYPE_CHECKING:
    from mlpact.store import Store
    from mlpact.version.model import Model

log = logging.getLogger("mlpact.serve")


class ModelHolder:
    """Holds the served version; `refresh()` follows the alias the server was started with."""

    def __init__(
        self, ref: str, *, store: str | Path | Store | None = None, trust: Iterable[str] = ()
    ) -> None:
        from mlpact.version.load import load

        self.ref = ref
        self.trust = tuple(trust)
        self.follows = not _is_path(ref) and parse_ref(ref).alias is not None
        self.store = None if _is_path(ref) else Store.open(store)
        self.model: Model = load(ref, store=self.store, trust=self.trust)
        verify_golden(self.model)  # refuse to serve a version that predicts differently here
        self.last_error: str | None = None
        self._lock = threading.Lock()

    def refresh(self) -> bool:
        """Load and swap in the version the alias points at now; True when it changed."""
        if not self.follows or self.store is None:
            return False
        from mlpact.version.load import load

        with self._lock:
            try:
                record = self.store.resolve(self.ref)
                if record.version == self.model.version:
                    return False
                new = load(f"{record.name}:{record.version}", store=self.store, trust=self.trust)
                verify_golden(new)
                if new.compiled:
                    row_path(new.pipeline)  # compile its fast path here, not on a request
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.error(
                    "could not follow %s: %s; still serving %s", self.ref, self.last_error, self.model.ref
                )
                return False
            old, self.model, self.last_error = self.model.ref, new, None
        log.info("%s moved: now serving %s (was %s)", self.ref, new.ref, old)
        return True

    def start_polling(self, interval_s: float) -> threading.Event:
        """Refresh every `interval_s` seconds in a daemon thread until the returned event is set."""
        stop = threading.Event()
        if self.follows and interval_s > 0:
            thread = threading.Thread(
                target=self._poll, args=(stop, interval_s), name="mlpact-alias", daemon=True
            )
            thread.start()
        return stop

    def _poll(self, stop: threading.Event, interval_s: float) -> None:
        while not stop.wait(interval_s):
            self.refresh()


def _is_path(ref: str) -> bool:
    return "/" in ref or "\\" in ref or ref.startswith(".")
