"""The store never loses a version: a missing, older or foreign index is refused, never restarted,
and `mlpact store rebuild-index` writes it back from the version folders (store/_rebuild.py).

Every store here is crafted from real trained versions: the index deleted, replaced by an older
copy, by another store's index, folders damaged, an interrupted save, manifests claiming types.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import sqlite3
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import mlpact
from conftest import wine_config
from mlpact import registry
from mlpact._core import files
from mlpact.cli import app
from mlpact.errors import IntegrityError, StoreError, UntrustedTypesError
from mlpact.store import Store

runner = CliRunner()
ROWS = {
    "alcohol": 13.2, "malic_acid": 1.8, "ash": 2.4, "alcalinity_of_ash": 16.0, "magnesium": 100.0,
    "total_phenols": 2.6, "flavanoids": 2.7, "nonflavanoid_phenols": 0.3, "proanthocyanins": 1.8,
    "color_intensity": 4.5, "hue": 1.0, "od280/od315_of_diluted_wines": 3.0, "proline": 1000.0,
}  # fmt: skip


def _fast(**overrides: Any) -> dict[str, Any]:
    return wine_config(evaluate={"cv_folds": 0, "plots": False, "baseline": False}, **overrides)


def _train(store: Path, seed: int = 0) -> Any:
    return mlpact.train(_fast(seed=seed), store=store).version


def _copy_index(store: Path, to: Path) -> Path:
    """A consistent copy of a store's index (SQLite's backup: the WAL included)."""
    source, copy = sqlite3.connect(store / "mlpact.db"), sqlite3.connect(to)
    source.backup(copy)
    source.close()
    copy.close()
    return to


def _put_index(store: Path, index: Path | None) -> None:
    """Replace (or, with None, delete) a store's index, as a restore from backup or a bad copy does."""
    for suffix in ("", "-wal", "-shm"):
        (store / f"mlpact.db{suffix}").unlink(missing_ok=True)
    if index is not None:
        shutil.copyfile(index, store / "mlpact.db")


