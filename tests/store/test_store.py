"""Store: atomic registration, version numbers, references, aliases and runs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import mlpact
from mlpact.errors import NotFoundError, StoreError
from mlpact.store import Store, check_name, parse_ref
from mlpact.version import bundle


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
    with pytest.raises(NotFoundError, match="the store has no models yet.") as info:
        Store(tmp_path).resolve("wine")
    assert "Is --store (or MLPACT_HOME) the store you trained into?" in str(info.value.hint)
    assert "`mlpact train CONFIG` saves a first version" in str(info.value.hint)


@pytest.mark.parametrize("name", ["../x", "a/b", "..", "", "x" * 65, ".hidden", "a..b", "a b"])
def test_names_that_could_escape_the_store_are_refused(name: str) -> None:
    with pytest.raises(StoreError, match="Invalid model name"):
        check_name(name)


def test_parse_ref() -> None:
    assert parse_ref("wine") == parse_ref("wine")
    assert parse_ref("wine:3").version == 3
    assert parse_ref("wine@prod").alias == "prod"
    assert parse_ref(f"wine:{2**63 - 1}").version == 2**63 - 1


@pytest.mark.parametrize(
    "ref, error, message",
    [
        (
            "m:99999999999999999999",
            NotFoundError,
            r"version 99999999999999999999 cannot exist; version numbers are at most 9223372036854775807",
        ),
        (f"m:{2**63}", NotFoundError, "cannot exist"),
        ("m:" + "9" * 5000, NotFoundError, r"version 9{20}\.\.\.\(5000 digits\) cannot exist"),
        ("m:\u0663", NotFoundError, "Invalid model reference"),  # an Arabic-Indic 3: ASCII digits only
        ("m:3\n", NotFoundError, "Invalid model reference"),
        ("m\n", StoreError, r"Invalid model name 'm\\n'"),
        ("m@prod\n", StoreError, r"Invalid alias 'prod\\n'"),
    ],
)
def test_references_are_matched_whole_and_numbers_bounded(
    tmp_path: Path, ref: str, error: type, message: str
) -> None:
    store = Store(tmp_path)
    _register(store)
    with pytest.raises(error, match=message):
        store.resolve(ref)


@pytest.mark.parametrize("version", [0, -1, 2**63, 10**20])
def test_a_version_number_out_of_range_is_not_found(tmp_path: Path, version: int) -> None:
    store = Store(tmp_path)
    _register(store)
    with pytest.raises(NotFoundError, match=f"has no version {version}: version numbers run from 1"):
        store.get("m", version)


@pytest.mark.parametrize("name", ["wine\n", "wine\r\n", "prod\n"])
def test_names_and_aliases_ending_in_a_newline_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(StoreError, match="Invalid model name"):
        check_name(name)
    store = Store(tmp_path)
    _register(store)
    with pytest.raises(StoreError, match="Invalid alias"):
        store.set_alias("m", name, 1)
    with pytest.raises(StoreError, match="Invalid model name"):
        _register(store, name=name)
    assert store.aliases("m") == {} and [r.ref for r in store.versions()] == ["m:1"]


def test_the_cli_answers_an_overflowing_version_with_its_exit_code(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    _register(Store(tmp_path))
    result = CliRunner().invoke(app, ["models", "show", "m:99999999999999999999", "--store", str(tmp_path)])
    assert result.exit_code == 5, result.output
    assert "cannot exist" in result.output and "Traceback" not in result.output and "bug" not in result.output


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


def test_a_folder_already_at_a_number_is_kept_and_its_number_skipped(tmp_path: Path) -> None:
    store = Store(tmp_path)
    stray = tmp_path / "models" / "m" / "1"
    stray.mkdir(parents=True)
    (stray / "half-written").write_text("junk")
    record = _register(store)
    assert record.version == 2
    assert (stray / "half-written").read_text() == "junk"
    assert store.orphans() == [stray]


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


# --------------------------------------------------------------------------- concurrency and crashes

_TRAIN = """
import sys, mlpact
cfg = {"name": "iris", "data": {"source": "sklearn:iris"}, "model": {"type": "sklearn.dummy.DummyClassifier"},
       "evaluate": {"cv_folds": 0}}
for _ in range(int(sys.argv[2])):
    mlpact.train(cfg, store=sys.argv[1])
"""

_KILLED = """
import sys, time, mlpact, mlpact.store._versions as v
store, phase, ready = sys.argv[1], sys.argv[2], sys.argv[3]
real = v.os.replace
def replace(src, dst):
    if phase == "after":
        real(src, dst)
    open(ready, "w").close()
    time.sleep(60)
v.os.replace = replace
mlpact.train({"name": "iris", "data": {"source": "sklearn:iris"}, "model": {"type": "sklearn.dummy.DummyClassifier"},
              "evaluate": {"cv_folds": 0}}, store=store)
