"""The registry: listing, aliases and their history, diffs, archive/purge, verify, runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import mlpact
from conftest import wine_config
from mlpact import registry
from mlpact.errors import IntegrityError, NotFoundError, StoreError
from mlpact.store import Store


def _train(store: Path, *overrides: str) -> Any:
    return mlpact.train(wine_config(evaluate={"cv_folds": 0}), list(overrides), store=store)


@pytest.fixture(scope="module")
def three_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with wine:1..3 (version 2 trained with another seed and C), trained once."""
    root = tmp_path_factory.mktemp("three")
    _train(root)
    _train(root, "seed=7", "model.params.C=0.1")
    _train(root)
    return root


@pytest.fixture
def three(three_template: Path, tmp_path: Path) -> Store:
    """A private copy of the three-version store (paths in the index are relative to its root)."""
    import shutil

    shutil.copytree(three_template, tmp_path / "store")
    return Store(tmp_path / "store")


def test_promote_rollback_and_history(three: Store) -> None:
    assert registry.promote("wine:1", "production", reason="first", store=three).previous is None
    move = registry.promote("wine:3", "production", reason="better", store=three)
    assert (move.version, move.previous) == (3, 1)
    registry.promote("wine:2", "production", store=three)
    assert registry.rollback("wine", "production", store=three).version == 3
    assert registry.rollback("wine", "production", store=three).version == 1
    with pytest.raises(NotFoundError, match="has had only one holder .*no earlier version to roll back to"):
        registry.rollback("wine", "production", store=three)
    events = registry.history("wine", store=three)
    assert [(e["action"], e["version"], e["previous"]) for e in events] == [
        ("promote", 1, None),
        ("promote", 3, 1),
        ("promote", 2, 3),
        ("rollback", 3, 2),
        ("rollback", 1, 3),
    ]
    assert events[0]["reason"] == "first" and events[0]["user"]
    assert three.resolve("wine@production").version == 1


def test_any_alias_name_and_independent_aliases(three: Store) -> None:
    registry.promote("wine:2", "staging", store=three)
    registry.promote("wine:3", "champion-2026", store=three)
    assert three.resolve("wine@staging").version == 2
    assert three.get("wine", 3).aliases == ("champion-2026",)
    assert [e["alias"] for e in registry.history("wine", alias="staging", store=three)] == ["staging"]


def test_promoting_the_current_holder_is_not_a_move(three: Store) -> None:
    registry.promote("wine:2", "production", store=three)
    assert registry.promote("wine:2", "production", store=three).previous == 2
    assert len(registry.history("wine", store=three)) == 1


@pytest.mark.parametrize("alias", ["../prod", "prod/x", "", "a" * 65, "a..b"])
def test_invalid_alias_names_are_refused(three: Store, alias: str) -> None:
    with pytest.raises(StoreError, match="Invalid alias"):
        registry.promote("wine:1", alias, store=three)


def test_rollback_of_an_unknown_alias(three: Store) -> None:
    with pytest.raises(NotFoundError, match="has no alias 'production' to roll back; it has no aliases yet"):
        registry.rollback("wine", "production", store=three)


@pytest.mark.parametrize("call", ["rollback", "resolve"])
def test_an_alias_of_an_unknown_model_names_the_model(three: Store, call: str) -> None:
    with pytest.raises(NotFoundError, match="No model named 'wien' .* Did you mean 'wine'"):
        if call == "rollback":
            registry.rollback("wien", "production", store=three)
        else:
            three.resolve("wien@production")


def test_archive_hides_from_latest_and_listing_and_restore_brings_back(three: Store) -> None:
    registry.archive("wine:3", store=three)
    assert three.resolve("wine").version == 2
    assert [r.version for r in registry.versions("wine", store=three)] == [1, 2]
    assert [r.status for r in registry.versions("wine", include_archived=True, store=three)] == [
        "active"
    ] * 2 + ["archived"]
    assert mlpact.load("wine:3", store=three).version == 3  # files kept, explicit reference works
    registry.restore("wine:3", store=three)
    assert three.resolve("wine").version == 3


def test_purge_deletes_files_keeps_the_number_and_refuses_alias_holders(three: Store) -> None:
    registry.promote("wine:2", "production", store=three)
    with pytest.raises(StoreError, match=r"wine:2 holds wine@production; refusing to purge"):
        registry.archive("wine:2", purge=True, store=three)
    with pytest.raises(StoreError, match="refusing to archive"):
        registry.archive("wine:2", store=three)
    path = three.get("wine", 3).path
    registry.archive("wine:3", purge=True, store=three)
    assert not path.exists()
    with pytest.raises(NotFoundError, match="wine:3 was purged"):
        mlpact.load("wine:3", store=three)
    assert _train(three.root).version.version == 4  # the counter only grows


