"""The training run for PyTorch models: data, module, engine, honest evaluation, a saved version.

The same protocol as scikit-learn runs: a validation split carved from the training data picks
the epoch (early stopping, best checkpoint); the test split (`test/` for image folders) is scored
once; the version is written with the same manifest, hashes and store registration (flavor torch).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpact._core import files
from mlpact._core.lineage import environment, git_state
from mlpact._core.metrics import MetricsFile, compute_metrics, finite_json, metrics_for, primary_metric, score
from mlpact._core.plots import write_plots
from mlpact._core.progress import Progress
from mlpact.config import NOT_HASHED, import_paths, training_only
from mlpact.data import reference
from mlpact.learn import preflight
from mlpact.learn.scoring import assess, baseline_estimator, predictions, probability_facts, test_intervals
from mlpact.store import lineage_origin
from mlpact.torch._ray import fit_on_ray
from mlpact.torch.curves import write_learning_curves
from mlpact.torch.data import Data, file_digests, fit_labels, image_lineage, load_data
from mlpact.torch.deps import require
from mlpact.torch.engine import EpochHook, FitResult, fit
from mlpact.torch.images import read_folders, split_validation
from mlpact.torch.imagestats import build_reference, sample
from mlpact.torch.parts import class_weights
from mlpact.torch.saving import (
    HISTORY_JSON,
    TRANSFORMS_JSON,
    TorchPredictor,
    build_module,
    inference_batch,
    save_module,
    unrecorded_defaults,
)
from mlpact.version import bundle, envlock, golden, inspection, usercode
from mlpact.version.report import baseline_warning
from mlpact.version.write import finalize_version

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.config import Config, TrainConfig
    from mlpact.store import Store, VersionRecord

torch = require("torch")


def run_params(cfg: Config) -> dict[str, Any]:
    train = cfg.train
    return {
        "model.type": cfg.model.type,
        **{f"model.params.{k}": v for k, v in cfg.model.params.items()},
        **{f"train.{k}": getattr(train, k) for k in ("batch_size", "lr", "epochs", "optimizer")},
        "seed": cfg.seed,
        "data.source": cfg.data.source,
    }


def checkpoint_path(cfg: Config, root: Path) -> Path:
    """Where a config's checkpoint lives: keyed by everything that shapes training (what
    Config.hash covers) except `train.epochs` and `train.resume`, so a resumed run may also
    train for longer."""

    data = cfg.to_dict()
    for key in NOT_HASHED:
        data.pop(key, None)
    data["train"] = {k: v for k, v in data["train"].items() if k not in ("epochs", "resume")}
    key = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    return root / "checkpoints" / cfg.name / f"{key}.pt"


@dataclass
class Fitted:
    """A trained module, its constructor's arguments (defaults included), the fit result, the
    `train:` settings it ran with and what the engine adds to the lineage."""

    module: Any
    kwargs: dict[str, Any]
    result: FitResult
    train: TrainConfig
    lineage: dict[str, Any]


def fit_module(
    cfg: Config,
    data: Data,
    *,
    progress: Progress,
    checkpoint: Path | None = None,
    threads: int | None = None,
    on_epoch: Sequence[EpochHook] = (),
) -> Fitted:
    """Build the module `model.type` names (seeded) and train it on the data's fitting split."""

    train = cfg.train if threads is None else cfg.train.model_copy(update={"threads": threads})
    torch.manual_seed(cfg.seed)
    module, kwargs = build_module(cfg.model.type, cfg.model.params, data.shape, near=cfg.base_dir)
    if train.engine == "ray":  # data-parallel workers; rank 0's weights come back here
        result, lineage = fit_on_ray(module, cfg, progress=progress)
        return Fitted(module, kwargs, result, train, lineage)
    weight = class_weights(train, fit_labels(data.fit), int(data.shape["outputs"]), data.task)
    result = fit(module, data.fit, data.val, train, task=data.task, seed=cfg.seed, checkpoint=checkpoint,
                 progress=progress, loss_weight=weight, on_epoch=on_epoch)  # fmt: skip
    lineage = {"engine": "local", "device": result.device, "threads": result.threads, "amp": result.amp,
               "threads_setting": train.threads, "cpu_capability": cpu_capability()}  # fmt: skip
    return Fitted(module, kwargs, result, train, lineage)


