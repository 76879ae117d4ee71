"""The one trust rule, with the store's index as its root.

Deserialising a version may build: the exact classes on mlpact's allowlist (what it writes for
the pipelines it can build, see `mlpact.version.allowlist`), plus the exact names the store's index
recorded when the version was saved (the types its pipeline needed, the classes its config
names in `model.type` and `features.custom`, and `trust=` given to `mlpact.save`), plus what the
user passes explicitly (`--trust`, `trust=`). The names and the digest of the whole version (the
sha256 of its manifest, which lists every file's sha256) are recorded in the store's SQLite
index; loading takes them from there, so rewriting a version's files, manifest, config or trust
list together cannot widen what is trusted.

A bundle from elsewhere (an archive being imported, a folder loaded by path outside any store)
has no index behind it: only the allowlist and explicit `--trust` apply, whatever its manifest,
config or lineage say. An import records what was trusted for it in this store's index.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlpact.errors import IntegrityError, TrustWarning
from mlpact.store import Store, VersionRecord
from mlpact.version import bundle


def check_digest(record: VersionRecord, directory: Path | None = None) -> None:
    """Compare the version's manifest with the digest the index recorded when it was saved.

    Raises:
        IntegrityError: naming the version, when they differ (a file rewritten with its manifest).
    """
    digest = bundle.manifest_digest(directory or record.path)
    if digest != record.digest:
        raise IntegrityError(
            f"{record.ref}: manifest.json differs from the digest recorded in the store index "
            f"when it was saved (recorded {record.digest}, found {digest}). Refusing to load it.",
            hint="Restore the version's folder from a backup or an export, or train it again.",
        )


def record_of(directory: Path) -> VersionRecord | None:
    """The index record of a version folder that lives in a store (``STORE/models/NAME/N``)."""
    directory = directory.resolve()
    if len(directory.parents) < 3 or not directory.name.isdigit():
        return None
    root = directory.parents[2]
    if directory.parent.parent.name != "models" or not (root / "mlpact.db").is_file():
        return None
    try:
        record = Store(root).get(directory.parent.name, int(directory.name))
    except Exception:  # not registered (an orphan) or not a store after all
        return None
    return record if record.path.resolve() == directory else None


def trusted_paths(record: VersionRecord | None, config: Mapping[str, Any] | Any) -> list[str]:
    """The import paths a version's deserialisation trusts, from the index.

    A version saved before the index recorded them falls back to the paths its config names (the
    config file is covered by the manifest digest the index holds), warning when those include
    classes outside mlpact's allowlist. A folder outside any store trusts none.
    """

    if record is None:
        return []
    if record.trusted_paths is not None:
        return list(record.trusted_paths)
    from mlpact.config import import_paths  # old versions only: loading needs no pydantic

    named = import_paths(config) if isinstance(config, Mapping) else []
    own = bundle.allowed_names()
    beyond = sorted(p for p in named if not own.allows("class", p.replace(":", ".")))
    if beyond:
        warnings.warn(
            f"{record.ref} was saved before mlpact recorded trusted import paths in the store index; "
            f"trusting the paths its config names ({', '.join(beyond)}), whose file is covered by "
            "the digest the index holds.",
            TrustWarning,
            stacklevel=3,
        )
    return named


def extra_types(record: VersionRecord | None, named: Iterable[str], trust: Iterable[str]) -> list[str]:
    """The exact names beyond mlpact's allowlist a version's pipeline may use: the types the index
    recorded at save, the classes `named` (from the index, see `trusted_paths`) and `trust`.

    Nothing here comes from the version's own files: a folder outside any store (`record` None)
    gets `trust` alone.
    """
    recorded = record.trusted_types if record is not None else ()
    return sorted({*recorded, *(p.replace(":", ".") for p in named), *(t.replace(":", ".") for t in trust)})
