"""Running trials: Optuna in one or several processes sharing the study's SQLite storage, or Ray Tune.

Both backends write every trial into the same Optuna study in the store, so a study can be
continued by either one and reported the same way.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlpact.errors import MissingDependencyError, MlpactError
from mlpact.tune._objective import Objective, suggest

if TYPE_CHECKING:
    from mlpact.tune._objective import Objective
    from mlpact.tune.torch_trials import TorchObjective

OnTrial = Callable[[int, "int | None", "float | None", "FinishedTrial"], None]


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
    except ImportError as exc:
        raise MissingDependencyError("optuna", extra="tune", feature="Hyperparameter tuning") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def storage(spec: StudySpec) -> Any:
    """The study's SQLite storage (an Optuna RDBStorage), patient with the other processes.

    Write-ahead logging with ``synchronous=NORMAL``: a trial makes several small writes (its
    creation, each sampled value, its result), and in SQLite's default mode each one waits for
    an fsync of the database and its journal. In WAL mode a commit appends to the log and the
    fsync happens at checkpoints; the file is never left inconsistent, and a power cut can lose
    only the last trials' records (a study is continued by re-running, not a ledger).
    """
    optuna = import_optuna()
    from sqlalchemy import event

    spec.folder.mkdir(parents=True, exist_ok=True)
    rdb = optuna.storages.RDBStorage(spec.url, engine_kwargs={"connect_args": {"timeout": 60}})
    event.listen(rdb.engine, "connect", _sqlite_pragmas)
    rdb.engine.dispose()  # the connections opened while creating the tables had no pragmas
    return rdb


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


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


def open_study(spec: StudySpec, *, seed: int | None = None, store: Any = None) -> Any:
    """Create the study (an optuna.Study), or load it to continue it.

    `store` is a storage this process already opened for the study (e.g. ``study._storage``):
    opening one checks the schema of the database and its migrations, about half a second.
    """
    optuna = import_optuna()
    return optuna.create_study(
        study_name=spec.name,
        storage=storage(spec) if store is None else store,
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
    study: Any = None,
) -> None:
    """Run `trials` more trials (or until `timeout`) in `jobs` processes sharing the storage.

    `study` is the study as this process opened it (its storage is reused), else it is opened.
    """
    study = open_study(spec) if study is None else study
    start = len(study.trials)
    target = None if trials is None else start + trials
    # Each process gets its own sampler seed, offset by the trials so far: a continued study
    # does not re-propose its first points.
    work = _Work(spec, objective, target, timeout, spec.seed + start, jobs > 1)
    progress = _progress(start, trials, on_trial, spec.metric)
    if jobs == 1:
        _optimize_here(work, progress, study)
        return
    workers = _start_workers([replace(work, seed=work.seed + 7919 * i) for i in range(1, jobs)])
    try:
        _optimize(work, progress, study._storage)
    except BaseException:
        for worker in workers:
            worker.stop()
        raise
    for worker in workers:
        worker.result()
    if progress is not None:
        progress(study, None)


def forks(*, torch: bool) -> bool:
    """Whether trial workers are forked from this process rather than started fresh (loky).

    A forked worker has every module this process imported and the prepared data already: it
    starts its first trial at once, where a fresh interpreter first spends seconds importing
    scikit-learn, pandas, Optuna and SQLAlchemy (on a loaded machine, most of a short study).
    Linux only (fork is unsafe with macOS system frameworks, absent on Windows), and not for
    PyTorch trials (torch's thread pools do not survive a fork).
    """
    return not torch and sys.platform.startswith("linux")


class _Worker(Protocol):
    def result(self) -> None: ...
    def stop(self) -> None: ...


def _start_workers(works: list[_Work]) -> list[_Worker]:

    if forks(torch=not isinstance(works[0].objective, Objective)):
        return [_Forked(work) for work in works]
    from joblib.externals.loky import get_reusable_executor

    executor = get_reusable_executor(max_workers=len(works))
    return [_Loky(executor.submit(_optimize, work, None, None)) for work in works]


@dataclass(frozen=True)
class _Loky:
    future: Any

    def result(self) -> None:
        self.future.result()

    def stop(self) -> None:
        self.future.cancel()


class _Forked:
    """A worker process forked from this one: it runs `_optimize` and sends back None or its error.

    Its sampler, storage connection and thread limit are its own (made after the fork); it
    ends with ``os._exit`` (multiprocessing's way), so nothing it inherited is finalised twice.
    """

    def __init__(self, work: _Work) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_forked, args=(work, send), name="mlpact-tune", daemon=True)
        with warnings.catch_warnings():  # Python 3.12+ warns when threads run (e.g. a progress display)
            warnings.simplefilter("ignore", DeprecationWarning)
            self._process.start()
        send.close()

    def result(self) -> None:
        """Wait for the worker; raise its error, or say that it died without one."""
        try:
            error = self._receive.recv()
        except EOFError:
            self._process.join()
            raise MlpactError(
                f"a tuning worker process ended without sending its result (exit code "
                f"{self._process.exitcode}; a negative code is the signal that ended it, e.g. -9 when "
                "killed for memory); its last trial may be left RUNNING in the study",
                hint="re-run the command to continue the study; `--jobs 1` runs every trial in this process",
            ) from None
        self._process.join()
        if error is not None:
            raise error

    def stop(self) -> None:
        self._process.terminate()
        self._process.join()


def _forked(work: _Work, send: Any) -> None:
    try:
        _optimize(work, None, None)
    except BaseException as exc:
        try:
            send.send(exc)
        except Exception:  # an error that does not pickle: send what it said
            send.send(RuntimeError(f"{type(exc).__name__}: {exc}"))
    else:
        send.send(None)
    finally:
        send.close()


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
    import pandas  # noqa: F401
    import sklearn.ensemble
    import sklearn.pipeline  # noqa: F401

    _warm_storage()


def _warm_storage() -> None:
    """Open a throwaway storage: the first one imports SQLAlchemy, Alembic and Mako (~1.5 s), which
    would otherwise delay the worker's first trial."""
    optuna = import_optuna()
    optuna.storages.RDBStorage("sqlite:///:memory:").engine.dispose()


def _warm_torch() -> None:
    import mlpact.tune.torch_trials  # noqa: F401
    import torch  # noqa: F401

    _warm_storage()


def _optimize(work: _Work, progress: Callable[[Any, Any], None] | None, store: Any) -> None:
    optuna = import_optuna()
    study = optuna.load_study(
        study_name=work.spec.name,
        storage=storage(work.spec) if store is None else store,
        sampler=sampler(work.spec, work.seed),
        pruner=pruner(work.spec),
    )
    callbacks: list[Callable[[Any, Any], None]] = []
    if work.target is not None and work.limit_threads:  # other processes add trials too: count them
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


def _optimize_here(work: _Work, progress: Callable[[Any, Any], None] | None, stored: Any) -> None:
    """One process: the trials run against an in-memory copy of the study, and each is written
    to the store's study, whole, when it finishes (and a trial that stops the study with an
    error is written too).

    Optuna writes to its storage as a trial goes: the trial's creation, each sampled value, each
    reported epoch or fold, the result, and re-reads the running trial several times, about 45
    SQL statements and 11 commits a trial (~20 ms through SQLAlchemy, more than a small model's
    training). Here a trial costs one transaction. The store's study ends the same, trial for
    trial; only a running trial is not in it until it ends. Several processes (`--jobs`) share
    the stored study live instead, so that each sampler sees the others' trials.
    """
    optuna = import_optuna()
    memory = optuna.create_study(
        directions=stored.directions, sampler=sampler(work.spec, work.seed), pruner=pruner(work.spec)
    )
    memory.add_trials(stored.get_trials(deepcopy=False))
    written = len(memory.trials)

    def write(_study: Any = None, _trial: Any = None) -> None:
        nonlocal written
        for trial in memory.get_trials(deepcopy=False)[written:]:
            if not trial.state.is_finished():
                return
            stored.add_trial(trial)
            written += 1

    callbacks = [write] if progress is None else [write, progress]
    try:
        memory.optimize(
            work.objective,
            n_trials=None if work.target is None else work.target - written,
            timeout=work.timeout,
            callbacks=callbacks,
            catch=(ValueError,),
        )
    finally:
        write()


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
    except ImportError as exc:
        raise MissingDependencyError("ray", extra="ray", feature="Tuning with --backend ray") from exc
    return ray, tune


@dataclass(frozen=True)
class FinishedTrial:
    """One trial that finished: its number in the study, its state and its value (None unless
    complete)."""

    number: int
    state: str  # COMPLETE, PRUNED or FAIL
    value: float | None
    metric: str = ""