# --------------------------------------------------------------------------- the job
class Job:
    """One PyTorch training: data, module, engine, evaluation; what `save` writes.

    `threads` overrides `train.threads` for this run only (`mlpact reproduce` passes the count
    the version recorded, so an unset `train.threads` reproduces exactly on the same machine).
    """

    def __init__(
        self, cfg: Config, progress: Progress, *, checkpoint: Path | None = None, threads: int | None = None
    ) -> None:
        self.cfg, self.progress, self.checkpoint, self.threads = cfg, progress, checkpoint, threads
        self.warnings: list[str] = []
        self.timings: dict[str, float] = {}
        self.lineage_extra: dict[str, Any] = {}

    def fit(self) -> None:

        cfg = self.cfg
        start = time.perf_counter()
        with self.progress.stage(f"Loading {cfg.data.source}"):
            self.data = load_data(cfg)
        self.timings["load"] = round(time.perf_counter() - start, 4)
        self.warnings += self.data.warnings
        self.schema, self.task = self.data.schema, self.data.task
        preflight.torch_loss(cfg, self.task, why=f"the target {cfg.data.target!r} makes this a {self.task}")
        classes = self.data.classes or []
        self.positive = classes[1] if len(classes) == 2 else None
        self.metric_names = metrics_for(self.task, cfg.evaluate.metrics, binary=self.positive is not None)
        fitted = fit_module(
            cfg, self.data, progress=self.progress, checkpoint=self.checkpoint, threads=self.threads
        )
        self.module, self.kwargs, self.result, self.train = (
            fitted.module,
            fitted.kwargs,
            fitted.result,
            fitted.train,
        )
        self.lineage_extra["training"] = fitted.lineage
        self.warnings += unrecorded_defaults(cfg.model.type, self.kwargs)
        self.timings["fit"] = round(self.result.seconds, 4)
        self.module.to("cpu")
        batch = inference_batch(cfg.train.batch_size, images=self.data.images is not None)
        self.predictor = TorchPredictor(self.module, self.data.to_tensor, self.data.classes, batch_size=batch)
        self._score()

    def _score(self) -> None:

        data, start = self.data, time.perf_counter()
        with self.progress.stage(f"Scoring the test split once ({data.rows['test']} rows)"):
            test, self.found = assess(
                self.predictor, data.test_X, data.test_y, self.metric_names, task=self.task,
                positive=self.positive,
            )  # fmt: skip
        validation: dict[str, float] = {}
        if data.rows["validation"]:
            found = self._predictions(data.val_X, data.val_y)
            validation = compute_metrics(
                self.metric_names, data.val_y, found.pred, found.proba, found.classes, positive=self.positive
            )
        self.timings["test"] = round(time.perf_counter() - start, 4)
        fitted = self.result
        self.metrics: MetricsFile = {
            "task": self.task,
            "primary": primary_metric(self.task, self.cfg.evaluate.primary),
            "cv": {"folds": 0, "metrics": {}},
            "validation": validation,
            "test": test["metrics"],
            "ci": test_intervals(self.found, self.metric_names, task=self.task, seed=self.cfg.seed),
            **probability_facts(self.predictor, self.metric_names, positive=self.positive),  # type: ignore[typeddict-item]
            "test_scored": 1,
            "rows": data.rows,
            "epochs": {"run": len(fitted.history), "best": fitted.best_epoch,
                       "stopped_early": fitted.stopped_early, "stopped_by": fitted.stopped_by,
                       "resumed_from": fitted.resumed_from},
            "training": training_facts(self.train, fitted, self.module),
        }  # fmt: skip
        if "per_class" in test:
            self.metrics["per_class"] = test["per_class"]
        if self.cfg.evaluate.baseline:
            self._baseline()

    def _predictions(self, X: Any, y: pd.Series) -> Any:

        return predictions(self.predictor, X, y)

    def _baseline(self) -> None:

        train_y = _labels_of(self.data.fit, self.data.classes)
        dummy = baseline_estimator(self.task).fit(np.zeros((len(train_y), 1)), train_y)
        zeros = np.zeros((len(self.data.test_y), 1))
        test = score(dummy, zeros, self.data.test_y, self.metric_names, positive=self.positive)
        name = f"sklearn.dummy.{type(dummy).__name__}"
        self.metrics["baseline"] = {"estimator": name, "cv": {}, "test": test}
        warning = baseline_warning(self.metrics)
        if warning:
            self.warnings.append(warning)

    def write_plots(self, directory: Path) -> list[str]:
        """Test-split plots (confusion matrix, ROC, ...) and the learning curves, into reports/."""

        if not self.cfg.evaluate.plots:
            return []
        names = write_plots(self.found, directory, task=self.task)
        return [*names, write_learning_curves(self.result.history, directory)]


def cpu_capability() -> str | None:
    """The vector instructions torch's CPU kernels use here (e.g. AVX2, AVX512): another value
    can give other floating-point results, so reproduction compares it."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return None


def folder_lineage(cfg: Config) -> tuple[dict[str, Any], list[str]]:
    """An image folder's lineage as `mlpact train` would record it now, and its test images."""

    root = cfg.source_path()
    assert root is not None
    splits = read_folders(root, cfg)
    fit_at, val_at = split_validation(splits.train[1], cfg.train.val_size, cfg.seed)
    digests = file_digests([*splits.train[0], *splits.test[0]])
    return image_lineage(root, splits, fit_at, val_at, digests), [str(p) for p in splits.test[0]]