"""


def test_parallel_trainings_get_consecutive_complete_versions(tmp_path: Path) -> None:
    from mlpact import registry

    procs = [subprocess.Popen([sys.executable, "-c", _TRAIN, str(tmp_path), "3"]) for _ in range(8)]
    assert [p.wait(timeout=300) for p in procs] == [0] * 8
    store = Store(tmp_path)
    assert [r.version for r in store.versions("iris")] == list(range(1, 25))
    assert all(c.ok for c in registry.verify(store=store))
    assert len({r.digest for r in store.versions("iris")}) == 24
    assert [r["status"] for r in store.runs()] == ["succeeded"] * 24
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("phase", ["before", "after"])
def test_sigkill_while_saving_leaves_no_partial_version(tmp_path: Path, phase: str) -> None:
    from mlpact import registry

    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED, str(tmp_path / "s"), phase, str(ready)])
    deadline = time.time() + 120
    while not ready.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert ready.exists(), "the training never reached the save"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = Store(tmp_path / "s")
    assert store.versions(include_archived=True) == []
    assert [r["status"] for r in store.runs()] == ["running"]  # the killed run never finished
    assert (store.orphans() != []) == (phase == "after")
    record = mlpact.train(
        {
            "name": "iris",
            "data": {"source": "sklearn:iris"},
            "model": {"type": "sklearn.dummy.DummyClassifier"},
            "evaluate": {"cv_folds": 0},
        },
        store=store,
    ).version
    # A save killed before its folder moved in leaves nothing; one killed after it leaves a complete
    # folder marked as an interrupted save: kept, its number never handed out again.
    interrupted = tmp_path / "s" / "models" / "iris" / "1"
    assert record.version == (2 if phase == "after" else 1)
    assert all(c.ok for c in registry.verify(store=store))
    assert store.orphans() == ([interrupted] if phase == "after" else [])
    assert (interrupted.parent / ".1.saving").exists() == (phase == "after")


def test_reads_keep_working_while_trainings_write(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-c", _TRAIN, str(tmp_path), "1"], check=True)
    store = Store(tmp_path)
    store.set_alias("iris", "production", 1)
    writer = subprocess.Popen([sys.executable, "-c", _TRAIN, str(tmp_path), "3"])
    loads = 0
    while writer.poll() is None:
        model = mlpact.load("iris@production", store=tmp_path)
        assert model.predict(
            {
                "sepal length (cm)": 5.0,
                "sepal width (cm)": 3.0,
                "petal length (cm)": 1.5,
                "petal width (cm)": 0.2,
            }
        ).shape == (1,)
        store.resolve("iris")
        loads += 1
    assert writer.returncode == 0
    assert loads >= 1
    assert store.resolve("iris").version == 4


def _race(store: Store, version: int, *, purge: bool) -> None:
    """promote and archive (or purge) of one version, started together on two threads."""
    import threading

    from mlpact import registry

    gate = threading.Barrier(2)

    def promote() -> None:
        gate.wait()
        with contextlib.suppress(NotFoundError, StoreError):
            registry.promote(f"m:{version}", "production", store=store.root)

    def archive() -> None:
        gate.wait()
        with contextlib.suppress(NotFoundError, StoreError):
            registry.archive(f"m:{version}", purge=purge, store=store.root)

    threads = [threading.Thread(target=promote), threading.Thread(target=archive)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.mark.parametrize("purge", [False, True])
def test_promote_racing_archive_never_leaves_the_alias_on_a_retired_version(
    tmp_path: Path, purge: bool
) -> None:
    """The status is checked in the transaction that moves the alias (and the alias in the one that
    changes the status): whichever wins, the alias ends on an active version or the retire is refused."""
    store = Store(tmp_path)
    _register(store)
    store.set_alias("m", "production", 1)
    bad = []
    for _ in range(100):
        version = _register(store).version
        _race(store, version, purge=purge)
        holder = store.get("m", store.aliases("m")["production"]["version"])
        if holder.status != "active":
            bad.append(holder.ref)
        if holder.version == version:  # the promote won: put the alias back for the next round
            store.set_alias("m", "production", 1)
    assert bad == []


def test_an_import_under_a_name_ending_in_a_newline_is_refused(
    trained_wine: dict[str, Any], tmp_path: Path
) -> None:
    from mlpact.version.portable import export_version, import_version

    archive = export_version(trained_wine["ref"], tmp_path / "wine.tar.gz", store=trained_wine["store"])
    with pytest.raises(StoreError, match=r"Invalid model name 'wine\\n'"):
        import_version(archive, name="wine\n", store=tmp_path / "s")
    assert Store(tmp_path / "s").versions() == [] and list((tmp_path / "s" / "tmp").iterdir()) == []