def _tree(store: Path) -> dict[str, str]:
    """sha256 of every file under models/, to prove nothing there changed."""
    return {
        p.relative_to(store).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((store / "models").rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """wine:1..3; wine@production moved 1 -> 3, wine:2 archived; and a copy of the index taken
    when only wine:1 and wine:2 existed and production was on 1 (an older backup)."""
    root = tmp_path_factory.mktemp("rebuild")
    store = root / "store"
    _train(store)
    _train(store, seed=7)
    registry.promote("wine:1", "production", reason="first", store=store)
    old = _copy_index(store, root / "old.db")
    _train(store, seed=3)
    registry.promote("wine:3", "production", store=store)
    registry.archive("wine:2", store=store)
    st = Store(store)
    rows = {r.ref: r for r in st.versions(include_archived=True)}
    return {"root": root, "store": store, "old": old, "rows": rows}


@pytest.fixture
def store(template: dict[str, Any], tmp_path: Path) -> Path:
    shutil.copytree(template["store"], tmp_path / "store")
    return tmp_path / "store"


MISSING = r"has no index \(mlpact.db is missing\), but its folders hold versions: "


# --------------------------------------------------------------------------- refusing
@pytest.mark.parametrize("how", ["deleted", "copied without it"])
def test_a_store_without_its_index_refuses_every_command_and_changes_nothing(
    store: Path, tmp_path: Path, how: str
) -> None:
    if how == "deleted":
        _put_index(store, None)
    else:
        copy = tmp_path / "copy"
        shutil.copytree(store, copy, ignore=shutil.ignore_patterns("mlpact.db*"))
        store = copy
    before = _tree(store)
    calls = [
        lambda: Store(store).versions(),
        lambda: Store(store).resolve("wine"),
        lambda: mlpact.load("wine:1", store=store),
        lambda: registry.promote("wine:1", "production", store=store),
        lambda: mlpact.train(_fast(), store=store),
    ]
    for call in calls:
        with pytest.raises(StoreError, match=MISSING + "wine:1, wine:2, wine:3") as info:
            call()
        assert "mlpact store rebuild-index" in (info.value.hint or "")
    assert _tree(store) == before  # the next train did not delete models/wine/1 and write another
    assert not (store / "mlpact.db").exists()
    result = runner.invoke(app, ["models", "list", "--store", str(store)])
    assert result.exit_code == 8
    assert "rebuild-index" in result.output and "Traceback" not in result.output


def test_an_older_index_is_refused_naming_the_versions_it_does_not_know(
    store: Path, template: dict[str, Any]
) -> None:
    _put_index(store, template["old"])
    before = _tree(store)
    with pytest.raises(
        StoreError,
        match=r"index .* is older than the store's folders: they hold versions it does not know: wine:3\.",
    ):
        mlpact.train(_fast(), store=store)
    result = runner.invoke(app, ["train", "--store", str(store), "--help"])  # help never opens it
    assert result.exit_code == 0
    assert _tree(store) == before


def test_a_purge_the_index_never_saw_still_proves_it_older(store: Path, template: dict[str, Any]) -> None:
    """wine:3 purged after the backup was taken: its folder is gone, its purge mark is not."""
    registry.promote("wine:1", "production", store=store)
    registry.archive("wine:3", purge=True, store=store)
    assert not (store / "models" / "wine" / "3").exists()
    _put_index(store, template["old"])
    with pytest.raises(StoreError, match=r"does not know: wine:3\."):
        Store(store).versions()
    done = registry.rebuild_index(store=store)
    assert done.purged == ("wine:3",) and done.counters == {"wine": 3}
    assert Store(store).get("wine", 3).status == "purged"
    assert Store(store).get("wine", 3).digest == template["rows"]["wine:3"].digest  # from the mark
    assert _train(store).version == 4


# --------------------------------------------------------------------------- rebuilding
def test_rebuild_after_the_index_was_deleted(store: Path, template: dict[str, Any]) -> None:
    _put_index(store, None)
    before = _tree(store)
    done = registry.rebuild_index(store=store)
    assert done.indexed == ("wine:1", "wine:2", "wine:3") and done.kept == ()
    assert done.backup is None and done.aliases == {} and done.counters == {"wine": 3}
    assert "none could be recovered" in done.lost[0] and "promote again" in done.lost[0]
    assert "marked rebuilt" in done.lost[1]
    st = Store(store)
    rows = {r.ref: r for r in st.versions(include_archived=True)}
    for ref, old in template["rows"].items():
        new = rows[ref]
        assert (new.digest, new.metric_value, new.data_fingerprint, new.run_id, new.config_hash) == (
            old.digest, old.metric_value, old.data_fingerprint, old.run_id, old.config_hash,
        )  # fmt: skip
        # the manifest's time, written in the same save: seconds apart at most (the minute prefix
        # the test compared before differed when the save straddled a minute)
        apart = datetime.fromisoformat(new.created) - datetime.fromisoformat(old.created)
        assert abs(apart.total_seconds()) < 5
        assert new.rebuilt is not None and old.rebuilt is None
        assert new.status == "active"  # wine:2's archive was recorded only in the index
        # trust: nothing from the manifest's own list, nor the config's paths (not None: None
        # would fall back to what the version's config names)
        assert new.trusted_types == () and new.trusted_paths == ()
    assert _tree(store) == before
    # the types the original row recorded at save: all on mlpact's own list, which the loader applies
    own = list(template["rows"]["wine:1"].trusted_types)
    assert own and all(t.startswith(("numpy.", "sklearn.")) for t in own)
    model = mlpact.load("wine:1", store=store, trust=own)
    assert model.predict(ROWS).shape == (1,)
    assert all(c.ok for c in registry.verify(store=store, behaviour=False))
    assert _train(store).version == 4


def test_rebuild_keeps_what_an_older_index_recorded_and_says_what_is_lost(
    store: Path, template: dict[str, Any]
) -> None:
    _put_index(store, template["old"])
    done = registry.rebuild_index(store=store)
    assert done.kept == ("wine:1", "wine:2") and done.indexed == ("wine:3",)
    assert done.aliases == {"wine": {"production": 1}}  # the move to wine:3 happened after the copy
    assert done.backup is not None and done.backup.name.startswith("mlpact.db.before-rebuild-")
    assert "made after it was written could not be recovered" in done.lost[0]
    st = Store(store)
    recorded = template["rows"]["wine:1"]
    assert st.get("wine", 1) == dataclasses.replace(
        recorded, path=store / "models" / "wine" / "1", aliases=("production",)
    )  # as recorded at save
    assert st.get("wine", 3).rebuilt is not None and st.get("wine", 3).trusted_paths == ()
    assert st.get("wine", 3).trusted_types == ()
    assert [e["version"] for e in st.alias_history("wine", "production")] == [1]
    assert _train(store).version == 4
    with sqlite3.connect(done.backup) as backup:  # the previous index is still there, untouched
        assert backup.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 2


def test_a_purge_after_the_older_index_was_written_is_recovered_from_its_mark(
    store: Path, template: dict[str, Any]
) -> None:
    registry.archive("wine:2", purge=True, store=store)
    _put_index(store, template["old"])  # it knew wine:2 as active, with files
    done = registry.rebuild_index(store=store)
    assert done.kept == ("wine:1",) and done.purged == ("wine:2",) and done.indexed == ("wine:3",)
    assert Store(store).get("wine", 2).status == "purged" and Store(store).get("wine", 2).rebuilt is None
    assert all(c.ok for c in registry.verify(store=store, behaviour=False))


def test_the_cli_rebuilds_and_says_what_it_did(store: Path) -> None:
    _put_index(store, None)
    result = runner.invoke(app, ["store", "rebuild-index", "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "indexed (rebuilt from their manifests): wine:1, wine:2, wine:3" in result.output
    assert "next numbers: wine:4" in result.output
    assert "none could be recovered" in " ".join(result.output.split())
    listed = runner.invoke(app, ["models", "list", "--store", str(store), "--json"])
    assert [v["rebuilt"] is not None for v in json.loads(listed.stdout)] == [True, True, True]
    again = runner.invoke(app, ["store", "rebuild-index", "--store", str(store), "--json"])
    assert json.loads(again.stdout)["kept"] == ["wine:1", "wine:2", "wine:3"]


def test_an_index_of_another_store_is_not_rebuilt_over_without_replace(store: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    _train(other, seed=11)
    _train(other, seed=12)
    foreign = _copy_index(other, tmp_path / "foreign.db")
    _put_index(store, foreign)  # its counter (2) is below the folders (3): refused as older
    with pytest.raises(StoreError, match=r"does not know: wine:3"):
        Store(store).versions()
    before = _tree(store)
    with pytest.raises(
        StoreError, match=r"disagrees with 2 version folders.*wine:1 \(index [0-9a-f]{12}, folder"
    ):
        registry.rebuild_index(store=store)
    assert _tree(store) == before
    with sqlite3.connect(store / "mlpact.db") as db:  # nothing changed: still the foreign rows
        assert db.execute("SELECT COUNT(*), MAX(rebuilt) FROM versions").fetchone() == (2, None)
    done = registry.rebuild_index(replace=True, store=store)
    assert done.indexed == ("wine:1", "wine:2", "wine:3") and done.backup is not None
    assert "was set aside" in done.lost[0]
    assert all(c.ok for c in registry.verify(store=store, behaviour=False))
    assert _train(store).version == 4


def test_a_foreign_index_with_higher_numbers_loses_nothing(store: Path, tmp_path: Path) -> None:
    """Another store's index whose counter is above every folder here opens; its digests refuse
    every load, a save takes a number above both, and no folder here is deleted."""
    other = tmp_path / "other"
    for seed in (11, 12, 13, 14):
        _train(other, seed=seed)
    _put_index(store, _copy_index(other, tmp_path / "foreign.db"))
    before = _tree(store)
    with pytest.raises(IntegrityError, match="differs from the digest recorded"):
        mlpact.load("wine:1", store=store)
    assert _train(store).version == 5
    assert {k: v for k, v in _tree(store).items() if not k.startswith("models/wine/5/")} == before


# --------------------------------------------------------------------------- interrupted saves
def _forget(store: Path, version: int) -> None:
    """As if the save of `version` had been killed between moving its folder in and committing."""
    with sqlite3.connect(store / "mlpact.db") as db:
        db.execute("DELETE FROM aliases WHERE version = ?", (version,))
        db.execute("DELETE FROM versions WHERE version = ?", (version,))
        db.execute("UPDATE counters SET last_version = ?", (version - 1,))


def test_an_interrupted_save_is_kept_skipped_and_indexed_archived(store: Path) -> None:
    _forget(store, 3)
    mark = store / "models" / "wine" / ".3.saving"
    mark.write_bytes(b"")
    st = Store(store)
    assert st.orphans() == [store / "models" / "wine" / "3"]  # not a refusal: an interrupted save
    assert _train(store).version == 4
    done = registry.rebuild_index(store=store)
    assert done.archived == ("wine:3",) and done.indexed == () and not mark.exists()
    assert st.get("wine", 3).status == "archived" and st.resolve("wine").version == 4
    assert registry.restore("wine:3", store=store).status == "active"


def test_the_same_folder_without_the_mark_proves_the_index_older(store: Path) -> None:
    _forget(store, 3)
    with pytest.raises(StoreError, match=r"older than the store's folders: .*: wine:3\. Refusing"):
        Store(store).versions()


# --------------------------------------------------------------------------- what is not indexed
def test_damaged_folders_and_strays_are_reported_and_never_deleted(store: Path) -> None:
    _put_index(store, None)
    metrics = store / "models" / "wine" / "2" / "metrics.json"
    metrics.write_text(metrics.read_text().replace("0.", "1.", 1))
    (store / "models" / "wine" / "notes.txt").write_text("mine")
    (store / "models" / "bad name").mkdir()
    (store / "models" / "wine" / "007").mkdir()
    (store / "models" / "wine" / "8").mkdir()  # a folder with no manifest at all
    before = _tree(store)
    done = registry.rebuild_index(store=store)
    assert done.indexed == ("wine:1", "wine:3")
    assert "does not match its manifest (changed: metrics.json)" in done.refused["models/wine/2"]
    assert "is not a model version: it has no manifest.json" in done.refused["models/wine/8"]
    strays = {"models/wine/notes.txt", "models/bad name", "models/wine/007"}
    assert set(done.refused) == {"models/wine/2", "models/wine/8", *strays}
    assert _tree(store) == before and (store / "models" / "bad name").is_dir()
    assert done.counters == {"wine": 8} and _train(store).version == 9
    again = registry.rebuild_index(store=store)  # rows that match are kept, not re-hashed
    assert again.kept == ("wine:1", "wine:3", "wine:9") and again.indexed == ()
    assert "does not match its manifest" in again.refused["models/wine/2"]


def test_a_manifest_naming_another_version_is_not_indexed(store: Path) -> None:
    _put_index(store, None)
    shutil.copytree(store / "models" / "wine" / "1", store / "models" / "wine" / "9")
    done = registry.rebuild_index(store=store)
    assert done.refused["models/wine/9"].startswith("its manifest names wine:1, not wine:9.")
    assert done.counters == {"wine": 9} and _train(store).version == 10  # its number stays taken


def test_a_row_pointing_outside_is_repaired_only_when_its_folder_matches(store: Path) -> None:
    with sqlite3.connect(store / "mlpact.db") as db:
        db.execute("UPDATE versions SET path = '../elsewhere/1' WHERE version = 1")
    with pytest.raises(StoreError, match="points its folder at"):
        mlpact.load("wine:1", store=store)
    done = registry.rebuild_index(store=store)
    assert "wine:1" in done.kept and Store(store).get("wine", 1).path == store / "models" / "wine" / "1"
    assert mlpact.load("wine:1", store=store).predict(ROWS).shape == (1,)


# --------------------------------------------------------------------------- trust of rebuilt rows
FEATURES = """
from sklearn.base import BaseEstimator, TransformerMixin


class AddRatio(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        out = X.copy()
        out["flavanoids_per_proline"] = X["flavanoids"] / X["proline"]
        return out
"""
SIDE_EFFECT = "import pathlib, os\npathlib.Path(os.environ['MLPACT_TEST_MARK']).write_text('imported')\n"


@pytest.fixture
def custom_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """wine:1 with a custom transformer (ratiofeats.AddRatio), its manifest also claiming types
    outside mlpact's list (a module whose import leaves a mark), and its index deleted."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "ratiofeats.py").write_text(textwrap.dedent(FEATURES))
    (code / "sideeffect.py").write_text(SIDE_EFFECT)
    monkeypatch.syspath_prepend(str(code))
    monkeypatch.setenv("MLPACT_TEST_MARK", str(tmp_path / "imported"))
    store = tmp_path / "store"
    mlpact.train(_fast(features={"custom": [{"type": "ratiofeats:AddRatio"}]}), store=store)
    folder = store / "models" / "wine" / "1"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "ratiofeats.AddRatio" in manifest["trusted_types"]
    manifest["trusted_types"] += ["os.system", "sideeffect.Gadget", "builtins.eval"]
    files.write_json(folder / "manifest.json", manifest)  # a consistent manifest: files unchanged
    _put_index(store, None)
    yield store
    for name in ("ratiofeats", "sideeffect"):
        sys.modules.pop(name, None)


def test_a_rebuilt_row_trusts_only_mlpacts_list_not_its_manifests_claims(custom_store: Path) -> None:
    done = registry.rebuild_index(store=custom_store)
    record = Store(custom_store).get("wine", 1)
    assert record.trusted_types == () and record.trusted_paths == ()  # not os.system, not ratiofeats
    assert done.trusted == {} and not (custom_store.parent / "imported").exists()  # nothing imported
    with pytest.raises(UntrustedTypesError, match=r"'ratiofeats.AddRatio'"):
        mlpact.load("wine:1", store=custom_store, trust=["numpy.dtype"])


def test_trust_confirmed_at_rebuild_is_recorded_for_the_versions_that_claim_it(custom_store: Path) -> None:
    done = registry.rebuild_index(trust=["ratiofeats:AddRatio", "other.Thing"], store=custom_store)
    assert done.trusted == {"wine:1": ("ratiofeats:AddRatio",)} and done.unused_trust == ("other.Thing",)
    record = Store(custom_store).get("wine", 1)
    assert record.trusted_types == ("ratiofeats.AddRatio",)
    assert record.trusted_paths == ("ratiofeats:AddRatio",)
    model = mlpact.load("wine:1", store=custom_store, trust=["numpy.dtype"])  # on mlpact's own list
    assert model.predict(ROWS).shape == (1,)
    assert not (custom_store.parent / "imported").exists()
