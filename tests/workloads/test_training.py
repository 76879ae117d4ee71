"""Training: the evaluation protocol, what a version records, and failed runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest
import yaml

import mlpact
from conftest import mixed_frame, wine_config, write_config
from mlpact.errors import ConfigError, DataError
from mlpact.store import Store


def test_version_folder_holds_every_file_and_the_manifest_hashes_them(trained_wine: dict[str, Any]) -> None:
    path = trained_wine["result"].path
    names = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    assert names == [
        "card.md",
        "config.yaml",
        "errors.parquet",
        "golden.json",
        "lineage.json",
        "manifest.json",
        "metrics.json",
        "pipeline.skops",
        "reference.json",
        "report.html",
        "reports/calibration.png",
        "reports/confusion_matrix.png",
        "reports/permutation_importance.png",
        "reports/precision_recall.png",
        "reports/profile_features.png",
        "reports/profile_target.png",
        "reports/roc_curve.png",
        "requirements.lock",
        "schema.json",
        "split.parquet",
    ]
    manifest = json.loads((path / "manifest.json").read_text())
    assert set(manifest["files"]) == set(names) - {"manifest.json"}
    assert (manifest["name"], manifest["version"], manifest["flavor"]) == ("wine", 1, "sklearn")


def test_metrics_record_cv_on_train_and_test_scored_once(trained_wine: dict[str, Any]) -> None:
    metrics = trained_wine["result"].metrics
    assert metrics["cv"]["folds"] == 3
    assert len(metrics["cv"]["metrics"]["accuracy"]["folds"]) == 3
    assert metrics["test_scored"] == 1
    assert metrics["rows"] == {"train": 142, "test": 36}
    assert set(metrics["per_class"]) == {"0", "1", "2"}


def test_lineage_records_data_environment_and_config(trained_wine: dict[str, Any]) -> None:
    path = trained_wine["result"].path
    lineage = json.loads((path / "lineage.json").read_text())
    assert lineage["data"]["source"] == "sklearn:wine"
    assert lineage["data"]["rows"] == 178
    assert len(lineage["data"]["fingerprint"]) == 64
    assert lineage["data"]["train_fingerprint"] != lineage["data"]["test_fingerprint"]
    assert lineage["seed"] == 42
    assert lineage["environment"]["packages"]["numpy"]
    assert set(lineage["timings_s"]) >= {"load", "cv", "fit", "test"}
    saved = yaml.safe_load((path / "config.yaml").read_text())
    assert saved["model"]["params"] == {"max_iter": 500}
    assert saved["evaluate"]["cv_folds"] == 3
    assert lineage["config_hash"] == mlpact.load_config(saved).hash()


def test_same_config_and_seed_give_the_same_metrics(tmp_path: Path) -> None:
    config = write_config(tmp_path, wine_config())
    first = mlpact.train(config, store=tmp_path / "s")
    second = mlpact.train(config, store=tmp_path / "s")
    assert (first.version.version, second.version.version) == (1, 2)
    assert first.metrics["test"] == second.metrics["test"]
    assert first.metrics["cv"] == second.metrics["cv"]


def test_git_commit_and_dirty_flag_are_recorded(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    write_config(tmp_path, wine_config(evaluate={"cv_folds": 0}))
    git("add", "config.yaml")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    result = mlpact.train(tmp_path / "config.yaml", store=tmp_path / ".s")
    lineage = json.loads((result.path / "lineage.json").read_text())
    assert len(lineage["git"]["commit"]) == 40 and lineage["git"]["dirty"] is False
    (tmp_path / "config.yaml").write_text((tmp_path / "config.yaml").read_text() + "\n# changed\n")
    result = mlpact.train(tmp_path / "config.yaml", store=tmp_path / ".s")
    assert json.loads((result.path / "lineage.json").read_text())["git"]["dirty"] is True


def test_failed_training_is_recorded_and_saves_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    cfg = wine_config(model={"type": "sklearn.linear_model.LogisticRegression", "params": {"C": -1}})
    with pytest.raises(ConfigError, match=r"model\.params: .*'C' parameter"):
        mlpact.train(cfg, store=store)
    assert store.versions() == []
    (run,) = store.runs()
    assert run["status"] == "failed" and "ConfigError" in run["error"]
    assert list((store.root / "tmp").iterdir()) == []


def test_data_error_for_a_missing_target(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"not in the data: \['label'\]"):
        mlpact.train(wine_config(data={"source": "sklearn:wine", "target": "label"}), store=tmp_path)


def test_mixed_csv_trains_with_every_kind_of_column(trained_mixed: dict[str, Any]) -> None:
    result = trained_mixed["result"]
    lineage = json.loads((result.path / "lineage.json").read_text())
    assert lineage["features"]["text"] == ["note"]
    assert lineage["features"]["datetime"] == ["day"]
    assert lineage["features"]["categorical"] == ["color"]
    assert "id" not in result.schema.names
    assert result.metrics["test"]["accuracy"] > 0.7  # the majority class is about 0.55


def test_group_and_time_splits_train(tmp_path: Path) -> None:
    frame = mixed_frame(200)
    frame["customer"] = [i // 5 for i in range(200)]
    frame.to_csv(tmp_path / "d.csv", index=False)
    base = {
        "name": "g",
        "data": {"source": "d.csv", "target": "label", "drop": ["id"]},
        "model": {"type": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 3}},
        "evaluate": {"cv_folds": 3},
    }
    grouped = mlpact.train(
        write_config(tmp_path, base, "g.yaml"), ["data.split.group_column=customer"], store=tmp_path / "s"
    )
    assert "customer" not in grouped.schema.names
    assert json.loads((grouped.path / "lineage.json").read_text())["data"]["split"] == "group"
    timed = mlpact.train(
        write_config(tmp_path, base, "t.yaml"), ["data.split.time_column=day"], store=tmp_path / "s"
    )
    assert json.loads((timed.path / "lineage.json").read_text())["data"]["split"] == "time"


def test_estimator_warnings_are_collected_once(tmp_path: Path) -> None:
    cfg = wine_config(model={"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 2}})
    result = mlpact.train(cfg, store=tmp_path)
    (convergence,) = [w for w in result.warnings if "(ConvergenceWarning)" in w]
    assert convergence.startswith("The estimator warned (ConvergenceWarning): lbfgs failed to converge")
    assert convergence.endswith("; raise model.params.max_iter, or scale the features")


def test_rows_with_a_missing_target_are_dropped_with_a_warning(tmp_path: Path) -> None:
    frame = mixed_frame(100)
    frame.loc[:4, "label"] = None
    frame.to_csv(tmp_path / "d.csv", index=False)
    result = mlpact.train(
        {
            "name": "m",
            "data": {"source": str(tmp_path / "d.csv"), "target": "label", "drop": ["id"]},
            "model": {"type": "sklearn.dummy.DummyClassifier"},
            "evaluate": {"cv_folds": 0},
        },
        store=tmp_path / "s",
    )
    assert "Dropped 5 rows whose target 'label' is missing." in result.warnings
    assert sum(result.metrics["rows"].values()) == 95
    assert pd.isna(frame["label"]).sum() == 5


def test_baseline_is_scored_by_the_same_protocol(trained_wine: dict[str, Any]) -> None:
    metrics = trained_wine["result"].metrics
    baseline = metrics["baseline"]
    assert baseline["estimator"] == "sklearn.dummy.DummyClassifier(strategy='prior')"
    assert len(baseline["cv"]["accuracy"]["folds"]) == metrics["cv"]["folds"] == 3
    assert baseline["test"]["accuracy"] == pytest.approx(14 / 36)  # the majority class of the test split
    assert metrics["test"]["accuracy"] > baseline["test"]["accuracy"]
    assert next(iter(metrics["importance"]["columns"])) in {
        "proline",
        "flavanoids",
        "color_intensity",
        "alcohol",
    }


def test_a_useless_model_is_flagged_against_the_baseline(tmp_path: Path) -> None:
    cfg = wine_config(
        model={"type": "sklearn.dummy.DummyClassifier", "params": {"strategy": "uniform"}},
        evaluate={"cv_folds": 0, "plots": False},
    )
    result = mlpact.train(cfg, store=tmp_path)
    assert any(w.startswith("The model does not beat the baseline on accuracy") for w in result.warnings)


def test_slices_get_test_metrics_per_value(tmp_path: Path) -> None:
    frame = mixed_frame(200)
    frame.to_csv(tmp_path / "d.csv", index=False)
    cfg = {
        "name": "s",
        "data": {"source": "d.csv", "target": "label", "drop": ["id"]},
        "model": {"type": "sklearn.tree.DecisionTreeClassifier", "params": {"max_depth": 3}},
        "evaluate": {"cv_folds": 0, "plots": False, "slices": ["color", "flag"], "baseline": False},
    }
    result = mlpact.train(write_config(tmp_path, cfg), store=tmp_path / "s")
    slices = result.metrics["slices"]
    assert sum(e["rows"] for e in slices["color"]) == result.metrics["rows"]["test"] == 40
    assert {e["value"] for e in slices["flag"]} == {True, False}
    assert "baseline" not in result.metrics


def test_a_missing_slice_column_fails_before_fitting(tmp_path: Path) -> None:
    cfg = wine_config(evaluate={"slices": ["region"]})
    with pytest.raises(
        DataError, match=r"Slice columns named in evaluate.slices are not in the data: \['region'\]"
    ):
        mlpact.train(cfg, store=tmp_path)


def test_plots_can_be_turned_off(tmp_path: Path) -> None:
    result = mlpact.train(wine_config(evaluate={"cv_folds": 0, "plots": False}), store=tmp_path)
    assert not (result.path / "reports").exists() and result.metrics["plots"] == []
    assert (result.path / "report.html").is_file()


def _fit_spy() -> Any:
    """An estimator that records every row (by its unique first feature) any fit receives."""
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.linear_model import LogisticRegression

    class FitSpy(ClassifierMixin, BaseEstimator):
        seen: ClassVar[list[set[float]]] = []

        def fit(self, X: Any, y: Any) -> Any:
            FitSpy.seen.append({round(float(v), 6) for v in X[:, 0]})
            self.inner_ = LogisticRegression(max_iter=200).fit(X, y)
            self.classes_ = self.inner_.classes_
            return self

        def predict(self, X: Any) -> Any:
            return self.inner_.predict(X)

        def predict_proba(self, X: Any) -> Any:
            return self.inner_.predict_proba(X)

    return FitSpy


def test_no_fit_ever_sees_a_test_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np
    from sklearn.datasets import load_wine

    import mlpact.learn.pipeline
    from mlpact.config import load_config
    from mlpact.learn.prepare import prepare

    frame = load_wine(as_frame=True).frame
    frame.insert(0, "row", np.arange(len(frame), dtype=float))  # a unique, unscaled marker
    frame.to_csv(tmp_path / "w.csv", index=False)
    cfg = {
        "name": "spy",
        "data": {"source": str(tmp_path / "w.csv")},
        "model": {"type": "sklearn.linear_model.LogisticRegression"},
        "features": {"numeric": {"scale": "none", "columns": [str(c) for c in frame.columns[:-1]]}},
        "evaluate": {"cv_folds": 3, "plots": False},
    }
    spy = _fit_spy()
    monkeypatch.setattr(mlpact.learn.pipeline, "make_estimator", lambda spec, seed: spy())
    # a class defined in a test is (rightly) not on the trust list, so skip writing the pipeline
    monkeypatch.setattr(mlpact.version.bundle, "dump_pipeline", lambda pipeline, directory, allowed=(): [])
    result = mlpact.train(cfg, store=tmp_path / "s")
    data = prepare(load_config(cfg))
    test_rows = set(data.frame["row"].iloc[data.split.test].round(6))
    assert len(spy.seen) == 4  # 3 folds + the final fit
    assert all(not (rows & test_rows) for rows in spy.seen)
    assert all(len(rows) > 50 for rows in spy.seen)
    assert result.metrics["test_scored"] == 1


def test_refit_all_sees_every_row_once_scored_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    from sklearn.datasets import load_wine

    import mlpact.learn.pipeline

    frame = load_wine(as_frame=True).frame
    frame.insert(0, "row", np.arange(len(frame), dtype=float))
    frame.to_csv(tmp_path / "w.csv", index=False)
    cfg = {
        "name": "spy",
        "data": {"source": str(tmp_path / "w.csv")},
        "model": {"type": "sklearn.linear_model.LogisticRegression"},
        "features": {"numeric": {"scale": "none", "columns": [str(c) for c in frame.columns[:-1]]}},
        "evaluate": {"cv_folds": 3, "plots": False},
        "train": {"refit": "all"},
    }
    spy = _fit_spy()
    spy.seen.clear()
    monkeypatch.setattr(mlpact.learn.pipeline, "make_estimator", lambda spec, seed: spy())
    monkeypatch.setattr(mlpact.version.bundle, "dump_pipeline", lambda pipeline, directory, allowed=(): [])
    result = mlpact.train(cfg, store=tmp_path / "s")
    assert [len(rows) for rows in spy.seen][-2:] == [142, 178]  # the scored fit, then every row
    assert result.metrics["refit"]["rows"] == 178 and "before the refit" in result.metrics["refit"]["note"]
    lineage = json.loads((result.path / "lineage.json").read_text())
    assert lineage["refit"]["evaluated"]["fingerprint"] == lineage["data"]["train_fingerprint"]
    assert lineage["refit"]["saved"]["rows"] == 178 and lineage["timings_s"]["refit"] > 0
    assert "before the refit" in (result.path / "card.md").read_text()
    assert json.loads((result.path / "reference.json").read_text())["rows"] == 178


def test_refit_all_saves_a_model_that_predicts_like_a_fit_on_every_row(tmp_path: Path) -> None:
    from sklearn.base import clone

    from mlpact.config import load_config
    from mlpact.learn.pipeline import build_pipeline
    from mlpact.learn.prepare import prepare

    cfg = wine_config(train={"refit": "all"}, evaluate={"cv_folds": 2, "plots": False})
    result = mlpact.train(cfg, store=tmp_path)
    data = prepare(load_config(cfg))
    by_hand = clone(build_pipeline(load_config(cfg), data.plan)).fit(data.X, data.y)
    model = mlpact.load(result.ref, store=tmp_path)
    assert (model.predict_proba(data.X).to_numpy() == by_hand.predict_proba(data.X)).all()


def test_refit_is_refused_for_torch_models() -> None:
    pytest.importorskip("torch")
    cfg = wine_config(model={"type": "mlpact.torch.models:MLP"}, train={"refit": "all"})
    with pytest.raises(ConfigError, match="train.refit: all refits scikit-learn pipelines"):
        mlpact.train(cfg)


def test_quick_profile_skips_plots_importance_profile_and_baseline(tmp_path: Path) -> None:
    result = mlpact.train(wine_config(evaluate={"cv_folds": 2, "profile": "quick"}), store=tmp_path)
    assert not (result.path / "reports").exists()
    for key in ("baseline", "importance", "profile"):
        assert key not in result.metrics, key
    assert set(result.timings) >= {"load", "cv", "fit", "test", "save", "save_pipeline"}
    assert not set(result.timings) & {"baseline", "importance", "plots", "profile"}


def test_importance_does_not_depend_on_plots(tmp_path: Path) -> None:
    result = mlpact.train(wine_config(evaluate={"cv_folds": 0, "plots": False}), store=tmp_path)
    assert result.metrics["importance"]["columns"] and not (result.path / "reports").exists()


def test_every_step_is_timed_in_the_lineage_and_the_report(trained_wine: dict[str, Any]) -> None:
    path = trained_wine["result"].path
    timings = json.loads((path / "lineage.json").read_text())["timings_s"]
    steps = {"load", "leakage", "cv", "fit", "test", "baseline", "importance", "plots", "profile",
             "save_records", "save_pipeline", "save_reference", "save_golden", "save"}  # fmt: skip
    assert steps <= set(timings)
    assert timings["save"] >= timings["save_pipeline"] + timings["save_golden"]
    assert "save_pipeline" in (path / "report.html").read_text()


def test_cli_quick_flag(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    config = write_config(tmp_path, wine_config(evaluate={"cv_folds": 2}))
    result = CliRunner().invoke(
        app, ["train", str(config), "--quick", "--store", str(tmp_path / "s"), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert "baseline" not in json.loads(result.stdout)["metrics"]


def test_train_output_and_models_show_say_the_test_metrics_are_pre_refit() -> None:
    from rich.console import Console

    from mlpact.cli._tables import metrics_table

    metrics = {"task": "classification", "primary": "accuracy", "cv": {"folds": 0, "metrics": {}},
               "test": {"accuracy": 0.9}, "refit": {"rows": 178, "note": "..."}}  # fmt: skip
    console = Console(record=True, width=200)
    console.print(metrics_table(metrics, title="t"))
    said = " ".join(console.export_text().split())  # the caption wraps to the table's width
    assert "Then refit on all 178 rows: the test column is the pre-refit fit's." in said


def test_bounded_permutation_importance_is_said_in_the_output_and_recorded(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    config = write_config(tmp_path, wine_config(evaluate={"cv_folds": 0, "importance_max_columns": 4}))
    out = CliRunner().invoke(app, ["train", str(config), "--store", str(tmp_path / "store")])
    assert out.exit_code == 0, out.output
    said = " ".join(out.output.split())
    assert (
        "Warning: Permutation importance scored 4 of 13 input columns (evaluate.importance_max_columns: 4): "
        "it shuffled neighbouring columns in blocks (4 groups of up to 4), kept the blocks whose shuffling "
        "cost accuracy most, and scored their columns one by one." in said
    )
    version = Store.open(tmp_path / "store").resolve("wine")
    importance = json.loads((version.path / "metrics.json").read_text())["importance"]
    assert len(importance["columns"]) == 4
    assert importance["bound"] == {
        "columns": 13, "scored": 4, "max_columns": 4, "rounds": [{"groups": 4, "group_size": 4, "kept": 4}]
    }  # fmt: skip
    assert "Permutation importance scored 4 of 13" in (version.path / "report.html").read_text()


def test_the_ray_engine_is_refused_for_a_scikit_learn_model_from_python(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="train.engine: ray trains PyTorch models; sklearn.linear_model"):
        mlpact.train(wine_config(train={"engine": "ray"}), store=tmp_path)
    with pytest.raises(ConfigError, match=r"--address needs --engine ray \(train.engine: ray\)"):
        mlpact.train(wine_config(), store=tmp_path, address="auto")
    assert Store.open(tmp_path).runs() == []  # refused before any run starts
