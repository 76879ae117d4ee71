"""Your own training, versioned: mlpact.save / mlpact.run, and the trust rule rooted in the index."""

from __future__ import annotations

import json
import sqlite3
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from typer.testing import CliRunner

import mlpact
from mlpact._core import files
from mlpact.cli import app
from mlpact.errors import (
    CodeChangedWarning,
    ConfigError,
    DataError,
    ExitCode,
    IntegrityError,
    TrustWarning,
    UntrustedTypesError,
)
from mlpact.store import Store
from mlpact.version import bundle

runner = CliRunner()


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = load_iris(as_frame=True).frame
    train, test = train_test_split(frame, test_size=0.3, random_state=0, stratify=frame["target"])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _fit(train: pd.DataFrame) -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(
        train.drop(columns="target"), train["target"]
    )


@pytest.fixture(scope="module")
def saved(
    iris: tuple[pd.DataFrame, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    train, test = iris
    store = tmp_path_factory.mktemp("ext") / "store"
    pipe = _fit(train)
    with mlpact.run("iris", params={"C": 1.0, "scaler": "standard"}, store=store) as r:
        for epoch, loss in enumerate([0.9, 0.5, 0.3]):
            r.log_metric("loss", loss, step=epoch)
        record = r.save(pipe, train_data=train, test_data=test, target="target")
    return {"store": store, "record": record, "pipe": pipe, "run": r.id, "train": train, "test": test}


# --------------------------------------------------------------------------- save
def test_a_saved_pipeline_is_a_normal_version_of_external_origin(saved: dict[str, Any]) -> None:
    record, test = saved["record"], saved["test"]
    X, y = test.drop(columns="target"), test["target"]
    model = mlpact.load("iris", store=saved["store"])
    assert (model.predict(X) == saved["pipe"].predict(X)).all()
    assert model.metrics["test"]["accuracy"] == pytest.approx(accuracy_score(y, saved["pipe"].predict(X)))
    assert record.metric_name == "accuracy" and record.origin == "external"
    assert model.lineage["origin"] == "external" and model.lineage["run_id"] == saved["run"]
    assert model.lineage["data"]["test_rows"] == len(test)
    assert model.schema.names == list(X.columns) and model.task == "classification"
    assert model.config.model.type == "sklearn.linear_model._logistic:LogisticRegression"
    assert (record.path / "card.md").is_file() and (record.path / "report.html").is_file()
    assert json.loads((record.path / "reference.json").read_text())["rows"] == len(saved["train"])
    with pytest.raises(Exception, match="missing"):  # the schema applies as to any version
        model.predict(X.drop(columns="petal width (cm)"))


def test_the_run_holds_params_step_metrics_and_the_version(saved: dict[str, Any]) -> None:
    from mlpact import registry

    found = registry.run(saved["run"], store=saved["store"])
    assert found["kind"] == "external" and found["status"] == "succeeded" and found["version"] == 1
    assert found["params"]["C"] == 1.0 and found["params"]["scaler"] == "standard"
    assert found["params"]["model.type"].endswith(":LogisticRegression")
    assert found["params"]["model.params.max_iter"] == 500
    assert found["metrics"]["loss"] == 0.3 and found["metrics"]["accuracy"] > 0.8
    assert [p["step"] for p in found["history"]["loss"]] == [0, 1, 2]


def test_cli_lists_shows_and_refuses_to_reproduce_external_versions(saved: dict[str, Any]) -> None:
    store = str(saved["store"])
    listed = runner.invoke(app, ["models", "list", "--store", store], env={"COLUMNS": "200"})
    assert "external" in listed.output
    assert mlpact.models(store=store)["origin"].tolist() == ["external"]
    shown = runner.invoke(app, ["models", "show", "iris", "--store", store])
    assert saved["record"].digest in shown.output.replace("\n", "") and "origin external" in shown.output
    runs = runner.invoke(app, ["runs", "list", "--store", store], env={"COLUMNS": "200"})
    assert "external" in runs.output
    result = runner.invoke(app, ["reproduce", "iris", "--store", store])
    assert result.exit_code == ExitCode.CONFIG
    assert "trained outside mlpact" in result.output and "Traceback" not in result.output


def test_given_metrics_without_test_data(iris: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    train, _ = iris
    record = mlpact.save(
        _fit(train), "given", train_data=(train.drop(columns="target"), train["target"]),
        metrics={"f1_macro": 0.91}, config={"description": "from a notebook"}, store=tmp_path,
    )  # fmt: skip
    assert (record.metric_name, record.metric_value) == ("f1_macro", 0.91)
    model = mlpact.load(record.ref, store=tmp_path)
    assert model.metrics["test_scored"] == 0 and model.config.description == "from a notebook"
    assert Store(tmp_path).runs()[0]["status"] == "succeeded"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"train_data": "x"}, DataError, "expected a pandas DataFrame"),
        ({"target": None}, DataError, "which column is the target"),
        ({"target": "nope"}, DataError, "no target column 'nope'"),
        ({"metrics": {"acc": "high"}}, DataError, "Metric 'acc' must be a number"),
        ({"config": {"validaton": {}}}, ConfigError, "validaton"),
        ({"config": {"model": {"type": "x.Y"}}}, DataError, "'model' is taken from what you save"),
    ],
)
def test_bad_arguments_are_refused_and_the_run_failed(
    iris: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path, kwargs: dict[str, Any], error: type, match: str
) -> None:
    train, _ = iris
    args: dict[str, Any] = {"train_data": train, "target": "target", **kwargs}
    with pytest.raises(error, match=match):
        mlpact.save(_fit(train), "bad", store=tmp_path, **args)
    (failed,) = Store(tmp_path).runs()
    assert failed["status"] == "failed" and not list((tmp_path / "tmp").iterdir())
    assert Store(tmp_path).versions() == []


