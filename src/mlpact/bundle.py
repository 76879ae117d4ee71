"""The on-disk format of a version: its files, manifest, integrity check and trust rule.

A version directory holds manifest.json (the sha256 of every other file), pipeline.skops,
schema.json, metrics.json, config.yaml, lineage.json and card.md. Hashes are checked before
anything is deserialised, and skops loads only types on the version's trusted list.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlpact.errors import IntegrityError, UntrustedTypesError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PIPELINE = "pipeline.skops"
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "mlpact.")


# --------------------------------------------------------------------------- writing
def write_json(path: Path, data: Any) -> None:
    """Write JSON (sorted keys, NaN as null-free strings are the caller's business) and fsync."""
    write_bytes(path, (json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n").encode())


def write_bytes(path: Path, data: bytes) -> None:
    """Write a file and fsync it, so a completed save survives a crash."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dump_pipeline(pipeline: Any, directory: Path, *, allowed: Iterable[str] = ()) -> list[str]:
    """Write the pipeline with skops; return the types it needs trusted beyond skops' defaults.

    Raises:
        UntrustedTypesError: the pipeline holds types outside mlpact's trust rule.
    """
    import skops.io as sio

    data = sio.dumps(pipeline)
    needed = sorted(sio.get_untrusted_types(data=data))
    refused = untrusted_by_rule(needed, allowed)
    if refused:
        raise UntrustedTypesError(refused, file=PIPELINE)
    write_bytes(directory / PIPELINE, data)
    return needed


def untrusted_by_rule(types: Iterable[str], allowed: Iterable[str] = ()) -> list[str]:
    """The type names the trust rule rejects.

    Trusted: classes from scikit-learn, NumPy, SciPy and mlpact; anything within a package
    named in the version's config (`allowed`, e.g. ``mypkg.features``); names passed explicitly.
    """
    roots = {a.replace(":", ".") for a in allowed}
    packages = {r.split(".")[0] + "." for r in roots}
    refused = []
    for name in types:
        if name in roots or any(name.startswith(p) for p in packages):
            continue
        if name.startswith(TRUSTED_PREFIXES) and _is_class(name):
            continue
        refused.append(name)
    return sorted(refused)


def _is_class(name: str) -> bool:
    module, _, attr = name.rpartition(".")
    try:
        return isinstance(getattr(importlib.import_module(module), attr), type)
    except (ImportError, AttributeError):
        return False


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def hash_files(directory: Path) -> dict[str, str]:
    """sha256 of every file under `directory` except the manifest, by relative POSIX path."""
    out = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            out[path.relative_to(directory).as_posix()] = sha256_file(path)
    return out


def write_manifest(directory: Path, meta: Mapping[str, Any], files: Mapping[str, str]) -> dict[str, Any]:
    """Write manifest.json: the version's identity plus the sha256 of every file."""
    manifest = {"format": FORMAT_VERSION, **meta, "files": dict(sorted(files.items()))}
    write_json(directory / MANIFEST, manifest)
    return manifest


def manifest_digest(directory: Path) -> str:
    """The sha256 of manifest.json: one digest for the whole version."""
    return sha256_file(directory / MANIFEST)


# --------------------------------------------------------------------------- reading
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


def read_json(directory: Path, name: str) -> Any:
    return json.loads((directory / name).read_text(encoding="utf-8"))


def load_pipeline(
    directory: Path,
    recorded: Iterable[str],
    *,
    allowed: Iterable[str] = (),
    extra_trust: Iterable[str] = (),
) -> Any:
    """Load pipeline.skops, allowing only recorded types the trust rule accepts, plus `extra_trust`.

    Args:
        directory: the version directory (already verified).
        recorded: the types recorded as needed when the version was saved.
        allowed: import paths named in the version's config.
        extra_trust: type names the user explicitly trusts (``--trust``).

    Raises:
        UntrustedTypesError: the file needs a type outside the trusted list.
    """
    import skops.io as sio

    path = directory / PIPELINE
    needed = set(sio.get_untrusted_types(file=path))
    recorded = set(recorded)
    trusted = (recorded - set(untrusted_by_rule(recorded, allowed))) | set(extra_trust)
    refused = sorted(needed - trusted)
    if refused:
        raise UntrustedTypesError(refused, file=str(path))
    return sio.load(path, trusted=sorted(needed))
