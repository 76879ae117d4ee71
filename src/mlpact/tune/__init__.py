"""Hyperparameter tuning on the training split only (Optuna; Ray Tune to scale out).

`tune(config)` prepares the config's data once, searches the `tune.space` of config key paths with
cross-validation on the training split (the test split is never touched), keeps the study in the
store so a re-run continues it, and writes the config with the best values as ``best.yaml``.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlpact._callable import make_callable
from mlpact._core.metrics import higher_is_better, metrics_for, primary_metric
from mlpact._core.progress import Silent
from mlpact.config import Config, load_config
from mlpact.errors import ConfigError, plural
from mlpact.learn.prepare import prepare
from mlpact.store import Store
from mlpact.torch import is_torch_config
from mlpact.tracking import track_tune
from mlpact.training import run
from mlpact.tune._backends import (
    FinishedTrial,
    OnTrial,
    StudySpec,
    forks,
    import_optuna,
    import_ray,
    open_study,
    run_optuna,
    run_ray,
    warm_workers,
)
from mlpact.tune._objective import Objective, check_space, step_budgets, step_kind, suggest, trial_config

if TYPE_CHECKING:
    from mlpact._core.progress import Progress
    from mlpact.store import Store
    from mlpact.training import TrainResult
    from mlpact.tune.torch_trials import TorchObjective

__all__ = [
    "FinishedTrial", "StudySpec", "TuneResult", "step_budgets", "step_kind", "study_spec", "suggest",
    "trial_config", "tune", "tuning_config",
]  # fmt: skip

Backend = Literal["optuna", "ray"]


@dataclass
class TuneResult:
    """A study after this call: its best trial, every trial, and where its files are."""

    study: str
    folder: Path
    metric: str
    direction: str
    backend: str
    best_trial: int
    best_value: float
    best_params: dict[str, Any]
    best_yaml: Path
    trials: list[dict[str, Any]]
    new_trials: int
    plots: list[Path] = field(default_factory=list)
    trained: TrainResult | None = None
    mlflow_run_id: str | None = None

    def top(self, n: int = 5) -> list[dict[str, Any]]:
        """The `n` best finished trials, best first."""
        done = [t for t in self.trials if t["state"] == "COMPLETE"]
        return sorted(done, key=lambda t: t["value"], reverse=self.direction == "maximize")[:n]

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("study", "metric", "direction", "backend", "best_trial")}
        out.update(best_value=self.best_value, best_params=self.best_params, new_trials=self.new_trials)
        out.update(folder=str(self.folder), best_yaml=str(self.best_yaml), plots=[str(p) for p in self.plots])
        out.update(trials=self.trials, trained=self.trained.ref if self.trained else None)
        out.update(mlflow_run_id=self.mlflow_run_id)
        return out


def tune(
    config: str | Path | Config | dict[str, Any],
    overrides: Iterable[str] = (),
    *,
    store: str | Path | Store | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    jobs: int | None = None,
    backend: Backend = "optuna",
    address: str | None = None,
    train_best: bool = False,
    plots: bool = True,
    on_trial: OnTrial | None = None,
    progress: Progress | None = None,
) -> TuneResult:
    """Search `tune.space` on the training split, continue the stored study, write ``best.yaml``.

    Args:
        config: a YAML file, a mapping, or a loaded :class:`Config` with a `tune:` section.
        overrides: ``key.path=value`` strings applied on top of the file.
        store: the store folder; the study lives in ``<store>/tuning/<study>/``.
        trials, timeout: the budget of this call; either one replaces `tune.trials` and `tune.timeout`.
        jobs: trials in parallel (processes); default `tune.jobs`.
        backend: ``optuna`` (processes on this machine) or ``ray`` (Ray Tune).
        address: the Ray cluster to use with ``backend="ray"``; default: a local Ray.
        train_best: then train and save a version with the best values (tuning in its lineage).
        plots: write the optimisation history, parameter importance and slice plots.
        on_trial: called as ``on_trial(done, total, best_value, trial)`` once for each trial of this
            call that finishes (`trial`: a :class:`FinishedTrial`, its number, state and value).
        progress: where to report the data loading and `train_best`'s training; silent by default.

    Raises:
        ConfigError: the config or its search space is invalid, or no trial succeeded.
        MissingDependencyError: optuna (or ray, for the ray backend) is not installed.
    """

    cfg = _load(config, overrides)
    torch_run = is_torch_config(cfg)
    _check_tunable(cfg, torch_run)
    import_optuna()
    if backend == "ray":
        import_ray()
    if torch_run:
        from mlpact.tune.torch_trials import check_space as check_torch_space

        check_torch_space(cfg)
    else:
        check_space(cfg)
    db = Store.open(store)
    params = {"backend": backend, "searched": sorted(cfg.tune.space)}
    run_id = db.start_run(cfg.name, kind="tune", config_hash=cfg.hash(), params=params)
    try:
        result = _search(cfg, db, jobs=jobs, trials=trials, timeout=timeout, backend=backend, address=address,
                         plots=plots, on_trial=on_trial, progress=progress or Silent())  # fmt: skip
        if train_best:
            result.trained = _train_best(result, db, progress or Silent())
    except BaseException as exc:
        db.finish_run(run_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    _finish_run(db, run_id, result)
    return result


def _search(
    cfg: Config,
    db: Store,
    *,
    jobs: int | None,
    trials: int | None,
    timeout: float | None,
    backend: Backend,
    address: str | None,
    plots: bool,
    on_trial: OnTrial | None,
    progress: Progress,
) -> TuneResult:

    n_jobs = jobs or cfg.tune.jobs
    torch_run = is_torch_config(cfg)
    if backend != "ray" and n_jobs > 1 and not forks(torch=torch_run):
        warm_workers(n_jobs - 1, torch=torch_run)  # workers import their libraries while data loads
    objective: Objective | TorchObjective
    if torch_run:
        from mlpact.tune.torch_trials import TorchObjective

        objective = TorchObjective(cfg, "", jobs=n_jobs)
        with progress.stage(f"Loading {cfg.data.source}"):
            task = objective.data(cfg).task  # loaded once here, reused by this process's trials
        objective.metric = _metric(cfg, task)
        spec = study_spec(cfg, db.root, task=task)
    else:
        with progress.stage(f"Loading {cfg.data.source}"):
            data = prepare(cfg)
        spec = study_spec(cfg, db.root, task=data.task)
        objective = Objective(cfg, data, data.folds(spec.folds), _metric(cfg, data.task))
    tc = cfg.tune
    flags = trials is not None or timeout is not None  # flags replace the config's whole budget
    n_trials, seconds = (trials, timeout) if flags else (tc.trials, tc.timeout)
    study = open_study(spec)  # this process's one storage for the study (opening one takes ~0.1-0.5 s)
    before = len(study.trials)
    if backend == "ray":
        run_ray(
            spec, objective, trials=n_trials, timeout=seconds, jobs=n_jobs, address=address, on_trial=on_trial
        )
    else:
        run_optuna(
            spec, objective, trials=n_trials, timeout=seconds, jobs=n_jobs, on_trial=on_trial, study=study
        )
    result = _result(
        cfg, spec, objective.metric, backend=backend, before=before, plots=plots, store=study._storage
    )
    if cfg.tracking.mlflow_uri:
        result.mlflow_run_id = track_tune(cfg, result)
    return result


def _finish_run(db: Store, run_id: str, result: TuneResult) -> None:
    """The tune run in the store's history: the study, its best config values (as key paths, like
    a training run's params) and best value, and the version `train_best` saved."""
    best = {f"best.{key}": value for key, value in result.best_params.items()}
    db.log_params(run_id, {"study": result.study, "metric": result.metric, **best})
    metrics = {
        f"cv_{result.metric}": result.best_value,  # cross-validated on the training split, not test
        "trials": len(result.trials),
        "new_trials": result.new_trials,
    }
    version = result.trained.version.version if result.trained is not None else None
    db.finish_run(run_id, status="succeeded", metrics=metrics, version=version)


