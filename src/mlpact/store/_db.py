"""The SQLite index: schema, migrations, connections and short transactions."""

from __future__ import annotations

import contextlib
import errno
import getpass
import os
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from mlpact.errors import NAME_RULE, StoreError, shorten

DEFAULT_DIR = ".mlpact"
ENV_VAR = "MLPACT_HOME"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # whole string: always fullmatch
SCHEMA_VERSION = 3  # 2: versions.trusted_paths, run_metrics; 3: versions.rebuilt

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, last_version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL, version INTEGER NOT NULL, created TEXT NOT NULL, path TEXT NOT NULL,
    flavor TEXT NOT NULL, digest TEXT NOT NULL, config_hash TEXT, data_fingerprint TEXT,
    metric_name TEXT, metric_value REAL, run_id TEXT, trusted_types TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active', origin TEXT, PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS aliases (
    name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL, updated TEXT NOT NULL,
    PRIMARY KEY (name, alias));
CREATE INDEX IF NOT EXISTS aliases_by_version ON aliases (name, version);
CREATE TABLE IF NOT EXISTS alias_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, alias TEXT NOT NULL,
    version INTEGER, previous INTEGER, time TEXT NOT NULL, user TEXT, reason TEXT,
    action TEXT NOT NULL DEFAULT 'promote');
CREATE INDEX IF NOT EXISTS alias_events_by_name ON alias_events (name, alias, id);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
    started TEXT NOT NULL, ended TEXT, config_hash TEXT, params TEXT, metrics TEXT,
    error TEXT, version INTEGER);
CREATE INDEX IF NOT EXISTS runs_by_name ON runs (name, started);
CREATE TABLE IF NOT EXISTS evaluations (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL, created TEXT NOT NULL,
    data TEXT NOT NULL, data_fingerprint TEXT, rows INTEGER, metrics TEXT NOT NULL, path TEXT);
CREATE INDEX IF NOT EXISTS evaluations_by_version ON evaluations (name, version, created);
CREATE TABLE IF NOT EXISTS run_metrics (
    run_id TEXT NOT NULL, key TEXT NOT NULL, step INTEGER, value REAL, time TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS run_metrics_by_run ON run_metrics (run_id, key);
"""


def now() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_name(name: str, *, what: str = "model name") -> str:
    """Validate a model name or alias: no path separators, no `..`, at most 64 characters."""
    if not NAME_RE.fullmatch(name) or ".." in name:
        bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "_.-"))})
        words = {" ": "a space", "\t": "a tab", "\n": "a newline"}
        found = f"; found {', '.join(words.get(c, repr(c)) for c in bad)}" if bad else ""
        raise StoreError(
            f"Invalid {what} {shorten(name, 80)!r}: expected {NAME_RULE}{found}.",
            hint="Use letters, digits and - _ . only, e.g. "
            + ("'production' or 'staging-eu'." if what == "alias" else "'wine-v2' or 'churn_model'."),
        )
    return name


def current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def disk_full(exc: BaseException, root: Path) -> StoreError | None:
    """The error to raise when `exc` says the store's disk (or quota) is full; None otherwise.

    Covers a file write or move (OSError ENOSPC / EDQUOT / EFBIG) and SQLite's SQLITE_FULL.
    """
    full = (isinstance(exc, OSError) and exc.errno in _FULL) or (
        isinstance(exc, sqlite3.Error) and "full" in str(exc).lower()
    )
    if not full:
        return None
    return StoreError(
        f"The disk holding the store {root} is full ({exc}); nothing was saved: no version was "
        "registered and its temporary files were removed.",
        hint="Free space on that disk (`mlpact models archive NAME:VERSION --purge` deletes an old "
        "version's files), or point --store / MLPACT_HOME at a store on a disk with room, then run "
        "the command again.",
    )


# Columns added after the first stores were written: (table, column, declaration).
_ADDED_COLUMNS = (
    ("versions", "origin", "TEXT"),
    ("alias_events", "action", "TEXT NOT NULL DEFAULT 'promote'"),
    # The import paths a version's deserialisation trusts (config-named + explicit), as a JSON
    # list; NULL for versions saved before it was recorded (see Versions / docs/registry.md).
    ("versions", "trusted_paths", "TEXT"),
    # When `mlpact store rebuild-index` wrote the row from the version's own manifest (NULL: the
    # row was recorded at save); see _rebuild.py for what such a row trusts.
    ("versions", "rebuilt", "TEXT"),
)


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    for table, column, declaration in _ADDED_COLUMNS:
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            try:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            except sqlite3.OperationalError as exc:  # another process added it first
                if "duplicate column" not in str(exc):
                    raise


class Database:
    """Connections to the store's SQLite index (WAL mode, busy timeout, short transactions)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.db_path = self.root / "mlpact.db"
        self._ready = False
        self._rebuilding = False  # `mlpact store rebuild-index` opens a store the check refuses

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    def _connect(self) -> sqlite3.Connection:
        self._ensure()
        try:
            conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"Cannot open the store index {self.db_path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 60000")
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _ensure(self) -> None:
        """Create the folders and tables on first use (a store is made by using it).

        Raises:
            StoreError: the index is missing or older than the version folders (see
                :meth:`_check_index`), or was written by a newer mlpact.
        """
        if self._ready:
            return
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(
                f"The store path {self.root} is a file; expected a folder (or a path that does not "
                "exist yet, which becomes a new store).",
                hint="Point --store (or MLPACT_HOME) at a folder, e.g. --store .mlpact; a store is the "
                "folder that holds mlpact.db, not the mlpact.db file itself.",
            )
        try:
            (self.root / "models").mkdir(parents=True, exist_ok=True)
            (self.root / "tmp").mkdir(exist_ok=True)
            if not self.db_path.exists():
                self._check_index(None)  # never start an empty index beside existing versions
            conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
            try:
                conn.execute("PRAGMA busy_timeout = 60000")
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version < SCHEMA_VERSION:
                    conn.execute("PRAGMA journal_mode = WAL")
                    conn.executescript(_SCHEMA)  # every statement is idempotent
                    _add_missing_columns(conn)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                elif version > SCHEMA_VERSION:
                    raise StoreError(
                        f"The store at {self.root} was written by a newer mlpact (schema {version}, "
                        f"this one knows {SCHEMA_VERSION}).",
                        hint="Upgrade mlpact: pip install -U mlpact",
                    )
                conn.row_factory = sqlite3.Row
                self._check_index(conn)
            finally:
                conn.close()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"Cannot open the store at {self.root}: {exc}",
                hint="Check that the folder (and every folder above it) is a folder you can write, "
                "or point --store / MLPACT_HOME elsewhere.",
            ) from exc
        self._ready = True

    def _check_index(self, conn: sqlite3.Connection | None) -> None:
        """Refuse an index that does not know versions the folders hold (`conn` None: no index).

        The check itself lives with the versions (_versions.py); a team store skips it, since its
        local index is a cache of the bucket.
        """

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction, taken with BEGIN IMMEDIATE so writers queue up."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            full = disk_full(exc, self.root)
            if full is not None:
                raise full from exc
            raise
        finally:
            conn.close()
