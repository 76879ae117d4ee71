"""A runnable environment: the exact package versions a version was saved with, and a Dockerfile.

At save time ``requirements.lock`` lists every distribution installed in the running
environment (``name==version``, from importlib.metadata), listed and hashed in the manifest.
:func:`build_docker` writes a build context that serves the version: the exported bundle, the
lock, an entrypoint that imports the bundle and runs ``mlpact serve``, and a Dockerfile; it runs
``docker build`` only when asked and docker exists.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from mlpact.errors import MissingToolError

FILE = "requirements.lock"
BUNDLE = "model.tar.gz"
# Distributions that are never pip-installable from an index (editable checkouts are handled apart).
_SKIP = {"pip", "setuptools", "wheel"}

__all__ = ["FILE", "DockerContext", "build_docker", "installed", "lock_text", "read", "write"]


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
            out.setdefault(_norm(name), version)
    return dict(sorted(out.items()))


def _from_folder(dist: metadata.Distribution) -> tuple[str | None, str]:
    path = getattr(dist, "_path", None)  # PathDistribution's folder
    folder = getattr(path, "name", "")
    if not folder.endswith(".dist-info"):
        return None, ""
    name, _, version = folder.removesuffix(".dist-info").partition("-")
    return (name, version) if name and version else (None, "")


def _norm(name: str) -> str:
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
    from mlpact import bundle

    bundle.write_bytes(directory / FILE, lock_text().encode())


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
            out[_norm(name)] = version
    return out


def python_version(text: str) -> str | None:
    first = text.splitlines()[0] if text else ""
    return first.split()[2] if first.startswith("# python ") else None


# --------------------------------------------------------------------------- docker
@dataclass(frozen=True)
class DockerContext:
    """A written build context and, when built, the image tag."""

    directory: Path
    files: list[str]
    tag: str
    built: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "files": self.files, "tag": self.tag, "built": self.built}


_DOCKERFILE = """\
# Serves {ref} with the exact package versions it was saved with (written by mlpact).
FROM python:{python}-slim
WORKDIR /srv
COPY requirements.lock ./
# mlpact itself may be a local checkout: install it from a wheel in wheels/ when one is there.
COPY wheels/ ./wheels/
RUN pip install --no-cache-dir --find-links ./wheels -r requirements.lock
COPY {bundle} entrypoint.sh ./
ENV MLPACT_HOME=/srv/store
RUN mlpact models import {bundle} --name {name} && chmod +x entrypoint.sh
EXPOSE 8000
ENTRYPOINT ["./entrypoint.sh"]
"""

_ENTRYPOINT = """\
#!/bin/sh
# Verifies the version (files and golden rows) at start, then serves it on port 8000.
set -e
exec mlpact serve {name} --host 0.0.0.0 --port 8000 "$@"
"""


def build_docker(
    ref: str,
    directory: str | Path,
    *,
    store: Any = None,
    build: bool = False,
    tag: str | None = None,
) -> DockerContext:
    """Write a docker build context that serves version `ref`; build it with `build`.

    Raises:
        NotFoundError: no such version. IntegrityError: its files do not match the manifest.
        MissingToolError: `build` and no ``docker`` on PATH (the context is still written).
    """
    from mlpact import bundle
    from mlpact.portable import export_version
    from mlpact.store import Store

    st = Store.open(store)
    record = st.resolve(ref)
    manifest = bundle.verify(record.path)
    out = Path(directory)
    (out / "wheels").mkdir(parents=True, exist_ok=True)
    export_version(record.ref, out / BUNDLE, store=st)
    lock = (record.path / FILE).read_text(encoding="utf-8") if FILE in manifest["files"] else lock_text()
    python = ".".join((python_version(lock) or "3.11").split(".")[:2])
    (out / FILE).write_text(_without_local(lock), encoding="utf-8")
    (out / "Dockerfile").write_text(
        _DOCKERFILE.format(ref=record.ref, python=python, bundle=BUNDLE, name=record.name), encoding="utf-8"
    )
    (out / "entrypoint.sh").write_text(_ENTRYPOINT.format(name=record.name), encoding="utf-8")
    (out / "entrypoint.sh").chmod(0o755)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    image = tag or f"mlpact-{record.name.lower()}:{record.version}"
    if build:
        _docker_build(out, image)
    return DockerContext(out, files, image, built=build)


def _without_local(lock: str) -> str:
    """The lock, with `mlpact` left unpinned when it is not published at that version (a
    local checkout): pip then takes it from wheels/ or the index."""
    lines = []
    for line in lock.splitlines():
        name, _, version = line.partition("==")
        lines.append(f"{name}  # was {version}" if _norm(name) == "mlpact" and "+" in version else line)
    return "\n".join(lines) + "\n"


def _docker_build(directory: Path, tag: str) -> None:
    docker = shutil.which("docker")
    if docker is None:
        raise MissingToolError(
            f"docker is not on PATH, so the image was not built. "
            f"The build context is written in {directory}.",
            hint=f"Build it where docker is installed: `docker build -t {tag} {directory}`.",
        )
    done = subprocess.run([docker, "build", "-t", tag, str(directory)], check=False)
    if done.returncode != 0:
        raise MissingToolError(
            f"`docker build` failed (exit {done.returncode}; its output is above). "
            f"The build context is written in {directory}.",
            hint=f"Check that the docker daemon runs here, then `docker build -t {tag} {directory}`.",
        )
