"""Versions: atomic registration, references (`name`, `name:3`, `name@alias`), status."""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlpact.errors import NotFoundError
from mlpact.store._db import Database, check_name, disk_full, fsync_dir, now

# The file of a version folder whose sha256 the index records as the version's digest.
MANIFEST = "manifest.json"
REF_RE = re.compile(r"^(?P<name>[^:@]+)(?::(?P<version>\d+)|@(?P<alias>[^:@]+))?$")
Status = Literal["active", "archived", "purged"]


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

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def made_by(self) -> str:
        """`mlpact` (trained by `mlpact train`), `external` (`mlpact.save`) or `imported`."""
        return "mlpact" if self.origin is None else "external" if self.origin == "external" else "imported"

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
            return self._register(name, tmp_dir, finalize, moved, flavor=flavor, run_id=run_id, origin=origin)
        except BaseException as exc:
            for path in moved:  # in place, but its row was never committed: nothing may show
                shutil.rmtree(path, ignore_errors=True)
            full = disk_full(exc, self.root)
            if full is not None:
                raise full from exc
            raise

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
            row = db.execute("SELECT last_version FROM counters WHERE name = ?", (name,)).fetchone()
            version = (row["last_version"] if row else 0) + 1
            fields = finalize(tmp_dir, version)
            final = self.version_dir(name, version)
            if final.exists():  # an orphan from a crash between replace and commit
                shutil.rmtree(final)
            final.parent.mkdir(parents=True, exist_ok=True)
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

    def version_dir(self, name: str, version: int) -> Path:
        return self.root / "models" / check_name(name) / str(version)

    # The two places that reach a version's files: a store whose artifacts live elsewhere
    # (a team store, _remote.py) downloads into `version_dir` and deletes there too.
    def local_dir(self, record: VersionRecord, *, fresh: bool = False) -> Path:
        """The folder holding the version's files on this machine (`fresh`: fetch them again)."""
        return record.path

    def delete_files(self, record: VersionRecord) -> None:
        """Delete a version's files (purge); its row and number stay."""
        shutil.rmtree(record.path, ignore_errors=True)

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
        """Version folders with no row in the index (left by a crash; the next save removes them)."""
        self._ensure()
        with self._read() as db:
            known = {(r["name"], str(r["version"])) for r in db.execute("SELECT name, version FROM versions")}
        return sorted(
            p
            for p in (self.root / "models").glob("*/*")
            if p.is_dir() and (p.parent.name, p.name) not in known
        )

    # ----------------------------------------------------------------------- lookups
    def get(self, name: str, version: int) -> VersionRecord:
        """One version by number (any status)."""
        with self._read() as db:
            row = db.execute(
                "SELECT * FROM versions WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
            if row is None:
                raise NotFoundError(self._missing_version(db, name, version))
            return self._records(db, [row])[0]

    def resolve(self, ref: str) -> VersionRecord:
        """The version a reference names: latest active, `:N` or `@alias`.

        Raises:
            NotFoundError: the model, version or alias does not exist (saying what does), or the
                version's files were purged.
        """
        parsed = parse_ref(ref)
        check_name(parsed.name)
        if parsed.version is not None:
            record = self.get(parsed.name, parsed.version)
        else:
            with self._read() as db:
                version = self._alias_or_latest(db, parsed)
            record = self.get(parsed.name, version)
        if record.status == "purged":
            raise NotFoundError(f"{record.ref} was purged: its files were deleted; the number is not reused.")
        return record

    def _alias_or_latest(self, db: sqlite3.Connection, parsed: ParsedRef) -> int:
        if parsed.alias is not None:
            row = db.execute(
                "SELECT version FROM aliases WHERE name = ? AND alias = ?", (parsed.name, parsed.alias)
            ).fetchone()
            if row is None:
                known = sorted(
                    r[0] for r in db.execute("SELECT alias FROM aliases WHERE name = ?", (parsed.name,))
                )
                listed = f"; its aliases: {', '.join(known)}." if known else "; it has no aliases yet."
                raise NotFoundError(
                    f"Model {parsed.name!r} has no alias {parsed.alias!r}{listed}",
                    hint=f"Set one with `mlpact models promote {parsed.name}:VERSION {parsed.alias}`.",
                )
            return int(row["version"])
        row = db.execute(
            "SELECT MAX(version) AS v FROM versions WHERE name = ? AND status = 'active'", (parsed.name,)
        ).fetchone()
        if row["v"] is None:
            raise NotFoundError(self._missing_model(db, parsed.name))
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
        """Mark a version active, archived or purged (the row and its number stay)."""
        with self._write() as db:
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
                trusted_paths=_json_tuple(row["trusted_paths"]),
            )
            for row in rows
        ]  # fmt: skip

    def _missing_model(self, db: sqlite3.Connection, name: str) -> str:
        names = [r[0] for r in db.execute("SELECT DISTINCT name FROM versions ORDER BY name")]
        where = f" in the store at {self.root}"
        if not names:
            return (
                f"No model named {name!r}{where}: the store has no models yet. "
                "Train one with `mlpact train CONFIG`."
            )
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"No model named {name!r}{where}.{hint} Models: {', '.join(names)}."

    def _missing_version(self, db: sqlite3.Connection, name: str, version: int) -> str:
        have = [
            r[0] for r in db.execute("SELECT version FROM versions WHERE name = ? ORDER BY version", (name,))
        ]
        if not have:
            return self._missing_model(db, name)
        return f"Model {name!r} has no version {version}; it has versions {', '.join(map(str, have))}."


def _json_tuple(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(json.loads(text))
