"""A PyTorch training: data, module, engine, honest evaluation, the files of a version.

`mlpact.training.run` runs it as a recorded run, the way it runs scikit-learn trainings, with the
same protocol: a validation split carved from the training data picks
the epoch (early stopping, best checkpoint); the test split (`test/` for image folders) is scored
once; the version is written with the same manifest, hashes and store registration (flavor torch).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpact._core import files
from mlpact._core.lineage import environment, git_state
from mlpact._core.metrics import MetricsFile, compute_metrics, finite_json, metrics_for, primary_metric, score
from mlpact._core.plots import write_plots
from mlpact._core.progress import Progress
from mlpact.learn.scoring import assess, baseline_estimator, predictions
from mlpact.torch._deps import require
from mlpact.torch._ray import fit_on_ray
from mlpact.torch.curves import write_learning_curves
from mlpact.torch.data import Data, load_images, load_table
from mlpact.torch.engine import FitResult, fit
from mlpact.torch.saving import HISTORY_JSON, TRANSFORMS_JSON, TorchPredictor, build_module, save_module
from mlpact.version import bundle, envlock, golden
from mlpact.version.report import baseline_warning
from mlpact.version.write import finalize_version

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.config import Config
    from mlpact.store import Store, VersionRecord

torch = require("torch")


def checkpoint_path(cfg: Config, root: Path) -> Path:
    """Where a config's checkpoint lives: keyed by everything that shapes training (what
    Config.hash covers) except `train.epochs` and `train.resume`, so a resumed run may also
    train for longer."""
    from mlpact.config import NOT_HASHED

    data = cfg.to_dict()
    for key in NOT_HASHED:
        data.pop(key, None)
    data["train"] = {k: v for k, v in data["train"].items() if k not in ("epochs", "resume")}
    key = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    return root / "checkpoints" / cfg.name / f"{key}.pt"


# --------------------------------------------------------------------------- the job
class Job:
    """One PyTorch training: data, module, engine, evaluation; what `save` writes."""

    def __init__(self, cfg: Config, progress: Progress, *, checkpoint: Path | None = None) -> None:
        self.cfg, self.progress, self.checkpoint = cfg, progress, checkpoint
        self.warnings: list[str] = []
        self.timings: dict[str, float] = {}
        self.lineage: dict[str, Any] = {}
        self.data: Data

    def params(self) -> dict[str, Any]:
        """What the run record keeps as the run's params."""
        train = self.cfg.train
        return {
            "model.type": self.cfg.model.type,
            **{f"model.params.{k}": v for k, v in self.cfg.model.params.items()},
            **{f"train.{k}": getattr(train, k) for k in ("batch_size", "lr", "epochs", "optimizer")},
            "seed": self.cfg.seed,
            "data.source": self.cfg.data.source,
        }

    def save(self, store: Store, tmp: Path, run_id: str) -> VersionRecord:
        """Write every file of the version into `tmp` and register it (flavor "torch")."""
        return save(store, tmp, self, run_id)

    def fit(self) -> None:

        cfg = self.cfg
        start = time.perf_counter()
        path = cfg.source_path()
        with self.progress.stage(f"Loading {cfg.data.source}"):
            self.data = load_images(cfg) if path is not None and path.is_dir() else load_table(cfg)
        self.timings["load"] = round(time.perf_counter() - start, 4)
        self.warnings += self.data.warnings
        self.schema, self.task = self.data.schema, self.data.task
        self.metric_names = metrics_for(self.task, cfg.evaluate.metrics)
        torch.manual_seed(cfg.seed)
        self.module, self.kwargs = build_module(cfg.model.type, cfg.model.params, self.data.shape)
        self.result: FitResult
        if cfg.train.engine == "ray":  # data-parallel workers; rank 0's weights come back here
            self.result, self.lineage["training"] = fit_on_ray(self.module, cfg, progress=self.progress)
        else:
            self.result = fit(
                self.module, self.data.fit, self.data.val, cfg.train, task=self.task, seed=cfg.seed,
                checkpoint=self.checkpoint, progress=self.progress,
            )  # fmt: skip
        self.timings["fit"] = round(self.result.seconds, 4)
        self.module.to("cpu")
        self.predictor = TorchPredictor(self.module, self.data.to_tensor, self.data.classes,
                                        batch_size=max(cfg.train.batch_size, 64))  # fmt: skip
        self._score()

    def _score(self) -> None:

        data, start = self.data, time.perf_counter()
        with self.progress.stage(f"Scoring the test split once ({data.rows['test']} rows)"):
            test, self.found = assess(
                self.predictor, data.test_X, data.test_y, self.metric_names, task=self.task
            )
        validation: dict[str, float] = {}
        if data.rows["validation"]:
            found = self._predictions(data.val_X, data.val_y)
            validation = compute_metrics(
                self.metric_names, data.val_y, found.pred, found.proba, found.classes
            )
        self.timings["test"] = round(time.perf_counter() - start, 4)
        fitted = self.result
        self.metrics: MetricsFile = {
            "task": self.task,
            "primary": primary_metric(self.task, self.cfg.evaluate.primary),
            "cv": {"folds": 0, "metrics": {}},
            "validation": validation,
            "test": test["metrics"],
            "test_scored": 1,
            "rows": data.rows,
            "epochs": {"run": len(fitted.history), "best": fitted.best_epoch,
                       "stopped_early": fitted.stopped_early, "resumed_from": fitted.resumed_from},
            "training": {"device": fitted.device, "amp": fitted.amp,
                         "samples_per_s": round(fitted.samples_per_s, 2)},
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
        test = score(dummy, np.zeros((len(self.data.test_y), 1)), self.data.test_y, self.metric_names)
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


def _labels_of(dataset: Any, classes: list[Any] | None) -> np.ndarray:
    labels = dataset.labels if hasattr(dataset, "labels") else dataset.tensors[1].numpy()
    if classes is None:
        return np.asarray(labels)
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
    trusted: list[str] = []
    if job.data.preprocessor is not None:
        trusted = bundle.dump_pipeline(job.data.preprocessor, tmp, allowed=[cfg.model.type])
    for name, content in {**job.data.files, HISTORY_JSON: job.result.history}.items():
        files.write_json(tmp / name, content)
    files.write_json(tmp / "schema.json", job.schema.to_dict())

    files.write_json(tmp / "metrics.json", finite_json(job.metrics))
    files.write_bytes(tmp / "config.yaml", cfg.to_yaml().encode())
    lineage = {
        **job.lineage,
        "data": job.data.lineage, "seed": cfg.seed, "config_hash": cfg.hash(), "run_id": run_id,
        "warnings": job.warnings, "timings_s": job.timings, "git": git_state(cfg.base_dir),
        "environment": environment(("torch", "safetensors", "pillow")), "origin": "mlpact.train",
    }  # fmt: skip
    files.write_json(tmp / "lineage.json", lineage)
    record_torch(tmp, job, trusted)
    hashes = bundle.hash_files(tmp)

    def finalize(directory: Path, version: int) -> dict[str, Any]:
        return finalize_version(
            directory, version, cfg=job.cfg, flavor="torch", schema=job.schema.to_dict(), metrics=job.metrics,
            lineage=lineage, hashes=hashes, trusted=trusted,
        )  # fmt: skip

    return store.register(cfg.name, tmp, finalize, flavor="torch", run_id=run_id)


def record_torch(directory: Path, job: Any, trusted: list[str]) -> None:
    """The lock and (table models) golden rows of a PyTorch version, once its files are written.

    Image models record no golden rows: their inputs are image files, not rows.
    """
    from mlpact.torch.predicting import load_version

    rec = job.cfg.record
    if rec.lock:
        envlock.write(directory)
    if job.data.preprocessor is None or not rec.golden_rows:
        return
    meta = {"name": job.cfg.name, "version": 0, "files": {}, "trusted_types": trusted}
    model = load_version(directory, meta, record=None, raw_config=job.cfg.to_dict())
    rows = golden.select_rows(job.data.test_X, job.schema.names, n=rec.golden_rows, seed=job.cfg.seed)
    golden.write(directory, model, rows, rtol=rec.golden_rtol, atol=rec.golden_atol)
