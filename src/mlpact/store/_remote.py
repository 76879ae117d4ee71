"""A team store: version files and the registry in object storage, SQLite as a local cache.

A store folder whose ``store.yaml`` names an artifact root URL (``s3://bucket/prefix``) keeps
its versions there, and the bucket, not the local index, is the source of truth. Layout under
the root::

    models/NAME/VERSION/...            the version's files; manifest.json is written last
    index/NAME/claims/VERSION          a number taken (created with If-None-Match: never twice)
    index/NAME/versions/VERSION.json   the index row: the commit point of a save
    index/NAME/events/SEQ.json         alias moves and status changes, one per sequence number

Every key under ``index/`` is created with a conditional write (``If-None-Match: *``), so two
writers can never both take a version number or both append the same event: the loser gets
412, re-reads and retries. A version is visible only once its ``versions/`` row exists, which is
written after every file; a crash before that leaves a claim and some files, invisible to every
reader (``Store.garbage`` lists them). The local SQLite index is a cache rebuilt from the bucket
by :meth:`RemoteStore.sync`, which every lookup by name runs first, so an alias moved on one
machine is what the next ``resolve`` on another returns. Files are downloaded into the store
folder (``models/NAME/VERSION``) on first use and checked against the manifest digest recorded
in the row; repeat loads read the local copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mlpact import bundle
from mlpact.errors import StoreError
from mlpact.store import Store
from mlpact.store._db import check_name, current_user, now
from mlpact.store._rebuild import Rebuilt, _aliases
from mlpact.store._versions import Status, VersionRecord, parse_ref

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

CONFIG_FILE = "store.yaml"
_SYNC_TABLE = "CREATE TABLE IF NOT EXISTS remote_sync (name TEXT PRIMARY KEY, events INTEGER NOT NULL)"
_T = TypeVar("_T")
_COLUMNS = ("config_hash", "data_fingerprint", "metric_name", "metric_value")


class _Conflict(Exception):
    """Another writer appended the event number this one wanted."""


def read_config(root: Path) -> dict[str, Any] | None:
    """The store folder's ``store.yaml`` (``${env:VAR}`` substituted), or None if it has none.

    Raises:
        StoreError: the file is not valid or names no ``artifacts`` URL.
    """
    path = root / CONFIG_FILE
    if not path.is_file():
        return None
    from mlpact.config._load import interpolate
    from mlpact.errors import ConfigError

    try:
        raw = bundle.safe_yaml(path.read_text(encoding="utf-8")) or {}
        data, _ = interpolate(raw)
    except (ConfigError, ValueError, OSError) as exc:
        raise StoreError(f"Cannot read {path}: {exc}") from None
    unknown = sorted(set(data) - {"artifacts", "storage_options"}) if isinstance(data, dict) else []
    if not isinstance(data, dict) or not isinstance(data.get("artifacts"), str) or unknown:
        raise StoreError(
            f"{path} must be a mapping with `artifacts: URL` and optional `storage_options:`"
            + (f"; unknown keys: {unknown}." if unknown else "."),
            hint="Write it with `mlpact store connect URL`.",
        )
    return data


def connect(root: str | Path, url: str, options: Mapping[str, Any] | None = None) -> RemoteStore:
    """Point the store folder `root` at the artifact root `url` and sync its index from there.

    `options` are written as given, so pass ``${env:VAR}`` expressions for credentials.

    Raises:
        StoreError: the folder already holds local versions, or the URL cannot be reached.
    """
    import yaml

    from mlpact.remote import is_url

    folder = Path(root).expanduser().resolve()
    if not is_url(url):
        raise StoreError(f"Expected an artifact root URL such as s3://bucket/prefix, found {url!r}.")
    if not (folder / CONFIG_FILE).exists() and Store(folder).versions(include_archived=True):
        raise StoreError(
            f"The store at {folder} already holds local versions; an artifact root is set on a new store.",
            hint="Use another --store folder, or copy versions over with `mlpact models export`/`import`.",
        )
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({"artifacts": url.rstrip("/"), "storage_options": dict(options or {})})
    (folder / CONFIG_FILE).write_text(text, encoding="utf-8")
    store = Store.open(folder)
    assert isinstance(store, RemoteStore)
    store.sync()
    return store


class RemoteStore(Store):
    """A store whose artifact root is a URL; see the module docstring for the protocol."""

    def __init__(self, root: str | Path, url: str, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(root)
        self.url = url.rstrip("/")
        self.options = dict(options or {})
        self._fs: AbstractFileSystem | None = None
        self._outer: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"RemoteStore({str(self.root)!r}, {self.url!r})"

    # ------------------------------------------------------------------ object storage
    @property
    def fs(self) -> AbstractFileSystem:
        if self._fs is None:
            from mlpact.remote import filesystem

            self._fs, self._base = filesystem(self.url, self.options)
        return self._fs

    def _key(self, *parts: str | int) -> str:
        _ = self.fs  # sets _base
        return "/".join([self._base.rstrip("/"), *map(str, parts)])

    def _create(self, key: str, data: bytes) -> None:
        """Write an object only if it does not exist (If-None-Match: *); FileExistsError if it does."""
        try:
            self.fs.pipe_file(key, data, mode="create")
        except FileExistsError:
            raise
        except OSError as exc:
            raise StoreError(f"Cannot write {key} under {self.url}: {exc}") from exc

    def _numbers(self, *parts: str) -> list[int]:
        """The integers named by the keys under a folder (``7``, ``7.json``), sorted."""
        try:
            keys = self.fs.ls(self._key(*parts), detail=False, refresh=True)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"Cannot list {self.url}/{'/'.join(parts)}: {exc}") from exc
        stems = (k.rstrip("/").rsplit("/", 1)[-1].split(".")[0] for k in keys)
        return sorted(int(s) for s in stems if s.isdigit())

    def _json(self, *parts: str | int) -> Any:
        return json.loads(self.fs.cat_file(self._key(*parts)))

    # ------------------------------------------------------------------ syncing the cache
    def sync(self, name: str | None = None) -> dict[str, int]:
        """Bring the local index up to date with the bucket (one model, or all of them).

        Returns:
            How many versions and events were new here.
        """
        if name is not None:
            return self._sync_name(name)
        total = {"versions": 0, "events": 0}
        for n in self._names():
            for key, count in self._sync_name(n).items():
                total[key] += count
        return total

    def _sync_name(self, name: str) -> dict[str, int]:
        check_name(name)
        remote_versions = self._numbers("index", name, "versions")
        with self._read() as db:
            db.execute(_SYNC_TABLE)
            known = {r[0] for r in db.execute("SELECT version FROM versions WHERE name = ?", (name,))}
            applied = self._applied(db, name)
        rows = [self._json("index", name, "versions", f"{v}.json") for v in remote_versions if v not in known]
        fresh = [s for s in self._numbers("index", name, "events") if s > applied]
        events = [(s, self._json("index", name, "events", f"{s}.json")) for s in fresh]
        if rows or events:
            with super()._write() as db:
                for row in rows:
                    self._insert_row(db, row)
                for seq, event in events:
                    if seq == self._applied(db, name) + 1:  # another process may have applied it
                        self._apply(db, name, seq, event)
        return {"versions": len(rows), "events": len(events)}

    @staticmethod
    def _applied(db: sqlite3.Connection, name: str) -> int:
        row = db.execute("SELECT events FROM remote_sync WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def _insert_row(self, db: sqlite3.Connection, row: Mapping[str, Any]) -> None:
        name, version, fields = row["name"], int(row["version"]), row["fields"]
        db.execute(
            "INSERT OR IGNORE INTO versions (name, version, created, path, flavor, digest, config_hash, "
            "data_fingerprint, metric_name, metric_value, run_id, trusted_types, origin, trusted_paths) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, version, row["created"], self.version_dir(name, version).relative_to(self.root).as_posix(),
             row["flavor"], fields["digest"], *(fields.get(c) for c in _COLUMNS), row.get("run_id"),
             json.dumps(sorted(fields.get("trusted_types", []))), row.get("origin"),
             json.dumps(sorted(fields.get("trusted_paths", [])))),
        )  # fmt: skip
        db.execute(
            "INSERT INTO counters (name, last_version) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
            "last_version = MAX(last_version, excluded.last_version)",
            (name, version),
        )

    def _apply(self, db: sqlite3.Connection, name: str, seq: int, event: Mapping[str, Any]) -> None:
        if event["kind"] == "status":
            db.execute(
                "UPDATE versions SET status = ? WHERE name = ? AND version = ?",
                (event["status"], name, event["version"]),
            )
        else:
            self._record_move(db, name, event["alias"], event["version"], event["previous"],
                              reason=event.get("reason"), action=event["action"],
                              time=event["time"], user=event["user"])  # fmt: skip
        db.execute(
            "INSERT INTO remote_sync (name, events) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET events = excluded.events",
            (name, seq),
        )

    def _check_index(self, conn: sqlite3.Connection | None) -> None:
        """Nothing to refuse: the local index is a cache of the bucket, which `sync` rebuilds
        (a deleted or older ``mlpact.db`` here is brought up to date by the next lookup)."""

    def rebuild_index(self, *, trust: Iterable[str] = (), replace: bool = False) -> Rebuilt:
        """Rebuild the local index from the bucket, the source of truth of a team store.

        The previous index is copied aside; its versions, aliases, history and counters are
        dropped and synced again from the committed rows and events (trust as recorded at save,
        every alias move); runs and evaluations, which stay on this machine, are kept.

        Raises:
            StoreError: `trust` was given: rows come from the bucket as recorded at save.
        """
        if list(trust):
            raise StoreError(
                f"The store at {self.root} is a team store: its index is rebuilt from {self.url}, whose "
                "rows record what each version trusts; --trust does not apply.",
                hint="Pass --trust when loading a version instead.",
            )
        existed = self.db_path.exists()
        self._ensure()
        backup = self._backup() if existed else None
        with super()._write() as db:
            db.execute(_SYNC_TABLE)
            for table in ("versions", "aliases", "alias_events", "counters", "remote_sync"):
                db.execute(f"DELETE FROM {table}")
            db.execute("DELETE FROM sqlite_sequence WHERE name = 'alias_events'")  # ids as a fresh sync
        self.sync()
        with self._read() as db:
            refs = tuple(
                f"{r[0]}:{r[1]}"
                for r in db.execute("SELECT name, version FROM versions ORDER BY name, version")
            )
            counters = {
                r[0]: int(r[1]) for r in db.execute("SELECT name, last_version FROM counters ORDER BY name")
            }
            aliases = _aliases(db)
        return Rebuilt(self.root, self.url, backup, indexed=refs, aliases=aliases, counters=counters)

    # ------------------------------------------------------------------ reads sync first
    def resolve(self, ref: str, *, purged: bool = False) -> VersionRecord:
        self._sync_name(parse_ref(ref).name)
        return super().resolve(ref, purged=purged)

    def versions(self, name: str | None = None, *, include_archived: bool = False) -> list[VersionRecord]:
        self.sync(name)
        return super().versions(name, include_archived=include_archived)

    def aliases(self, name: str) -> dict[str, dict[str, Any]]:
        self._sync_name(name)
        return super().aliases(name)

    def alias_history(self, name: str, alias: str | None = None) -> list[dict[str, Any]]:
        self._sync_name(name)
        return super().alias_history(name, alias)

    # ------------------------------------------------------------------ writes go to the bucket first
    def register(
        self,
        name: str,
        tmp_dir: Path,
        finalize: Callable[[Path, int], dict[str, Any]],
        *,
        flavor: str = "sklearn",
        run_id: str | None = None,
        origin: str | None = None,
    ) -> VersionRecord:
        """Claim the next number, upload every file (manifest last), then write the index row."""
        check_name(name)
        version = self._claim(name)
        fields = finalize(tmp_dir, version)
        files = sorted(p for p in tmp_dir.rglob("*") if p.is_file() and p.name != bundle.MANIFEST)
        for path in [*files, tmp_dir / bundle.MANIFEST]:
            rel = path.relative_to(tmp_dir).as_posix()
            self._create(self._key("models", name, version, rel), path.read_bytes())
        row = {"name": name, "version": version, "created": now(), "flavor": flavor, "run_id": run_id,
               "origin": origin, "user": current_user(), "fields": fields}  # fmt: skip
        self._create(self._key("index", name, "versions", f"{version}.json"), _dumps(row))  # the commit
        final = self.version_dir(name, version)
        if final.exists():
            shutil.rmtree(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_dir, final)
        self._sync_name(name)
        return self.get(name, version)

    def _claim(self, name: str) -> int:
        version = (self._numbers("index", name, "claims") or [0])[-1] + 1
        mark = {"user": current_user(), "host": socket.gethostname(), "pid": os.getpid(), "time": now()}
        while True:
            try:
                self._create(self._key("index", name, "claims", version), _dumps(mark))
                return version
            except FileExistsError:  # another writer took it: try the next number
                version += 1

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        reason: str | None = None,
        action: str = "promote",
        user: str | None = None,
    ) -> int | None:
        return self._published(
            name,
            lambda: Store.set_alias(self, name, alias, version, reason=reason, action=action, user=user),
        )

    def rollback_alias(
        self, name: str, alias: str, *, reason: str | None = None, user: str | None = None
    ) -> tuple[int, int]:
        return self._published(
            name, lambda: Store.rollback_alias(self, name, alias, reason=reason, user=user)
        )

    def set_status(self, record: VersionRecord, status: Status) -> None:
        event = {"kind": "status", "version": record.version, "status": status, "time": now(),
                 "user": current_user()}  # fmt: skip
        self._published(record.name, lambda: Store.set_status(self, record, status), event)

    def _published(self, name: str, change: Callable[[], _T], event: dict[str, Any] | None = None) -> _T:
        """Run a local change in one held transaction and publish it as the next event.

        The change runs against a freshly synced index; the event is the alias move it recorded
        (or `event`). If another writer appended that event number first, the transaction is
        rolled back and the change re-run on the newer state.
        """
        for _ in range(50):
            self._sync_name(name)
            try:
                with super()._write() as db:
                    seq = self._applied(db, name) + 1
                    mark = db.execute("SELECT COALESCE(MAX(id), 0) FROM alias_events").fetchone()[0]
                    self._outer = db
                    try:
                        result = change()
                    finally:
                        self._outer = None
                    moved = db.execute("SELECT * FROM alias_events WHERE id > ? ORDER BY id", (mark,))
                    for data in [event] if event else [_alias_event(r) for r in moved]:
                        try:
                            self._create(self._key("index", name, "events", f"{seq}.json"), _dumps(data))
                        except FileExistsError:
                            raise _Conflict from None
                        db.execute(
                            "INSERT INTO remote_sync (name, events) VALUES (?, ?) "
                            "ON CONFLICT(name) DO UPDATE SET events = excluded.events",
                            (name, seq),
                        )
                        seq += 1
                return result
            except _Conflict:
                time.sleep(0.05)
        raise StoreError(f"Gave up changing {name!r} under {self.url}: other writers kept changing it first.")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self._outer is not None:  # inside _published: one transaction for the whole change
            yield self._outer
            return
        with super()._write() as db:
            yield db

    # ------------------------------------------------------------------ files
    def local_dir(self, record: VersionRecord, *, fresh: bool = False) -> Path:
        """The version's folder here, downloaded first if missing, stale or `fresh` is asked."""
        path = self.own_dir(record)
        manifest = path / bundle.MANIFEST
        if not fresh and manifest.is_file() and bundle.sha256_file(manifest) == record.digest:
            return path
        tmp = self.new_tmp_dir()
        prefix = self._key("models", record.name, record.version)
        try:
            for key in self.fs.find(prefix):
                target = tmp / key[len(prefix) + 1 :]
                target.parent.mkdir(parents=True, exist_ok=True)
                bundle.write_bytes(target, self.fs.cat_file(key))
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise StoreError(f"Cannot download {record.ref} from {prefix}: {exc}") from exc
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(tmp, path)
        except OSError:  # another process here put the same version in place first
            shutil.rmtree(tmp, ignore_errors=True)
            if not (manifest.is_file() and bundle.sha256_file(manifest) == record.digest):
                raise
        return path

    def delete_files(self, record: VersionRecord) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._key("models", record.name, record.version), recursive=True)
        super().delete_files(record)

    def garbage(self, *, older_than_s: float = 3600) -> list[str]:
        """Claims older than `older_than_s` whose version was never committed (crashed saves)."""
        cutoff, found = time.time() - older_than_s, []
        for name in self._names():
            committed = set(self._numbers("index", name, "versions"))
            for v in self._numbers("index", name, "claims"):
                claim = self._json("index", name, "claims", v)
                if v not in committed and _epoch(claim["time"]) < cutoff:
                    found.append(f"{name}:{v}")
        return found

    def _names(self) -> list[str]:
        """The model names the bucket knows."""
        try:
            keys = self.fs.ls(self._key("index"), detail=False, refresh=True)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"Cannot list {self.url}: {exc}") from exc
        return sorted(k.rstrip("/").rsplit("/", 1)[-1] for k in keys)


def _alias_event(row: sqlite3.Row) -> dict[str, Any]:
    keys = ("alias", "version", "previous", "time", "user", "reason", "action")
    return {"kind": "alias", **{k: row[k] for k in keys}}


def _dumps(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp).timestamp()


def team_store(root: str | Path | Store | None = None) -> RemoteStore:
    """The team store at `root` (default ``$MLPACT_HOME`` or ``./.mlpact``).

    Raises:
        StoreError: the store keeps its versions in its own folder (it has no ``store.yaml``).
    """
    store = Store.open(root)
    if not isinstance(store, RemoteStore):
        raise StoreError(
            f"The store at {store.root} keeps its versions in its own folder; it has no artifact root.",
            hint="Point a new store at a bucket with `mlpact store connect s3://BUCKET/PREFIX --store DIR`.",
        )
    return store
