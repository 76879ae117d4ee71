"""The embedded store: a SQLite index of runs, versions and aliases, plus one folder per version.

Saving a version: its files are written and fsynced under ``tmp/``; then, inside one
``BEGIN IMMEDIATE`` transaction, the next version number is allocated, the manifest is written,
the folder is moved into place with ``os.replace`` and the row is inserted. A crash leaves at
most an unregistered folder, which the next save of that number sweeps away. Version numbers
are never reused: they come from a counter that only grows.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlpact.errors import NotFoundError, StoreError

DEFAULT_DIR = ".mlpact"
ENV_VAR = "MLPACT_HOME"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
REF_RE = re.compile(r"^(?P<name>[^:@]+)(?::(?P<version>\d+)|@(?P<alias>[^:@]+))?$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, last_version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL, version INTEGER NOT NULL, created TEXT NOT NULL, path TEXT NOT NULL,
    flavor TEXT NOT NULL, digest TEXT NOT NULL, config_hash TEXT, data_fingerprint TEXT,
    metric_name TEXT, metric_value REAL, run_id TEXT, trusted_types TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active', PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS aliases (
    name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL, updated TEXT NOT NULL,
    PRIMARY KEY (name, alias));
CREATE TABLE IF NOT EXISTS alias_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, alias TEXT NOT NULL,
    version INTEGER, previous INTEGER, time TEXT NOT NULL, user TEXT, reason TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
    started TEXT NOT NULL, ended TEXT, config_hash TEXT, params TEXT, metrics TEXT,
    error TEXT, version INTEGER);
CREATE INDEX IF NOT EXISTS runs_by_name ON runs (name, started);
CREATE TABLE IF NOT EXISTS evaluations (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL, created TEXT NOT NULL,
    data TEXT NOT NULL, data_fingerprint TEXT, rows INTEGER, metrics TEXT NOT NULL, path TEXT);
CREATE INDEX IF NOT EXISTS evaluations_by_version ON evaluations (name, version, created);
"""


