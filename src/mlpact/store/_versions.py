"""Versions: atomic registration, references (`name`, `name:3`, `name@alias`), status."""

from __future__ import annotations

import contextlib
import difflib
import errno
import itertools
import json
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlpact.errors import NotFoundError, StoreError
from mlpact.store._db import NAME_RE, Database, check_name, disk_full, fsync_dir, now

# The file of a version folder whose sha256 the index records as the version's digest.
MANIFEST = "manifest.json"  # as MANIFEST (the store does not import bundle)
REF_RE = re.compile(r"(?P<name>[^:@]+)(?::(?P<version>[0-9]+)|@(?P<alias>[^:@]+))?")


NUMBER_RE = re.compile(r"[1-9][0-9]{0,18}")  # a version folder's name
SAVING, PURGED = ".saving", ".purged"  # marks beside version folders, see the module docstring


MAX_VERSION = 2**63 - 1  # SQLite's largest integer
Status = Literal["active", "archived", "purged"]
# The origin of a version `mlpact reproduce` trained: a reproduction, not a new candidate, so
# `latest` skips it until it is promoted (docs/check.md).
REPRODUCTION = "reproduce"


def lineage_origin(lineage: Mapping[str, Any]) -> str | None:
    """The index's origin for a version mlpact trained, from its lineage: a reproduction or None."""
    return REPRODUCTION if lineage.get("reproduces") else None


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
    origin: str | None = None
    # Import paths trusted when deserialising (config-named + explicit); None: saved before
    # mlpact recorded them, so loading falls back to the paths the version's config names.
    trusted_paths: tuple[str, ...] | None = None
    # When `mlpact store rebuild-index` wrote the row from the version's manifest (None: recorded
    # at save). A rebuilt row trusts only mlpact's own list and what `--trust` confirmed.
    rebuilt: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def made_by(self) -> str:
        """`mlpact` (trained by `mlpact train`), `reproduce` (retrained by `mlpact reproduce`),
        `external` (`mlpact.save`) or `imported`."""
        if self.origin is None:
            return "mlpact"
        return self.origin if self.origin in ("external", REPRODUCTION) else "imported"

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
            "origin": self.origin,
            "trusted_paths": list(self.trusted_paths) if self.trusted_paths is not None else None,
            "rebuilt": self.rebuilt,
        }


@dataclass(frozen=True)
class ParsedRef:
    name: str
    version: int | None = None
    alias: str | None = None


def parse_ref(ref: str) -> ParsedRef:
    """Parse `name`, `name:3` or `name@alias` (the whole string; VERSION in ASCII digits).

    Raises:
        NotFoundError: the text is not a reference, or names a version beyond any possible number.
    """
    match = REF_RE.fullmatch(ref)
    if not match:
        raise NotFoundError(f"Invalid model reference {ref!r}: expected NAME, NAME:VERSION or NAME@ALIAS.")
    version = match.group("version")
    return ParsedRef(match.group("name"), _number(version, ref) if version else None, match.group("alias"))


def _number(text: str, ref: str) -> int:
    if len(text) > 19 or int(text) > MAX_VERSION:
        shown = text if len(text) <= 40 else f"{text[:20]}...({len(text)} digits)"
        raise NotFoundError(
            f"Invalid model reference {ref[:80]!r}: version {shown} cannot exist; version numbers "
            f"are at most {MAX_VERSION}.",
            hint="`mlpact models list NAME` shows the versions there are.",
        )
    return int(text)


