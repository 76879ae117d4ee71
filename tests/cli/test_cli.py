"""End to end through the command line: exit codes, messages, and the files it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import wine_config, write_config
from mlpact.cli import app
from mlpact.errors import ExitCode

runner = CliRunner()


def invoke(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def project(tmp_path: Path) -> dict[str, Path]:
    config = write_config(tmp_path, wine_config())
    from sklearn.datasets import load_wine

    X = load_wine(as_frame=True).data
    X.insert(0, "sample", range(len(X)))
    X.to_csv(tmp_path / "wines.csv", index=False)
    return {"config": config, "store": tmp_path / "store", "data": tmp_path / "wines.csv", "dir": tmp_path}


def test_train_twice_gives_versions_1_and_2_then_predict(project: dict[str, Path]) -> None:
    store = project["store"]
    first = invoke("train", project["config"], "--store", store)
    assert first.exit_code == 0, first.output
    assert "Saved wine:1" in first.output
    assert "accuracy" in first.output and "the test split, scored once" in " ".join(first.output.split())
    second = invoke("train", project["config"], "--store", store, "--set", "model.params.C=0.5", "--json")
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["ref"] == "wine:2"

    listed = invoke("models", "list", "--store", store, "--json")
    assert [(r["name"], r["version"]) for r in json.loads(listed.stdout)] == [("wine", 1), ("wine", 2)]

    out = project["dir"] / "preds.csv"
    result = invoke("predict", "wine:1", project["data"], "-o", out, "--keep", "sample", "--store", store)
    assert result.exit_code == 0, result.output
    assert "Wrote 178 predictions of wine:1" in result.output
    preds = pd.read_csv(out)
    assert list(preds.columns) == ["sample", "prediction", "proba_0", "proba_1", "proba_2"]
    assert len(preds) == 178


def test_bad_key_in_config_is_exit_3_with_a_suggestion(project: dict[str, Path]) -> None:
    result = invoke("train", project["config"], "--store", project["store"], "--set", "model.parms.C=1")
    assert result.exit_code == ExitCode.CONFIG
    assert "did you mean `model.params`?" in result.output
    assert "Traceback" not in result.output
    assert not (project["store"] / "models" / "wine").exists()


def test_bad_input_file_is_exit_4_and_writes_nothing(project: dict[str, Path]) -> None:
    assert invoke("train", project["config"], "--store", project["store"]).exit_code == 0
    bad = pd.read_csv(project["data"]).drop(columns=["hue"]).astype({"alcohol": object})
    bad.loc[3, "alcohol"] = "strong"
    bad.to_csv(project["dir"] / "bad.csv", index=False)
    out = project["dir"] / "out.csv"
    result = invoke("predict", "wine", project["dir"] / "bad.csv", "-o", out, "--store", project["store"])
    assert result.exit_code == ExitCode.INPUT
    assert "hue: column is missing" in result.output
    assert "alcohol: 1 value cannot be converted to float (row 4)" in result.output
    assert not out.exists()


def test_tampered_version_is_exit_6_naming_the_file(project: dict[str, Path]) -> None:
    assert invoke("train", project["config"], "--store", project["store"]).exit_code == 0
    schema = project["store"] / "models" / "wine" / "1" / "schema.json"
    schema.write_text(schema.read_text().replace('"float"', '"int"', 1))
    result = invoke(
        "predict", "wine", project["data"], "-o", project["dir"] / "o.csv", "--store", project["store"]
    )
    assert result.exit_code == ExitCode.INTEGRITY
    assert "changed: schema.json" in result.output


def test_unknown_model_is_exit_5(project: dict[str, Path]) -> None:
    result = invoke(
        "predict", "nope", project["data"], "-o", project["dir"] / "o.csv", "--store", project["store"]
    )
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "the store has no models yet" in result.output


def test_missing_config_file_is_exit_3(tmp_path: Path) -> None:
    result = invoke("train", tmp_path / "nope.yaml", "--store", tmp_path)
    assert result.exit_code == ExitCode.CONFIG
    assert "nope.yaml' not found" in result.output


def test_config_show_prints_the_resolved_config_and_hash(project: dict[str, Path]) -> None:
    result = invoke("config", "show", project["config"], "--set", "seed=3", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["config"]["seed"] == 3
    assert data["config"]["evaluate"]["cv_folds"] == 3
    assert data["config"]["validation"]["missing_column"] == "error"
    assert len(data["hash"]) == 64
    text = invoke("config", "show", project["config"])
    assert "# config hash:" in text.stdout and "test_size: 0.2" in text.stdout


def test_config_show_changed_prints_only_what_differs_from_the_defaults(project: dict[str, Path]) -> None:
    result = invoke(
        "config",
        "show",
        project["config"],
        "--set",
        "seed=3",
        "--set",
        "data.split.test_size=0.2",
        "--changed",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["config"] == {
        "name": "wine",  # required keys: always shown
        "seed": 3,
        "data": {"source": "sklearn:wine"},  # data.target: target and data.split.test_size: 0.2 are defaults
        "model": {"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 500}},
        "evaluate": {"cv_folds": 3},
    }
    text = invoke("config", "show", project["config"], "--changed").stdout
    assert text.startswith("name: wine\n") and "validation" not in text and "# config hash:" in text


def test_config_schema_is_json_schema() -> None:
    result = invoke("config", "schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"] == "mlpact run config"


def test_usage_error_is_exit_2() -> None:
    assert invoke("train").exit_code == ExitCode.USAGE
    assert invoke("predict", "wine", "x.csv").exit_code == ExitCode.USAGE


def test_models_list_on_an_empty_store(tmp_path: Path) -> None:
    result = invoke("models", "list", "--store", tmp_path)
    assert result.exit_code == 0 and "No versions yet" in result.output


def test_unexpected_errors_are_short_without_debug(
    project: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlpact.training

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(mlpact.training, "run", explode)
    result = invoke("train", project["config"], "--store", project["store"])
    assert result.exit_code == ExitCode.INTERNAL
    assert "Unexpected error: RuntimeError: kaboom" in result.output and "--debug" in result.output
    assert "Traceback" not in result.output
    debug = invoke("--debug", "train", project["config"], "--store", project["store"])
    assert isinstance(debug.exception, RuntimeError)


def test_installed_script_runs_and_store_comes_from_the_environment(project: dict[str, Path]) -> None:
    script = Path(sys.executable).with_name("mlpact")
    env = {**os.environ, "MLPACT_HOME": str(project["store"])}
    done = subprocess.run(
        [str(script), "train", str(project["config"]), "--set", "evaluate.cv_folds=0"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert (project["store"] / "models" / "wine" / "1" / "manifest.json").exists()
    help_text = subprocess.run([str(script), "predict", "--help"], capture_output=True, text=True).stdout
    assert "--keep" in help_text and "Examples" in help_text


# --------------------------------------------------------------------------- registry commands
@pytest.fixture
def two_versions(project: dict[str, Path]) -> dict[str, Path]:
    for seed in ("1", "2"):
        result = invoke(
            "train",
            project["config"],
            "--store",
            project["store"],
            "--set",
            f"seed={seed}",
            "--set",
            "evaluate.cv_folds=0",
        )
        assert result.exit_code == 0, result.output
    return project


def test_models_promote_rollback_history_and_show(two_versions: dict[str, Path]) -> None:
    store = two_versions["store"]
    assert (
        "wine@production -> wine:1"
        in invoke("models", "promote", "wine:1", "production", "--store", store).output
    )
    out = invoke("models", "promote", "wine:2", "production", "-m", "newer", "--store", store)
    assert "wine@production -> wine:2 (was wine:1)" in out.output
    back = invoke("models", "rollback", "wine", "production", "--store", store, "--json")
    assert json.loads(back.stdout) == {"name": "wine", "alias": "production", "version": 1, "previous": 2}
    history = json.loads(invoke("models", "history", "wine", "--store", store, "--json").stdout)
    assert [(e["action"], e["version"], e["reason"]) for e in history] == [
        ("promote", 1, None),
        ("promote", 2, "newer"),
        ("rollback", 1, "rollback from 2"),
    ]
    shown = json.loads(invoke("models", "show", "wine@production", "--store", store, "--json").stdout)
    assert shown["version"]["ref"] == "wine:1" and shown["config"]["seed"] == 1
    text = invoke("models", "show", "wine@production", "--store", store)
    assert text.exit_code == 0 and "Lineage" in text.output and "alcohol" in text.output


def test_models_diff_and_list_all(two_versions: dict[str, Path]) -> None:
    store = two_versions["store"]
    diff = json.loads(invoke("models", "diff", "wine:1", "wine:2", "--store", store, "--json").stdout)
    assert diff["config"]["changed"] == {"seed": {"a": 1, "b": 2}}
    text = invoke("models", "diff", "wine:1", "wine:2", "--store", store).output
    assert "different split" in text and "test metrics" in text
    assert invoke("models", "archive", "wine:1", "--store", store).exit_code == 0
    assert [
        r["version"] for r in json.loads(invoke("models", "list", "--store", store, "--json").stdout)
    ] == [2]
    listed = json.loads(invoke("models", "list", "--all", "--store", store, "--json").stdout)
    assert [(r["version"], r["status"]) for r in listed] == [(1, "archived"), (2, "active")]


def test_archiving_an_alias_holder_is_exit_8(two_versions: dict[str, Path]) -> None:
    store = two_versions["store"]
    invoke("models", "promote", "wine:2", "production", "--store", store)
    result = invoke("models", "archive", "wine:2", "--purge", "--store", store)
    assert result.exit_code == ExitCode.STORE
    assert "holds wine@production" in result.output and "Hint:" in result.output


def test_models_verify_exit_codes(two_versions: dict[str, Path]) -> None:
    store = two_versions["store"]
    ok = invoke("models", "verify", "--store", store)
    assert ok.exit_code == 0 and "2 of 2 versions verified" in ok.output
    (store / "models" / "wine" / "2" / "card.md").write_text("changed")
    bad = invoke("models", "verify", "--store", store, "--json")
    assert bad.exit_code == ExitCode.INTEGRITY
    report = json.loads(bad.stdout)
    assert report["ok"] is False and [v["ok"] for v in report["versions"]] == [True, False]


def test_models_verify_name_checks_every_version_of_it(two_versions: dict[str, Path]) -> None:
    store = two_versions["store"]
    invoke("models", "archive", "wine:1", "--store", store)
    (store / "models" / "wine" / "1" / "card.md").write_text("tampered")  # the older, archived one
    every = invoke("models", "verify", "wine", "--store", store, "--json")
    assert every.exit_code == ExitCode.INTEGRITY
    assert [(v["ref"], v["ok"]) for v in json.loads(every.stdout)["versions"]] == [
        ("wine:1", False),
        ("wine:2", True),
    ]
    table = invoke("models", "verify", "wine", "--store", store)
    assert table.exit_code == ExitCode.INTEGRITY and "1 of 2 versions verified" in table.output
    one = invoke("models", "verify", "wine:2", "--store", store)
    assert one.exit_code == 0 and "1 of 1 versions verified" in one.output
    missing = invoke("models", "verify", "wien", "--store", store)
    assert missing.exit_code == ExitCode.NOT_FOUND and "No model named 'wien'" in missing.output


def test_models_export_and_import(two_versions: dict[str, Path]) -> None:
    bundle_path = two_versions["dir"] / "wine.tar.gz"
    out = invoke("models", "export", "wine:2", bundle_path, "--store", two_versions["store"])
    assert out.exit_code == 0 and bundle_path.exists()
    other = two_versions["dir"] / "other"
    imported = invoke("models", "import", bundle_path, "--name", "wine-prod", "--store", other, "--json")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["ref"] == "wine-prod:1"
    broken = two_versions["dir"] / "broken.tar.gz"
    broken.write_bytes(bundle_path.read_bytes()[:200])
    result = invoke("models", "import", broken, "--store", other)
    assert result.exit_code == ExitCode.INTEGRITY and "truncated" in result.output


@pytest.mark.parametrize(
    ("run", "primary"),
    [
        ({"kind": "tune", "name": "w", "version": None, "params": {"metric": "f1"}, "metrics": {"cv_f1": 0.9, "trials": 3}},
         {"name": "cv f1", "value": 0.9}),
        ({"kind": "check", "name": "w", "version": None, "params": {}, "metrics": {"verdict": "reload", "rows": 40, "drifted": 0, "accuracy": 0.8}},
         {"name": "accuracy", "value": 0.8}),
        ({"kind": "check", "name": "w", "version": None, "params": {}, "metrics": {"verdict": "reload", "rows": 40, "drifted": 1}}, None),
        ({"kind": "train", "name": "w", "version": 2, "params": {}, "metrics": {"accuracy": 0.7}}, {"name": "test accuracy", "value": 0.75}),
        ({"kind": "train", "name": "w", "version": None, "params": {}, "metrics": {}}, None),  # failed
    ],
)  # fmt: skip
def test_the_primary_metric_of_a_run(run: dict[str, Any], primary: dict[str, Any] | None) -> None:
    from mlpact.registry import _primary

    assert _primary(run, {("w", 2): ("accuracy", 0.75)}) == primary


def test_runs_list_show_compare(two_versions: dict[str, Path]) -> None:
    store = two_versions["store"]
    runs = json.loads(invoke("runs", "list", "--store", store, "--json").stdout)
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    from mlpact.store import Store

    saved = Store.open(store).get("wine", 2)
    assert runs[0]["primary"] == {"name": f"test {saved.metric_name}", "value": saved.metric_value}
    table = runner.invoke(app, ["runs", "list", "--store", str(store)], env={"COLUMNS": "250"}).output
    assert "primary metric" in table and f"test {saved.metric_name} {saved.metric_value:.4f}; " in table
    shown = invoke("runs", "show", runs[0]["id"][:6], "--store", store)
    assert shown.exit_code == 0 and "produced wine:2" in shown.output
    plot = two_versions["dir"] / "cmp.png"
    cmp = invoke(
        "runs",
        "compare",
        runs[0]["id"],
        runs[1]["id"],
        "--metric",
        "accuracy",
        "--plot",
        plot,
        "--store",
        store,
    )
    assert cmp.exit_code == 0, cmp.output
    assert "seed" in cmp.output and plot.exists()
    assert (
        invoke("runs", "compare", runs[0]["id"], "--plot", plot, "--store", store).exit_code == ExitCode.USAGE
    )
    assert invoke("runs", "show", "nope", "--store", store).exit_code == ExitCode.NOT_FOUND


def test_the_exit_code_table_in_the_docs_is_the_code() -> None:
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    documented = {int(code): name for code, name in re.findall(r"^\| (\d+) \| ([A-Z_]+) \|", text, re.M)}
    assert documented == {int(code): code.name for code in ExitCode}
