"""`check`: compatible, drifted and incompatible data; thresholds; --retrain and --promote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mlpact
from conftest import mixed_frame, write_config
from mlpact.check import check_data, metric_drop, retrain_on
from mlpact.cli import app
from mlpact.errors import ConfigError, DataError, ExitCode
from mlpact.registry import promote

runner = CliRunner()


@pytest.fixture(scope="module")
def version(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fast logistic regression on 600 mixed rows (no CV, plots or leakage search)."""
    folder = tmp_path_factory.mktemp("check")
    mixed_frame(600, seed=0).to_csv(folder / "train.csv", index=False)
    config = write_config(
        folder,
        {
            "name": "mixed",
            "data": {"source": "train.csv", "target": "label", "drop": ["id"]},
            "model": {"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 1000}},
            "evaluate": {"cv_folds": 0, "plots": False, "leakage": False, "baseline": False},
        },
    )
    result = mlpact.train(config, store=folder / "store")
    return {"folder": folder, "store": folder / "store", "ref": result.ref, "result": result}


def _drifted(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["x"] = out["x"] + 2.0
    out["color"] = np.where(np.arange(len(out)) % 5 == 0, "green", "red")
    return out


def _incompatible(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.drop(columns=["count"]).astype({"x": object})
    out.loc[3, "x"] = "lots"
    return out


def _unlabelled_flip(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(label=np.where(frame["label"] == "yes", "no", "yes"))


@pytest.mark.parametrize(
    "make, verdict, code, reason",
    [
        (lambda f: f, "reload", 0, "compatible with the schema; no drift or performance drop beyond chance"),
        (_drifted, "retrain", 11, "x has drifted (location-scale and KS tests: p="),
        (_unlabelled_flip, "retrain", 11, "performance: accuracy"),
        (_incompatible, "incompatible", 12, "count: column is missing (missing_column is an error"),
        (lambda f: f.head(30), "inconclusive", 15, "30 rows are too few to judge: the check needs at least"),
    ],
)
def test_verdicts(version: dict[str, Any], make: Any, verdict: str, code: int, reason: str) -> None:
    result = check_data(version["ref"], make(mixed_frame(400, seed=7)), store=version["store"])
    assert (result.verdict, int(result.exit_code)) == (verdict, code)
    assert any(r.startswith(reason) for r in result.reasons), result.reasons


def test_60_labelled_rows_of_the_training_distribution_never_say_retrain(version: dict[str, Any]) -> None:
    verdicts = [
        check_data(version["ref"], mixed_frame(60, seed=100 + s), store=version["store"]) for s in range(15)
    ]
    assert {r.verdict for r in verdicts} <= {"reload", "inconclusive"}
    tested = [r.performance for r in verdicts if r.performance is not None]
    assert len(tested) == 15 and all(p.test.startswith("Fisher's exact test") for p in tested)
    assert all(p.recorded_rows == 120 and p.adjusted is not None for p in tested)


def test_a_real_drop_on_60_rows_is_found_beyond_chance(version: dict[str, Any]) -> None:
    result = check_data(version["ref"], _unlabelled_flip(mixed_frame(60, seed=3)), store=version["store"])
    assert result.verdict == "retrain" and result.performance is not None
    assert result.performance.dropped and result.performance.p_value < 1e-6
    (reason,) = [r for r in result.reasons if r.startswith("performance")]
    assert "on 60 labelled rows" in reason and "on the 120-row test split at training" in reason


def test_drift_names_each_feature_and_the_predictions(version: dict[str, Any]) -> None:
    result = check_data(version["ref"], _drifted(mixed_frame(400, seed=7)), store=version["store"])
    drifted = {d.column for d in result.drift if d.drifted}
    assert drifted == {"x", "color"}
    assert {d.column: d.test for d in result.drift} == {
        "x": "lepage+ks",
        "count": "lepage+ks",
        "color": "chi2",
        "flag": "chi2",
    }
    assert all(d.adjusted is not None and d.adjusted >= d.p_value for d in result.drift)
    assert result.prediction is not None and result.prediction.drifted
    assert "note: text columns are not compared for drift." in result.notes


def test_incompatible_lists_schema_breaks_and_skips_drift(version: dict[str, Any]) -> None:
    frame = _incompatible(mixed_frame(100, seed=3).assign(x=0.5)).assign(extra=1)
    frame.loc[0, "color"] = "purple"
    result = check_data(version["ref"], frame, store=version["store"])
    found = {(p.check, p.column): p.severity for p in result.validation.problems}
    assert found == {
        ("missing_column", "count"): "error",
        ("unconvertible", "x"): "error",
        ("unseen_category", "color"): "warn",
    }  # extra_column is ignored under the default policy
    assert result.retyped == {"x": {"was": "float", "now": "category"}}
    assert result.new_categories == {"color": ["purple"]}
    assert result.drift == [] and result.performance is None
    assert any(r.startswith("input warning (unseen_category): color") for r in result.reasons)


def test_labels_compare_with_recorded_test_metrics(version: dict[str, Any]) -> None:
    result = check_data(version["ref"], mixed_frame(400, seed=7), store=version["store"])
    perf = result.performance
    assert perf is not None and perf.metric == "accuracy" and perf.rows == 400
    assert perf.recorded == version["result"].metrics["test"]["accuracy"]
    assert not perf.dropped and set(perf.metrics) >= {"accuracy", "f1_macro", "log_loss"}
    unlabelled = check_data(
        version["ref"], mixed_frame(400, seed=7).drop(columns="label"), store=version["store"]
    )
    assert unlabelled.performance is None and unlabelled.verdict == "reload"


def test_target_option_names_another_label_column(version: dict[str, Any]) -> None:
    frame = mixed_frame(400, seed=7).rename(columns={"label": "truth"})
    result = check_data(version["ref"], frame, store=version["store"], target="truth")
    assert result.performance is not None and result.performance.rows == 400
    assert not any(p.column == "truth" for p in result.validation.problems)
    with pytest.raises(DataError, match=r"The target column 'nope' is not in the data\.\nThe data has: \["):
        check_data(version["ref"], frame, store=version["store"], target="nope")


@pytest.mark.parametrize(
    "thresholds, verdict",
    [
        ({"psi": 100.0, "performance_drop": 1.0}, "reload"),  # significant but not material
        ({"p_value": 1e-300, "performance_drop": 1.0}, "inconclusive"),  # no batch can rule a change out
        ({"min_rows": 10_000, "performance_drop": 1.0}, "inconclusive"),  # too few rows to judge
        ({"psi": 0.0, "p_value": 0.99}, "retrain"),  # a false-alarm rate of 99% (on a small shift)
    ],
)
def test_thresholds_override_the_saved_section(
    version: dict[str, Any], thresholds: dict[str, Any], verdict: str
) -> None:
    frame = _drifted(mixed_frame(400, seed=7))
    if verdict == "retrain":  # x moved by a quarter of its spread: the default 1% rate calls that chance
        frame = mixed_frame(400, seed=7)
        frame["x"] += 0.25 * frame["x"].std()
        assert check_data(version["ref"], frame, store=version["store"]).verdict == "reload"
    assert check_data(version["ref"], frame, store=version["store"], thresholds=thresholds).verdict == verdict


def test_saved_section_is_the_default_and_a_bad_override_is_a_config_error(version: dict[str, Any]) -> None:
    model = mlpact.load(version["ref"], store=version["store"])
    assert model.config.check.psi == 0.1 and model.config.check.p_value == 0.01
    with pytest.raises(ConfigError, match=r"Invalid config in check thresholds: 1 problem"):
        check_data(model, mixed_frame(60), thresholds={"psi": -1})


def test_check_section_is_not_part_of_the_config_hash(version: dict[str, Any]) -> None:
    config = version["folder"] / "config.yaml"
    assert mlpact.load_config(config).hash() == mlpact.load_config(config, ["check.psi=0.5"]).hash()


@pytest.mark.parametrize(
    "metric, recorded, now, drop",
    [
        ("accuracy", 0.8, 0.6, 0.25),
        ("rmse", 2.0, 3.0, 0.5),
        ("r2", 0.0, -0.1, 0.1),
        ("accuracy", 0.5, None, None),
    ],
)
def test_metric_drop(metric: str, recorded: float, now: float | None, drop: float | None) -> None:
    assert metric_drop(metric, recorded, now) == (pytest.approx(drop) if drop is not None else None)


def test_version_without_reference_statistics_is_still_checked(
    version: dict[str, Any], tmp_path: Path
) -> None:
    model = mlpact.load(version["ref"], store=version["store"])
    import shutil

    folder = tmp_path / "old"
    shutil.copytree(model.path, folder)
    (folder / "reference.json").unlink()
    old = mlpact.Model(folder, model.manifest, model.pipeline, raw_config=model._raw_config)
    result = check_data(old, mixed_frame(100, seed=2))
    assert result.verdict == "reload" and result.drift == []
    assert result.notes[0].startswith("mixed:1 has no reference statistics")


@pytest.mark.parametrize("errors, note", [
    (True, "it is measured again from the version's recorded test predictions"),
    (False, "it is estimated from the new rows' spread and the test split's 120 rows"),
])  # fmt: skip
def test_a_version_without_recorded_uncertainty_is_tested_honestly(
    version: dict[str, Any], tmp_path: Path, errors: bool, note: str
) -> None:
    """A version saved before metrics.json kept `ci`: the test metric's standard error comes from its recorded test
    predictions (errors.parquet), else from the new rows; a note says which."""
    import shutil

    model = mlpact.load(version["ref"], store=version["store"])
    folder = tmp_path / "old"
    shutil.copytree(model.path, folder)
    metrics = {k: v for k, v in model.metrics.items() if k != "ci"}
    metrics["primary"] = "f1_macro"
    (folder / "metrics.json").write_text(json.dumps(metrics))
    manifest = dict(model.manifest)
    if not errors:
        manifest["files"] = {k: v for k, v in manifest["files"].items() if k != "errors.parquet"}
    old = mlpact.Model(folder, manifest, model.pipeline, raw_config=model._raw_config)
    result = check_data(old, mixed_frame(300, seed=2))
    perf = result.performance
    assert perf is not None and perf.metric == "f1_macro" and perf.recorded_se is not None and perf.now_se
    assert perf.test.startswith("z-test with bootstrap standard errors")
    assert any(note in n for n in result.notes), result.notes


# --------------------------------------------------------------------------- retraining
def test_retrain_moves_the_alias_only_when_the_new_version_is_better(tmp_path: Path) -> None:
    frame = mixed_frame(400, seed=0)
    frame.to_csv(tmp_path / "train.csv", index=False)
    config = write_config(
        tmp_path,
        {
            "name": "flip",
            "data": {"source": "train.csv", "target": "label", "drop": ["id"]},
            "model": {"type": "sklearn.linear_model.LogisticRegression"},
            "evaluate": {"cv_folds": 0, "plots": False, "leakage": False, "baseline": False},
        },
    )
    store = tmp_path / "store"
    first = mlpact.train(config, store=store)
    promote(first.ref, "production", store=store)
    same = retrain_on("flip@production", tmp_path / "train.csv", promote="production", store=store)
    assert (same.ref, same.better, same.moved) == ("flip:2", False, False)
    assert same.old == same.new and same.reason.endswith("holdout: not better")
    _unlabelled_flip(mixed_frame(400, seed=5)).to_csv(tmp_path / "flipped.csv", index=False)
    better = retrain_on("flip@production", tmp_path / "flipped.csv", promote="production", store=store)
    assert (better.ref, better.better, better.moved) == ("flip:3", True, True)
    assert better.new is not None and better.old is not None and better.new > better.old
    assert mlpact.Store.open(store).resolve("flip@production").version == 3


def test_retrain_needs_a_file(version: dict[str, Any]) -> None:
    with pytest.raises(
        DataError, match="Retraining needs the new data as a CSV or Parquet file, not a DataFrame"
    ):
        retrain_on(version["ref"], mixed_frame(50), store=version["store"])  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"Input file '.*missing.csv' does not exist\."):
        retrain_on(version["ref"], version["folder"] / "missing.csv", store=version["store"])


# --------------------------------------------------------------------------- CLI
@pytest.mark.parametrize(
    "make, code",
    [
        (lambda f: f, ExitCode.OK),
        (_drifted, ExitCode.RETRAIN),
        (_incompatible, ExitCode.INCOMPATIBLE),
        (lambda f: f.head(20), ExitCode.INCONCLUSIVE),
    ],
)
def test_cli_exit_codes_and_json(version: dict[str, Any], tmp_path: Path, make: Any, code: ExitCode) -> None:
    path = tmp_path / "new.csv"
    make(mixed_frame(300, seed=9)).to_csv(path, index=False)
    result = runner.invoke(
        app, ["check", version["ref"], str(path), "--store", str(version["store"]), "--json"]
    )
    assert result.exit_code == int(code), result.output
    body = json.loads(result.stdout)
    assert body["exit_code"] == int(code)
    assert body["verdict"] in ("reload", "retrain", "incompatible", "inconclusive")
    assert body["thresholds"]["psi"] == 0.1 and body["thresholds"]["p_value"] == 0.01


def test_cli_table_html_and_flags(version: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    _drifted(mixed_frame(300, seed=9)).to_csv(path, index=False)
    base = ["check", version["ref"], str(path), "--store", str(version["store"])]
    table = runner.invoke(app, base)
    assert (
        table.exit_code == 11
        and "retrain" in table.stdout
        and "Drift against the training split" in table.stdout
    )
    page = tmp_path / "check.html"
    html = runner.invoke(app, [*base, "--format", "html", "-o", str(page), "--psi", "50"])
    assert html.exit_code == 11  # drift is no longer material; the performance drop remains
    assert page.read_text().startswith("<!doctype html>") and "<h1>mixed:1: retrain</h1>" in page.read_text()
    bad = runner.invoke(app, [*base, "--promote", "production"])
    assert bad.exit_code == 2 and "--promote needs --retrain" in bad.output
    wrong = runner.invoke(app, [*base, "--format", "xml"])
    assert wrong.exit_code == 2 and "expected table, json or html, got 'xml'" in wrong.output


def test_retrain_with_refit_all_scores_the_new_version_before_its_refit(tmp_path: Path) -> None:
    frame = mixed_frame(300, seed=0)
    frame.to_csv(tmp_path / "train.csv", index=False)
    config = write_config(
        tmp_path,
        {
            "name": "refit",
            "data": {"source": "train.csv", "target": "label", "drop": ["id"]},
            "model": {"type": "sklearn.linear_model.LogisticRegression"},
            "evaluate": {"cv_folds": 0, "plots": False, "leakage": False, "baseline": False},
            "train": {"refit": "all"},
        },
    )
    store = tmp_path / "store"
    first = mlpact.train(config, store=store)
    again = retrain_on(first.ref, tmp_path / "train.csv", store=store)
    new = mlpact.load(again.ref, store=store)
    assert again.new == new.metrics["test"][new.metrics["primary"]]  # the holdout was never seen
    assert again.holdout_rows == new.metrics["rows"]["test"]


@pytest.mark.parametrize(
    ("column", "value", "code", "expected"),
    [
        ("color", b"red\xff", ExitCode.INCOMPATIBLE, "color: 40 values cannot be converted to category"),
        ("x", [1.0], ExitCode.INCOMPATIBLE, "x: 40 values cannot be converted to float"),
        ("label", [1], ExitCode.INPUT, "'label': 40 lists (rows 1, 2, 3, 4, 5, ...)"),
        ("label", True, ExitCode.INPUT, "None of the 40 labels in 'label' is a class"),
    ],
)
def test_check_answers_crafted_values_without_a_crash(
    trained_mixed: dict[str, Any], tmp_path: Path, column: str, value: Any, code: int, expected: str
) -> None:
    frame = trained_mixed["frame"].head(40).copy()
    frame[column] = [value] * len(frame)
    frame.to_parquet(tmp_path / "new.parquet", index=False)
    args = [
        "check",
        trained_mixed["ref"],
        str(tmp_path / "new.parquet"),
        "--store",
        str(trained_mixed["store"]),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert expected in " ".join(result.output.split()) and "Traceback" not in result.output