def test_archived_versions_cannot_take_an_alias(three: Store) -> None:
    registry.archive("wine:1", store=three)
    with pytest.raises(StoreError, match="only active versions can hold an alias"):
        registry.promote("wine:1", "production", store=three)


def test_verify_finds_changed_files_and_rewritten_manifests(three: Store) -> None:
    assert all(c.ok for c in registry.verify(store=three))
    v2 = three.get("wine", 2).path
    (v2 / "metrics.json").write_text("{}")
    v3 = three.get("wine", 3).path
    (v3 / "card.md").write_text("# rewritten")
    manifest = json.loads((v3 / "manifest.json").read_text())
    from mlpact.version import bundle

    manifest["files"] = bundle.hash_files(v3)
    (v3 / "manifest.json").write_text(json.dumps(manifest))
    checks = {c.ref: c for c in registry.verify(store=three)}
    assert checks["wine:1"].ok
    assert "changed: metrics.json" in (checks["wine:2"].problem or "")
    assert "differs from the digest recorded in the store index" in (checks["wine:3"].problem or "")
    assert [c.ok for c in registry.verify("wine:1", store=three)] == [True]


def test_diff_reports_config_metrics_split_and_schema(three: Store) -> None:
    d = registry.diff("wine:1", "wine:2", store=three)
    assert d["config"]["changed"] == {"seed": {"a": 42, "b": 7}}
    assert d["config"]["added"] == {"model.params.C": 0.1}
    assert d["data"]["changed"] is False and "test_fingerprint" in d["data"]
    assert set(d["metrics"]) >= {"accuracy", "log_loss"}
    assert d["metrics"]["log_loss"]["delta"] == pytest.approx(
        d["metrics"]["log_loss"]["b"] - d["metrics"]["log_loss"]["a"]
    )
    assert d["schema"] == {
        "added": [],
        "removed": [],
        "retyped": {},
        "categories": {},
        "nullable": {},
        "target": {},
    }
    same = registry.diff("wine:1", "wine:3", store=three)
    assert same["config"] == {"added": {}, "removed": {}, "changed": {}}
    assert same["data"] == {"changed": False}


def test_diff_of_schemas() -> None:
    a = {
        "columns": [
            {"name": "x", "type": "int", "nullable": False, "categories": None},
            {"name": "c", "type": "category", "nullable": False, "categories": ["a", "b"]},
            {"name": "gone", "type": "float", "nullable": True, "categories": None},
        ],
        "target": {"name": "y", "task": "classification", "classes": [0, 1]},
    }
    b = {
        "columns": [
            {"name": "x", "type": "float", "nullable": True, "categories": None},
            {"name": "c", "type": "category", "nullable": False, "categories": ["b", "c"]},
            {"name": "new", "type": "text", "nullable": True, "categories": None},
        ],
        "target": {"name": "y", "task": "classification", "classes": [0, 1, 2]},
    }
    d = registry._schema_diff(a, b)
    assert d["added"] == ["new"] and d["removed"] == ["gone"]
    assert d["retyped"] == {"x": {"a": "int", "b": "float"}}
    assert d["categories"] == {"c": {"added": ["c"], "removed": ["a"]}}
    assert d["nullable"] == {"x": {"a": False, "b": True}}
    assert d["target"] == {"classes": {"a": [0, 1], "b": [0, 1, 2]}}


def test_show_includes_everything(three: Store) -> None:
    registry.promote("wine:2", "staging", store=three)
    info = registry.show("wine@staging", store=three)
    assert info["version"]["ref"] == "wine:2" and info["version"]["aliases"] == ["staging"]
    assert info["config"]["seed"] == 7
    assert info["schema"]["target"]["classes"] == [0, 1, 2]
    assert info["lineage"]["data"]["source"] == "sklearn:wine"
    assert info["card"].startswith("# wine version 2")
    assert info["evaluations"] == []


