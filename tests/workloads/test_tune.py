"""mlpact.tune: the tune: section, studies kept in the store, the training split only, pruning, Ray."""

from __future__ import annotations

import builtins
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from conftest import wine_config, write_config
from mlpact.config import load_config
from mlpact.errors import ConfigError, MissingDependencyError

optuna = pytest.importorskip("optuna")

from mlpact.cli import app  # noqa: E402
from mlpact.tune import tune  # noqa: E402

C_SPACE = {"model.params.C": {"type": "float", "low": 0.01, "high": 10, "log": True}}


def tuned(space: dict[str, Any] | None = None, **tune_keys: Any) -> dict[str, Any]:
    return wine_config(tune={"space": space or C_SPACE, "trials": 3, **tune_keys})


# --------------------------------------------------------------------------- the config section
@pytest.mark.parametrize(
    "space, message",
    [
        ({"model.parms.C": {"type": "float", "low": 1, "high": 2}}, "did you mean `model.params`"),
        (
            {"features.numeric.scal": {"type": "categorical", "choices": ["none"]}},
            "did you mean `features.numeric.scale`",
        ),
        ({"data.source": {"type": "categorical", "choices": ["x"]}}, "'data.source' cannot be searched"),
        ({"features.numeric.columns": {"type": "categorical", "choices": ["x"]}}, "cannot be searched"),
        ({"model.params": {"type": "categorical", "choices": [1]}}, "is a whole section"),
        ({"model.type.x": {"type": "categorical", "choices": [1]}}, "model.type has no sub-keys"),
        ({"model.params.C": {"type": "float", "low": 0, "high": 1, "log": True}}, "needs low > 0"),
        ({"model.params.C": {"type": "float", "low": 2, "high": 1}}, "low \\(2.0\\) is greater than high"),
        ({"model.params.C": {"type": "float", "low": 1}}, "needs both `low` and `high`"),
        (
            {"model.params.C": {"type": "float", "low": 1, "high": 2, "log": True, "step": 0.1}},
            "cannot be combined",
        ),
        (
            {"model.params.C": {"type": "float", "low": 1, "high": 2, "choices": [1]}},
            "takes low/high, not `choices`",
        ),
        ({"model.params.C": {"type": "int", "low": 1.5, "high": 3}}, "needs whole low/high"),
        ({"model.params.C": {"type": "categorical"}}, "non-empty `choices`"),
        ({"model.params.C": {"type": "categorical", "choices": [1], "low": 1}}, "takes `choices`, not low"),
        (
            {"model.params.C": {"type": "float", "low": 1, "high": 2, "when": {"model.params.x": 1}}},
            "'model.params.x' is not a searched key",
        ),
        (
            {
                "model.params.C": {"type": "float", "low": 1, "high": 2, "when": {"model.params.tol": 1}},
                "model.params.tol": {"type": "float", "low": 1, "high": 2, "when": {"model.params.C": 1}},
            },
            "form a cycle",
        ),
    ],
)
def test_invalid_spaces_are_config_errors(space: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(tuned(space))


@pytest.mark.parametrize(
    "keys, message",
    [
        ({"trials": None, "timeout": None}, "set `trials`, `timeout` or both"),
        ({"metric": "acuracy"}, "did you mean 'accuracy'"),
        ({"cv_folds": 1}, "greater than or equal to 2"),
        ({"sampler": "grid"}, "'tpe' or 'random'"),
    ],
)
def test_invalid_tune_settings_are_config_errors(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(tuned(**keys))


def test_tune_settings_do_not_change_the_config_hash() -> None:
    plain = load_config(wine_config())
    assert load_config(tuned()).hash() == plain.hash()
    assert load_config(tuned(trials=9)).hash() == plain.hash()


@pytest.mark.parametrize(
    "space, message",
    [
        ({"model.params.Cc": {"type": "float", "low": 1, "high": 2}}, "did you mean `model.params.C`"),
        (
            {"features.numeric.scale": {"type": "categorical", "choices": ["standard", "huge"]}},
            "features.numeric.scale",
        ),
        ({}, "nothing to search"),
    ],
)
def test_bad_values_fail_before_any_trial(tmp_path: Path, space: dict[str, Any], message: str) -> None:
    cfg = tuned(space) if space else wine_config(tune={"space": {}})
    with pytest.raises(ConfigError, match=message):
        tune(cfg, store=tmp_path)
    assert not (tmp_path / "tuning").exists()


def test_tune_metric_must_fit_the_task(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'rmse' is not a classification metric"):
        tune(tuned(metric="rmse"), store=tmp_path)


# --------------------------------------------------------------------------- the study in the store
def test_rerun_continues_the_study_and_writes_best_yaml(tmp_path: Path) -> None:
    first = tune(tuned(), store=tmp_path)
    second = tune(tuned(), store=tmp_path, trials=2)
    assert (first.study, first.new_trials, len(first.trials)) == (second.study, 3, 3)
    assert (second.new_trials, len(second.trials)) == (2, 5)
    assert (tmp_path / "tuning" / first.study / "study.db").exists()
    best = yaml.safe_load(second.best_yaml.read_text())
    assert best["model"]["params"]["C"] == second.best_params["model.params.C"]
    assert best["model"]["params"]["max_iter"] == 500  # the rest of the config is kept
    assert max(t["value"] for t in second.trials if t["value"] is not None) == second.best_value
    assert sorted(p.name for p in second.plots) == ["history.png", "importance.png", "slice.png"]


def test_a_changed_space_is_a_new_study(tmp_path: Path) -> None:
    a = tune(tuned(), store=tmp_path, trials=1, plots=False)
    b = tune(
        tuned({"model.params.C": {"type": "float", "low": 0.1, "high": 1}}),
        store=tmp_path,
        trials=1,
        plots=False,
    )
    assert a.study != b.study
    assert a.study.startswith("wine-")


def test_conditional_keys_are_searched_only_when_their_condition_holds(tmp_path: Path) -> None:
    space = {
        "model.params.solver": {"type": "categorical", "choices": ["lbfgs", "saga"]},
        "model.params.tol": {
            "type": "float",
            "low": 1e-4,
            "high": 1e-2,
            "log": True,
            "when": {"model.params.solver": "saga"},
        },
    }
    result = tune(tuned(space, sampler="random"), store=tmp_path, trials=6, plots=False)
    for trial in result.trials:
        assert ("model.params.tol" in trial["params"]) == (trial["params"]["model.params.solver"] == "saga")
    assert {t["params"]["model.params.solver"] for t in result.trials} == {"lbfgs", "saga"}


def test_failing_trials_are_recorded_and_all_failing_is_an_error(tmp_path: Path) -> None:
    space = {"model.params.l1_ratio": {"type": "float", "low": 2.0, "high": 3.0}}  # invalid at fit time
    with pytest.raises(ConfigError, match="none of the 2 trials .* succeeded; the first failure: "):
        tune(tuned(space), store=tmp_path, trials=2, plots=False)


# --------------------------------------------------------------------------- the training split only
SPY = """
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

SEEN = []

class Spy(ClassifierMixin, BaseEstimator):
    def __init__(self, alpha=1.0, n_estimators=4, warm_start=False):
        self.alpha, self.n_estimators, self.warm_start = alpha, n_estimators, warm_start

    def _see(self, X):
        SEEN.extend(map(tuple, np.round(np.asarray(X, dtype=float), 6)))

    def fit(self, X, y):
        self._see(X)
        self.classes_ = np.unique(y)
        self.majority_ = self.classes_[0]
        return self

    def predict(self, X):
        self._see(X)
        return np.full(len(X), self.majority_)

class StepSpy(Spy):
    def partial_fit(self, X, y, classes=None):
        return self.fit(X, y)
"""


@pytest.mark.parametrize("estimator, pruner", [("Spy", "median"), ("StepSpy", "median"), ("StepSpy", "none")])
def test_no_tuning_step_ever_receives_a_test_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, estimator: str, pruner: str
) -> None:
    from mlpact.learn.prepare import prepare

    (tmp_path / "spy_model.py").write_text(SPY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "spy_model", raising=False)
    config = wine_config(
        model={"type": f"spy_model.{estimator}"},
        features={"numeric": {"scale": "none"}},
        tune={
            "space": {"model.params.alpha": {"type": "float", "low": 0.1, "high": 1}},
            "trials": 3,
            "pruner": pruner,
        },
    )
    tune(config, store=tmp_path / "store", plots=False)
    import spy_model

    data = prepare(load_config(config))
    rows = lambda X: {tuple(r) for r in X.astype(float).round(6).to_numpy()}  # noqa: E731
    seen = set(spy_model.SEEN)
    assert rows(data.train()[0]) <= seen  # every training row was used ...
    assert not rows(data.test()[0]) & seen  # ... and no test row ever was


# --------------------------------------------------------------------------- pruning
@pytest.mark.parametrize(
    "model, steps, expected",
    [
        (
            {"type": "sklearn.ensemble.GradientBoostingClassifier", "params": {"n_estimators": 6}},
            3,
            [2, 4, 6],
        ),
        ({"type": "sklearn.linear_model.SGDClassifier"}, 4, [1, 2, 3, 4]),
        (
            {"type": "sklearn.ensemble.HistGradientBoostingClassifier", "params": {"max_iter": 3}},
            10,
            [1, 2, 3],
        ),
    ],
)
def test_estimators_that_learn_in_steps_report_each_step(
    tmp_path: Path, model: dict[str, Any], steps: int, expected: list[int]
) -> None:
    from mlpact.learn.pipeline import make_estimator
    from mlpact.tune import step_budgets, step_kind

    space = {"features.numeric.scale": {"type": "categorical", "choices": ["standard", "robust"]}}
    result = tune(
        wine_config(model=model, tune={"space": space, "trials": 2, "steps": steps}),
        store=tmp_path,
        plots=False,
    )
    study = optuna.load_study(study_name=result.study, storage=f"sqlite:///{result.folder / 'study.db'}")
    assert [sorted(t.intermediate_values) for t in study.trials] == [list(range(len(expected)))] * 2
    cfg = load_config(wine_config(model=model))
    estimator = make_estimator(cfg.model, seed=0)
    kind = step_kind(estimator)
    assert kind is not None
    assert step_budgets(estimator, kind, steps) == expected


def test_other_estimators_report_after_each_fold(tmp_path: Path) -> None:
    result = tune(tuned(cv_folds=4), store=tmp_path, trials=2, plots=False)
    study = optuna.load_study(study_name=result.study, storage=f"sqlite:///{result.folder / 'study.db'}")
    assert [sorted(t.intermediate_values) for t in study.trials] == [[0, 1, 2, 3]] * 2


def test_without_a_pruner_trials_store_no_intermediate_values_and_are_not_stepped(tmp_path: Path) -> None:
    model = {"type": "sklearn.ensemble.GradientBoostingClassifier", "params": {"n_estimators": 6}}
    space = {"model.params.learning_rate": {"type": "float", "low": 0.05, "high": 0.5}}
    result = tune(
        wine_config(model=model, tune={"space": space, "trials": 2, "steps": 3, "pruner": "none"}),
        store=tmp_path,
        plots=False,
    )
    study = optuna.load_study(study_name=result.study, storage=f"sqlite:///{result.folder / 'study.db'}")
    assert [t.intermediate_values for t in study.trials] == [{}, {}]
    assert all(t.state.name == "COMPLETE" for t in study.trials)


@pytest.mark.parametrize(
    "space, fits",
    [
        (C_SPACE, 3),  # 3 trials x 3 folds, one preprocessing per fold
        ({"features.numeric.scale": {"type": "categorical", "choices": ["standard"]}, **C_SPACE}, 3),
        ({"features.numeric.scale": {"type": "categorical", "choices": ["standard", "robust"]}}, None),
    ],
)
def test_preprocessing_is_fitted_once_per_fold_while_the_features_stay_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, space: dict[str, Any], fits: int | None
) -> None:
    from sklearn.compose import ColumnTransformer

    calls = []
    original = ColumnTransformer.fit_transform
    monkeypatch.setattr(
        ColumnTransformer, "fit_transform", lambda self, *a, **k: calls.append(1) or original(self, *a, **k)
    )
    result = tune(tuned(space, cv_folds=3, sampler="random", pruner="none"), store=tmp_path, plots=False)
    scales = [t["params"].get("features.numeric.scale") for t in result.trials]
    changes = sum(
        1 for a, b in zip([None, *scales[:-1]], scales, strict=True) if a != b
    )  # each change refits every fold
    assert len(calls) == (fits if fits is not None else 3 * changes)


def test_a_trial_scores_what_cross_validating_its_whole_pipeline_scores(tmp_path: Path) -> None:
    from mlpact.learn.pipeline import build_pipeline
    from mlpact.learn.prepare import prepare
    from mlpact.learn.scoring import cross_validate
    from mlpact.tune import trial_config

    config = tuned(cv_folds=3, sampler="random", pruner="none")
    result = tune(config, store=tmp_path, plots=False)
    cfg = load_config(config)
    data = prepare(cfg)
    X, y = data.train()
    for trial in result.trials:
        pipeline = build_pipeline(trial_config(cfg, trial["params"]), data.plan)
        folds = cross_validate(pipeline, X, y, data.folds(3), [result.metric])[result.metric]["folds"]
        assert trial["value"] == sum(folds) / len(folds)


@pytest.mark.parametrize(
    "path, params, writes",
    [
        ("sklearn.linear_model.LinearRegression", {"copy_X": False}, True),
        ("sklearn.linear_model.LinearRegression", {}, False),
        ("sklearn.cross_decomposition.PLSRegression", {"copy": False}, True),
        ("sklearn.ensemble.RandomForestClassifier", {}, False),
    ],
)
def test_estimators_allowed_to_write_their_input_get_a_copy_of_the_kept_rows(
    path: str, params: dict[str, Any], writes: bool
) -> None:
    from mlpact.learn.pipeline import instantiate
    from mlpact.tune._objective import _may_write_input

    estimator = instantiate(path, params, key="model", needs=("fit",))
    assert _may_write_input(estimator) is writes


def test_the_study_storage_writes_ahead(tmp_path: Path) -> None:
    import sqlite3

    result = tune(tuned(), store=tmp_path, trials=1, plots=False)
    with sqlite3.connect(result.folder / "study.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_one_process_writes_each_trial_whole_to_the_store_when_it_ends(tmp_path: Path) -> None:
    from mlpact.tune import _backends

    spec = _backends.StudySpec("s", tmp_path, "maximize", "random", "none", 0, 2, 0, "accuracy")
    in_store: list[int] = []

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.report(x, 0)
        trial.report(x / 2, 1)
        trial.set_user_attr("seen", len(in_store))
        in_store.append(len(_backends.open_study(spec).trials))  # what another reader sees now
        if trial.number == 2:
            raise RuntimeError("stop the study")
        return x

    with pytest.raises(RuntimeError, match="stop the study"):
        _backends.run_optuna(spec, objective, trials=4, timeout=None, jobs=1, on_trial=None)
    _backends.run_optuna(spec, objective, trials=2, timeout=None, jobs=1, on_trial=None)
    stored = _backends.open_study(spec).trials
    assert in_store == [0, 1, 2, 3, 4]  # a running trial is not there yet; every finished one is
    assert [t.number for t in stored] == [0, 1, 2, 3, 4]
    assert [t.state.name for t in stored] == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert [t.intermediate_values for t in stored] == [
        {0: t.params["x"], 1: t.params["x"] / 2} for t in stored
    ]
    assert [t.user_attrs["seen"] for t in stored] == [0, 1, 2, 3, 4]
    assert [t.value for t in stored if t.state.name == "COMPLETE"] == [
        t.params["x"] for t in stored if t.state.name == "COMPLETE"
    ]
    assert len({t.params["x"] for t in stored}) == 5  # the continued study did not re-draw its points


def test_one_call_opens_the_study_storage_once_in_its_own_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlpact.tune import _backends

    opened = []
    original = _backends.storage
    monkeypatch.setattr(_backends, "storage", lambda spec: opened.append(spec.name) or original(spec))
    result = tune(tuned(), store=tmp_path, trials=2, plots=False, on_trial=lambda *a: None)
    assert opened == [result.study]
    assert result.new_trials == 2


def test_unpromising_trials_are_pruned(tmp_path: Path) -> None:
    space = {"model.params.learning_rate": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}}
    model = {
        "type": "sklearn.ensemble.GradientBoostingClassifier",
        "params": {"n_estimators": 10, "max_depth": 1},
    }
    config = wine_config(model=model, tune={"space": space, "trials": 14, "steps": 5, "sampler": "random"})
    result = tune(config, store=tmp_path, plots=False)
    states = [t["state"] for t in result.trials]
    assert "PRUNED" in states and "COMPLETE" in states


# --------------------------------------------------------------------------- parallel jobs, training the best
@pytest.mark.parametrize("fork", [True, False])
def test_two_jobs_share_one_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fork: bool) -> None:
    from mlpact.tune import _backends

    if fork and not _backends.forks(torch=False):
        pytest.skip("workers are forked on Linux only")
    monkeypatch.setattr(_backends, "forks", lambda *, torch: fork)
    calls: list[Any] = []
    result = tune(tuned(), store=tmp_path, trials=4, jobs=2, plots=False, on_trial=lambda *a: calls.append(a))
    assert result.new_trials in (4, 5)  # a second process may start one trial as the budget is reached
    assert all(t["state"] == "COMPLETE" for t in result.trials)
    # every trial is reported once, the other process's too
    assert sorted(c[3].number for c in calls) == [t["number"] for t in result.trials]
    assert [c[0] for c in calls] == list(range(1, len(calls) + 1))


