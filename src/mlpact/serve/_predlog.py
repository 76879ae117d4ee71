"""The prediction log: validated input rows + predictions, written off the request path.

A request only appends its already validated frame to an in-memory list (a lock and an
append); a daemon thread writes what waits every `flush_seconds` (or once `flush_rows` wait)
as a row group of the open Parquet file. The open file is named `.…parquet.part` and gets its
final `predictions-….parquet` name when it is closed: after `rotate_bytes` or `rotate_seconds`,
when the served version changes, and at shutdown. A reader (`mlpact check MODEL FOLDER`) thus
sees only complete files. Redacted columns hold a keyed hash, dropped columns are left out;
the log's own columns start with `mlpact_` (see `mlpact.data.sources.LOG_COLUMNS`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.config import PredictionLogConfig

log = logging.getLogger("mlpact.serve")


class PredictionLog:
    """Buffered, redacted, rotated Parquet files of what the server predicted."""

    def __init__(
        self, settings: PredictionLogConfig, *, on_drop: Callable[[int], None] = lambda n: None
    ) -> None:
        assert settings.path is not None
        self.settings = settings
        self.folder = Path(settings.path).expanduser()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.on_drop = on_drop
        key = os.environ.get(settings.hash_key_env)
        self._key = key.encode() if key else secrets.token_bytes(32)
        self._pending: list[tuple[str, pd.DataFrame, list[Any], str, datetime]] = []
        self._rows = 0
        self._lock = threading.Lock()  # guards _pending and _rows (request path)
        self._write_lock = threading.Lock()  # one writer at a time (thread, flush, close)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._file: _Segment | None = None

    # -- request path: O(1)
    def add(self, model_ref: str, X: pd.DataFrame, predictions: list[Any], request_id: str) -> None:
        """Queue one request's validated rows and predictions; drops them if the log is behind."""
        n, full = len(predictions), False
        with self._lock:
            if self._rows + n > self.settings.max_queue_rows:
                dropped = True
            else:
                dropped = False
                now = datetime.now(UTC).replace(tzinfo=None)  # naive UTC: what pyarrow converts plainly
                self._pending.append((model_ref, X, predictions, request_id, now))
                self._rows += n
                full = self._rows >= self.settings.flush_rows
        if dropped:
            self.on_drop(n)
        elif full:
            self._wake.set()

    # -- background
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mlpact-prediction-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # keep serving; the type only: a message could quote a value
                log.error("prediction log: could not write to %s (%s)", self.folder, type(exc).__name__)

    def flush(self, *, close: bool = False) -> None:
        """Write what is waiting now; with `close`, also finish the open file (readable from then)."""
        with self._lock:
            batch, self._pending, self._rows = self._pending, [], 0
        with self._write_lock:
            for ref, frame in _by_model(batch):
                self._write(ref, self._redact(frame))
            if self._file is not None and (close or self._file.due(self.settings)):
                self._file.close()
                self._file = None

    def close(self) -> None:
        """Stop the thread, write everything and finish the file."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush(close=True)

    # -- writing
    def _write(self, ref: str, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._file is not None:
            fitted = self._file.fitted(table) if self._file.ref == ref else None
            if fitted is None:
                self._file.close()
                self._file = None
            else:
                table = fitted
        if self._file is None:
            self._file = _Segment(self.folder, ref, table.schema)
        self._file.write(table)
        if self._file.due(self.settings):
            self._file.close()
            self._file = None

    def _redact(self, frame: pd.DataFrame) -> pd.DataFrame:
        drop = [c for c in self.settings.drop if c in frame.columns]
        frame = frame.drop(columns=drop)
        for column in self.settings.redact:
            if column in frame.columns:
                frame[column] = [None if _missing(v) else self._hash(v) for v in frame[column].tolist()]
        return frame

    def _hash(self, value: Any) -> str:
        return hmac.new(self._key, str(value).encode(), hashlib.sha256).hexdigest()[:32]


def _by_model(
    batch: list[tuple[str, pd.DataFrame, list[Any], str, datetime]],
) -> list[tuple[str, pd.DataFrame]]:
    """One frame per served version (in order of first appearance), with the log's own columns."""
    import pandas as pd

    groups: dict[str, list[pd.DataFrame]] = {}
    for ref, X, predictions, rid, when in batch:
        frame = X.reset_index(drop=True).assign(
            mlpact_prediction=predictions, mlpact_request_id=rid, mlpact_time=when, mlpact_model=ref
        )
        groups.setdefault(ref, []).append(frame)
    return [(ref, pd.concat(frames, ignore_index=True)) for ref, frames in groups.items()]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


class _Segment:
    """One Parquet file being written (hidden `.part` name until closed)."""

    def __init__(self, folder: Path, ref: str, schema: Any) -> None:
        import pyarrow.parquet as pq

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"predictions-{stamp}-{os.getpid()}-{ref.replace(':', '-')}.parquet"
        self.ref, self.final, self.part = ref, folder / name, folder / f".{name}.part"
        self.opened = time.monotonic()
        self.writer = pq.ParquetWriter(self.part, schema)

    def fitted(self, table: Any) -> Any:
        """`table` in this file's schema (e.g. an all-null column typed), or None if it cannot be."""
        if table.schema.equals(self.writer.schema, check_metadata=False):
            return table
        try:
            return table.cast(self.writer.schema)
        except (ValueError, TypeError, NotImplementedError):  # pyarrow's ArrowInvalid is a ValueError
            return None

    def write(self, table: Any) -> None:
        self.writer.write_table(table)

    def due(self, settings: PredictionLogConfig) -> bool:
        age = time.monotonic() - self.opened
        return age >= settings.rotate_seconds or self.part.stat().st_size >= settings.rotate_bytes

    def close(self) -> None:
        self.writer.close()
        os.replace(self.part, self.final)