def now() -> str:
    """The current UTC time, ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_name(name: str, *, what: str = "model name") -> str:
    """Validate a model name or alias: no path separators, no `..`, at most 64 characters."""
    if not NAME_RE.match(name) or ".." in name:
        raise StoreError(
            f"Invalid {what} {name!r}: expected 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit, without '..'."
        )
    return name


@dataclass(frozen=True)
class VersionRecord:
    """One registered version, as the index knows it."""

    name: str
    version: int
    created: str
    path: Path
    flavor: str
    digest: str
    config_hash: str | None
    data_fingerprint: str | None
    metric_name: str | None
    metric_value: float | None
    run_id: str | None
    trusted_types: tuple[str, ...]
    status: str
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "ref": self.ref,
            "created": self.created,
            "path": str(self.path),
            "flavor": self.flavor,
            "digest": self.digest,
            "config_hash": self.config_hash,
            "data_fingerprint": self.data_fingerprint,
            "metric": {"name": self.metric_name, "value": self.metric_value},
            "run_id": self.run_id,
            "status": self.status,
            "aliases": list(self.aliases),
        }


@dataclass(frozen=True)
class ParsedRef:
    name: str
    version: int | None = None
    alias: str | None = None


def parse_ref(ref: str) -> ParsedRef:
    """Parse `name`, `name:3` or `name@alias`."""
    match = REF_RE.match(ref)
    if not match:
        raise NotFoundError(f"Invalid model reference {ref!r}: expected NAME, NAME:VERSION or NAME@ALIAS.")
    version = match.group("version")
    return ParsedRef(match.group("name"), int(version) if version else None, match.group("alias"))


class Store:
    """A store rooted at a folder: ``mlpact.db`` plus ``models/NAME/VERSION/`` folders."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.db_path = self.root / "mlpact.db"
        self._ready = False

    @classmethod
    def open(cls, root: str | Path | Store | None = None) -> Store:
        """The store at `root`, else ``$MLPACT_HOME``, else ``./.mlpact``."""
        if isinstance(root, Store):
            return root
        if root is None:
            root = os.environ.get(ENV_VAR) or DEFAULT_DIR
        return cls(root)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    # ----------------------------------------------------------------------- connections
    def _connect(self) -> sqlite3.Connection:
        self._ensure()
        conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 60000")
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _ensure(self) -> None:
        """Create the folders and tables on first use (a store is made by using it)."""
        if self._ready:
            return
        try:
            (self.root / "models").mkdir(parents=True, exist_ok=True)
            (self.root / "tmp").mkdir(exist_ok=True)
            conn = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
            try:
                conn.execute("PRAGMA busy_timeout = 60000")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(_SCHEMA)
            finally:
                conn.close()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"Cannot open the store at {self.root}: {exc}") from exc
        self._ready = True

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
        finally:
            conn.close()

    # ----------------------------------------------------------------------- versions
    def new_tmp_dir(self) -> Path:
        """A fresh folder under tmp/ for writing a version before it is registered."""
        self._ensure()
        path = self.root / "tmp" / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        path.mkdir()
        return path

    def register(
        self,
        name: str,
        tmp_dir: Path,
        finalize: Callable[[Path, int], dict[str, Any]],
        *,
        flavor: str = "sklearn",
        run_id: str | None = None,
    ) -> VersionRecord:
        """Move a fully written version into place and index it, atomically.

        Args:
            name: the model name.
            tmp_dir: a folder from :meth:`new_tmp_dir` holding every file but the manifest.
            finalize: called with (tmp_dir, version) inside the transaction; writes the files
                that name the version (manifest last) and returns the version's index fields
                (digest, config_hash, data_fingerprint, metric_name, metric_value, trusted_types).
        """
        check_name(name)
        with self._write() as db:
            row = db.execute("SELECT last_version FROM counters WHERE name = ?", (name,)).fetchone()
            version = (row["last_version"] if row else 0) + 1
            fields = finalize(tmp_dir, version)
            final = self.version_dir(name, version)
            if final.exists():  # an orphan from a crash between replace and commit
                shutil.rmtree(final)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_dir, final)
            _fsync_dir(final.parent)
            created = now()
            db.execute(
                "INSERT INTO counters (name, last_version) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET last_version = excluded.last_version",
                (name, version),
            )
            db.execute(
                "INSERT INTO versions (name, version, created, path, flavor, digest, config_hash, "
                "data_fingerprint, metric_name, metric_value, run_id, trusted_types) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    version,
                    created,
                    final.relative_to(self.root).as_posix(),
                    flavor,
                    fields["digest"],
                    fields.get("config_hash"),
                    fields.get("data_fingerprint"),
                    fields.get("metric_name"),
                    fields.get("metric_value"),
                    run_id,
                    json.dumps(sorted(fields.get("trusted_types", []))),
                ),
            )
        return self.get(name, version)

    def version_dir(self, name: str, version: int) -> Path:
        return self.root / "models" / check_name(name) / str(version)

    def sweep_tmp(self, *, older_than_s: float = 3600) -> list[Path]:
        """Remove leftovers of interrupted saves; returns what was removed."""
        removed = []
        cutoff = time.time() - older_than_s
        for path in (self.root / "tmp").glob("*"):
            if path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        return removed

    def get(self, name: str, version: int) -> VersionRecord:
        with self._read() as db:
            row = db.execute(
                "SELECT * FROM versions WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
            if row is None:
                raise NotFoundError(self._missing_version(db, name, version))
            return self._record(db, row)

    def resolve(self, ref: str) -> VersionRecord:
        """The version a reference names: latest active, `:N` or `@alias`.

        Raises:
            NotFoundError: the model, version or alias does not exist (saying what does).
        """
        parsed = parse_ref(ref)
        check_name(parsed.name)
        if parsed.version is not None:
            return self.get(parsed.name, parsed.version)
        with self._read() as db:
            if parsed.alias is not None:
                row = db.execute(
                    "SELECT version FROM aliases WHERE name = ? AND alias = ?",
                    (parsed.name, parsed.alias),
                ).fetchone()
                if row is None:
                    known = [
                        r[0] for r in db.execute("SELECT alias FROM aliases WHERE name = ?", (parsed.name,))
                    ]
                    raise NotFoundError(
                        f"Model {parsed.name!r} has no alias {parsed.alias!r}"
                        + (f"; its aliases: {', '.join(sorted(known))}." if known else ".")
                    )
                version = row["version"]
            else:
                row = db.execute(
                    "SELECT MAX(version) AS v FROM versions WHERE name = ? AND status = 'active'",
                    (parsed.name,),
                ).fetchone()
                if row["v"] is None:
                    raise NotFoundError(self._missing_model(db, parsed.name))
                version = row["v"]
        return self.get(parsed.name, version)

    def versions(self, name: str | None = None, *, include_archived: bool = False) -> list[VersionRecord]:
        """Every version (of one model, or all), oldest first."""
        query = "SELECT * FROM versions"
        clauses, args = [], []
        if name is not None:
            clauses.append("name = ?")
            args.append(name)
        if not include_archived:
            clauses.append("status = 'active'")
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        with self._read() as db:
            rows = db.execute(query + " ORDER BY name, version", args).fetchall()
            return [self._record(db, r) for r in rows]

    def _record(self, db: sqlite3.Connection, row: sqlite3.Row) -> VersionRecord:
        aliases = tuple(
            r[0]
            for r in db.execute(
                "SELECT alias FROM aliases WHERE name = ? AND version = ? ORDER BY alias",
                (row["name"], row["version"]),
            )
        )
        return VersionRecord(
            name=row["name"],
            version=row["version"],
            created=row["created"],
            path=self.root / row["path"],
            flavor=row["flavor"],
            digest=row["digest"],
            config_hash=row["config_hash"],
            data_fingerprint=row["data_fingerprint"],
            metric_name=row["metric_name"],
            metric_value=row["metric_value"],
            run_id=row["run_id"],
            trusted_types=tuple(json.loads(row["trusted_types"])),
            status=row["status"],
            aliases=aliases,
        )

    def _missing_model(self, db: sqlite3.Connection, name: str) -> str:
        names = [r[0] for r in db.execute("SELECT DISTINCT name FROM versions ORDER BY name")]
        import difflib

        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        where = f" in the store at {self.root}"
        if not names:
            return (
                f"No model named {name!r}{where}: the store has no models yet. "
                "Train one with `mlpact train CONFIG`."
            )
        return f"No model named {name!r}{where}.{hint} Models: {', '.join(names)}."

    def _missing_version(self, db: sqlite3.Connection, name: str, version: int) -> str:
        have = [
            r[0] for r in db.execute("SELECT version FROM versions WHERE name = ? ORDER BY version", (name,))
        ]
        if not have:
            return self._missing_model(db, name)
        return f"Model {name!r} has no version {version}; it has versions {', '.join(map(str, have))}."

    # ----------------------------------------------------------------------- aliases
    def set_alias(self, name: str, alias: str, version: int, *, reason: str | None = None) -> int | None:
        """Point `name@alias` at a version; record the move. Returns the previous version."""
        check_name(alias, what="alias")
        self.get(name, version)
        with self._write() as db:
            row = db.execute(
                "SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias)
            ).fetchone()
            previous = row["version"] if row else None
            db.execute(
                "INSERT INTO aliases (name, alias, version, updated) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version, "
                "updated = excluded.updated",
                (name, alias, version, now()),
            )
            db.execute(
                "INSERT INTO alias_events (name, alias, version, previous, time, user, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, alias, version, previous, now(), _user(), reason),
            )
        return previous

    # ----------------------------------------------------------------------- runs
    def start_run(
        self,
        name: str,
        *,
        kind: str = "train",
        config_hash: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> str:
        """Record a run as running; returns its id."""
        run_id = uuid.uuid4().hex[:12]
        with self._write() as db:
            db.execute(
                "INSERT INTO runs (id, name, kind, status, started, config_hash, params) "
                "VALUES (?, ?, ?, 'running', ?, ?, ?)",
                (run_id, name, kind, now(), config_hash, json.dumps(params or {}, default=str)),
            )
        return run_id

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        metrics: dict[str, Any] | None = None,
        error: str | None = None,
        version: int | None = None,
    ) -> None:
        """Mark a run succeeded or failed, with its metrics, error and produced version."""
        with self._write() as db:
            db.execute(
                "UPDATE runs SET status = ?, ended = ?, metrics = ?, error = ?, version = ? WHERE id = ?",
                (status, now(), json.dumps(metrics or {}, default=str), error, version, run_id),
            )

    def runs(self, name: str | None = None) -> list[dict[str, Any]]:
        """Runs, newest first."""
        query, args = "SELECT * FROM runs", []
        if name is not None:
            query, args = query + " WHERE name = ?", [name]
        with self._read() as db:
            rows = db.execute(query + " ORDER BY started DESC, rowid DESC", args).fetchall()
        return [_run_dict(r) for r in rows]

    # ----------------------------------------------------------------------- evaluations
    def evaluation_dir(self) -> Path:
        """A fresh folder under evaluations/ for an evaluation's files (plots, report)."""
        self._ensure()
        path = self.root / "evaluations" / uuid.uuid4().hex[:12]
        path.mkdir(parents=True)
        return path

    def add_evaluation(
        self,
        name: str,
        version: int,
        *,
        data: str,
        metrics: dict[str, Any],
        data_fingerprint: str | None = None,
        rows: int | None = None,
        path: Path | None = None,
    ) -> str:
        """Record an evaluation of an existing version on new labelled data; returns its id.

        Evaluations never change the version itself (versions are immutable); they are listed
        beside it by `models show`.
        """
        self.get(name, version)
        eval_id = path.name if path is not None else uuid.uuid4().hex[:12]
        rel = path.relative_to(self.root).as_posix() if path is not None else None
        with self._write() as db:
            db.execute(
                "INSERT INTO evaluations (id, name, version, created, data, data_fingerprint, rows, "
                "metrics, path) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    eval_id,
                    name,
                    version,
                    now(),
                    data,
                    data_fingerprint,
                    rows,
                    json.dumps(metrics, default=str),
                    rel,
                ),
            )
        return eval_id

    def evaluations(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Evaluations of a model (or one version), newest first."""
        query = "SELECT * FROM evaluations WHERE name = ?"
        args: list[Any] = [name]
        if version is not None:
            query, args = query + " AND version = ?", [name, version]
        with self._read() as db:
            rows = db.execute(query + " ORDER BY created DESC, rowid DESC", args).fetchall()
        out = []
        for row in rows:
            item = dict(row)
            item["metrics"] = json.loads(item["metrics"])
            item["path"] = str(self.root / item["path"]) if item["path"] else None
            out.append(item)
        return out


def _run_dict(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["params"] = json.loads(out["params"] or "{}")
    out["metrics"] = json.loads(out["metrics"] or "{}")
    return out


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