def test_on_trial_reports_each_trial_with_its_value(tmp_path: Path) -> None:
    calls: list[Any] = []
    result = tune(tuned(), store=tmp_path, trials=3, plots=False, on_trial=lambda *a: calls.append(a))
    values = {t["number"]: t["value"] for t in result.trials}
    assert [(done, total) for done, total, _, _ in calls] == [(1, 3), (2, 3), (3, 3)]
    assert [(c[3].number, c[3].state) for c in calls] == [(0, "COMPLETE"), (1, "COMPLETE"), (2, "COMPLETE")]
    assert all(c[3].value == values[c[3].number] for c in calls)
    assert calls[-1][2] == result.best_value
    from mlpact.cli.tune import trial_line
    from mlpact.tune import FinishedTrial

    assert trial_line(FinishedTrial(4, "PRUNED", None), 5, None, "f1", 0.5) == "trial 4: pruned [5]"
    assert trial_line(FinishedTrial(5, "FAIL", None), 6, 10, "f1", None) == "trial 5: fail [6/10]"


def _in_workers_only(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> None:
    """Make every forked worker's trial loop do `action` instead (this process runs trials as before)."""
    import os

    from mlpact.tune import _backends

    if not _backends.forks(torch=False):
        pytest.skip("workers are forked on Linux only")
    parent, original = os.getpid(), _backends._optimize

    def optimize(*args: Any) -> None:
        if os.getpid() != parent:
            action()
        original(*args)

    monkeypatch.setattr(_backends, "_optimize", optimize)


def test_an_error_in_a_forked_worker_is_raised_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> None:
        raise KeyError("broken in the worker")

    _in_workers_only(monkeypatch, fail)
    with pytest.raises(KeyError, match="broken in the worker"):
        tune(tuned(), store=tmp_path, trials=2, jobs=2, plots=False)


def test_a_worker_that_dies_is_an_error_that_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from mlpact.errors import MlpactError

    _in_workers_only(monkeypatch, lambda: os._exit(3))
    with pytest.raises(
        MlpactError, match=r"worker process ended without sending its result \(exit code 3"
    ) as err:
        tune(tuned(), store=tmp_path, trials=2, jobs=2, plots=False)
    assert err.value.hint is not None and "--jobs 1" in err.value.hint


def test_train_best_records_the_tuning_in_the_lineage(tmp_path: Path) -> None:
    result = tune(tuned(), store=tmp_path, train_best=True, plots=False)
    assert result.trained is not None
    lineage = json.loads((result.trained.path / "lineage.json").read_text())
    assert lineage["tuning"]["study"] == result.study
    assert lineage["tuning"]["trial"] == result.best_trial
    assert lineage["tuning"]["value"] == result.best_value
    assert result.trained.config.model.params["C"] == result.best_params["model.params.C"]


# --------------------------------------------------------------------------- missing extras
@pytest.mark.parametrize(
    "blocked, backend, message",
    [("optuna", "optuna", "pip install 'mlpact\\[tune\\]'"), ("ray", "ray", "pip install 'mlpact\\[ray\\]'")],
)
def test_a_missing_extra_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blocked: str, backend: str, message: str
) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == blocked or name.startswith(blocked + "."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingDependencyError) as info:
        tune(tuned(), store=tmp_path, backend=backend)  # type: ignore[arg-type]
    assert info.value.hint is not None
    assert __import__("re").search(message, info.value.hint)


