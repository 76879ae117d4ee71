"""Export and import: a verified round trip; every kind of bad archive refused, nothing left behind."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlpact
from conftest import wine_config
from mlpact.errors import IntegrityError, NotFoundError, UntrustedTypesError
from mlpact.store import Store
from mlpact.version.portable import EXPORT_META, export_version, import_version


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("src")
    mlpact.train(wine_config(evaluate={"cv_folds": 0}), store=root / "store")
    path = export_version("wine", root / "wine.tar.gz", store=root / "store")
    return {"path": path, "store": root / "store"}


def _leftovers(store: Path) -> list[Path]:
    return [p for p in (store / "tmp").iterdir()] + [p for p in (store / "models").glob("*/*")]


@pytest.mark.filterwarnings("ignore::mlpact.errors.InputWarning")
def test_round_trip_gives_identical_predictions(exported: dict[str, Any], tmp_path: Path) -> None:
    record = import_version(exported["path"], store=tmp_path)
    assert record.ref == "wine:1" and record.origin and record.origin.startswith("wine:1 (")
    again = import_version(exported["path"], store=tmp_path, name="wine-copy")
    assert again.ref == "wine-copy:1"
    original = mlpact.load("wine", store=exported["store"])
    copy = mlpact.load("wine-copy", store=tmp_path)
    manifest = json.loads((copy.path / "manifest.json").read_text())
    assert manifest["name"] == "wine-copy" and manifest["imported_from"]["name"] == "wine"
    from sklearn.datasets import load_wine

    X = load_wine(as_frame=True).data.head(20)
    assert np.array_equal(original.predict_proba(X).to_numpy(), copy.predict_proba(X).to_numpy())
    assert import_version(exported["path"], store=tmp_path).version == 2


def test_expected_digest(exported: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match="is not the expected 0000"):
        import_version(exported["path"], store=tmp_path, expect_digest="0000")
    assert _leftovers(tmp_path) == []


def _rewrite(src: Path, dst: Path, change: Any) -> Path:
    """Copy an export, letting `change(name, data)` return new bytes (or None to drop the member)."""
    with tarfile.open(src, "r:gz") as tar, tarfile.open(dst, "w:gz") as out:
        for member in tar.getmembers():
            data = tar.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            new = change(member.name, data)
            if new is None:
                continue
            info = tarfile.TarInfo(member.name)
            info.size = len(new)
            out.addfile(info, io.BytesIO(new))
    return dst


def _with_member(src: Path, dst: Path, info: tarfile.TarInfo, data: bytes = b"") -> Path:
    _rewrite(src, dst, lambda name, d: d)
    with tarfile.open(dst, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(dst, "w:gz") as out:
        for m, d in members:
            out.addfile(m, io.BytesIO(d) if d is not None else None)
        out.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return dst


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda n, d: d + b"x" if n == "version/schema.json" else d, "changed: schema.json"),
        (lambda n, d: None if n == "version/card.md" else d, "missing: card.md"),
        (lambda n, d: b"{}" if n == EXPORT_META else d, "does not record the manifest digest"),
        (
            lambda n, d: d.replace(b'"wine"', b'"wyne"') if n == "version/manifest.json" else d,
            "does not match the digest recorded at export",
        ),
    ],
    ids=["changed-file", "missing-file", "no-digest", "manifest-edited"],
)
def test_tampered_archives_are_refused(
    exported: dict[str, Any], tmp_path: Path, change: Any, message: str
) -> None:
    bad = _rewrite(exported["path"], tmp_path / "bad.tar.gz", change)
    store = tmp_path / "store"
    with pytest.raises(IntegrityError, match=message):
        import_version(bad, store=store)
    assert _leftovers(store) == []
    assert Store(store).versions() == []


def test_truncated_archive_is_refused(exported: dict[str, Any], tmp_path: Path) -> None:
    data = exported["path"].read_bytes()
    bad = tmp_path / "cut.tar.gz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(IntegrityError, match="damaged or truncated"):
        import_version(bad, store=tmp_path / "store")
    assert _leftovers(tmp_path / "store") == []


@pytest.mark.parametrize(
    "name, kind",
    [
        ("../evil.txt", tarfile.REGTYPE),
        ("/etc/evil", tarfile.REGTYPE),
        ("version/link", tarfile.SYMTYPE),
        ("version/hard", tarfile.LNKTYPE),
        ("version/dev", tarfile.CHRTYPE),
        ("elsewhere/x", tarfile.REGTYPE),
    ],
)
def test_path_traversal_links_and_devices_are_refused(
    exported: dict[str, Any], tmp_path: Path, name: str, kind: bytes
) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = "/etc/passwd"
    data = b"pwned" if kind == tarfile.REGTYPE else b""
    info.size = len(data)
    bad = _with_member(exported["path"], tmp_path / "bad.tar.gz", info, data)
    store = tmp_path / "store"
    with pytest.raises(IntegrityError, match="unsafe or unexpected members"):
        import_version(bad, store=store)
    assert not (tmp_path / "evil.txt").exists()
    assert _leftovers(store) == []


def test_a_pipeline_with_a_dangerous_type_is_refused_even_when_consistently_rehashed(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    import hashlib
    import os

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    evil = sio.dumps(FunctionTransformer(func=os.system))
    manifest: dict[str, Any] = {}

    def change(name: str, data: bytes) -> bytes:
        if name == "version/pipeline.skops":
            return evil
        if name == "version/manifest.json":
            manifest.update(json.loads(data))
            manifest["files"]["pipeline.skops"] = hashlib.sha256(evil).hexdigest()
            manifest["trusted_types"] = sorted(sio.get_untrusted_types(data=evil))
            return json.dumps(manifest).encode()
        return data

    staged = _rewrite(exported["path"], tmp_path / "stage.tar.gz", change)
    digest = hashlib.sha256(json.dumps(manifest).encode()).hexdigest()
    bad = _rewrite(
        staged,
        tmp_path / "bad.tar.gz",
        lambda n, d: json.dumps({**json.loads(d), "digest": digest}).encode() if n == EXPORT_META else d,
    )
    with pytest.raises(UntrustedTypesError, match="system"):
        import_version(bad, store=tmp_path / "store")
    assert _leftovers(tmp_path / "store") == []


def test_missing_archive(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="No archive"):
        import_version(tmp_path / "nope.tar.gz", store=tmp_path)
