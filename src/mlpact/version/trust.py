"""The one trust rule, with the store's index as its root.

Deserialising a version trusts: the types mlpact itself writes (scikit-learn, NumPy, SciPy and
mlpact classes, see `bundle.untrusted_by_rule`), plus the import paths the version's config names
(custom transformers in `features.custom`, the estimator or module in `model.type`), plus what the
user passes explicitly (`--trust`, `trust=`). The import paths and the digest of the whole version
(the sha256 of its manifest, which lists every file's sha256) are recorded in the store's SQLite
index when the version is saved; loading takes them from there, so rewriting a version's files,
manifest, config or trust list together cannot widen what is trusted.

A version folder outside any store has no index behind it: only mlpact's own list and explicit
`--trust` apply (import it with `mlpact models import --expect-digest` to record it).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlpact.errors import IntegrityError, TrustWarning
from mlpact.store import Store, VersionRecord
from mlpact.version import bundle
from mlpact.version.usercode import import_paths

# Import paths under these packages are on mlpact's own list already.
OWN_PACKAGES = ("sklearn.", "numpy.", "scipy.", "mlpact.")


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
    code outside mlpact's own list. A folder outside any store trusts none.
    """

    if record is None:
        return []
    if record.trusted_paths is not None:
        return list(record.trusted_paths)
    named = import_paths(config) if isinstance(config, Mapping) else []
    beyond = sorted(p for p in named if not p.replace(":", ".").startswith(OWN_PACKAGES))
    if beyond:
        warnings.warn(
            f"{record.ref} was saved before mlpact recorded trusted import paths in the store index; "
            f"trusting the paths its config names ({', '.join(beyond)}), whose file is covered by "
            "the digest the index holds.",
            TrustWarning,
            stacklevel=3,
        )
    return named
