"""Store: atomic registration, version numbers, references, aliases and runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlpact import bundle
from mlpact.errors import NotFoundError, StoreError
from mlpact.store import Store, check_name, parse_ref


def _register(store: Store, name: str = "m", payload: str = "x") -> Any:
    tmp = store.new_tmp_dir()
    (tmp / "data.txt").write_text(payload)

    def finalize(directory: Path, version: int) -> dict[str, Any]:
        bundle.write_manifest(directory, {"name": name, "version": version}, bundle.hash_files(directory))
        return {"digest": bundle.manifest_digest(directory), "metric_name": "acc", "metric_value": 0.5}

    return store.register(name, tmp, finalize)


def test_versions_count_up_and_land_in_place(tmp_path: Path) -> None:
    store = Store(tmp_path)
    first, second = _register(store), _register(store)
    assert (first.version, second.version) == (1, 2)
    assert second.path == tmp_path / "models" / "m" / "2"
    assert (second.path / "data.txt").read_text() == "x"
    assert json.loads((second.path / "manifest.json").read_text())["version"] == 2
    assert list((tmp_path / "tmp").iterdir()) == []


def test_resolve_latest_version_and_alias(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for _ in range(3):
        _register(store)
    assert store.resolve("m").version == 3
    assert store.resolve("m:2").version == 2
    assert store.set_alias("m", "production", 2, reason="better") is None
    assert store.resolve("m@production").version == 2
    assert store.set_alias("m", "production", 3) == 2
    assert store.resolve("m@production").aliases == ("production",)


@pytest.mark.parametrize(
    "ref, message",
    [
        ("mm", r"No model named 'mm'.*Did you mean 'm'\? Models: m\."),
        ("m:9", r"Model 'm' has no version 9; it has versions 1"),
        ("m@staging", r"Model 'm' has no alias 'staging'"),
        ("m:x", r"Invalid model reference 'm:x'"),
    ],
)
def test_missing_references_say_what_exists(tmp_path: Path, ref: str, message: str) -> None:
    store = Store(tmp_path)
    _register(store)
    with pytest.raises(NotFoundError, match=message):
        store.resolve(ref)


def test_empty_store_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="the store has no models yet. Train one"):
        Store(tmp_path).resolve("wine")


@pytest.mark.parametrize("name", ["../x", "a/b", "..", "", "x" * 65, ".hidden", "a..b", "a b"])
def test_names_that_could_escape_the_store_are_refused(name: str) -> None:
    with pytest.raises(StoreError, match="Invalid model name"):
        check_name(name)


def test_parse_ref() -> None:
    assert parse_ref("wine") == parse_ref("wine")
    assert parse_ref("wine:3").version == 3
    assert parse_ref("wine@prod").alias == "prod"


def test_failed_finalize_registers_nothing_and_keeps_the_number(tmp_path: Path) -> None:
    store = Store(tmp_path)
    tmp = store.new_tmp_dir()

    def boom(directory: Path, version: int) -> dict[str, Any]:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.register("m", tmp, boom)
    assert store.versions() == []
    assert not (tmp_path / "models" / "m" / "1").exists()
    assert _register(store).version == 1


def test_orphan_folder_from_a_crash_is_replaced(tmp_path: Path) -> None:
    store = Store(tmp_path)
    orphan = tmp_path / "models" / "m" / "1"
    orphan.mkdir(parents=True)
    (orphan / "half-written").write_text("junk")
    record = _register(store)
    assert record.version == 1
    assert not (record.path / "half-written").exists()


def test_runs_are_recorded_with_status_and_error(tmp_path: Path) -> None:
    store = Store(tmp_path)
    ok = store.start_run("m", params={"seed": 1})
    store.finish_run(ok, status="succeeded", metrics={"acc": 0.9}, version=1)
    bad = store.start_run("m")
    store.finish_run(bad, status="failed", error="ValueError: boom")
    runs = {r["id"]: r for r in store.runs("m")}
    assert runs[ok]["status"] == "succeeded" and runs[ok]["metrics"] == {"acc": 0.9}
    assert runs[ok]["params"] == {"seed": 1} and runs[ok]["version"] == 1
    assert runs[bad]["status"] == "failed" and runs[bad]["error"] == "ValueError: boom"


def test_store_location_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLPACT_HOME", raising=False)
    assert Store.open().root == tmp_path / ".mlpact"
    monkeypatch.setenv("MLPACT_HOME", str(tmp_path / "elsewhere"))
    assert Store.open().root == tmp_path / "elsewhere"
    assert Store.open(tmp_path / "given").root == tmp_path / "given"


def test_unwritable_store_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="Cannot open the store"):
        Store(blocker / "store").versions()
