"""Golden rows: recorded at save, predicted again by `models verify`, `models import` and `serve`;
a difference names the version and the packages that changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import mlpact
from conftest import write_config
from mlpact import golden, registry
from mlpact.cli import app
from mlpact.errors import BehaviourError, ExitCode

FAST = {"cv_folds": 0, "importance_repeats": 0, "leakage": False, "baseline": False, "plots": False}


def _cfg(name: str, source: str, model: str, **record: Any) -> dict[str, Any]:
    return {
        "name": name,
        "data": {"source": f"sklearn:{source}", "target": "target"},
        "model": {"type": model},
        "evaluate": FAST,
        "record": {"profile": False, **record},
    }


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("golden")
    cfg = _cfg("iris", "iris", "sklearn.linear_model.LogisticRegression", golden_rows=7)
    result = mlpact.train(write_config(folder, cfg), store=folder / "store")
    return {"store": folder / "store", "ref": result.ref, "path": result.path, "folder": folder}


def _shift_probabilities(monkeypatch: pytest.MonkeyPatch, by: float) -> None:
    """Make scikit-learn predict slightly differently, as a changed library version might."""
    from sklearn.linear_model import LogisticRegression

    original = LogisticRegression.predict_proba

    def shifted(self: Any, X: Any) -> Any:
        p = original(self, X)
        p[:, 0] += by
        return p

    monkeypatch.setattr(LogisticRegression, "predict_proba", shifted)


def test_golden_rows_are_recorded_and_hashed(iris: dict[str, Any]) -> None:
    data = json.loads((iris["path"] / "golden.json").read_text())
    assert len(data["rows"]) == 7 and len(data["prediction"]) == 7
    assert set(data["probabilities"]) == {"0", "1", "2"}
    assert set(data["rows"][0]) == {
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    }
    manifest = json.loads((iris["path"] / "manifest.json").read_text())
    assert "golden.json" in manifest["files"]
    model = mlpact.load(iris["ref"], store=iris["store"])
    assert golden.check(model).status == "ok"
    assert [c.behaviour for c in registry.verify(store=iris["store"])] == ["ok"]


def test_a_change_beyond_tolerance_fails_naming_version_and_packages(
    iris: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = mlpact.load(iris["ref"], store=iris["store"])
    _shift_probabilities(monkeypatch, 1e-3)
    from mlpact import envlock

    real = envlock.installed()
    monkeypatch.setattr(envlock, "installed", lambda: {**real, "scikit-learn": "0.0.1"})
    with pytest.raises(BehaviourError, match=r"iris:1 predicts its golden rows differently") as caught:
        golden.verify(model)
    assert "scikit-learn" in caught.value.message and "-> 0.0.1" in caught.value.message
    assert "largest difference 0.001" in caught.value.message
    assert caught.value.exit_code == ExitCode.BEHAVIOUR == 14


def test_within_tolerance_passes(iris: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    model = mlpact.load(iris["ref"], store=iris["store"])
    _shift_probabilities(monkeypatch, 1e-12)  # below atol 1e-9
    assert golden.check(model).ok


def test_cli_verify_exits_14_on_behaviour_and_0_with_files_only(
    iris: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _shift_probabilities(monkeypatch, 0.01)
    runner = CliRunner()
    failed = runner.invoke(app, ["models", "verify", "--store", str(iris["store"]), "--json"])
    assert failed.exit_code == 14, failed.output
    body = json.loads(failed.output)
    assert body["versions"][0]["behaviour"] == "differs"
    ok = runner.invoke(app, ["models", "verify", "--store", str(iris["store"]), "--files-only"])
    assert ok.exit_code == 0, ok.output


def test_cli_verify_of_a_version_whose_load_is_refused_reports_the_refusal_with_exit_6(
    iris: dict[str, Any], tmp_path: Path
) -> None:
    """Files and index digest agree (rewritten together), but the pipeline names a class off the
    allowlist: the version is refused, which is an integrity failure, not a behaviour change."""
    import shutil
    import sqlite3
    import zipfile

    from mlpact import bundle

    store = tmp_path / "store"
    shutil.copytree(iris["store"], store)
    folder = Path(str(iris["path"]).replace(str(iris["store"]), str(store)))
    with zipfile.ZipFile(folder / bundle.PIPELINE, "w") as zf:
        node = {"__class__": "Evil", "__module__": "zz_nowhere", "__loader__": "ObjectNode"}
        zf.writestr("schema.json", json.dumps({**node, "protocol": 2}))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"] = bundle.hash_files(folder)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with sqlite3.connect(store / "mlpact.db") as db:
        db.execute("UPDATE versions SET digest = ?", (bundle.manifest_digest(folder),))
    result = CliRunner().invoke(app, ["models", "verify", "--store", str(store), "--json"])
    assert result.exit_code == ExitCode.INTEGRITY == 6, result.output
    (check,) = json.loads(result.output)["versions"]
    assert check["behaviour"] == "refused" and "zz_nowhere.Evil" in check["problem"]
    assert "not in the trusted list" in check["problem"] and "golden" not in check["problem"]
    table = CliRunner().invoke(app, ["models", "verify", "--store", str(store)])
    assert table.exit_code == 6 and "not loaded" in table.output and "differ" not in table.output


def test_import_refuses_a_bundle_that_predicts_differently_here(
    iris: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlpact.portable import export_version, import_version

    archive = export_version(iris["ref"], tmp_path / "iris.tar.gz", store=iris["store"])
    _shift_probabilities(monkeypatch, 0.01)
    with pytest.raises(BehaviourError, match="predicts its golden rows differently"):
        import_version(archive, store=tmp_path / "other")
    assert registry.versions(store=tmp_path / "other") == []  # nothing registered
    monkeypatch.undo()
    assert import_version(archive, store=tmp_path / "other").version == 1


def test_server_refuses_to_start_on_a_version_that_predicts_differently(
    iris: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fastapi")
    from mlpact.serve._holder import ModelHolder

    assert ModelHolder(iris["ref"], store=iris["store"]).model.ref == iris["ref"]
    _shift_probabilities(monkeypatch, 0.01)
    with pytest.raises(BehaviourError):
        ModelHolder(iris["ref"], store=iris["store"])


def test_versions_without_golden_rows_say_so(tmp_path: Path) -> None:
    cfg = _cfg("diab", "diabetes", "sklearn.linear_model.Ridge", golden_rows=0)
    result = mlpact.train(write_config(tmp_path, cfg), store=tmp_path / "store")
    model = mlpact.load(result.ref, store=tmp_path / "store")
    found = golden.check(model)
    assert found.status == "none" and found.ok and "no golden rows" in str(found.problem)
    assert registry.verify(store=tmp_path / "store")[0].ok


def test_regression_golden_values_use_the_tolerance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg("diab", "diabetes", "sklearn.linear_model.Ridge")
    result = mlpact.train(write_config(tmp_path, cfg), store=tmp_path / "store")
    model = mlpact.load(result.ref, store=tmp_path / "store")
    data = json.loads((result.path / "golden.json").read_text())
    assert data["probabilities"] is None and len(data["prediction"]) == 5
    from sklearn.linear_model import Ridge

    original = Ridge.predict
    monkeypatch.setattr(Ridge, "predict", lambda self, X: np.asarray(original(self, X)) * (1 + 1e-3))
    assert golden.check(model).status == "differs"


def test_pytorch_table_models_record_and_check_golden_rows(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    cfg = {
        "name": "iris-mlp",
        "data": {"source": "sklearn:iris"},
        "model": {"type": "mlpact.torch.models:MLP", "params": {"hidden_units": 8}},
        "train": {"epochs": 3, "batch_size": 32},
        "evaluate": {"plots": False},
    }
    result = mlpact.train(cfg, store=tmp_path)
    assert {"golden.json", "requirements.lock"} <= set(
        json.loads((result.path / "manifest.json").read_text())["files"]
    )
    assert golden.check(mlpact.load(result.ref, store=tmp_path)).status == "ok"
    from mlpact.errors import ConfigError

    with pytest.raises(ConfigError, match="decisions and calibration apply to scikit-learn classifiers only"):
        mlpact.train({**cfg, "decision": {"objective": "f1"}}, store=tmp_path)
