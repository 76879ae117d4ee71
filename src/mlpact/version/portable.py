"""Portable bundles: export a version as a .tar.gz, import one into another store.

An export holds ``mlpact-export.json`` (name, version, the manifest's digest, trusted types)
and ``version/`` with every file of the version. An import is verified before anything is
registered: members are checked (no absolute paths, ``..``, links or devices), extraction uses
Python's ``tarfile`` data filter, every file is re-hashed against the manifest, the manifest
against the exported digest, and the pipeline is loaded once under the trust rule. Any failure
removes what was extracted, so nothing is left behind.

:func:`build_docker` writes a build context that serves the version with the package versions it
was saved with: the exported bundle, the version's ``requirements.lock``, an entrypoint that
imports the bundle and runs ``mlpact serve``, and a Dockerfile; it runs ``docker build`` only when
asked and docker exists.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import subprocess
import tarfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlpact._core import files
from mlpact._version import __version__
from mlpact.errors import IntegrityError, MissingToolError, MlpactError, NotFoundError, shorten
from mlpact.store import MANIFEST, Store, VersionRecord, check_name, now
from mlpact.version import bundle, envlock, golden
from mlpact.version.envlock import (
    FILE,
    SERVING_EXTRAS,
    lock_text,
    parse,
    python_version,
    requirements_text,
    runtime_packages,
)
from mlpact.version.trust import check_digest

EXPORT_META = "mlpact-export.json"
BUNDLE = "model.tar.gz"  # the export inside a docker build context
PREFIX = "version/"
MAX_MEMBERS = 10_000
MAX_BYTES = 4 << 30  # uncompressed: far more than any version, far less than a disk to fill


MAX_HEADER_BYTES = 64 << 10  # a GNU long name or a PAX header: a path and a few records


MAX_NAME = 1024  # characters in a member's name; a version's deepest file is ~40


MAX_LISTED = 10  # members named in one message


_LONG_HEADERS = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
                 tarfile.SOLARIS_XHDTYPE)  # fmt: skip


def export_version(ref: str, path: str | Path, *, store: str | Path | Store | None = None) -> Path:
    """Write a version as a portable .tar.gz (verified before it is written).

    Raises:
        IntegrityError: the version's files do not match its manifest, or the manifest differs
            from the digest the index recorded (never export a rewritten version).
    """

    st = Store.open(store)
    record = st.resolve(ref)
    folder = st.local_dir(record)
    manifest = bundle.verify(folder)
    check_digest(record, folder)
    out = Path(path)
    meta = {
        "format": 1,
        "name": record.name,
        "version": record.version,
        "digest": bundle.manifest_digest(folder),
        "trusted_types": list(record.trusted_types),
        "exported": now(),
        "mlpact_version": __version__,
    }
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            _add_bytes(tar, EXPORT_META, json.dumps(meta, indent=2).encode())
            for name in [MANIFEST, *manifest["files"]]:
                tar.add(folder / name, arcname=PREFIX + name, recursive=False)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def archive_digest(path: str | Path) -> str:
    """The sha256 of an exported bundle file (`models export` prints it, to check a copy by)."""
    return files.sha256_file(Path(path))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def import_version(
    path: str | Path,
    *,
    name: str | None = None,
    store: str | Path | Store | None = None,
    trust: Iterable[str] = (),
    expect_digest: str | None = None,
) -> VersionRecord:
    """Import an exported .tar.gz as the next version of `name` (default: its original name).

    Args:
        path: the archive.
        name: register under this model name instead of the exported one.
        trust: extra type names to trust if the pipeline needs them.
        expect_digest: refuse unless the exported manifest has this sha256 (from the sender).

    Raises:
        IntegrityError: the archive is damaged, truncated, unsafe (paths, links), or its files do
            not match the manifest or the exported digest.
        UntrustedTypesError: the pipeline needs a type the trust rule does not allow.
    """
    src = Path(path)
    if not src.is_file():
        raise NotFoundError(f"No archive at {str(src)!r}.")
    st = Store.open(store)
    tmp = st.new_tmp_dir()
    try:
        meta = _extract(src, tmp)
        version_dir = tmp / "version"
        record = _register(
            st, version_dir, meta, name=name, trust=trust, expect_digest=expect_digest, src=src
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return record


class _OversizedHeader(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


class _BoundedTarInfo(tarfile.TarInfo):
    """A member header that refuses to read a GNU long name or a PAX header beyond
    MAX_HEADER_BYTES: tarfile reads those whole into memory before anything can look at them."""

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _LONG_HEADERS and self.size > MAX_HEADER_BYTES:
            raise _OversizedHeader(self.size)
        return super()._proc_member(archive)  # type: ignore[misc, no-any-return]


def _extract(src: Path, into: Path) -> dict[str, Any]:
    try:
        with tarfile.open(src, "r:gz", tarinfo=_BoundedTarInfo) as tar:
            members = _read_members(tar, src)
            _check_members(members, src)
            tar.extractall(into, members=members, filter="data")
    except _OversizedHeader as exc:
        raise IntegrityError(
            f"Refusing to import {src}: a member's name or extended header claims {exc.size} bytes; "
            f"an export's are under {MAX_HEADER_BYTES}."
        ) from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        if isinstance(exc, tarfile.FilterError):
            raise IntegrityError(
                f"Refusing to import {src}: unsafe archive member ({shorten(exc)})."
            ) from None
        raise IntegrityError(
            f"Cannot read {src} as a .tar.gz export: {shorten(exc)}. The file is damaged or truncated.",
            hint="Export it again with `mlpact models export MODEL FILE.tar.gz`.",
        ) from None
    try:
        meta = json.loads((into / EXPORT_META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"{src} has no valid {EXPORT_META}: {shorten(exc)}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("digest"), str):
        raise IntegrityError(f"{src}: {EXPORT_META} does not record the manifest digest.")
    return meta


def _read_members(tar: tarfile.TarFile, src: Path) -> list[tarfile.TarInfo]:
    """The members, header by header: a bomb (too many members, too many bytes), a name too long
    or a name given twice (however it is spelled: ``version/./x`` is ``version/x``) is refused
    at its header, before its data is decompressed or anything is written."""
    members: list[tarfile.TarInfo] = []
    names: set[str] = set()
    total = 0
    for member in tar:
        total += member.size
        if len(members) >= MAX_MEMBERS:
            raise IntegrityError(f"Refusing to import {src}: more than {MAX_MEMBERS} members.")
        if len(member.name) > MAX_NAME:
            raise IntegrityError(
                f"Refusing to import {src}: a member's name has {len(member.name)} characters "
                f"({shorten(repr(member.name), 80)}); an export's are under {MAX_NAME}."
            )
        if total > MAX_BYTES:
            raise IntegrityError(
                f"Refusing to import {src}: its members hold more than {MAX_BYTES} bytes uncompressed "
                f"({shorten(repr(member.name), 80)} alone claims {member.size}); an export is never that "
                "large."
            )
        name = _normal(member.name)
        if name in names:
            spelled = f" (that is {shorten(repr(name), 80)})" if name != member.name else ""
            raise IntegrityError(
                f"Refusing to import {src}: duplicate members: {shorten(repr(member.name), 80)}{spelled}."
            )
        names.add(name)
        members.append(member)
    return members


def _normal(name: str) -> str:
    """A member name as the file it extracts to: ``./version//a/./b/`` is ``version/a/b``."""
    return posixpath.normpath(name.replace("\\", "/")).lstrip("/") if name else name