def training_facts(train: TrainConfig, fitted: FitResult, module: Any) -> dict[str, Any]:
    """How the module was trained, as the card and `models show` list it."""
    return {
        "epochs": train.epochs, "lr": train.lr, "optimizer": train.optimizer, "batch_size": train.batch_size,
        "loss": train.loss, "scheduler": train.scheduler, "device": fitted.device, "amp": fitted.amp,
        "threads": fitted.threads, "parameters": parameter_count(module),
        "samples_per_s": round(fitted.samples_per_s, 2),
    }  # fmt: skip


def parameter_count(module: Any) -> int:
    """The number of values in a module's parameters (trainable or not)."""
    return int(sum(p.numel() for p in module.parameters()))


def _labels_of(dataset: Any, classes: list[Any] | None) -> np.ndarray:
    labels = fit_labels(dataset)
    if classes is None:
        return labels
    names: np.ndarray = np.asarray(classes, dtype=object)[labels]
    return names


# --------------------------------------------------------------------------- saving
def save(store: Store, tmp: Path, job: Job, run_id: str) -> VersionRecord:
    """Write every file of the version into `tmp` and register it (flavor "torch")."""

    cfg = job.cfg
    job.metrics["plots"] = job.write_plots(tmp / "reports")
    spec = {"type": cfg.model.type, "kwargs": job.kwargs, "task": job.task, "classes": job.data.classes,
            "input": "image" if TRANSFORMS_JSON in job.data.files else "table"}  # fmt: skip
    save_module(job.module, tmp, spec)
    named = import_paths(cfg.to_dict())
    trusted: list[str] = []
    if job.data.preprocessor is not None:
        trusted = bundle.dump_pipeline(job.data.preprocessor, tmp, allowed=named)
    for name, content in {**job.data.files, HISTORY_JSON: job.result.history}.items():
        files.write_json(tmp / name, content)
    files.write_json(tmp / "schema.json", job.schema.to_dict())
    record_torch_data(tmp, job)
    files.write_json(tmp / "metrics.json", finite_json(job.metrics))
    files.write_bytes(tmp / "config.yaml", cfg.to_yaml().encode())
    lineage = {
        **job.lineage_extra,
        "data": job.data.lineage, "seed": cfg.seed, "config_hash": cfg.hash(), "run_id": run_id,
        "warnings": job.warnings, "timings_s": job.timings, "git": git_state(cfg.base_dir),
        "environment": environment(("torch", "safetensors", "pillow")), "origin": "mlpact.train",
        "code": usercode.describe(named, training=training_only(cfg.to_dict())),
    }  # fmt: skip
    files.write_json(tmp / "lineage.json", lineage)
    record_torch(tmp, job, trusted)
    hashes = bundle.hash_files(tmp)

    def finalize(directory: Path, version: int) -> dict[str, Any]:
        return finalize_version(
            directory, version, cfg=job.cfg, flavor="torch", schema=job.schema.to_dict(), metrics=job.metrics,
            lineage=lineage, hashes=hashes, trusted=trusted,
        )  # fmt: skip

    origin = lineage_origin(lineage)  # a reproduction is kept out of `latest`
    return store.register(cfg.name, tmp, finalize, flavor="torch", run_id=run_id, origin=origin)


def record_torch_data(directory: Path, job: Any) -> None:
    """What `check` and `models errors` need from a PyTorch version: reference statistics, and
    the split and the test predictions (per image file, or per table row)."""

    bins = job.cfg.check.bins
    images = job.data.images
    if images is None:
        prepared = job.data.prepared
        files.write_json(directory / reference.FILE, reference.build(prepared, job.predictor, bins=bins))
        columns = (
            [c for c in job.schema.names if c in prepared.frame.columns] if job.cfg.record.test_rows else None
        )
        split = prepared.split
        inspection.write(directory, prepared.frame, split.train, split.test, job.found, columns=columns)
        return

    fitting = [p for p, part in zip(images.train, images.train_split, strict=True) if part == "train"]
    chosen = sample(fitting, seed=job.cfg.seed)
    stats = build_reference(chosen, job.predictor.predict(chosen) if chosen else [], bins=bins)
    files.write_json(directory / reference.FILE, stats)
    split = {**dict(zip(images.train, images.train_split, strict=True)), **{p: "test" for p in images.test}}
    inspection.write_images(directory, images.root, split, images.digests, images.test, job.found)


def record_torch(directory: Path, job: Any, trusted: list[str]) -> None:
    """The lock and (table models) golden rows of a PyTorch version, once its files are written.

    Image models record no golden rows: their inputs are image files, not rows.
    """

    rec = job.cfg.record
    if rec.lock:
        envlock.write(directory)
    if job.data.preprocessor is None or not rec.golden_rows:
        return
    from mlpact.torch.predicting import load_version

    meta = {"name": job.cfg.name, "version": 0, "files": {}, "trusted_types": trusted}
    # the types this process just wrote from the live pipeline: trusted here, as the index will
    model = load_version(directory, meta, record=None, raw_config=job.cfg.to_dict(), trust=trusted)
    rows = golden.select_rows(job.data.test_X, job.schema.names, n=rec.golden_rows, seed=job.cfg.seed)
    golden.write(directory, model, rows, rtol=rec.golden_rtol, atol=rec.golden_atol)