def test_a_class_defined_in_a_function_cannot_be_rebuilt(
    iris: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    class Local(LogisticRegression):
        pass

    train, _ = iris
    fitted = Local(max_iter=300).fit(train.drop(columns="target"), train["target"])
    with pytest.raises(DataError, match="cannot be imported again"):
        mlpact.save(fitted, "local", train_data=train, target="target", store=tmp_path)


def test_a_failing_run_is_recorded_as_failed(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="diverged"), mlpact.run("loop", store=tmp_path) as r:
        r.log_metric("loss", 1.5, step=0)
        r.log_param("lr", 0.1)
        raise RuntimeError("loss diverged")
    (found,) = Store(tmp_path).runs()
    assert found["status"] == "failed" and found["error"] == "RuntimeError: loss diverged"
    assert found["metrics"] == {"loss": 1.5} and found["params"] == {"lr": 0.1}
    with mlpact.run("loop", store=tmp_path) as r, pytest.raises(DataError, match="must be a number"):
        r.log_metric("loss", "nan-ish")


# --------------------------------------------------------------------------- your own code
@pytest.fixture
def extpkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package of the user's own code: a classifier subclass, importable from tmp_path."""
    pkg = tmp_path / "code" / "extpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(
        textwrap.dedent(
            """
            from sklearn.base import BaseEstimator, TransformerMixin
            from sklearn.linear_model import LogisticRegression

            class MyClassifier(LogisticRegression):
                pass

            class AddOne(TransformerMixin, BaseEstimator):
                def fit(self, X, y=None):
                    return self

                def transform(self, X):
                    return X + 1
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    yield pkg / "models.py"
    for name in [m for m in sys.modules if m.startswith("extpkg")]:
        del sys.modules[name]


def _save_custom(iris: Any, store: Path, **kw: Any) -> Any:
    from extpkg.models import MyClassifier

    train, test = iris
    fitted = MyClassifier(max_iter=500).fit(train.drop(columns="target"), train["target"])
    kw.setdefault("config", {})
    kw["config"].setdefault("evaluate", {"plots": False})  # plots are tested with `saved`
    return mlpact.save(fitted, "custom", train_data=train, test_data=test, target="target", store=store, **kw)


@pytest.mark.parametrize("on_change, outcome", [("warn", CodeChangedWarning), ("error", IntegrityError)])
def test_changed_source_of_your_code_warns_or_refuses(
    iris: Any, extpkg: Path, tmp_path: Path, on_change: str, outcome: type
) -> None:
    record = _save_custom(iris, tmp_path / "s", config={"code": {"on_change": on_change}})
    (entry,) = mlpact.load(record.ref, store=tmp_path / "s").lineage["code"]
    assert entry["module"] == "extpkg.models"
    extpkg.write_text(extpkg.read_text() + "\n# tuned\n")
    now = files.sha256_file(extpkg)
    expected = rf"extpkg.models: source sha256 {entry['sha256']} when saved, {now} now"
    if outcome is IntegrityError:
        with pytest.raises(IntegrityError, match=expected):
            mlpact.load(record.ref, store=tmp_path / "s")
    else:
        with pytest.warns(CodeChangedWarning, match=expected):
            mlpact.load(record.ref, store=tmp_path / "s")


# --------------------------------------------------------------------------- the trust rule
def _rewrite(directory: Path, obj: Any, *, model_type: str | None = None) -> None:
    """What an attacker with write access to the version folder (not the index) can do."""
    import skops.io as sio

    (directory / bundle.PIPELINE).write_bytes(sio.dumps(obj))
    if model_type is not None:
        config = (directory / "config.yaml").read_text()
        old = files.safe_yaml(config)["model"]["type"]
        (directory / "config.yaml").write_text(config.replace(old, model_type))
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["files"] = bundle.hash_files(directory)
    manifest["trusted_types"] = sorted(sio.get_untrusted_types(file=directory / bundle.PIPELINE))
    (directory / "manifest.json").write_text(json.dumps(manifest))


def _set_index(store: Path, ref: str, **columns: Any) -> None:
    name, version = ref.split(":")
    with sqlite3.connect(store / "mlpact.db") as db:
        for column, value in columns.items():
            db.execute(
                f"UPDATE versions SET {column} = ? WHERE name = ? AND version = ?",
                (value, name, int(version)),
            )


def _evil() -> Any:
    import os

    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(func=os.system)


def test_rewriting_a_file_and_its_manifest_is_caught_naming_the_version(iris: Any, tmp_path: Path) -> None:
    train, _ = iris
    record = mlpact.save(_fit(train), "iris", train_data=train, target="target", store=tmp_path)
    (record.path / "schema.json").write_text(
        (record.path / "schema.json").read_text().replace("sepal", "sepul")
    )
    manifest = json.loads((record.path / "manifest.json").read_text())
    manifest["files"] = bundle.hash_files(record.path)
    (record.path / "manifest.json").write_text(json.dumps(manifest))
    bundle.verify(record.path)  # the folder is consistent with itself
    with pytest.raises(IntegrityError, match="iris:1: manifest.json differs from the digest recorded"):
        mlpact.load("iris:1", store=tmp_path)
    with pytest.raises(IntegrityError, match="iris:1: manifest.json differs"):
        mlpact.load(record.path)  # by path: the store's index still answers for it
    verify = runner.invoke(app, ["models", "verify", "iris:1", "--store", str(tmp_path)])
    assert verify.exit_code == ExitCode.INTEGRITY
    exported = runner.invoke(
        app, ["models", "export", "iris:1", str(tmp_path / "x.tar.gz"), "--store", str(tmp_path)]
    )
    assert exported.exit_code == ExitCode.INTEGRITY and not (tmp_path / "x.tar.gz").exists()


def test_a_rewritten_bundle_cannot_widen_trust(iris: Any, tmp_path: Path) -> None:
    """Pipeline, config (naming the dangerous function's module) and manifest rewritten together;
    even with the index's digest updated to match, trust comes from the index's recorded paths."""
    train, _ = iris
    record = mlpact.save(_fit(train), "iris", train_data=train, target="target", store=tmp_path)
    _rewrite(record.path, _evil(), model_type="posix.system")
    _set_index(tmp_path, record.ref, digest=bundle.manifest_digest(record.path))
    with pytest.raises(UntrustedTypesError, match="system"):
        mlpact.load(record.ref, store=tmp_path)


def test_a_folder_outside_a_store_trusts_only_mlpacts_list(iris: Any, extpkg: Path, tmp_path: Path) -> None:
    import shutil

    record = _save_custom(iris, tmp_path / "s")
    assert "extpkg.models:MyClassifier" in (record.trusted_paths or ())
    assert mlpact.load(record.ref, store=tmp_path / "s").predict(iris[1].drop(columns="target")).shape
    copy = tmp_path / "copy"
    shutil.copytree(record.path, copy)
    with pytest.raises(UntrustedTypesError, match="extpkg.models.MyClassifier"):
        mlpact.load(copy)  # the config inside names it, but the bundle alone is not the authority
    assert mlpact.load(copy, trust=["extpkg.models.MyClassifier"]).ref == record.ref


def test_an_old_store_migrates_and_old_versions_fall_back_to_their_config(
    iris: Any, extpkg: Path, tmp_path: Path
) -> None:
    store = tmp_path / "s"
    record = _save_custom(iris, store)
    with sqlite3.connect(store / "mlpact.db") as db:  # the schema before this change
        db.execute("ALTER TABLE versions DROP COLUMN trusted_paths")
        db.execute("DROP TABLE run_metrics")
        db.execute("PRAGMA user_version = 1")
    with pytest.warns(TrustWarning, match="extpkg.models:MyClassifier"):
        model = mlpact.load(record.ref, store=store)
    assert model.ref == record.ref and Store(store).get("custom", 1).trusted_paths is None
    with mlpact.run("custom", store=store) as r:
        r.log_metric("loss", 0.1, step=1)
    assert Store(store).metric_history(r.id)["loss"][0]["value"] == 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _save_custom(iris, store).trusted_paths == ("extpkg.models:MyClassifier",)


def test_trust_given_at_import_is_recorded_in_the_index(iris: Any, extpkg: Path, tmp_path: Path) -> None:
    from extpkg.models import AddOne

    from mlpact.version.portable import export_version, import_version

    train, test = iris
    pipe = make_pipeline(AddOne(), LogisticRegression(max_iter=500))
    pipe.fit(train.drop(columns="target"), train["target"])
    record = mlpact.save(pipe, "own", train_data=train, target="target", store=tmp_path / "a",
                         trust=["extpkg.models:AddOne"])  # fmt: skip
    assert record.trusted_paths == (
        "extpkg.models:AddOne",
        "sklearn.linear_model._logistic:LogisticRegression",
    )
    archive = tmp_path / "own.tar.gz"
    export_version(record.ref, archive, store=tmp_path / "a")
    with pytest.raises(UntrustedTypesError, match="extpkg.models.AddOne"):
        import_version(archive, store=tmp_path / "b", expect_digest=record.digest)
    imported = import_version(archive, store=tmp_path / "b", trust=["extpkg.models.AddOne"])
    assert "extpkg.models.AddOne" in (imported.trusted_paths or ())
    model = mlpact.load(imported.ref, store=tmp_path / "b")  # no --trust needed any more
    X = test.drop(columns="target")
    assert (model.predict(X) == pipe.predict(X)).all() and model.lineage["origin"] == "external"


# --------------------------------------------------------------------------- torch
class TinyNet:  # replaced by a torch module class when torch is installed (see _tiny_net)
    pass


def _tiny_net() -> type:
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self, in_features: int, classes: int, hidden: int = 8) -> None:
            super().__init__()
            self.layers = torch.nn.Sequential(
                torch.nn.Linear(in_features, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, classes)
            )

        def forward(self, x: Any) -> Any:
            return self.layers(x)

    Net.__module__, Net.__qualname__ = __name__, "TinyNet"
    globals()["TinyNet"] = Net
    return Net


def test_a_torch_module_trained_in_your_loop(iris: Any, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    net_class = _tiny_net()
    train, test = iris
    torch.manual_seed(0)
    X = torch.tensor(train.drop(columns="target").to_numpy(), dtype=torch.float32)
    y = torch.tensor(train["target"].to_numpy())
    net = net_class(4, 3)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    with mlpact.run("iris-net", params={"lr": 0.05}, store=tmp_path) as r:
        for epoch in range(60):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(X), y)
            loss.backward()
            opt.step()
            r.log_metric("loss", loss, step=epoch)
        with pytest.raises(
            DataError, match=r"cannot be rebuilt: its constructor needs \['classes', 'in_features'\]"
        ):
            r.save(net, train_data=train, target="target")
        record = r.save(net, train_data=train, test_data=test, target="target",
                        init_kwargs={"in_features": 4, "classes": 3})  # fmt: skip
    assert record.flavor == "torch" and record.origin == "external"
    model = mlpact.load(record.ref, store=tmp_path)
    Xt = test.drop(columns="target")
    with torch.no_grad():
        expected = net(torch.tensor(Xt.to_numpy(), dtype=torch.float32)).argmax(1).numpy()
    assert (model.predict(Xt) == expected).all()
    assert model.metrics["test"]["accuracy"] == pytest.approx(accuracy_score(test["target"], expected))
    assert model.metrics["test"]["accuracy"] > 0.8
