"""Running trials: Optuna in one or several processes sharing the study's SQLite storage, or Ray Tune.

Both backends write every trial into the same Optuna study in the store, so a study can be
continued by either one and reported the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact.errors import MissingDependencyError

if TYPE_CHECKING:
    from mlpact.torch.tuning import TorchObjective
    from mlpact.tune._objective import Objective


@dataclass(frozen=True)
class FinishedTrial:
    """One trial that finished: its number in the study, its state and its value (None unless
    complete)."""

    number: int
    state: str  # COMPLETE, PRUNED or FAIL
    value: float | None
    metric: str = ""


# on_trial(done, total, best_value, trial): once per finished trial of this call, in order.
OnTrial = Callable[[int, "int | None", "float | None", FinishedTrial], None]


@dataclass(frozen=True)
class StudySpec:
    """Where a study lives and what it optimises."""

    name: str
    folder: Path
    direction: str
    sampler: str
    pruner: str
    seed: int
    steps: int
    folds: int
    metric: str = ""  # what the trials are scored by

    @property
    def url(self) -> str:
        return f"sqlite:///{self.folder / 'study.db'}"


def import_optuna() -> Any:
    """Optuna, or a MissingDependencyError with the install hint."""
    try:
        import optuna
    except ImportError:
        raise MissingDependencyError("optuna", extra="tune", feature="Hyperparameter tuning") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def storage(spec: StudySpec) -> Any:
    """The study's SQLite storage (an Optuna RDBStorage), patient with the other processes."""
    optuna = import_optuna()
    spec.folder.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(spec.url, engine_kwargs={"connect_args": {"timeout": 60}})


def sampler(spec: StudySpec, seed: int) -> Any:
    """The configured Optuna sampler, seeded."""
    optuna = import_optuna()
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def pruner(spec: StudySpec) -> Any:
    """The configured Optuna pruner."""
    optuna = import_optuna()
    pruners: dict[str, Callable[[], Any]] = {
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5),
        "successive_halving": lambda: optuna.pruners.SuccessiveHalvingPruner(),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=spec.steps),
        "none": lambda: optuna.pruners.NopPruner(),
    }
    return pruners[spec.pruner]()


def open_study(spec: StudySpec, *, seed: int | None = None) -> Any:
    """Create the study (an optuna.Study), or load it to continue it."""
    optuna = import_optuna()
    return optuna.create_study(
        study_name=spec.name,
        storage=storage(spec),
        direction=spec.direction,
        sampler=sampler(spec, spec.seed if seed is None else seed),
        pruner=pruner(spec),
        load_if_exists=True,
    )


# --------------------------------------------------------------------------- Optuna, N processes
@dataclass(frozen=True)
class _Work:
    spec: StudySpec
    objective: Objective | TorchObjective
    target: int | None
    timeout: float | None
    seed: int
    limit_threads: bool


def run_optuna(
    spec: StudySpec,
    objective: Objective | TorchObjective,
    *,
    trials: int | None,
    timeout: float | None,
    jobs: int,
    on_trial: OnTrial | None,
) -> None:
    """Run `trials` more trials (or until `timeout`) in `jobs` processes sharing the storage."""
    study = open_study(spec)
    start = len(study.trials)
    target = None if trials is None else start + trials
    # Each process gets its own sampler seed, offset by the trials so far: a continued study
    # does not re-propose its first points.
    work = _Work(spec, objective, target, timeout, spec.seed + start, jobs > 1)
    progress = _progress(start, trials, on_trial, spec.metric)
    if jobs == 1:
        _optimize(work, progress)
        return
    from joblib.externals.loky import get_reusable_executor

    executor = get_reusable_executor(max_workers=jobs - 1)
    futures = [
        executor.submit(_optimize, replace(work, seed=work.seed + 7919 * i), None) for i in range(1, jobs)
    ]
    _optimize(work, progress)
    for future in futures:
        future.result()
    if progress is not None:
        progress(study, None)


def warm_workers(count: int, *, torch: bool = False) -> None:
    """Start the worker processes now, importing what trials need, without waiting for them.

    Trials only start once the data is prepared; starting the workers first overlaps their
    interpreter start and imports with that, instead of adding them to the tuning time.
    """
    from joblib.externals.loky import get_reusable_executor

    executor = get_reusable_executor(max_workers=count)
    for _ in range(count):
        executor.submit(_warm_torch if torch else _warm)


def _warm() -> None:
    import optuna  # noqa: F401
    import pandas  # noqa: F401
    import sklearn.ensemble
    import sklearn.pipeline  # noqa: F401

    import mlpact.evaluate
    import mlpact.tune._objective  # noqa: F401


def _warm_torch() -> None:
    import optuna  # noqa: F401
    import torch  # noqa: F401

    import mlpact.torch.tuning  # noqa: F401


