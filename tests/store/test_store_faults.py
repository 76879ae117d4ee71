"""A disk that fills up during a save: at every step, nothing partial is left and the error says so.

A small tmpfs needs root, so the full disk is simulated where mlpact touches it: a file write in
the temporary folder, the manifest write (inside the transaction), the move into place, the
index row and the commit. After each: no version folder, no row, tmp/ empty, the run recorded
as failed, a StoreError naming the full disk, and the next save works and gets the number.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import mlpact
from mlpact import registry
from mlpact._core import files
from mlpact.errors import ExitCode, StoreError
from mlpact.store import Store, _versions
from mlpact.store._db import Database
from mlpact.version import bundle

IRIS = {
    "name": "iris",
    "data": {"source": "sklearn:iris"},
    "model": {"type": "sklearn.dummy.DummyClassifier"},
    "evaluate": {"cv_folds": 0, "plots": False},
}


def _enospc(*args: Any, **kwargs: Any) -> Any:
    raise OSError(errno.ENOSPC, "No space left on device")


def _fail_writing(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    real = files.write_bytes

    def write_bytes(path: Path, data: bytes) -> None:
        if path.name == name:
            with open(path, "wb") as fh:  # a partial file, as a real full disk leaves one
                fh.write(data[: len(data) // 2])
            _enospc()
        real(path, data)

    monkeypatch.setattr(files, "write_bytes", write_bytes)


def _fail_replace(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlpact.store._versions as versions

    real = versions.os.replace

    def replace(src: Any, dst: Any) -> None:
        if "models" in Path(dst).parts:
            _enospc()
        real(src, dst)

    monkeypatch.setattr(versions.os, "replace", replace)


class _FullDatabase:
    """A connection whose statement `fail_on` fails the way SQLite does when the disk is full
    (COMMIT: only the commit of a version's row)."""

    def __init__(self, conn: sqlite3.Connection, fail_on: str) -> None:
        self._conn, self._fail_on, self._registering = conn, fail_on, False

    def execute(self, sql: str, *args: Any) -> Any:
        self._registering |= sql.startswith("INSERT INTO versions")
        if sql.startswith(self._fail_on) and (self._registering or self._fail_on != "COMMIT"):
            raise sqlite3.OperationalError("database or disk is full")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _fail_sql(monkeypatch: pytest.MonkeyPatch, statement: str) -> None:
    real = Database._connect
    monkeypatch.setattr(Database, "_connect", lambda self: _FullDatabase(real(self), statement))


FAULTS = {
    "pipeline-write": lambda mp: _fail_writing(mp, bundle.PIPELINE),
    "lineage-write": lambda mp: _fail_writing(mp, "lineage.json"),
    "report-write": lambda mp: _fail_writing(mp, "report.html"),
    "manifest-write": lambda mp: _fail_writing(mp, _versions.MANIFEST),
    "replace": _fail_replace,
    "db-row": lambda mp: _fail_sql(mp, "INSERT INTO versions"),
    "db-commit": lambda mp: _fail_sql(mp, "COMMIT"),
}


def _assert_nothing_partial(root: Path) -> None:
    store = Store(root)
    assert store.versions(include_archived=True) == []
    assert list((root / "models").glob("*/*")) == [] and store.orphans() == []
    assert list((root / "tmp").iterdir()) == []


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_full_disk_during_a_save_leaves_nothing_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    root = tmp_path / "store"
    Store(root).versions()  # the store exists before the disk fills
    with monkeypatch.context() as mp:
        FAULTS[fault](mp)
        with pytest.raises(StoreError, match="is full") as caught:
            mlpact.train(IRIS, store=root)
    assert caught.value.exit_code == ExitCode.STORE
    assert caught.value.hint and "Free space" in caught.value.hint
    _assert_nothing_partial(root)
    assert [(r["status"], r["error"].split(":")[0]) for r in Store(root).runs()] == [("failed", "StoreError")]
    record = mlpact.train(IRIS, store=root).version
    assert record.version == 1  # the failed save registered no number; this one is complete
    assert all(c.ok for c in registry.verify(store=root))


def test_a_full_disk_during_an_import_leaves_nothing_partial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlpact.version.portable import export_version, import_version

    mlpact.train(IRIS, store=tmp_path / "a")
    archive = export_version("iris", tmp_path / "iris.tar.gz", store=tmp_path / "a")
    root = tmp_path / "b"
    Store(root).versions()
    with monkeypatch.context() as mp:
        _fail_writing(mp, _versions.MANIFEST)
        with pytest.raises(StoreError, match="is full"):
            import_version(archive, store=root)
    _assert_nothing_partial(root)


def test_the_cli_says_the_disk_is_full_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from conftest import write_config
    from mlpact.cli import app

    config = write_config(tmp_path, IRIS)
    _fail_replace(monkeypatch)
    result = CliRunner().invoke(app, ["train", str(config), "--store", str(tmp_path / "store")])
    assert result.exit_code == ExitCode.STORE, result.output
    assert "is full" in result.output and "Free space" in result.output
    assert "Traceback" not in result.output
    _assert_nothing_partial(tmp_path / "store")