class Versions(Database):
    """Registering, finding and listing versions."""

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
        origin: str | None = None,
    ) -> VersionRecord:
        """Move a fully written version into place and index it, atomically.

        Args:
            name: the model name.
            tmp_dir: a folder from :meth:`new_tmp_dir` holding every file but the manifest.
            finalize: called with (tmp_dir, version) inside the transaction; writes the files
                that name the version (manifest last) and returns the version's index fields
                (digest, config_hash, data_fingerprint, metric_name, metric_value, trusted_types,
                trusted_paths: the import paths trusted when deserialising).
            origin: where the version came from when it was not trained here (an import).
        """
        check_name(name)
        moved: list[Path] = []
        try:
            record = self._register(
                name, tmp_dir, finalize, moved, flavor=flavor, run_id=run_id, origin=origin
            )
        except BaseException as exc:
            for path in reversed(moved):  # in place, but its row was never committed: nothing may show
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            full = disk_full(exc, self.root)
            if full is not None:
                raise full from exc
            raise
        with contextlib.suppress(OSError):  # committed: no longer an interrupted save (a mark left
            mark_of(record.path, SAVING).unlink(missing_ok=True)  # beside a registered version is inert)
        return record

    def _register(
        self,
        name: str,
        tmp_dir: Path,
        finalize: Callable[[Path, int], dict[str, Any]],
        moved: list[Path],
        *,
        flavor: str,
        run_id: str | None,
        origin: str | None,
    ) -> VersionRecord:
        with self._write() as db:
            version = self._next_number(db, name)
            fields = finalize(tmp_dir, version)
            final = self.version_dir(name, version)
            final.parent.mkdir(parents=True, exist_ok=True)
            moved.append(mark_of(final, SAVING))
            moved[-1].write_bytes(b"")  # until the commit: an interrupted save, if any
            os.replace(tmp_dir, final)
            moved.append(final)
            fsync_dir(final.parent)
            db.execute(
                "INSERT INTO counters (name, last_version) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET last_version = excluded.last_version",
                (name, version),
            )
            db.execute(
                "INSERT INTO versions (name, version, created, path, flavor, digest, config_hash, "
                "data_fingerprint, metric_name, metric_value, run_id, trusted_types, origin, "
                "trusted_paths) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name, version, now(), final.relative_to(self.root).as_posix(), flavor,
                    fields["digest"], fields.get("config_hash"), fields.get("data_fingerprint"),
                    fields.get("metric_name"), fields.get("metric_value"), run_id,
                    json.dumps(sorted(fields.get("trusted_types", []))), origin,
                    json.dumps(sorted(fields.get("trusted_paths", []))),
                ),
            )  # fmt: skip
        return self.get(name, version)

    def _next_number(self, db: sqlite3.Connection, name: str) -> int:
        """The first number above the counter that no folder or purge mark holds: a number is never
        reused, and a folder already there (an interrupted save, a version the index lost) is kept."""
        row = db.execute("SELECT last_version FROM counters WHERE name = ?", (name,)).fetchone()
        return next(
            v for v in itertools.count((row["last_version"] if row else 0) + 1) if not self._taken(name, v)
        )

    def _taken(self, name: str, version: int) -> bool:
        """A folder or a purge mark holds the number (``.N.saving`` alone: a save that died before
        moving its folder in, as only the writer holding the lock can leave one)."""
        final = self.version_dir(name, version)
        return os.path.lexists(final) or os.path.lexists(mark_of(final, PURGED))

    def version_dir(self, name: str, version: int) -> Path:
        return self.root / "models" / check_name(name) / str(version)

    def own_dir(self, record: VersionRecord) -> Path:
        """The version's folder, checked to be ``models/NAME/VERSION`` inside this store.

        Raises:
            StoreError: the index row points anywhere else (an edited or foreign index), or a
                folder on the way is a link out of the store: nothing there is read or deleted.
        """
        expected = self.version_dir(record.name, record.version)
        real = Path(os.path.realpath(expected))
        if record.path != expected or real != expected:
            found = record.path if record.path != expected else real
            raise StoreError(
                f"{record.ref}: the store index points its folder at {str(found)[:300]}, not at "
                f"{expected} inside the store. Refusing to read or delete anything there.",
                hint="The index was edited or copied from another store: rebuild it from the "
                "versions' manifests with `mlpact store rebuild-index` (see docs/registry.md).",
            )
        return expected

    # The two places that reach a version's files: a store whose artifacts live elsewhere
    # (a team store, _remote.py) downloads into `version_dir` and deletes there too.
    def local_dir(self, record: VersionRecord, *, fresh: bool = False) -> Path:
        """The folder holding the version's files on this machine (`fresh`: fetch them again)."""
        return self.own_dir(record)

    def delete_files(self, record: VersionRecord) -> None:
        """Delete a version's files (purge); its row and number stay, and ``.N.purged`` marks it.

        Raises:
            StoreError: the row points outside the store (nothing is deleted), or some files could
                not be deleted (named, with the reason).
        """
        folder = self.own_dir(record)
        failed: list[str] = []

        def note(_func: Any, path: str, exc: Any) -> None:
            if not (failed and getattr(exc[1], "errno", None) == errno.ENOTEMPTY):  # not its parents too
                failed.append(f"{path} ({exc[1]})")

        if os.path.lexists(folder):
            shutil.rmtree(folder, onerror=note)
        tombstone = {"name": record.name, "version": record.version, "digest": record.digest, "purged": now()}
        try:
            mark_of(folder, PURGED).write_text(json.dumps(tombstone) + "\n", encoding="utf-8")
        except OSError as exc:
            failed.append(f"{mark_of(folder, PURGED)} ({exc})")
        if failed:
            shown = "; ".join(failed[:10]) + (f"; and {len(failed) - 10} more" if len(failed) > 10 else "")
            raise StoreError(
                f"{record.ref} is purged (it no longer loads), but {len(failed)} of its files could "
                f"not be deleted: {shown}.",
                hint=f"Fix the permissions and run `mlpact models archive {record.ref} --purge` again, "
                "or delete the folder by hand.",
            )

    def sweep_tmp(self, *, older_than_s: float = 3600) -> list[Path]:
        """Remove leftovers of interrupted saves older than `older_than_s`; returns them."""
        self._ensure()
        removed = []
        cutoff = time.time() - older_than_s
        for path in (self.root / "tmp").glob("*"):
            if path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        return removed

    def orphans(self) -> list[Path]:
        """Version folders with no row in the index: interrupted saves (``.N.saving`` beside them)
        and folders of no version. They are kept, and their numbers are never used again."""
        self._ensure()
        with self._read() as db:
            known = {(r["name"], str(r["version"])) for r in db.execute("SELECT name, version FROM versions")}
        return sorted(
            p
            for p in (self.root / "models").glob("*/*")
            if p.is_dir() and (p.parent.name, p.name) not in known
        )

    # ----------------------------------------------------------------------- index vs folders
    def _check_index(self, conn: sqlite3.Connection | None) -> None:
        """Refuse an index that is missing or older than the folders: it would forget versions.

        A folder counts when it holds a manifest (or a purge mark) and is not an interrupted save.
        Only numbers above each model's counter are probed, so opening stays cheap.
        """
        if self._rebuilding:
            return
        counters = None if conn is None else counters_of(conn)
        unknown = self._unindexed(counters)
        if unknown and conn is None and self.db_path.exists():
            return  # another process created the index meanwhile: the check runs against it
        if unknown and conn is not None:  # a save that committed while we looked is known now
            fresh = counters_of(conn)
            unknown = [(n, v) for n, v in unknown if v > fresh.get(n, 0)]
        if unknown:
            raise _stale_index(self.root, self.db_path, unknown, missing=conn is None)

    def _unindexed(self, counters: dict[str, int] | None) -> list[tuple[str, int]]:
        found = []
        for name, folder in model_folders(self.root / "models"):
            last = None if counters is None else counters.get(name)
            numbers = version_numbers(folder) if last is None else self._above(name, last)
            found += [(name, v) for v in numbers if _is_unindexed_version(folder / str(v))]
        return found

    def _above(self, name: str, last: int) -> Iterator[int]:
        """Numbers above `last` taken on disk, as long as they follow each other."""
        return itertools.takewhile(lambda v: self._taken(name, v), itertools.count(last + 1))

    # ----------------------------------------------------------------------- lookups
    def get(self, name: str, version: int) -> VersionRecord:
        """One version by number (any status)."""
        if not 0 < version <= MAX_VERSION:
            raise NotFoundError(
                f"Model {name!r} has no version {version}: version numbers run from 1 to {MAX_VERSION}."
            )
        with self._read() as db:
            row = db.execute(
                "SELECT * FROM versions WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
            if row is None:
                raise self._missing_version(db, name, version)
            return self._records(db, [row])[0]

    def resolve(self, ref: str, *, purged: bool = False) -> VersionRecord:
        """The version a reference names: latest active, `:N` or `@alias` (`purged`: may be purged).

        Raises:
            NotFoundError: the model, version or alias does not exist (saying what does), or the
                version's files were purged.
            StoreError: the name or alias is not a valid name.
        """
        parsed = parse_ref(ref)
        check_name(parsed.name)
        if parsed.alias is not None:
            check_name(parsed.alias, what="alias")
        if parsed.version is not None:
            record = self.get(parsed.name, parsed.version)
        else:
            with self._read() as db:
                version = self._alias_or_latest(db, parsed)
            record = self.get(parsed.name, version)
        if record.status == "purged" and not purged:
            raise NotFoundError(f"{record.ref} was purged: its files were deleted; the number is not reused.")
        return record

    def _alias_or_latest(self, db: sqlite3.Connection, parsed: ParsedRef) -> int:
        if parsed.alias is not None:
            row = db.execute(
                "SELECT version FROM aliases WHERE name = ? AND alias = ?", (parsed.name, parsed.alias)
            ).fetchone()
            if row is None:
                if (
                    db.execute("SELECT 1 FROM versions WHERE name = ? LIMIT 1", (parsed.name,)).fetchone()
                    is None
                ):
                    raise self._missing_model(db, parsed.name)  # the model, not its alias
                known = sorted(
                    r[0] for r in db.execute("SELECT alias FROM aliases WHERE name = ?", (parsed.name,))
                )
                listed = f"; its aliases: {', '.join(known)}." if known else "; it has no aliases yet."
                raise NotFoundError(
                    f"Model {parsed.name!r} has no alias {parsed.alias!r}{listed}",
                    hint=f"Set one with `mlpact models promote {parsed.name}:VERSION {parsed.alias}`.",
                )
            return int(row["version"])
        row = db.execute(_LATEST, (parsed.name, REPRODUCTION)).fetchone()
        if row["v"] is None:
            raise self._no_latest(db, parsed.name)
        return int(row["v"])

    def versions(self, name: str | None = None, *, include_archived: bool = False) -> list[VersionRecord]:
        """Versions (of one model, or all), oldest first; archived and purged ones only if asked."""
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
            return self._records(db, db.execute(query + " ORDER BY name, version", args).fetchall())

    def set_status(self, record: VersionRecord, status: Status) -> None:
        """Mark a version active, archived or purged (the row and its number stay).

        Checked in the same transaction that changes it, so a concurrent promote cannot slip in
        between: archiving or purging a version that holds an alias is refused, only an archived
        version can be restored, and a purged one stays purged.

        Raises:
            StoreError: the change is not allowed (saying why and what to do).
        """
        with self._write() as db:
            _check_status_change(db, record, status)
            db.execute(
                "UPDATE versions SET status = ? WHERE name = ? AND version = ?",
                (status, record.name, record.version),
            )

    def _records(self, db: sqlite3.Connection, rows: Iterable[sqlite3.Row]) -> list[VersionRecord]:
        rows = list(rows)
        names = sorted({r["name"] for r in rows})
        held: dict[tuple[str, int], list[str]] = {}
        if names:
            marks = ",".join("?" * len(names))
            for r in db.execute(f"SELECT name, alias, version FROM aliases WHERE name IN ({marks})", names):
                held.setdefault((r["name"], r["version"]), []).append(r["alias"])
        return [
            VersionRecord(
                name=row["name"], version=row["version"], created=row["created"],
                path=self.root / row["path"], flavor=row["flavor"], digest=row["digest"],
                config_hash=row["config_hash"], data_fingerprint=row["data_fingerprint"],
                metric_name=row["metric_name"], metric_value=row["metric_value"], run_id=row["run_id"],
                trusted_types=tuple(json.loads(row["trusted_types"])), status=row["status"],
                aliases=tuple(sorted(held.get((row["name"], row["version"]), []))), origin=row["origin"],
                trusted_paths=_json_tuple(row["trusted_paths"]), rebuilt=row["rebuilt"],
            )
            for row in rows
        ]  # fmt: skip

    def _no_latest(self, db: sqlite3.Connection, name: str) -> NotFoundError:
        """Why NAME has no latest version: no such model, or only reproductions are active."""
        copies = [
            f"{name}:{r[0]}"
            for r in db.execute(
                "SELECT version FROM versions WHERE name = ? AND status = 'active' ORDER BY version",
                (name,),
            )
        ]
        if not copies:
            return self._missing_model(db, name)
        return NotFoundError(
            f"Model {name!r} has no latest version: its active versions ({', '.join(copies)}) are "
            "reproductions (`mlpact reproduce`), which `latest` skips until one is promoted.",
            hint=f"Name one ({copies[-1]}), or promote it: `mlpact models promote {copies[-1]} production`.",
        )

    def _missing_model(self, db: sqlite3.Connection, name: str) -> NotFoundError:
        names = [r[0] for r in db.execute("SELECT DISTINCT name FROM versions ORDER BY name")]
        where = f" in the store at {self.root}"
        if not names:
            return NotFoundError(
                f"No model named {name!r}{where}: the store has no models yet.",
                hint="Is --store (or MLPACT_HOME) the store you trained into? The default is .mlpact in "
                "the current folder; `mlpact train CONFIG` saves a first version.",
            )
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        return NotFoundError(f"No model named {name!r}{where}.{hint} Models: {shown}.")

    def _missing_version(self, db: sqlite3.Connection, name: str, version: int) -> NotFoundError:
        have = [
            r[0] for r in db.execute("SELECT version FROM versions WHERE name = ? ORDER BY version", (name,))
        ]
        if not have:
            return self._missing_model(db, name)
        return NotFoundError(
            f"Model {name!r} has no version {version}; it has versions {', '.join(map(str, have))}."
        )


# `latest`: the newest active version that is not a reproduction, unless that one was promoted.
_LATEST = """
SELECT MAX(version) AS v FROM versions AS ver WHERE name = ?1 AND status = 'active' AND (
    origin IS NOT ?2 OR EXISTS (
        SELECT 1 FROM alias_events AS e
        WHERE e.name = ver.name AND e.version = ver.version AND e.action = 'promote'))
"""


def _json_tuple(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(json.loads(text))


def _check_status_change(db: sqlite3.Connection, record: VersionRecord, status: Status) -> None:
    row = db.execute(
        "SELECT status FROM versions WHERE name = ? AND version = ?", (record.name, record.version)
    ).fetchone()
    current = row["status"] if row else "missing"
    if status == "active" and current != "archived":
        raise StoreError(f"{record.ref} is {current}, not archived; nothing to restore.")
    if current not in ("active", "archived") and not (current == "purged" == status):
        raise StoreError(f"{record.ref} is {current}; it cannot be {status}.")
    if status == "active":
        return
    query = "SELECT alias FROM aliases WHERE name = ? AND version = ? ORDER BY alias"
    held = [r[0] for r in db.execute(query, (record.name, record.version))]
    if held:
        verb = "purge" if status == "purged" else "archive"
        raise StoreError(
            f"{record.ref} holds {', '.join(f'{record.name}@{a}' for a in held)}; refusing to {verb} it.",
            hint=f"Move the alias first: `mlpact models promote {record.name}:OTHER {held[0]}` "
            f"or `mlpact models rollback {record.name} {held[0]}`.",
        )


def mark_of(folder: Path, kind: str) -> Path:
    """``models/NAME/.N.saving`` or ``.N.purged``, beside the folder ``models/NAME/N``."""
    return folder.parent / f".{folder.name}{kind}"


def counters_of(conn: sqlite3.Connection) -> dict[str, int]:
    return {r[0]: int(r[1]) for r in conn.execute("SELECT name, last_version FROM counters")}


def model_folders(models: Path) -> list[tuple[str, Path]]:
    try:
        entries = sorted(os.scandir(models), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    return [
        (e.name, Path(e.path))
        for e in entries
        if e.is_dir(follow_symlinks=False) and NAME_RE.fullmatch(e.name) and ".." not in e.name
    ]


def version_numbers(folder: Path) -> list[int]:
    """The version numbers a model's folder holds (folders and marks), ascending."""
    numbers = set()
    for entry in os.scandir(folder):
        text = entry.name
        for kind in (SAVING, PURGED):
            if text.startswith(".") and text.endswith(kind):
                text = text[1 : -len(kind)]
        if NUMBER_RE.fullmatch(text):
            numbers.add(int(text))
    return sorted(numbers)


def _is_unindexed_version(folder: Path) -> bool:
    """A complete version (or a purged one) that is not an interrupted save."""
    if os.path.lexists(mark_of(folder, SAVING)):
        return False
    return (folder / MANIFEST).is_file() or mark_of(folder, PURGED).is_file()


def _stale_index(root: Path, db_path: Path, unknown: list[tuple[str, int]], *, missing: bool) -> StoreError:
    refs = [f"{n}:{v}" for n, v in unknown]
    listed = ", ".join(refs[:10]) + (f" and {len(refs) - 10} more" if len(refs) > 10 else "")
    what = (
        f"The store at {root} has no index ({db_path.name} is missing), but its folders hold versions"
        if missing
        else f"The store index {db_path} is older than the store's folders: they hold versions it does "
        "not know"
    )
    return StoreError(
        f"{what}: {listed}. Refusing to use it: a new or older index would forget them and hand their "
        "numbers out again.",
        hint=f"Rebuild the index from the versions' manifests with `mlpact store rebuild-index "
        f"--store {root}` (docs/registry.md says what it recovers), or put back the latest copy "
        f"of {db_path.name}.",
    )
