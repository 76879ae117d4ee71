"""The embedded store: a SQLite index of runs, versions and aliases, plus one folder per version.

Saving a version: its files are written and fsynced under ``tmp/``; then, inside one
``BEGIN IMMEDIATE`` transaction, the next version number is allocated, the manifest is written,
the folder is moved into place with ``os.replace`` and the row is inserted. A crash leaves at
most an unregistered folder marked as an interrupted save (``.N.saving``); it is kept, and the
next save takes the next number. Version numbers are never reused: they come from a counter
that only grows and never lands on a number a folder or purge mark holds. Readers never block on writers
(WAL mode); writers queue on a busy timeout and hold the lock for milliseconds.

The index never silently starts over: a store whose folders hold versions its index does not
know (the index deleted, or restored from an older copy) refuses to open until
``mlpact store rebuild-index`` has indexed them (_rebuild.py); a save never deletes a folder it
finds, and takes the next number no folder or purge mark holds.

The `Store` class is assembled from one class per family: versions (_versions.py), aliases
(_aliases.py), runs and evaluations (_runs.py), rebuilding the index (_rebuild.py), over the
connection handling of _db.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlpact.store._aliases import Aliases
from mlpact.store._db import DEFAULT_DIR, ENV_VAR, check_name, disk_full, now
from mlpact.store._rebuild import Rebuilding, Rebuilt
from mlpact.store._runs import Runs
from mlpact.store._versions import REPRODUCTION, ParsedRef, VersionRecord, lineage_origin, parse_ref

__all__ = [
    "DEFAULT_DIR",
    "ENV_VAR",
    "REPRODUCTION",
    "ParsedRef",
    "Rebuilt",
    "Store",
    "VersionRecord",
    "check_name",
    "disk_full",
    "lineage_origin",
    "now",
    "parse_ref",
]


class Store(Runs, Aliases, Rebuilding):
    """A store rooted at a folder: ``mlpact.db`` plus ``models/NAME/VERSION/`` folders."""

    @classmethod
    def open(cls, root: str | Path | Store | None = None) -> Store:
        """The store at `root`, else ``$MLPACT_HOME``, else ``./.mlpact``.

        A folder with a ``store.yaml`` naming an artifact root URL opens as a team store
        (:class:`mlpact.store._remote.RemoteStore`, see docs/store.md).
        """
        if isinstance(root, Store):
            return root
        if root is None:
            root = os.environ.get(ENV_VAR) or DEFAULT_DIR
        folder = Path(root).expanduser().resolve()
        if (folder / "store.yaml").is_file():  # a team store: artifacts and registry in a bucket
            from mlpact.store._remote import RemoteStore, read_config

            settings = read_config(folder)
            assert settings is not None
            return RemoteStore(folder, settings["artifacts"], settings.get("storage_options"))
        return cls(root)
