"""`reproduce`: retrain from what a version recorded; changed data; versions that cannot load here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import mlpact
from conftest import mixed_frame, write_config
from mlpact._core import files
from mlpact._core.lineage import package_versions
from mlpact.cli import app
from mlpact.errors import DataChangedError, IntegrityError, LibraryVersionError
from mlpact.reproduce import compare_metrics, compare_split, reproduce
from mlpact.version import bundle

runner = CliRunner()


@pytest.fixture
def trained(tmp_path: Path) -> dict[str, Any]:
    """A version trained on a CSV next to its config (a relative source), fast settings."""
    mixed_frame(300, seed=1).to_csv(tmp_path / "data.csv", index=False)
    config = write_config(
        tmp_path,
        {
            "name": "mixed",
            "data": {"source": "data.csv", "target": "label", "drop": ["id"]},
            "model": {"type": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 20}},
            "evaluate": {"cv_folds": 2, "plots": False, "leakage": False},
        },
    )
    result = mlpact.train(config, store=tmp_path / "store")
    return {"folder": tmp_path, "store": tmp_path / "store", "ref": result.ref, "result": result}


def test_reproduces_and_records_a_run(trained: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path("/"))  # the recorded source resolves where it was read, not in the cwd
    result = reproduce(trained["ref"], store=trained["store"])
    assert (result.verdict, int(result.exit_code), result.new_ref) == ("reproduced", 0, "mixed:2")
    assert result.reasons == [] and result.data["identical"] and result.split["identical"]
    assert (
        all(m["within"] for m in result.metrics.values()) and result.metrics["accuracy"]["difference"] == 0.0
    )
    assert result.agreement == {"compared": True, "rows": 60, "fraction": 1.0, "differing_rows": 0}
    assert result.environment["packages"] == {}
    run = mlpact.Store.open(trained["store"]).run(result.run_id)
    assert (run["kind"], run["status"], run["version"], run["metrics"]) == (
        "reproduce", "succeeded", 2, {"verdict": "reproduced"}
    )  # fmt: skip
    new = mlpact.load("mixed:2", store=trained["store"])
    assert new.lineage["config_hash"] == trained["result"].version.config_hash


def test_a_reproduction_is_not_latest_until_promoted(trained: dict[str, Any]) -> None:
    from mlpact.errors import NotFoundError

    store = mlpact.Store.open(trained["store"])
    assert reproduce(trained["ref"], store=store).new_ref == "mixed:2"
    copy = store.get("mixed", 2)
    assert (copy.origin, copy.made_by, store.resolve("mixed").ref) == ("reproduce", "reproduce", "mixed:1")
    assert mlpact.load("mixed", store=store).ref == "mixed:1"  # what `predict mixed` uses
    from mlpact.ui._catalog import _models

    assert [(row.name, row.latest.ref) for row in _models(store)] == [("mixed", "mixed:1")]  # `mlpact ui` too
    listed = runner.invoke(app, ["models", "list", "mixed", "--store", str(trained["store"]), "--json"])
    assert [(v["version"], v["origin"]) for v in json.loads(listed.stdout)] == [(1, None), (2, "reproduce")]
    shown = runner.invoke(app, ["models", "show", "mixed:2", "--store", str(trained["store"])])
    assert (
        "origin reproduce: retrained by `mlpact reproduce`; `latest` skips it until it is promoted"
        in " ".join(shown.output.split())
    )
    store.rebuild_index(replace=True)  # the origin comes back from the version's own lineage
    assert mlpact.Store.open(trained["store"]).get("mixed", 2).origin == "reproduce"
    store = mlpact.Store.open(trained["store"])
    store.set_status(store.get("mixed", 1), "archived")
    with pytest.raises(NotFoundError, match=r"its active versions \(mixed:2\) are reproductions") as err:
        store.resolve("mixed")
    assert "mlpact models promote mixed:2 production" in str(err.value.hint)
    from mlpact import registry

    registry.promote("mixed:2", "production", store=store)
    assert store.resolve("mixed").ref == "mixed:2"  # promoted: it counts for `latest`


def test_cli_reproduce_says_the_new_version_is_a_reproduction(trained: dict[str, Any]) -> None:
    out = runner.invoke(app, ["reproduce", trained["ref"], "--store", str(trained["store"])])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "mixed:2 is a reproduction: `latest` skips it until it is promoted" in text
    assert "(`mlpact models promote mixed:2 ALIAS`)" in text


def test_changed_data_stops_with_an_explanation(trained: dict[str, Any]) -> None:
    mixed_frame(310, seed=1).to_csv(trained["folder"] / "data.csv", index=False)
    with pytest.raises(DataChangedError) as info:
        reproduce(trained["ref"], store=trained["store"])
    message = str(info.value)
    assert message.startswith("Cannot reproduce mixed:1: its data changed since it was trained.\n  source: ")
    assert "  rows: 300 when trained, 310 now" in message and "the file's bytes differ (sha256)" in message
    assert "--allow-data-change" in (info.value.hint or "") and int(info.value.exit_code) == 13
    store = mlpact.Store.open(trained["store"])
    assert store.runs()[0]["status"] == "failed" and [v.version for v in store.versions("mixed")] == [1]
    allowed = reproduce(trained["ref"], store=trained["store"], allow_data_change=True)
    assert allowed.verdict == "differs" and int(allowed.exit_code) == 13
    assert allowed.reasons[0].startswith("the data changed (fingerprint ")
    assert "the test split holds different rows than when the version was trained" in allowed.reasons


def test_tolerances_decide_the_verdict(trained: dict[str, Any]) -> None:
    strict = reproduce(
        trained["ref"], store=trained["store"], thresholds={"agreement": 1.0, "metric_tolerance": 0}
    )
    assert strict.verdict == "reproduced"


@pytest.mark.parametrize(
    "recorded, now, within",
    [
        ({"accuracy": 0.9}, {"accuracy": 0.9}, True),
        ({"accuracy": 0.9}, {"accuracy": 0.91}, False),
        ({"roc_auc_ovr": None}, {"roc_auc_ovr": float("nan")}, True),
        ({"log_loss": 0.2}, {}, False),
    ],
)
def test_compare_metrics(recorded: dict[str, Any], now: dict[str, Any], within: bool) -> None:
    assert all(m["within"] for m in compare_metrics(recorded, now, 1e-6).values()) is within


def test_compare_split() -> None:
    same = compare_split(
        {"train_fingerprint": "a", "test_fingerprint": "b"},
        {"train_fingerprint": "a", "test_fingerprint": "b"},
    )
    moved = compare_split(
        {"train_fingerprint": "a", "test_fingerprint": "b"},
        {"train_fingerprint": "a", "test_fingerprint": "c"},
    )
    assert same["identical"] and not moved["identical"] and moved["train"]["identical"]


def _as_if_saved_with(version: Path, target: Path, sklearn: str) -> Path:
    """A copy of a version folder whose lineage says another scikit-learn saved it (re-hashed)."""
    shutil.copytree(version, target)
    lineage = json.loads((target / "lineage.json").read_text())
    lineage["environment"]["packages"]["scikit-learn"] = sklearn
    (target / "lineage.json").write_text(json.dumps(lineage))
    manifest = bundle.read_manifest(target)
    meta = {k: v for k, v in manifest.items() if k != "files"}
    bundle.write_manifest(
        target, meta, {**manifest["files"], "lineage.json": files.sha256_file(target / "lineage.json")}
    )
    return target


def test_unloadable_version_names_both_versions_and_reproduce_still_works(
    trained: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _as_if_saved_with(trained["result"].path, tmp_path / "old", "0.24.2")

    real = bundle.load_pipeline

    def load_pipeline(directory: Path, *args: Any, **kwargs: Any) -> Any:
        if directory.resolve() == old.resolve():
            raise AttributeError("Can't get attribute '_RandomForest' on <module 'sklearn.ensemble._forest'>")
        return real(directory, *args, **kwargs)

    monkeypatch.setattr(bundle, "load_pipeline", load_pipeline)
    with pytest.raises(LibraryVersionError) as info:
        mlpact.load(old)
    installed = package_versions(("scikit-learn",))["scikit-learn"]
    assert str(info.value) == (
        f"Cannot load mixed:1: its pipeline was saved with scikit-learn 0.24.2 and this environment has "
        f"scikit-learn {installed}; deserialising it failed (AttributeError: Can't get attribute "
        "'_RandomForest' on <module 'sklearn.ensemble._forest'>)."
    )
    assert info.value.hint is not None and info.value.hint.startswith(
        "Install scikit-learn==0.24.2 to use it"
    )
    assert "`mlpact reproduce mixed:1`" in info.value.hint and isinstance(info.value, IntegrityError)
    result = reproduce(old, store=trained["store"])
    assert result.verdict == "reproduced" and result.agreement["compared"] is False
    assert result.notes == [f"scikit-learn 0.24.2 when trained, {installed} now"]


def test_cli_reproduce_json_and_exit_codes(trained: dict[str, Any]) -> None:
    args = ["reproduce", trained["ref"], "--store", str(trained["store"]), "--json"]
    ok = runner.invoke(app, args)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["verdict"] == "reproduced"
    mixed_frame(310, seed=1).to_csv(trained["folder"] / "data.csv", index=False)
    stopped = runner.invoke(app, args)
    assert stopped.exit_code == 13 and "its data changed since it was trained" in stopped.output
    differs = runner.invoke(app, [*args, "--allow-data-change"])
    assert differs.exit_code == 13 and json.loads(differs.stdout)["verdict"] == "differs"


def test_a_refit_version_reproduces_and_says_what_was_compared(tmp_path: Path) -> None:
    mixed_frame(200, seed=1).to_csv(tmp_path / "data.csv", index=False)
    config = write_config(
        tmp_path,
        {
            "name": "refit",
            "data": {"source": "data.csv", "target": "label", "drop": ["id"]},
            "model": {"type": "sklearn.linear_model.LogisticRegression"},
            "evaluate": {"cv_folds": 2, "plots": False, "leakage": False},
            "train": {"refit": "all"},
        },
    )
    first = mlpact.train(config, store=tmp_path / "store")
    result = reproduce(first.ref, store=tmp_path / "store")
    assert result.verdict == "reproduced", result.reasons
    assert result.split["refit"]["identical"] and result.split["refit"]["recorded"]
    assert any("fits before the refit" in note for note in result.notes)
