"""Rebuilding a store's index from its version folders (`mlpact store rebuild-index`).

The index (``mlpact.db``) is the root of trust: it records, when a version is saved, the digest
of its manifest and what its deserialisation may trust. When the index is lost or older than the
folders, the store refuses to open (_versions.py); this module writes the missing rows back from
what the folders hold, under the write lock, so no save can interleave:

- A folder whose files match its manifest, and whose manifest names that folder's model and
  number, becomes a row marked ``rebuilt``: number, digest (the manifest's sha256 as found now),
  flavor, creation time, metric, fingerprints, run id and origin, read from its own files. Its
  trust is *not* taken from its manifest, which is the bundle describing itself: the row records
  only the names the user confirms with ``--trust`` among those the version claims (its
  manifest's types, its config's import paths), and an empty (not unknown) list of paths, so
  loading never falls back to what its config names. mlpact's own allowlist is the loader's and
  applies to a rebuilt version as to any other; nothing here widens it.
- Rows the index already has and whose folder still matches their digest are kept as they were
  recorded at save (trust, status, aliases and their history included).
- An interrupted save (``.N.saving``: its row was never committed) is indexed as archived, so it
  does not become ``latest``; a purge mark (``.N.purged``) as purged.
- A folder that does not verify is reported and left on disk, never deleted; nothing is indexed
  for it, but its number, like every number on disk, stays taken.
- A row that disagrees with its folder (another digest) stops the rebuild, unless ``replace``
  asks to start from the folders alone; the previous index is always copied aside first.

What an index alone recorded (alias moves, archive status, runs and evaluations) cannot be read
back from the folders; the result says so. A team store rebuilds from its bucket instead
(_remote.py): there the bucket's rows and events are the source of truth and nothing is lost.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlpact._core import files
from mlpact.errors import MlpactError, StoreError
from mlpact.store._db import now
from mlpact.store._manifest import manifest_digest, read_config, verify
from mlpact.store._versions import (
    MANIFEST,
    NUMBER_RE,
    PURGED,
    SAVING,
    Versions,
    counters_of,
    lineage_origin,
    mark_of,
    model_folders,
    version_numbers,
)

_COLUMNS = (
    "name", "version", "created", "path", "flavor", "digest", "config_hash", "data_fingerprint",
    "metric_name", "metric_value", "run_id", "trusted_types", "status", "origin", "trusted_paths", "rebuilt",
)  # fmt: skip
_STATUSES = ("active", "archived", "purged")
_TABLES = ("versions", "aliases", "alias_events", "counters", "runs", "evaluations", "run_metrics")


@dataclass(frozen=True)
class Rebuilt:
    """What `rebuild_index` found and did (refs are ``NAME:VERSION``)."""

    root: Path
    source: str  # "folders", or the bucket URL of a team store
    backup: Path | None  # the previous index, copied aside before anything changed
    kept: tuple[str, ...] = ()  # rows kept as recorded at save
    indexed: tuple[str, ...] = ()  # rows written now (from manifests: marked rebuilt)
    archived: tuple[str, ...] = ()  # interrupted saves, indexed as archived
    purged: tuple[str, ...] = ()  # purge marks, indexed as purged
    refused: dict[str, str] = field(default_factory=dict)  # folder -> why it was not indexed
    aliases: dict[str, dict[str, int]] = field(default_factory=dict)  # model -> alias -> version
    counters: dict[str, int] = field(default_factory=dict)  # model -> last number taken
    trusted: dict[str, tuple[str, ...]] = field(default_factory=dict)  # ref -> --trust names recorded
    unused_trust: tuple[str, ...] = ()  # --trust names no rebuilt version claims
    lost: tuple[str, ...] = ()  # what could not be recovered, in plain words

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": str(self.root), "source": self.source,
            "backup": str(self.backup) if self.backup else None, "kept": list(self.kept),
            "indexed": list(self.indexed), "archived": list(self.archived), "purged": list(self.purged),
            "refused": self.refused, "aliases": self.aliases, "counters": self.counters,
            "trusted": {k: list(v) for k, v in self.trusted.items()}, "unused_trust": list(self.unused_trust),
            "lost": list(self.lost),
        }  # fmt: skip


@dataclass
class _Scan:
    """The version folders and marks on disk, read before anything is written."""

    rows: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)  # complete versions
    digests: dict[tuple[str, int], str] = field(default_factory=dict)  # every manifest's sha256
    refused: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)  # model -> highest number on disk
    types: dict[tuple[str, int], set[str]] = field(default_factory=dict)  # the manifest's types
    claims: dict[tuple[str, int], set[str]] = field(default_factory=dict)  # types and config paths
    matched: list[tuple[str, int]] = field(default_factory=list)  # folders with the digest indexed


class Rebuilding(Versions):
    """`rebuild_index`: the store's index written back from its version folders."""

    def rebuild_index(self, *, trust: Iterable[str] = (), replace: bool = False) -> Rebuilt:
        """Index every version folder the index does not know; see the module docstring.

        Args:
            trust: type names or import paths to trust for the rebuilt versions that claim them.
            replace: start from an empty index instead of the current one (kept as a backup).

        Raises:
            StoreError: a row of the current index disagrees with its folder (without `replace`).
        """
        trust = sorted(set(trust))
        self._rebuilding, self._ready = True, False
        existed = self.db_path.exists()
        try:
            self._ensure()
            with self._write() as db:
                done, settled = self._rebuild(db, trust, replace=replace, existed=existed)
        finally:
            self._rebuilding = False
        for key in settled:  # committed: these saves are interrupted no more
            mark_of(self.version_dir(*key), SAVING).unlink(missing_ok=True)
        return done

    def _rebuild(
        self, db: sqlite3.Connection, trust: list[str], *, replace: bool, existed: bool
    ) -> tuple[Rebuilt, list[tuple[str, int]]]:
        """The rebuild inside the write transaction; also returns the versions whose ``.N.saving``
        mark is to go once it commits."""
        old = {(r["name"], r["version"]): dict(r) for r in db.execute("SELECT * FROM versions")}
        counters = counters_of(db)
        scan = _scan(self.root / "models", {} if replace else {k: r["digest"] for k, r in old.items()})
        conflicts = [] if replace else _conflicts(old, scan)
        if conflicts:
            raise _disagrees(self.db_path, conflicts)
        backup = self._backup() if existed else None
        if replace:
            for table in _TABLES:
                db.execute(f"DELETE FROM {table}")
            db.execute("DELETE FROM sqlite_sequence")
            old = {}
        for key in scan.matched:
            _repair_path(db, old[key], self.version_dir(*key).relative_to(self.root).as_posix())
        written, confirmed = self._write_rows(db, scan, old, trust)
        _raise_counters(db, scan, old, counters)
        claimed = {_norm(c) for claims in scan.claims.values() for c in claims}
        refs = {
            s: tuple(_ref((r["name"], r["version"])) for r in written if r["status"] == s) for s in _STATUSES
        }
        done = Rebuilt(
            self.root, "folders", backup, kept=tuple(map(_ref, sorted(scan.matched))), indexed=refs["active"],
            archived=refs["archived"], purged=refs["purged"], refused=scan.refused,
            aliases=recovered_aliases(db),
            counters=dict(sorted(counters_of(db).items())), trusted=confirmed,
            unused_trust=tuple(n for n in trust if _norm(n) not in claimed),
            lost=_lost(existed=existed, replace=replace, rebuilt=any(r["rebuilt"] for r in written),
                       backup=backup),
        )  # fmt: skip
        settled = [*scan.matched, *((r["name"], r["version"]) for r in written if r["status"] == "archived")]
        return done, settled

    def _write_rows(
        self,
        db: sqlite3.Connection,
        scan: _Scan,
        old: Mapping[tuple[str, int], Mapping[str, Any]],
        trust: list[str],
    ) -> tuple[list[dict[str, Any]], dict[str, tuple[str, ...]]]:
        """Insert a rebuilt row per verified folder the index lacks (and record purges it missed)."""
        stamp, written, confirmed = now(), [], {}
        for key, row in sorted(scan.rows.items()):
            if key in old:  # a purge the index did not see is recorded; otherwise the row stands
                if row["status"] == "purged" and old[key]["status"] != "purged":
                    db.execute("UPDATE versions SET status = 'purged' WHERE name = ? AND version = ?", key)
                    written.append({**old[key], "status": "purged"})
                continue
            names = sorted(n for n in trust if _norm(n) in {_norm(c) for c in scan.claims[key]})
            row = _trusting(row, names, scan.types[key])
            row.update(path=self.version_dir(*key).relative_to(self.root).as_posix(), rebuilt=stamp)
            _insert(db, row)
            written.append(row)
            if names:
                confirmed[_ref(key)] = tuple(names)
        return written, confirmed

    def _backup(self) -> Path:
        """Copy the current index aside (SQLite's online backup: consistent while we hold the lock)."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        target = self.db_path.with_name(f"{self.db_path.name}.before-rebuild-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.db_path.with_name(f"{self.db_path.name}.before-rebuild-{stamp}-{n}")
        source, copy = sqlite3.connect(self.db_path), sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            source.close()
            copy.close()
        return target


# --------------------------------------------------------------------------- reading the folders
def _scan(models: Path, known: Mapping[tuple[str, int], str]) -> _Scan:
    """Every folder and mark under models/; a folder whose manifest has the digest `known` records
    for it is only matched, not re-hashed (its row stands as recorded at save)."""
    scan = _Scan()
    folders = model_folders(models)
    for entry in sorted(models.iterdir()) if models.is_dir() else []:
        if entry.name not in {name for name, _ in folders}:
            scan.refused[f"models/{entry.name}"] = "not a model folder (name or kind); left as it is"
    for name, folder in folders:
        numbers = version_numbers(folder)
        if numbers:
            scan.numbers[name] = numbers[-1]
        for entry in sorted(folder.iterdir()):
            if not (NUMBER_RE.fullmatch(entry.name) or _is_mark(entry.name)):
                scan.refused[f"models/{name}/{entry.name}"] = "not a version folder; left as it is"
        for version in numbers:
            _scan_one(scan, name, version, folder / str(version), known.get((name, version)))
    return scan


def _is_mark(text: str) -> bool:
    return any(
        text.startswith(".") and text.endswith(k) and NUMBER_RE.fullmatch(text[1 : -len(k)]) is not None
        for k in (SAVING, PURGED)
    )


def _scan_one(scan: _Scan, name: str, version: int, folder: Path, known: str | None) -> None:
    key, where = (name, version), f"models/{name}/{version}"
    if folder.is_symlink() or (os.path.lexists(folder) and not folder.is_dir()):
        scan.refused[where] = "not a folder (a link or a file); left as it is"
    elif folder.is_dir():
        try:
            if (folder / MANIFEST).is_file():
                scan.digests[key] = manifest_digest(folder)
            if known is not None and scan.digests.get(key) == known:
                scan.matched.append(key)
                return
            manifest = verify(folder)
            scan.rows[key], scan.types[key], paths = _row(name, version, folder, manifest)
            scan.claims[key] = scan.types[key] | paths
        except (MlpactError, OSError, ValueError) as exc:
            scan.refused[where] = f"{getattr(exc, 'message', exc)} Not indexed; left as it is."
            return
        if os.path.lexists(mark_of(folder, SAVING)):
            scan.rows[key]["status"] = "archived"
    elif mark_of(folder, PURGED).is_file():
        scan.rows[key] = _purged_row(name, version, mark_of(folder, PURGED))
        scan.types[key], scan.claims[key] = set(), set()


def _row(
    name: str, version: int, folder: Path, manifest: Mapping[str, Any]
) -> tuple[dict[str, Any], set[str], set[str]]:
    """The index row a verified folder's own files describe, the types its manifest claims to
    need and the import paths its config names."""
    if manifest.get("name") != name or manifest.get("version") != version:
        raise StoreError(
            f"its manifest names {str(manifest.get('name'))[:80]}:{str(manifest.get('version'))[:20]}, "
            f"not {name}:{version}."
        )
    flavor = manifest.get("flavor", "sklearn")
    if flavor not in ("sklearn", "torch"):
        raise StoreError(f"its manifest names the flavor {str(flavor)[:40]!r}, which mlpact does not write.")
    lineage, metrics = _mapping(folder, "lineage.json"), _mapping(folder, "metrics.json")
    primary = metrics.get("primary") if isinstance(metrics.get("primary"), str) else None
    test = metrics.get("test")
    value = test.get(primary) if primary and isinstance(test, Mapping) else None
    types = manifest.get("trusted_types")
    claims = {t for t in types if isinstance(t, str)} if isinstance(types, list) else set()
    row = {
        "name": name, "version": version, "created": _text(manifest.get("created")) or now(),
        "flavor": flavor, "digest": manifest_digest(folder),
        "config_hash": _text(lineage.get("config_hash")),
        "data_fingerprint": _text(_get(lineage, "data", "fingerprint")), "metric_name": primary,
        "metric_value": _float(value),
        "run_id": _text(lineage.get("run_id")), "status": "active", "origin": _origin(manifest, lineage),
    }  # fmt: skip
    return row, claims, set(_config_paths(folder))


def _purged_row(name: str, version: int, mark: Path) -> dict[str, Any]:
    try:
        data = json.loads(mark.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    data = data if isinstance(data, dict) else {}
    digest = data.get("digest")
    return {
        "name": name, "version": version, "created": _text(data.get("purged")),
        "flavor": "sklearn", "digest": digest if isinstance(digest, str) else "", "config_hash": None,
        "data_fingerprint": None, "metric_name": None, "metric_value": None, "run_id": None,
        "status": "purged", "origin": None,
    }  # fmt: skip


def _trusting(row: dict[str, Any], names: list[str], claimed: set[str]) -> dict[str, Any]:
    """The row's trust: only the claimed types and config paths the user confirmed with `--trust`
    (`names`); a claim is compared as a string, nothing it names is imported."""
    types = sorted(c for c in claimed if _norm(c) in {_norm(n) for n in names})
    row.update(trusted_types=json.dumps(types), trusted_paths=json.dumps(sorted(names)))
    row["created"] = row["created"] or now()
    return row


def _config_paths(folder: Path) -> list[str]:
    from mlpact.config import import_paths

    try:
        config = read_config(folder)
    except (MlpactError, OSError):
        return []
    return import_paths(config)


def _mapping(folder: Path, name: str) -> dict[str, Any]:
    try:
        return files.read_mapping(folder, name)
    except (MlpactError, OSError):
        return {}


def _origin(manifest: Mapping[str, Any], lineage: Mapping[str, Any]) -> str | None:
    source = manifest.get("imported_from")
    if isinstance(source, Mapping):
        digest = str(source.get("digest") or "")[:12]
        return f"{source.get('name')}:{source.get('version')} ({digest})"
    return "external" if lineage.get("origin") == "external" else lineage_origin(lineage)


def _get(data: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, Mapping) else None  # type: ignore[assignment]
    return data


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) else None


def _norm(name: str) -> str:
    return name.replace(":", ".")


def _ref(key: tuple[str, int]) -> str:
    return f"{key[0]}:{key[1]}"


# --------------------------------------------------------------------------- writing the index
def _conflicts(old: Mapping[tuple[str, int], Mapping[str, Any]], scan: _Scan) -> list[str]:
    found = []
    for key, row in sorted(old.items()):
        digest = scan.digests.get(key)
        if digest is not None and digest != row["digest"] and row["status"] != "purged":
            found.append(f"{_ref(key)} (index {row['digest'][:12]}, folder {digest[:12]})")
    return found


def _disagrees(db_path: Path, conflicts: list[str]) -> StoreError:
    listed = ", ".join(conflicts[:10]) + (f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else "")
    return StoreError(
        f"The store index {db_path} disagrees with {len(conflicts)} version folders: their manifests "
        f"are not the ones it recorded: {listed}. Nothing was changed.",
        hint="If a folder was rewritten, restore it from a backup or an export (`mlpact models verify` "
        "names them). If the index belongs to another store, rebuild from the folders alone with "
        "`mlpact store rebuild-index --replace` (the current index is copied aside first).",
    )


def _repair_path(db: sqlite3.Connection, row: Mapping[str, Any], path: str) -> None:
    """A kept row whose folder matches its digest gets its canonical path back."""
    if row["path"] != path:
        db.execute(
            "UPDATE versions SET path = ? WHERE name = ? AND version = ?", (path, row["name"], row["version"])
        )


def _raise_counters(
    db: sqlite3.Connection, scan: _Scan, old: Mapping[tuple[str, int], Any], counters: Mapping[str, int]
) -> None:
    """Every model's counter above every number in the old index, its counters and on disk."""
    high: dict[str, int] = dict(counters)
    for name, version in [*old, *scan.numbers.items()]:
        high[name] = max(high.get(name, 0), version)
    for name, last in sorted(high.items()):
        db.execute(
            "INSERT INTO counters (name, last_version) VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
            "SET last_version = MAX(last_version, excluded.last_version)",
            (name, last),
        )