def _check_members(members: list[tarfile.TarInfo], src: Path) -> None:
    bad = []
    for m in members:
        parts = m.name.replace("\\", "/").split("/")
        unsafe = m.name.startswith(("/", "\\")) or ".." in parts or not (m.isfile() or m.isdir())
        name = _normal(m.name)
        outside = name != EXPORT_META and not name.startswith(PREFIX) and name != "version"
        if unsafe or outside:
            kind = "link" if m.issym() or m.islnk() else "device" if m.isdev() else "path"
            bad.append(f"{shorten(repr(m.name), 80)} ({kind})")
    if bad:
        listed = ", ".join(sorted(bad)[:MAX_LISTED]) + (
            f" and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
        )
        raise IntegrityError(f"Refusing to import {src}: unsafe or unexpected members: {listed}.")


def _register(
    st: Store,
    version_dir: Path,
    meta: dict[str, Any],
    *,
    name: str | None,
    trust: Iterable[str],
    expect_digest: str | None,
    src: Path,
) -> VersionRecord:
    manifest = bundle.verify(version_dir)
    digest = bundle.manifest_digest(version_dir)
    if digest != meta["digest"]:
        raise IntegrityError(
            f"{src}: manifest.json does not match the digest recorded at export "
            f"(recorded {meta['digest'][:12]}, found {digest[:12]})."
        )
    if expect_digest is not None and digest != expect_digest:
        raise IntegrityError(f"{src}: digest {digest} is not the expected {shorten(expect_digest, 80)}.")
    config = bundle.read_config(version_dir)

    # Nothing the archive says widens trust (its manifest's type list, its config's import paths):
    # only mlpact's allowlist and `trust`, which this store's index then records for the version.
    trust = sorted({t.replace(":", ".") for t in trust})
    try:
        pipeline = bundle.load_pipeline(version_dir, trusted=trust)
        golden.verify_files(version_dir, manifest, pipeline, config)  # predicts as it did when exported
    except MlpactError:
        raise
    except Exception as exc:  # allowed classes given values they cannot take
        raise IntegrityError(
            f"Refusing to import {src}: its pipeline cannot be rebuilt and used here "
            f"({type(exc).__name__}: {shorten(exc)}).",
            hint="Export it again from its original store, with the same scikit-learn version here.",
        ) from None
    trusted = bundle.skops_types(version_dir)
    target = check_name(name or str(manifest.get("name", meta.get("name", ""))))
    metrics = files.read_mapping(version_dir, "metrics.json")
    lineage = files.read_mapping(version_dir, "lineage.json")
    origin = f"{meta.get('name')}:{meta.get('version')} ({digest[:12]})"

    def finalize(directory: Path, version: int) -> dict[str, Any]:
        hashes = {k: v for k, v in manifest["files"].items()}
        new_meta = {k: v for k, v in manifest.items() if k not in ("files", "format")}
        new_meta.update(name=target, version=version, imported_from={
            "name": meta.get("name"), "version": meta.get("version"), "digest": digest,
            "exported": meta.get("exported"), "imported": now(),
        })  # fmt: skip
        bundle.write_manifest(directory, new_meta, hashes)
        primary = metrics.get("primary")
        return {
            "digest": bundle.manifest_digest(directory),
            "config_hash": lineage.get("config_hash"),
            "data_fingerprint": lineage.get("data", {}).get("fingerprint"),
            "metric_name": primary,
            "metric_value": metrics.get("test", {}).get(primary) if primary else None,
            "trusted_types": trusted,
            "trusted_paths": trust,
        }

    return st.register(
        target, version_dir, finalize, flavor=str(manifest.get("flavor", "sklearn")), origin=origin
    )


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
# Serves {ref} with the package versions it was saved with (written by mlpact).
FROM python:{python}-slim
WORKDIR /srv
# requirements.lock: only what serving needs, pinned; mlpact itself from wheels/ when it was
# installed from a local checkout.
COPY requirements.lock ./
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
    directory: str | Path | None = None,
    *,
    store: Any = None,
    build: bool = False,
    tag: str | None = None,
) -> DockerContext:
    """Write a docker build context that serves version `ref`; build it with `build`.

    The context's ``requirements.lock`` holds only what serving the version needs (mlpact with
    its `serve` extra, `torch` too for a PyTorch version, the version's own code's distribution,
    and what they require), at the versions recorded when the version was saved; a torch version
    adds PyTorch's CPU index. When mlpact was installed from a local folder, a wheel of it is
    built into ``wheels/`` and installed from there.

    Raises:
        NotFoundError: no such version. IntegrityError: its files do not match the manifest.
        MissingToolError: `build` and no ``docker`` on PATH (the context is still written), or
            the mlpact wheel could not be built.
    """
    st = Store.open(store)
    record = st.resolve(ref)
    manifest = bundle.verify(record.path)
    out = Path(directory) if directory is not None else Path(f"docker-{record.name}-{record.version}")
    (out / "wheels").mkdir(parents=True, exist_ok=True)
    export_version(record.ref, out / BUNDLE, store=st)
    lock = (record.path / FILE).read_text(encoding="utf-8") if FILE in manifest["files"] else lock_text()
    python = ".".join((python_version(lock) or "3.11").split(".")[:2])
    (out / FILE).write_text(_requirements(record.path, manifest, lock, out / "wheels"), encoding="utf-8")
    (out / "Dockerfile").write_text(
        _DOCKERFILE.format(ref=record.ref, python=python, bundle=BUNDLE, name=record.name), encoding="utf-8"
    )
    (out / "entrypoint.sh").write_text(_ENTRYPOINT.format(name=record.name), encoding="utf-8")
    (out / "entrypoint.sh").chmod(0o755)
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    image = tag or f"mlpact-{record.name.lower()}:{record.version}"
    if build:
        _docker_build(out, image)
    return DockerContext(out, written, image, built=build)


