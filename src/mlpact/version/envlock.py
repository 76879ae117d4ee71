"""A runnable environment: the exact package versions a version was saved with.

At save time ``requirements.lock`` lists every distribution installed in the running
environment (``name==version``, from importlib.metadata), listed and hashed in the manifest.
`mlpact.version.portable.build_docker` turns it into a docker build context.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from mlpact._core import files

FILE = "requirements.lock"


# Distributions that are never pip-installable from an index (editable checkouts are handled apart).
_SKIP = {"pip", "setuptools", "wheel"}

__all__ = ["FILE", "installed", "lock_text", "normalize", "parse", "python_version", "read", "write"]


def installed() -> dict[str, str]:
    """Every installed distribution: normalised name -> version.

    A ``NAME-VERSION.dist-info`` folder says both in its name (the wheel standard), so only other
    distributions have their METADATA parsed: that took about a second of every save.
    """
    out: dict[str, str] = {}
    for dist in metadata.distributions():
        name, version = _from_folder(dist)
        if not name:
            name, version = dist.metadata["Name"], dist.version
        if name:
            out.setdefault(normalize(name), version)
    return dict(sorted(out.items()))


def _from_folder(dist: metadata.Distribution) -> tuple[str | None, str]:
    path = getattr(dist, "_path", None)  # PathDistribution's folder
    folder = getattr(path, "name", "")
    if not folder.endswith(".dist-info"):
        return None, ""
    name, _, version = folder.removesuffix(".dist-info").partition("-")
    return (name, version) if name and version else (None, "")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_text(packages: Mapping[str, str] | None = None) -> str:
    """The lock file: a comment header, then one ``name==version`` per line, sorted."""
    import platform

    packages = installed() if packages is None else packages
    lines = [
        f"# python {platform.python_version()} ({platform.platform()})",
        "# the distributions installed when this version was saved (mlpact writes this file)",
    ]
    lines += [f"{n}=={v}" for n, v in sorted(packages.items()) if n not in _SKIP]
    return "\n".join(lines) + "\n"


def write(directory: Path) -> None:

    files.write_bytes(directory / FILE, lock_text().encode())


def read(directory: Path, manifest: Mapping[str, Any]) -> dict[str, str] | None:
    """The recorded lock as name -> version, or None when the version has none."""
    if FILE not in (manifest.get("files") or {}):
        return None
    return parse((directory / FILE).read_text(encoding="utf-8"))


def parse(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and not line.startswith("#"):
            out[normalize(name)] = version
    return out


def python_version(text: str) -> str | None:
    first = text.splitlines()[0] if text else ""
    return first.split()[2] if first.startswith("# python ") else None
