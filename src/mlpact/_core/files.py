"""Files: JSON and YAML read and written the one way mlpact does it, and sha256 digests.

Writes are fsynced (a completed save survives a crash); YAML is read with the safe loader only;
a JSON file that is not JSON is an IntegrityError naming the file, not a parser's traceback.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

from mlpact.errors import IntegrityError


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


# --------------------------------------------------------------------------- digests
def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return sha256_stream(fh)


def sha256_stream(fh: io.BufferedIOBase) -> str:
    """The sha256 of a binary file object's remaining bytes (a local file or an fsspec object)."""
    return hashlib.file_digest(fh, "sha256").hexdigest()


# --------------------------------------------------------------------------- reading
def safe_yaml(text: str) -> Any:
    """Parse YAML with the safe loader (libyaml's C version when available: same rules, faster)."""
    import yaml

    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except RecursionError:  # "[[[[..." thousands deep: a parse error like any other
        raise yaml.YAMLError("the document is nested too deeply to read") from None


def read_json(directory: Path, name: str) -> Any:
    """One JSON file of a version; IntegrityError (not a parser's traceback) when it is not JSON."""
    try:
        return json.loads((directory / name).read_text(encoding="utf-8"))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise IntegrityError(f"{directory / name} cannot be read as JSON: {exc}") from None


def read_mapping(directory: Path, name: str) -> dict[str, Any]:
    """A JSON file of a version that must hold an object (metrics.json, lineage.json ...)."""
    data = read_json(directory, name)
    if not isinstance(data, dict):
        raise IntegrityError(f"{directory / name} is not what mlpact writes: expected a JSON object.")
    return data