def _requirements(folder: Path, manifest: Mapping[str, Any], lock: str, wheels: Path) -> str:

    recorded = parse(lock)
    extras = {*SERVING_EXTRAS, *(["torch"] if manifest.get("flavor") == "torch" else [])}
    code = files.read_mapping(folder, "lineage.json").get("code") or []
    own = [str(c["distribution"]) for c in code if isinstance(c, Mapping) and c.get("distribution")]
    packages = runtime_packages(recorded, extras=extras, also=own)
    line = mlpact_line(recorded.get("mlpact"), envlock.mlpact_wheel(wheels), extras)
    python = python_version(lock) or "3.11"
    return requirements_text(packages, mlpact=line, python=python, torch_index="torch" in packages)


def mlpact_line(recorded: str | None, wheel: Path | None, extras: Iterable[str]) -> str:
    """mlpact's requirement line: the wheel in wheels/, else the recorded version when it is a
    published one, else unpinned (a local build's version cannot be found on an index)."""
    extra = f"[{','.join(sorted(extras))}]"
    if wheel is not None:
        return f"./wheels/{wheel.name}{extra}"
    if recorded and "+" not in recorded:
        return f"mlpact{extra}=={recorded}"
    return f"mlpact{extra}" + (f"  # was {recorded}" if recorded else "")


def unpinned_local(lock: str) -> str:
    """The lock, with `mlpact` left unpinned when it is not published at that version (a
    local checkout): pip then takes it from wheels/ or the index."""
    lines = []
    for line in lock.splitlines():
        name, _, version = line.partition("==")
        lines.append(
            f"{name}  # was {version}" if envlock.normalize(name) == "mlpact" and "+" in version else line
        )
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
