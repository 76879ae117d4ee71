"""Train: load and split the data, build the pipeline, evaluate honestly, save a version."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlpact import torch as torch_flavor
from mlpact._core import files
from mlpact._core.lineage import environment, git_state
from mlpact._core.metrics import (
    MetricsFile,
    compute_metrics,
    finite_json,
    metrics_for,
    primary_metric,
    score,
)
from mlpact._core.plots import write_plots
from mlpact._core.progress import Progress, Silent
from mlpact.config import Config, import_paths, load_config
from mlpact.data import reference
from mlpact.data.leakage import check_split
from mlpact.errors import ConfigError, DataError
from mlpact.learn import preflight
from mlpact.learn.decision import calibrate, decided
from mlpact.learn.pipeline import build_pipeline
from mlpact.learn.prepare import prepare
from mlpact.learn.scoring import (
    assess,
    baseline_estimator,
    cross_validate,
    importance_metrics,
    permutation_importance,
    probability_facts,
    test_intervals,
)
from mlpact.store import Store, VersionRecord, disk_full, lineage_origin
from mlpact.torch import is_torch_config
from mlpact.tracking import Tracker
from mlpact.version import bundle, recording, usercode
from mlpact.version.recording import refuse_torch_decision
from mlpact.version.report import baseline_warning
from mlpact.version.write import finalize_version

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.data.schema import Schema
    from mlpact.learn.decision import Decision
    from mlpact.learn.prepare import Prepared


@dataclass
class TrainResult:
    """What a training produced: the saved version, its metrics and anything worth a warning."""

    version: VersionRecord
    metrics: MetricsFile
    schema: Schema
    config: Config
    run_id: str
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return self.version.ref

    @property
    def path(self) -> Path:
        return self.version.path


def train(
    config: str | Path | Config | dict[str, Any],
    overrides: Iterable[str] = (),
    *,
    store: str | Path | Store | None = None,
    progress: Progress | None = None,
    address: str | None = None,
) -> TrainResult:
    """Train, evaluate and save a new version from a config.

    Args:
        config: a YAML file, a mapping, or a loaded :class:`Config`.
        overrides: ``key.path=value`` strings applied on top of the file.
        store: the store folder (default ``$MLPACT_HOME`` or ``./.mlpact``).
        progress: where to report progress; silent by default.
        address: the Ray cluster a PyTorch run with `train.engine: ray` connects to
            (``ray://head:10001``, ``auto``); default: a local Ray.

    Returns:
        The new version, its metrics and warnings.

    Raises:
        ConfigError: the config is invalid. DataError: the data cannot be used.
    """
    if isinstance(config, Config):
        cfg = load_config(config.template(), overrides, base_dir=config.base_dir) if overrides else config
    else:
        cfg = load_config(config, overrides)
    with torch_flavor.ray_session(cfg, address):
        return run(cfg, store=Store.open(store), progress=progress or Silent())


def run(
    cfg: Config,
    *,
    store: Store,
    progress: Progress,
    lineage_extra: dict[str, Any] | None = None,
    threads: int | None = None,
) -> TrainResult:
    """Train one version; the run is recorded as failed (and nothing saved) on any error.

    `lineage_extra` is merged into the version's lineage.json (e.g. the tuning that chose it).
    A PyTorch model (see `mlpact.torch.is_torch_config`) is trained by `mlpact.torch.training.Job`, with
    `threads` (CPU threads for this run, instead of `train.threads`; `mlpact reproduce` passes
    the recorded count).
    """

    if is_torch_config(cfg):
        return _run_torch(cfg, store, progress, lineage_extra, threads)

    def work(run_id: str, tmps: list[Path]) -> TrainResult:
        job = Job(cfg, progress)
        job.lineage.update(lineage_extra or {})
        fitted = job.fit()
        tmps.append(store.new_tmp_dir())
        with progress.stage("Saving version"):
            record = _save(store, tmps[-1], job, fitted, run_id)
        return TrainResult(record, job.metrics, job.schema, cfg, run_id, job.warnings, job.timings)

    return recorded_run(store, cfg, _params(cfg), work)


def _run_torch(
    cfg: Config, store: Store, progress: Progress, lineage_extra: dict[str, Any] | None, threads: int | None
) -> TrainResult:
    """A PyTorch training (`mlpact.torch.training.Job`), recorded as a run like any other."""
    from mlpact.torch import training as torch_training

    refuse_torch_decision(cfg)
    _refuse_torch_refit(cfg)
    preflight.torch_loss(cfg, cfg.data.task if cfg.data.task != "auto" else None)

    def work(run_id: str, tmps: list[Path]) -> TrainResult:
        checkpoint = torch_training.checkpoint_path(cfg, store.root)
        job = torch_training.Job(cfg, progress, checkpoint=checkpoint, threads=threads)
        job.lineage_extra = dict(lineage_extra or {})
        job.fit()
        tmps.append(store.new_tmp_dir())
        with progress.stage("Saving version"):
            record = torch_training.save(store, tmps[-1], job, run_id)
        return TrainResult(record, job.metrics, job.schema, cfg, run_id, job.warnings, job.timings)

    return recorded_run(store, cfg, torch_training.run_params(cfg), work)


def _refuse_torch_refit(cfg: Config) -> None:

    if cfg.train.refit == "all":
        raise ConfigError(
            [
                "train.refit: all refits scikit-learn pipelines; a PyTorch model keeps the epoch "
                f"chosen on its validation split (found model.type {cfg.model.type}). Remove train.refit."
            ]
        )


class TrainingJob(Protocol):
    """One training (scikit-learn: `Job`; PyTorch: `mlpact.torch.Job`), as `run` drives it."""

    metrics: MetricsFile
    schema: Schema
    warnings: list[str]
    timings: dict[str, float]
    lineage: dict[str, Any]

    def params(self) -> dict[str, Any]: ...

    def fit(self) -> Any: ...

    def save(self, store: Store, tmp: Path, run_id: str) -> VersionRecord: ...


def recorded_run(
    store: Store, cfg: Config, params: dict[str, Any], work: Callable[[str, list[Path]], TrainResult]
) -> TrainResult:
    """Run `work(run_id, tmp_dirs)` as a recorded run: succeeded with its test metrics and
    version, or failed with the error, its temporary folders removed and nothing saved.
    With `tracking.mlflow_uri` set, the run is mirrored to MLflow too (see `mlpact.tracking`)."""

    tracker = Tracker.start(cfg)
    run_id = store.start_run(cfg.name, config_hash=cfg.hash(), params={**params, **tracker.ids})
    tmps: list[Path] = []
    try:
        result = work(run_id, tmps)
    except BaseException as exc:
        for tmp in tmps:
            shutil.rmtree(tmp, ignore_errors=True)
        tracker.failed(exc)
        full = disk_full(exc, store.root)
        with contextlib.suppress(Exception):  # on a full disk the run record may not fit either
            store.finish_run(run_id, status="failed", error=f"{type(full or exc).__name__}: {exc}")
        if full is not None:
            raise full from exc
        raise
    store.finish_run(
        run_id, status="succeeded", metrics=dict(result.metrics["test"]), version=result.version.version
    )
    tracker.succeeded(result)
    return result


def _params(cfg: Config) -> dict[str, Any]:
    return {
        "model.type": cfg.model.type,
        **{f"model.params.{k}": v for k, v in cfg.public("model.params").items()},
        "seed": cfg.seed,
        "data.source": cfg.public("data.source"),
    }


class Job:
    """The state of one training, built up stage by stage."""

    def __init__(self, cfg: Config, progress: Progress) -> None:
        self.cfg = cfg
        self.progress = progress
        self.warnings: list[str] = []
        self.leakage: list[dict[str, Any]] = []
        self.baseline: dict[str, Any] | None = None
        self.importance: dict[str, dict[str, float]] = {}
        self.timings: dict[str, float] = {}
        self.lineage: dict[str, Any] = {}
        self.decision: Decision | None = None
        ev, quick = cfg.evaluate, cfg.evaluate.profile == "quick"
        # What this run does beyond CV, the fit and the test score (`evaluate.profile: quick`: none).
        self.plots = ev.plots and not quick
        self.importance_on = bool(ev.importance_repeats) and not quick
        self.baseline_on = ev.baseline and not quick
        self.profile_on = cfg.record.profile and not quick

    @contextmanager
    def timed(self, key: str, description: str) -> Iterator[None]:
        start = time.perf_counter()
        with self.progress.stage(description):
            yield
        self.timings[key] = round(time.perf_counter() - start, 4)

    @contextmanager
    def clock(self, key: str) -> Iterator[None]:
        """Time a step into `timings` without a progress line of its own (the parts of the save)."""
        start = time.perf_counter()
        yield
        self.timings[key] = round(self.timings.get(key, 0.0) + time.perf_counter() - start, 4)

    def fit(self) -> Any:

        kind = preflight.before_data(self.cfg)  # the estimator and what the config asks of it
        with self.timed("load", f"Loading {self.cfg.data.source}"):
            data = prepare(self.cfg)
        preflight.after_data(self.cfg, data, kind)
        self._adopt(data)
        frame, X, y = data.frame, data.X, data.y  # rows without a target are gone from frame
        _slice_frame(frame, self.cfg.evaluate.slices)  # a missing slice column fails before any fit
        built = build_pipeline(self.cfg, self.plan)  # preflight refused an estimator of the other task
        self.positive = preflight.positive_class(self.cfg, self.task, y)
        self.metric_names = metrics_for(
            self.task, self.cfg.evaluate.metrics, binary=self.positive is not None
        )
        if self.cfg.evaluate.leakage:
            with self.timed("leakage", "Looking for leakage"):
                self._look_for_leakage(frame)
        X_train, y_train = X.iloc[self.split.train], y.iloc[self.split.train]
        X_test, y_test = X.iloc[self.split.test], y.iloc[self.split.test]
        pipeline = self._cross_validate(built, X_train, y_train)
        with self.timed(
            "fit", f"Fitting {self.cfg.model.type.rsplit('.', 1)[-1]} on {len(self.split.train)} rows"
        ):
            pipeline = _guard_fit(lambda: pipeline.fit(X_train, y_train), self.warnings)
        self.decision = recording.decide(self, pipeline, X_train, y_train)
        with self.timed("test", f"Scoring the test split once ({len(self.split.test)} rows)"):
            self._score_test(pipeline, X_test, y_test, frame.iloc[self.split.test])
        if self.baseline_on:
            with self.timed("baseline", "Scoring the baseline (dummy estimator) the same way"):
                self._score_baseline(X_train, y_train, X_test, y_test)
        if self.importance_on:
            with self.timed("importance", "Permutation importance on the test split"):
                self._importance(pipeline, X_test, y_test)
        if self.cfg.train.refit == "all":
            pipeline = self._refit(pipeline, X, y)
        return pipeline

    def _refit(self, pipeline: Any, X: pd.DataFrame, y: pd.Series) -> Any:
        """Fit the evaluated pipeline again on every row (training + test) once it is scored."""
        import numpy as np
        from sklearn.base import clone

        from mlpact.data.sources import fingerprint

        rows = np.sort(np.concatenate([self.split.train, self.split.test]))  # in the data's order
        with self.timed("refit", f"Refitting on all {len(rows)} rows (training + test; train.refit: all)"):
            refit = _guard_fit(lambda: clone(pipeline).fit(X.iloc[rows], y.iloc[rows]), self.warnings)
        data = self.lineage["data"]
        self.lineage["refit"] = {
            "evaluated": {"rows": len(self.split.train), "fingerprint": data["train_fingerprint"],
                          "split": "train", "scored_on": "test"},
            "saved": {"rows": len(rows), "fingerprint": fingerprint(self.frame.iloc[rows]),
                      "split": "train+test"},
        }  # fmt: skip
        self.metrics["refit"] = {
            "rows": len(rows),
            "note": f"The saved model was refit on all {len(rows)} rows (training + test) after it was "
            "scored: the test metrics are those of the fit on the training split, before the refit.",
        }
        return refit

    def _look_for_leakage(self, frame: pd.DataFrame) -> None:

        split = self.cfg.data.split
        found = check_split(
            frame.iloc[self.split.train],
            frame.iloc[self.split.test],
            target=self.cfg.data.target,
            task=self.task,
            features=[c for c in self.plan.used if c in frame.columns],  # not custom-made ones
            group_column=split.group_column,
            time_column=split.time_column,
            threshold=self.cfg.evaluate.leakage_threshold,
            seed=self.cfg.seed,
            text=self.plan.text,
        )
        self.leakage = [f.to_dict() for f in found]
        self.warnings += [f"Possible leakage ({f.check}): {f.message}" for f in found]

    def _adopt(self, data: Prepared) -> None:
        """Take over the prepared data's pieces and what it had to say."""
        self.data = data
        self.frame, self.task, self.split = data.frame, data.task, data.split
        self.schema, self.plan, self.groups = data.schema, data.plan, data.groups
        self.lineage["data"] = data.lineage
        self.warnings += data.warnings

    def folds(self, X: pd.DataFrame, y: pd.Series) -> list[Any]:
        if not hasattr(self, "_cv_folds"):
            self._cv_folds = self.data.folds()
        return self._cv_folds

    def _cross_validate(self, built: Any, X: pd.DataFrame, y: pd.Series) -> Any:

        pipeline = calibrate(built, self.cfg.decision)
        self.cv: dict[str, Any] = {}
        k = self.cfg.evaluate.cv_folds
        if k:
            folds = self.folds(X, y)
            start = time.perf_counter()
            with self.progress.bar(
                f"Cross-validating ({k} folds on the training split)", len(folds)
            ) as advance:
                self.cv = _guard_fit(
                    lambda: cross_validate(
                        pipeline, X, y, folds, self.metric_names, on_fold=lambda i, n: advance(1),
                        positive=self.positive,
                    ),
                    self.warnings,
                )  # fmt: skip
            self.timings["cv"] = round(time.perf_counter() - start, 4)
        return pipeline

    def _score_test(self, pipeline: Any, X: pd.DataFrame, y: pd.Series, raw: pd.DataFrame) -> None:

        ev = self.cfg.evaluate
        slices = _slice_frame(raw, ev.slices)
        test, self.found = assess(
            pipeline, X, y, self.metric_names, task=self.task, slices=slices,
            max_values=ev.slice_max_values, decision=self.decision, positive=self.positive,
        )  # fmt: skip
        self.metrics: MetricsFile = {
            "task": self.task,
            "primary": primary_metric(self.task, ev.primary),
            "cv": {"folds": ev.cv_folds, "metrics": self.cv},
            "test": test["metrics"],
            "ci": test_intervals(self.found, self.metric_names, task=self.task, seed=self.cfg.seed),
            "test_scored": 1,
            "rows": {"train": len(self.split.train), "test": len(self.split.test)},
            **probability_facts(pipeline, self.metric_names, positive=self.positive),  # type: ignore[typeddict-item]
        }
        for key in ("per_class", "slices"):
            if key in test:
                self.metrics[key] = test[key]
        if self.decision is not None:  # the decided labels are the test metrics; argmax beside them
            argmax = self.found.proba.argmax(axis=1)
            pred = [self.found.classes[i] for i in argmax]  # type: ignore[index]
            self.metrics["test_argmax"] = compute_metrics(
                self.metric_names, y, pred, self.found.proba, self.found.classes, positive=self.positive
            )

    def _score_baseline(
        self, X_train: pd.DataFrame, y_train: pd.Series, X_test: pd.DataFrame, y_test: pd.Series
    ) -> None:

        dummy = baseline_estimator(self.task)
        folds = self.folds(X_train, y_train)
        names, positive = self.metric_names, self.positive
        cv = cross_validate(dummy, X_train, y_train, folds, names, positive=positive) if folds else {}
        test = score(dummy.fit(X_train, y_train), X_test, y_test, names, positive=positive)
        self.metrics["baseline"] = {"estimator": _describe(dummy), "cv": cv, "test": test}
        warning = baseline_warning(self.metrics)
        if warning:
            self.warnings.append(warning)

    def _importance(self, pipeline: Any, X: pd.DataFrame, y: pd.Series) -> None:

        ev, metric = self.cfg.evaluate, self.metrics["primary"]
        found = permutation_importance(
            decided(pipeline, self.decision),  # the labels the test metrics were computed on
            X,
            y,
            metric=metric,
            n_repeats=ev.importance_repeats,
            max_rows=ev.importance_max_rows,
            max_columns=ev.importance_max_columns,
            seed=self.cfg.seed,
            positive=self.positive,
        )
        self.importance = found.columns
        self.metrics["importance"] = importance_metrics(found, metric, "test")
        note = found.note(metric)
        if note:
            self.warnings.append(note)

    def write_plots(self, directory: Path) -> list[str]:
        """PNG plots of the test split into `directory` (the version's reports/)."""

        if not self.plots:
            return []
        with self.timed("plots", "Plotting"):
            return write_plots(
                self.found,
                directory,
                task=self.task,
                importance=self.importance,
                metric=self.metrics["primary"],
            )


def _slice_frame(raw: pd.DataFrame, columns: list[str]) -> pd.DataFrame | None:

    if not columns:
        return None
    missing = sorted(set(columns) - set(raw.columns))
    if missing:
        raise DataError(
            f"Slice columns named in evaluate.slices are not in the data: {missing!r}.\n"
            f"The data has: {sorted(map(str, raw.columns))!r}.",
            hint="Fix evaluate.slices, or add the column to data.columns.",
        )
    return raw[list(columns)]


def _describe(estimator: Any) -> str:
    params = ", ".join(f"{k}={v!r}" for k, v in estimator.get_params().items() if k == "strategy")
    return f"{type(estimator).__module__.split('._')[0]}.{type(estimator).__name__}({params})"


def _guard_fit(fn: Any, warned: list[str]) -> Any:
    """Run a fit; collect the estimator's warnings (once each) and turn an invalid parameter
    into a ConfigError naming model.params."""
    import warnings

    from sklearn.utils._param_validation import InvalidParameterError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = fn()
    except InvalidParameterError as exc:
        raise ConfigError([f"model.params: {exc}"]) from None
    for item in caught:
        text = _fit_warning(item.category, str(item.message))
        if text not in warned:
            warned.append(text)
    return result


def _fit_warning(category: type[Warning], message: str) -> str:
    """An estimator's warning as one line that says what to do where mlpact knows it."""
    line = (message.strip().splitlines() or [""])[0].rstrip(":")
    text = f"The estimator warned ({category.__name__}): {line}"
    if category.__name__ == "ConvergenceWarning":
        text += "; raise model.params.max_iter, or scale the features"
    return text


# --------------------------------------------------------------------------- saving
def _save(store: Store, tmp: Path, job: Job, pipeline: Any, run_id: str) -> VersionRecord:

    cfg = job.cfg
    save_started = time.perf_counter()
    job.metrics["plots"] = job.write_plots(tmp / "reports")
    with job.clock("save_records"):
        recording.record(tmp, job, pipeline)
    if job.leakage:
        job.metrics["leakage"] = job.leakage

    named = import_paths(cfg.to_dict())
    with job.clock("save_pipeline"):
        trusted = bundle.dump_pipeline(pipeline, tmp, allowed=named)
    files.write_json(tmp / "schema.json", job.schema.to_dict())

    with job.clock("save_reference"):
        rows = job.data.X if cfg.train.refit == "all" else None  # what the saved model was fit on
        summary = reference.build(job.data, decided(pipeline, job.decision), rows=rows)
        files.write_json(tmp / reference.FILE, summary)

    files.write_bytes(tmp / "config.yaml", cfg.to_yaml().encode())
    files.write_json(tmp / "metrics.json", finite_json(job.metrics))
    lineage = {
        **job.lineage,
        "seed": cfg.seed,
        "config_hash": cfg.hash(),
        "run_id": run_id,
        "features": job.plan.to_dict(),
        "warnings": job.warnings,
        "timings_s": job.timings,
        "git": git_state(cfg.base_dir),
        "environment": environment(),
        "origin": "mlpact.train",
        "code": usercode.describe(named),
    }
    with job.clock("save_golden"):
        recording.record_golden(tmp, job, pipeline, lineage=lineage)
    job.timings["save"] = round(time.perf_counter() - save_started, 4)  # lineage holds this dict
    files.write_json(tmp / "lineage.json", lineage)
    hashes = bundle.hash_files(tmp)

    def finalize(directory: Path, version: int) -> dict[str, Any]:
        return finalize_version(
            directory, version, cfg=cfg, flavor="sklearn", schema=job.schema.to_dict(), metrics=job.metrics,
            lineage=lineage, hashes=hashes, trusted=trusted,
        )  # fmt: skip

    origin = lineage_origin(lineage)  # a reproduction is kept out of `latest`
    return store.register(cfg.name, tmp, finalize, flavor="sklearn", run_id=run_id, origin=origin)