def test_runs_compare_and_plot(three: Store, tmp_path: Path) -> None:
    ids = [r["id"] for r in registry.runs("wine", store=three)]
    assert len(ids) == 3
    comparison = registry.compare_runs(ids[:2], store=three)
    assert comparison["params"]["seed"] == [42, 7]
    assert len(comparison["metrics"]["accuracy"]) == 2
    out = registry.plot_runs(comparison, "accuracy", tmp_path / "runs.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(StoreError, match="No run has a metric 'rmse'"):
        registry.plot_runs(comparison, "rmse", tmp_path / "x.png")
    assert registry.run(ids[0][:6], store=three)["id"] == ids[0]
    with pytest.raises(NotFoundError, match="No run 'zzzz'"):
        registry.run("zzzz", store=three)


def test_failed_runs_are_listed_with_their_error(tmp_path: Path) -> None:
    with pytest.raises(Exception):  # noqa: B017
        mlpact.train(
            wine_config(model={"type": "sklearn.linear_model.LogisticRegression", "params": {"C": -1}}),
            store=tmp_path,
        )
    (run,) = registry.runs(store=tmp_path)
    assert run["status"] == "failed" and "C" in run["error"] and run["version"] is None


def test_verify_of_a_missing_version_folder(three: Store) -> None:
    import shutil

    shutil.rmtree(three.get("wine", 1).path)
    (check,) = registry.verify("wine:1", store=three)
    assert not check.ok and "no manifest.json" in (check.problem or "")
    with pytest.raises(IntegrityError):
        mlpact.load("wine:1", store=three)


# --------------------------------------------------------------------------- rows and folders out of place
def _outside_copy(three: Store, version: int, tmp_path: Path) -> Path:
    """A copy of a version's folder outside the store: what a bad row or link would reach."""
    import shutil

    outside = tmp_path / "outside" / str(version)
    shutil.copytree(three.get("wine", version).path, outside)
    return outside


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.mark.parametrize("how", ["relative", "absolute", "link"])
def test_a_row_pointing_outside_the_store_is_refused_and_nothing_there_deleted(
    three: Store, tmp_path: Path, how: str
) -> None:
    import shutil
    import sqlite3

    outside = _outside_copy(three, 3, tmp_path)
    before = _files(outside)
    if how == "link":  # the row is right, but the folder is a link out of the store
        shutil.rmtree(three.get("wine", 3).path)
        three.get("wine", 3).path.symlink_to(outside, target_is_directory=True)
    else:
        path = str(outside) if how == "absolute" else f"../{outside.relative_to(tmp_path)}"
        with sqlite3.connect(three.db_path) as db:
            db.execute("UPDATE versions SET path = ? WHERE version = 3", (path,))
    message = r"wine:3: the store index points its folder at .*outside/3, not at .*models/wine/3 inside"
    with pytest.raises(StoreError, match=message):
        registry.archive("wine:3", purge=True, store=three)
    with pytest.raises(StoreError, match=message):
        mlpact.load("wine:3", store=three)
    (check,) = registry.verify("wine:3", store=three)
    assert not check.ok and "Refusing to read or delete anything there" in (check.problem or "")
    assert _files(outside) == before and three.get("wine", 3).status == "active"
    from typer.testing import CliRunner

    from mlpact.cli import app

    result = CliRunner().invoke(app, ["models", "archive", "wine:3", "--purge", "--store", str(three.root)])
    assert result.exit_code == 8 and "rebuild-index" in result.output
    assert _files(outside) == before


def test_a_purge_that_cannot_delete_a_file_says_so_and_can_be_retried(
    three: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    real = os.unlink

    def unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        if str(path).endswith("metrics.json"):
            raise PermissionError(13, "Permission denied")
        real(path, *args, **kwargs)

    folder = three.get("wine", 3).path
    monkeypatch.setattr(os, "unlink", unlink)
    with pytest.raises(
        StoreError,
        match=r"wine:3 is purged \(it no longer loads\), but 1 of its files could not be deleted: .*models/wine/3/metrics.json \(\[Errno 13\] Permission denied\)",
    ) as info:
        registry.archive("wine:3", purge=True, store=three)
    assert "archive wine:3 --purge` again" in (info.value.hint or "")
    assert three.get("wine", 3).status == "purged" and (folder / "metrics.json").exists()
    monkeypatch.setattr(os, "unlink", real)
    assert (
        registry.archive("wine:3", purge=True, store=three).status == "purged"
    )  # the retry deletes the rest
    assert not folder.exists() and json.loads((folder.parent / ".3.purged").read_text())["version"] == 3


def test_restore_and_archive_check_the_status_they_change(three: Store) -> None:
    with pytest.raises(StoreError, match="wine:1 is active, not archived; nothing to restore"):
        registry.restore("wine:1", store=three)
    registry.archive("wine:1", purge=True, store=three)
    with pytest.raises(StoreError, match="wine:1 is purged; it cannot be archived"):
        three.set_status(three.get("wine", 1), "archived")
    with pytest.raises(StoreError, match="wine:1 is purged, not archived"):
        three.set_status(three.get("wine", 1), "active")


@pytest.mark.parametrize(
    "checks, code",
    [
        ([], 0),
        ([registry.Check("a:1", "active", True, None, "ok")], 0),
        ([registry.Check("a:1", "active", True), registry.Check("a:2", "active", False, "x", "differs")], 14),
        (
            [
                registry.Check("a:1", "active", False, "changed"),
                registry.Check("a:2", "active", False, "x", "differs"),
            ],
            6,
        ),
    ],
)
def test_verify_says_its_exit_code(checks: list[registry.Check], code: int) -> None:
    found = registry.Checks(checks)
    assert int(found.exit_code) == code and found.ok is (code == 0)
