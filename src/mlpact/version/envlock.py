"""A runnable environment: the exact package versions a version was saved with.

At save time ``requirements.lock`` lists every distribution installed in the running
environment (``name==version``, from importlib.metadata), listed and hashed in the manifest.
`mlpact.version.portable.build_docker` turns it into a docker build context.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from mlpact._core import files
from mlpact.errors import MissingToolError

FILE = "requirements.lock"


# Distributions that are never pip-installable from an index (editable checkouts are handled apart).
_SKIP = {"pip", "setuptools", "wheel"}

__all__ = [
    "FILE", "PYTORCH_CPU_INDEX", "SERVING_EXTRAS", "installed", "lock_text", "normalize", "parse",
    "python_version", "read", "requirements_text", "runtime_packages", "write",
]  # fmt: skip


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


# --------------------------------------------------------------------------- run-time packages
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


SERVING_EXTRAS = ("serve",)  # what `mlpact serve` needs beyond mlpact's own requirements


def runtime_packages(
    recorded: Mapping[str, str], *, extras: Iterable[str] = SERVING_EXTRAS, also: Iterable[str] = ()
) -> dict[str, str | None]:
    """The distributions a version needs to be served, each at its recorded version.

    Starts from mlpact's own requirements with `extras` plus the `also` distributions (the
    version's own code), and follows their requirements as the installed distributions declare
    them (markers evaluated here): dev tools, test runners and extras nobody requires are left
    out. A package the lock does not record takes the installed version (None: neither).
    """
    wanted = _requirement_closure([("mlpact", frozenset(extras)), *((n, frozenset()) for n in also)])
    wanted -= {"mlpact", *_SKIP}
    return {name: recorded.get(name) or _installed_version(name) for name in sorted(wanted)}


def _requirement_closure(roots: list[tuple[str, frozenset[str]]]) -> set[str]:
    from packaging.requirements import Requirement

    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(normalize(n), e) for n, e in roots]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for text in _requires(name):
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras or {""}):
                todo.append((normalize(req.name), frozenset(req.extras)))
    return {name for name, _ in seen}


def _requires(name: str) -> list[str]:
    try:
        return metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        return []


def _installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def requirements_text(
    packages: Mapping[str, str | None], *, mlpact: str, python: str, torch_index: bool
) -> str:
    """The context's requirements: mlpact (`mlpact`: a wheel path or a pin, with its extras)
    and the run-time packages pinned, with PyTorch's CPU index for a torch version."""
    lines = [
        f"# python {python}: the packages serving this version needs, at the versions it was saved "
        "with (written by mlpact models build-docker)",
    ]
    if torch_index:  # torch's CPU builds; PyPI's torch pulls the CUDA libraries
        lines.append(f"--extra-index-url {PYTORCH_CPU_INDEX}")
    lines.append(mlpact)
    lines += [f"{n}=={v}" if v else n for n, v in sorted(packages.items())]
    return "\n".join(lines) + "\n"


def mlpact_wheel(folder: Path) -> Path | None:
    """Build a wheel of the installed mlpact into `folder` when it was installed from a local
    folder (a checkout, editable or not): `pip wheel --no-deps` of that folder. None when mlpact
    came from an index (the pin finds it there) or the folder is gone."""
    source = _local_source()
    if source is None:
        return None
    if source.suffix == ".whl":
        return Path(shutil.copy2(source, folder))
    before = set(folder.glob("mlpact-*.whl"))
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(source)]
    for isolation in (["--no-build-isolation"], []):  # the build backend installed here first
        done = subprocess.run([*pip, *isolation], capture_output=True, text=True, check=False)
        built = sorted(set(folder.glob("mlpact-*.whl")) - before)
        if done.returncode == 0 and built:
            return built[-1]
    raise MissingToolError(
        f"Could not build a wheel of mlpact from {source}: {done.stderr.strip().splitlines()[-1:]}",
        hint=f"Build one by hand (`pip wheel --no-deps -w DIR/wheels {source}`), then run the command again.",
    )


def _local_source() -> Path | None:
    from urllib.parse import unquote, urlparse

    try:
        direct = metadata.distribution("mlpact").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    url = str(json.loads(direct).get("url", "")) if direct else ""
    if not url.startswith("file://"):
        return None
    path = Path(unquote(urlparse(url).path))
    checkout = (path / "pyproject.toml").is_file()
    return path if checkout or (path.suffix == ".whl" and path.is_file()) else None