def _insert(db: sqlite3.Connection, row: Mapping[str, Any]) -> None:
    marks = ", ".join("?" * len(_COLUMNS))
    db.execute(f"INSERT INTO versions ({', '.join(_COLUMNS)}) VALUES ({marks})", [row[c] for c in _COLUMNS])


def recovered_aliases(db: sqlite3.Connection) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for r in db.execute("SELECT name, alias, version FROM aliases ORDER BY name, alias"):
        found.setdefault(r[0], {})[r[1]] = int(r[2])
    return found


def _lost(*, existed: bool, replace: bool, rebuilt: bool, backup: Path | None) -> tuple[str, ...]:
    lost = []
    if not existed or replace:
        where = "there was no index" if not existed else f"the previous index ({backup}) was set aside"
        lost.append(
            f"Aliases and their history, archive status, runs and evaluations were recorded only in "
            f"the index, and {where}: none could be recovered. Every version is active and holds no "
            "alias; promote again with `mlpact models promote NAME:VERSION ALIAS`."
        )
    elif rebuilt:
        lost.append(
            "Aliases, their history, statuses, runs and evaluations are those the previous index "
            "recorded; alias moves, archives and runs made after it was written could not be "
            "recovered, and the versions indexed now have no run record (their run id is kept)."
        )
    if rebuilt:
        lost.append(
            "Rows written now are marked rebuilt: their digest is their manifest as found now, and "
            "they trust only mlpact's own allowlist plus the --trust names confirmed for them, never "
            "what their manifest claims; loading one that needs more names them (pass them with "
            "--trust)."
        )
    return tuple(lost)