# --------------------------------------------------------------------------- the command
def test_cli_tune_prints_the_best_trials_and_where_things_are(tmp_path: Path) -> None:
    config = write_config(tmp_path, tuned())
    args = ["tune", str(config), "--trials", "2", "--store", str(tmp_path / "s")]
    out = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    assert out.exit_code == 0, out.output
    assert "2 trials (2 new), maximize accuracy" in out.output
    assert "best.yaml" in out.output and "history.png" in out.output
    lines = [line for line in out.stderr.splitlines() if line.startswith("trial ")]  # one per trial
    assert len(lines) == 2 and not any(line.startswith("trial ") for line in out.stdout.splitlines())
    assert __import__("re").fullmatch(r"trial 0: accuracy 0\.\d{4} \(best 0\.\d{4}\) \[1/2\]", lines[0])
    assert lines[1].startswith("trial 1: accuracy ") and lines[1].endswith("[2/2]")


def test_cli_tune_json_and_bad_backend(tmp_path: Path) -> None:
    config = write_config(tmp_path, tuned())
    runner = CliRunner()
    out = runner.invoke(app, ["tune", str(config), "--trials", "1", "--store", str(tmp_path / "s"), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["new_trials"] == 1
    bad = runner.invoke(app, ["tune", str(config), "--backend", "spark"])
    assert bad.exit_code == 2
    assert "expected optuna or ray, found 'spark'" in bad.output


def test_cli_tune_config_error_exit_code(tmp_path: Path) -> None:
    config = write_config(tmp_path, tuned({"model.parms.C": {"type": "float", "low": 1, "high": 2}}))
    out = CliRunner().invoke(app, ["tune", str(config), "--store", str(tmp_path / "s")])
    assert out.exit_code == 3
    assert "did you mean `model.params`" in out.output


# --------------------------------------------------------------------------- Ray Tune
def test_ray_backend_lands_in_the_same_study_and_best_yaml(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    optuna_run = tune(tuned(), store=tmp_path, trials=2, plots=False)
    ray_run = tune(tuned(), store=tmp_path, trials=2, jobs=2, backend="ray", plots=False)
    assert ray_run.study == optuna_run.study
    assert ray_run.new_trials == 2 and len(ray_run.trials) == 4
    assert ray_run.best_yaml == optuna_run.best_yaml
    best = yaml.safe_load(ray_run.best_yaml.read_text())
    assert best["model"]["params"]["C"] == ray_run.best_params["model.params.C"]


# --------------------------------------------------------------------------- across model families
FAMILIES = {
    "model.type": {
        "type": "categorical",
        "choices": ["sklearn.linear_model.LogisticRegression", "sklearn.naive_bayes.GaussianNB"],
    },
    "model.params.C": {
        "type": "float", "low": 0.01, "high": 10, "log": True,
        "when": {"model.type": "sklearn.linear_model.LogisticRegression"},
    },
    "model.params.var_smoothing": {
        "type": "float", "low": 1e-10, "high": 1e-6, "log": True,
        "when": {"model.type": "sklearn.naive_bayes.GaussianNB"},
    },
}  # fmt: skip


def test_the_space_can_search_model_families_with_their_own_parameters(tmp_path: Path) -> None:
    cfg = wine_config(tune={"space": FAMILIES, "trials": 4})
    cfg["model"] = {"type": "sklearn.linear_model.LogisticRegression"}
    result = tune(cfg, store=tmp_path, plots=False)
    done = [t for t in result.trials if t["state"] == "COMPLETE"]
    assert len(done) == 4
    for trial in done:
        params = trial["params"]
        own = (
            "model.params.C"
            if params["model.type"].endswith("LogisticRegression")
            else "model.params.var_smoothing"
        )
        assert set(params) == {"model.type", own}


def test_a_parameter_of_the_wrong_family_still_fails_before_any_trial(tmp_path: Path) -> None:
    space = {**FAMILIES, "model.params.alpha": {**FAMILIES["model.params.C"]}}  # when: LogisticRegression
    cfg = wine_config(tune={"space": space, "trials": 2})
    cfg["model"] = {"type": "sklearn.linear_model.LogisticRegression"}
    with pytest.raises(ConfigError, match="model.params.alpha: not a parameter of LogisticRegression"):
        tune(cfg, store=tmp_path)
    assert not (tmp_path / "tuning").exists()


def test_config_params_that_another_family_lacks_are_named_before_any_trial(tmp_path: Path) -> None:
    cfg = wine_config(tune={"space": FAMILIES, "trials": 2})  # its model.params has max_iter: 500
    with pytest.raises(
        ConfigError, match=r"max_iter: not a parameter of GaussianNB \(in a trial with model.type"
    ):
        tune(cfg, store=tmp_path)
