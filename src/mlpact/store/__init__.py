"""The embedded store: a SQLite index of runs, versions and aliases, plus one folder per version.

Saving a version: its files are written and fsynced under ``tmp/``; then, inside one
``BEGIN IMMEDIATE`` transaction, the next version number is allocated, the manifest is written,
the folder is moved into place with ``os.replace`` and the row is inserted. A crash leaves at
most an unregistered folder, which the next save of that number sweeps away. Version numbers
are never reused: they come from a counter that only grows. Readers never block on writers
(WAL mode); writers queue on a busy timeout and hold the lock for milliseconds.

The `Store` class is assembled from one class per family: versions (_versions.py), aliases
(_aliases.py), runs and evaluations (_runs.py), over the connection handling of _db.py.
"""

from __future__ import annotations

from mlpact.store._db import DEFAULT_DIR, ENV_VAR, check_name, disk_full, now
from mlpact.store._manifest import (
    FORMAT_VERSION,
    hash_files,
    manifest_digest,
    read_config,
    read_manifest,
    verify,
    write_manifest,
)
from mlpact.store._rebuild import Rebuilt
from mlpact.store._remote import RemoteStore, connect, team_store
from mlpact.store._store import Store
from mlpact.store._versions import MANIFEST, REPRODUCTION, ParsedRef, VersionRecord, lineage_origin, parse_ref

__all__ = [
    "DEFAULT_DIR",
    "ENV_VAR",
    "FORMAT_VERSION",
    "MANIFEST",
    "REPRODUCTION",
    "ParsedRef",
    "Rebuilt",
    "RemoteStore",
    "Store",
    "VersionRecord",
    "check_name",
    "connect",
    "disk_full",
    "hash_files",
    "lineage_origin",
    "manifest_digest",
    "now",
    "parse_ref",
    "read_config",
    "read_manifest",
    "team_store",
    "verify",
    "write_manifest",
]