def _load(config: str | Path | Config | dict[str, Any], overrides: Iterable[str]) -> Config:
    overrides = list(overrides)
    if isinstance(config, Config):
        return load_config(config.template(), overrides, base_dir=config.base_dir) if overrides else config
    return load_config(config, overrides)


def tuning_config(config: str | Path | Config | dict[str, Any], overrides: Iterable[str] = ()) -> Config:
    """The config a study runs: a file, a mapping or a loaded config, with `overrides` applied."""
    overrides = list(overrides)
    if isinstance(config, Config):
        return load_config(config.template(), overrides, base_dir=config.base_dir) if overrides else config
    return load_config(config, overrides)


def _check_tunable(cfg: Config, torch_run: bool) -> None:

    trained = sorted(k for k in cfg.tune.space if k.startswith("train."))
    if trained and not torch_run:
        raise ConfigError(
            [
                f"tune.space: {', '.join(trained)} are PyTorch training keys; {cfg.model.type} is a "
                "scikit-learn model (search its model.params.* and features.* keys)"
            ]
        )
    if not cfg.tune.space:
        raise ConfigError(
            [
                "tune.space: nothing to search (found an empty space); add keys such as "
                "`model.params.C: {type: float, low: 0.001, high: 10, log: true}`"
            ]
        )


def _metric(cfg: Config, task: str) -> str:

    metric = cfg.tune.metric or primary_metric(task, cfg.evaluate.primary)
    known = metrics_for(task, binary=True)  # positive-class metrics: binary targets (checked at training)
    if metric not in known:
        raise ConfigError([f"tune.metric: {metric!r} is not a {task} metric; expected one of {known}"])
    return metric


