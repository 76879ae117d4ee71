"""The files of a version folder as the store sees them: the manifest (identity and the sha256
of every file), verifying a folder against it, and its config.yaml read as plain data.

`mlpact.version.bundle` re-exports these; the store needs them on its own to rebuild a lost
index from the folders it holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlpact._core import files
from mlpact.errors import IntegrityError
from mlpact.store._versions import MANIFEST

FORMAT_VERSION = 1


def hash_files(directory: Path) -> dict[str, str]:
    """sha256 of every file under `directory` except the manifest, by relative POSIX path."""
    out = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            out[path.relative_to(directory).as_posix()] = files.sha256_file(path)
    return out


def write_manifest(directory: Path, meta: Mapping[str, Any], hashes: Mapping[str, str]) -> dict[str, Any]:
    """Write manifest.json: the version's identity plus the sha256 of every file."""
    manifest = {"format": FORMAT_VERSION, **meta, "files": dict(sorted(hashes.items()))}
    files.write_json(directory / MANIFEST, manifest)
    return manifest


def manifest_digest(directory: Path) -> str:
    """The sha256 of manifest.json: one digest for the whole version."""
    return files.sha256_file(directory / MANIFEST)


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IntegrityError(f"{directory} is not a model version: it has no {MANIFEST}.") from None
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{path} cannot be read as JSON: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise IntegrityError(f"{path} is not a valid manifest: it has no 'files' mapping.")
    return manifest


def verify(directory: Path) -> dict[str, Any]:
    """Re-hash every file of a version against its manifest, before anything is deserialised.

    Returns:
        The manifest.

    Raises:
        IntegrityError: naming every file that changed, is missing or was added.
    """
    manifest = read_manifest(directory)
    recorded: dict[str, str] = manifest["files"]
    actual = hash_files(directory)
    changed = sorted(n for n in recorded if n in actual and actual[n] != recorded[n])
    missing = sorted(set(recorded) - set(actual))
    added = sorted(set(actual) - set(recorded))
    if changed or missing or added:
        parts = [
            f"{label}: {', '.join(names)}"
            for label, names in (("changed", changed), ("missing", missing), ("unexpected", added))
            if names
        ]
        raise IntegrityError(
            f"Version at {directory} does not match its manifest ({'; '.join(parts)}). Refusing to load it.",
            hint="Restore the files from a backup or an export, or train the model again.",
        )
    return manifest


def read_config(directory: Path) -> dict[str, Any]:
    """A version's config.yaml with the safe loader; IntegrityError when it is not plain YAML
    (a ``!!python/...`` tag is refused, never constructed)."""
    import yaml

    path = directory / "config.yaml"
    try:
        config = files.safe_yaml(path.read_text(encoding="utf-8"))
    except (ValueError, yaml.YAMLError) as exc:
        raise IntegrityError(f"{path} cannot be read as plain YAML: {exc}") from None
    if not isinstance(config, dict):
        raise IntegrityError(f"{path} is not what mlpact writes: expected a mapping of sections.")
    return config