def _optimize(work: _Work, progress: Callable[[Any, Any], None] | None) -> None:
    optuna = import_optuna()
    study = optuna.load_study(
        study_name=work.spec.name,
        storage=storage(work.spec),
        sampler=sampler(work.spec, work.seed),
        pruner=pruner(work.spec),
    )
    callbacks: list[Callable[[Any, Any], None]] = []
    if work.target is not None:
        callbacks.append(optuna.study.MaxTrialsCallback(work.target, states=None))
    if progress is not None:
        callbacks.append(progress)
    with _threads(1 if work.limit_threads else None):
        study.optimize(
            work.objective,
            n_trials=None if work.target is None else work.target - len(study.trials),
            timeout=work.timeout,
            callbacks=callbacks,
            catch=(ValueError,),
        )


@contextlib.contextmanager
def _threads(limit: int | None) -> Iterator[None]:
    """One BLAS/OpenMP thread per process when processes share the cores."""
    if limit is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=limit):
        yield


def _progress(
    start: int, trials: int | None, on_trial: OnTrial | None, metric: str
) -> Callable[[Any, Any], None] | None:
    """Optuna's callback (in this process): report every trial finished since the last call, those
    of the other worker processes too, one call each."""
    if on_trial is None:
        return None
    reported: set[int] = set()

    def callback(study: Any, _trial: Any) -> None:
        report_finished(study, start, trials, on_trial, reported, metric=metric)

    return callback


def report_finished(
    study: Any, start: int, total: int | None, on_trial: OnTrial, reported: set[int], *, metric: str = ""
) -> None:
    """Call `on_trial` once for each finished trial after the first `start` not yet in `reported`."""
    finished = [t for t in study.get_trials(deepcopy=False)[start:] if t.state.is_finished()]
    best = best_value(study)
    for t in finished:
        if t.number not in reported:
            reported.add(t.number)
            value = float(t.value) if t.value is not None else None
            on_trial(len(reported), total, best, FinishedTrial(t.number, t.state.name, value, metric))


def best_value(study: Any) -> float | None:
    try:
        return float(study.best_value)
    except ValueError:
        return None


# --------------------------------------------------------------------------- Ray Tune
def run_ray(
    spec: StudySpec,
    objective: Objective | TorchObjective,
    *,
    trials: int | None,
    timeout: float | None,
    jobs: int,
    address: str | None,
    on_trial: OnTrial | None,
) -> None:
    """Run trials with Ray Tune (a local Ray, or the cluster at `address`); Optuna samples them and
    records them in the same study storage."""
    ray, tune = import_ray()
    from ray.tune.search.optuna import OptunaSearch

    start = len(open_study(spec).trials)
    space = objective.cfg.tune.space
    mode = "max" if spec.direction == "maximize" else "min"

    search = OptunaSearch(
        space=_Define(space),
        metric="value",
        mode=mode,
        sampler=sampler(spec, spec.seed + start),
        study_name=spec.name,
        storage=storage(spec),
    )
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=address,
            num_cpus=None if address else jobs,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    try:
        _fit_ray(tune, spec, objective, search, trials=trials, timeout=timeout, jobs=jobs, mode=mode)
    finally:
        if started:
            ray.shutdown()
    if on_trial is not None:  # Ray reports to its driver: each trial is said at the end
        report_finished(open_study(spec), start, trials, on_trial, set(), metric=spec.metric)


def _fit_ray(
    tune: Any,
    spec: StudySpec,
    objective: Objective | TorchObjective,
    search: Any,
    *,
    trials: int | None,
    timeout: float | None,
    jobs: int,
    mode: str,
) -> None:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    steps = max(spec.steps, spec.folds)
    scheduler = (
        FIFOScheduler()  # type: ignore[no-untyped-call]
        if spec.pruner == "none"
        else ASHAScheduler(time_attr="step", max_t=steps, grace_period=1, reduction_factor=2)
    )
    trainable = tune.with_resources(tune.with_parameters(_ray_trial, objective=objective), {"cpu": 1})
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=search,
            scheduler=scheduler,
            metric="value",
            mode=mode,
            num_samples=trials if trials is not None else -1,
            max_concurrent_trials=jobs,
            time_budget_s=timeout,
        ),
        run_config=tune.RunConfig(
            storage_path=str(spec.folder / "ray"), name=spec.name, verbose=0, log_to_file=True
        ),
    )
    tuner.fit()


@dataclass(frozen=True)
class _Define:
    """The define-by-run space for Ray's OptunaSearch (picklable, for its checkpoints)."""

    space: dict[str, Any]

    def __call__(self, trial: Any) -> dict[str, Any]:
        from mlpact.tune._objective import suggest

        return suggest(trial, self.space)


def _ray_trial(config: dict[str, Any], objective: Objective | TorchObjective) -> None:
    """One Ray Tune trial: the same evaluation as Optuna's, reporting each step to Ray."""
    from ray import tune

    def report(value: float, step: int) -> None:
        tune.report({"value": value, "step": step + 1})

    objective.evaluate(dict(config), report=report)


def import_ray() -> tuple[Any, Any]:
    try:
        import ray
        from ray import tune
    except ImportError:
        raise MissingDependencyError("ray", extra="ray", feature="Tuning with --backend ray") from None
    return ray, tune