def study_spec(cfg: Config, store_root: Path, *, task: str) -> StudySpec:
    """The study of a config: named after it and a hash of the space, the metric, the folds and
    everything that affects training, so a changed space is a new study and the same one continues."""

    tc = cfg.tune
    metric = _metric(cfg, task)
    direction = tc.direction
    if direction == "auto":
        direction = "maximize" if higher_is_better(metric) else "minimize"
    folds = tc.cv_folds or cfg.evaluate.cv_folds or 3
    steps = tc.steps
    if is_torch_config(cfg):  # scored on the validation split after every epoch
        folds, steps = 0, _most_epochs(cfg)
    ident = {
        "space": {k: v.model_dump(mode="json") for k, v in tc.space.items()},
        "metric": metric,
        "direction": direction,
        "folds": folds,
        "steps": steps,
        "config": cfg.hash(),
    }
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:10]
    name = f"{cfg.name}-{digest}"
    seed = cfg.seed if tc.seed is None else tc.seed
    folder = store_root / "tuning" / name
    return StudySpec(name, folder, direction, tc.sampler, tc.pruner, seed, steps, folds, metric)


def _most_epochs(cfg: Config) -> int:
    """The most epochs a trial can train (`train.epochs`, or the top of its searched range)."""
    searched = cfg.tune.space.get("train.epochs")
    if searched is None:
        return cfg.train.epochs
    values = searched.choices if searched.type == "categorical" else [searched.high]
    return int(max(float(v) for v in values or [cfg.train.epochs] if isinstance(v, int | float)))


# --------------------------------------------------------------------------- the outcome
def _result(
    cfg: Config, spec: StudySpec, metric: str, *, backend: str, before: int, plots: bool, store: Any
) -> TuneResult:

    study = open_study(spec, store=store)
    rows = [_trial_row(t) for t in study.trials]
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    if not done:
        errors = [r["error"] for r in rows if r.get("error")]
        raise ConfigError(
            [
                f"tune: none of the {plural(len(rows), 'trial')} of study {spec.name} succeeded"
                + (f"; the first failure: {errors[0]}" if errors else "")
            ]
        )
    best = study.best_trial
    best_value = float(best.value)
    path = _write_best(trial_config(cfg, best.params), spec, metric, best.number, best_value)
    pngs = write_plots(study, spec.folder / "plots") if plots else []
    return TuneResult(
        spec.name, spec.folder, metric, spec.direction, backend, best.number, best_value,
        dict(best.params), path, rows, len(rows) - before, pngs,
    )  # fmt: skip


def _trial_row(trial: Any) -> dict[str, Any]:
    row = {
        "number": trial.number,
        "state": trial.state.name,
        "value": trial.value,
        "params": dict(trial.params),
        "duration_s": trial.duration.total_seconds() if trial.duration else None,
    }
    if "error" in trial.user_attrs:
        row["error"] = trial.user_attrs["error"]
    return row


def _write_best(best: Config, spec: StudySpec, metric: str, number: int, value: float) -> Path:
    """best.yaml: the config with the best values, trainable from anywhere (absolute data path)."""
    import yaml

    raw = best.to_dict()
    source = best.source_path()
    if source is not None and raw["data"]["source"] == best.data.source:  # never an ${env:...} value
        raw["data"]["source"] = str(source)
    header = f"# Best config of study {spec.name}: trial {number}, {metric} = {value:.6g}\n"
    path = spec.folder / "best.yaml"
    path.write_text(header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def write_plots(study: Any, folder: Path) -> list[Path]:
    """Optimisation history, parameter importances and slice plots as PNGs (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as vis

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    plots: dict[str, Callable[[Any], Any]] = {
        "history": vis.plot_optimization_history,
        "importance": vis.plot_param_importances,
        "slice": vis.plot_slice,
    }
    for name, plot in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = plot(study)
        except (ValueError, RuntimeError, ZeroDivisionError):
            continue  # e.g. importances need two finished trials with different values
        figure = _figure(axes)
        figure.savefig(folder / f"{name}.png", dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(folder / f"{name}.png")
    return written


def _figure(axes: Any) -> Any:
    first = axes.flat[0] if hasattr(axes, "flat") else axes
    return first.figure


def _train_best(result: TuneResult, store: Store, progress: Progress) -> TrainResult:

    best = load_config(result.best_yaml)
    tuning = {
        "study": result.study,
        "storage": str(result.folder / "study.db"),
        "trial": result.best_trial,
        "metric": result.metric,
        "value": result.best_value,
        "params": result.best_params,
        "backend": result.backend,
    }
    return run(best, store=store, progress=progress, lineage_extra={"tuning": tuning})


make_callable(__name__, tune)  # `mlpact.tune(...)` is tune
