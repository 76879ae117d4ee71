"""The training run for PyTorch models: data, module, engine, honest evaluation, a saved version.

The same protocol as scikit-learn runs: a validation split carved from the training data picks
the epoch (early stopping, best checkpoint); the test split (`test/` for image folders) is scored
once; the version is written with the same manifest, hashes and store registration (flavor torch).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpact.progress import Progress
from mlpact.torch._deps import require
from mlpact.torch.engine import FitResult, fit
from mlpact.torch.saving import HISTORY_JSON, TRANSFORMS_JSON, TorchPredictor, build_module, save_module

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.config import Config
    from mlpact.schema import Schema
    from mlpact.store import Store, VersionRecord
    from mlpact.training import TrainResult

torch = require("torch")


def run(
    cfg: Config, *, store: Store, progress: Progress, lineage_extra: dict[str, Any] | None = None
) -> TrainResult:
    """Train one PyTorch version; the run is recorded as failed (and nothing saved) on any error.

    `lineage_extra` is merged into the version's lineage.json.
    """
    from mlpact.training import TrainResult, recorded_run

    def work(run_id: str, tmps: list[Path]) -> TrainResult:
        job = Job(cfg, progress, checkpoint=checkpoint_path(cfg, store.root))
        job.lineage_extra = dict(lineage_extra or {})
        job.fit()
        tmps.append(store.new_tmp_dir())
        with progress.stage("Saving version"):
            record = save(store, tmps[-1], job, run_id)
        return TrainResult(record, job.metrics, job.schema, cfg, run_id, job.warnings, job.timings)

    return recorded_run(store, cfg, _params(cfg), work)


def _params(cfg: Config) -> dict[str, Any]:
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
    from mlpact.config._config import NOT_HASHED

    data = cfg.to_dict()
    for key in NOT_HASHED:
        data.pop(key, None)
    data["train"] = {k: v for k, v in data["train"].items() if k not in ("epochs", "resume")}
    key = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    return root / "checkpoints" / cfg.name / f"{key}.pt"


# --------------------------------------------------------------------------- data
@dataclass
class Data:
    """The three splits as torch datasets, the raw test inputs and labels, and what describes them."""

    fit: Any
    val: Any
    test_X: Any
    test_y: pd.Series
    val_X: Any
    val_y: pd.Series
    to_tensor: Any
    classes: list[Any] | None
    task: str
    schema: Schema
    shape: dict[str, int]
    lineage: dict[str, Any]
    rows: dict[str, int]
    files: dict[str, Any] = field(default_factory=dict)
    preprocessor: Any = None
    warnings: list[str] = field(default_factory=list)


def load_images(cfg: Config) -> Data:
    """Image folders: classes from folder names, validation carved from train/, test/ kept for once."""
    import pandas as pd

    from mlpact.schema import ColumnSchema, Schema, TargetSchema
    from mlpact.torch.images import (
        ImageDataset,
        check_steps,
        eval_steps,
        output_size,
        read_folders,
        read_image,
        split_validation,
        with_tensor,
    )
    from mlpact.torch.inputs import ImageInput

    root = cfg.source_path()
    assert root is not None
    splits = read_folders(root, cfg)
    steps = with_tensor(s.model_dump(exclude_defaults=False) for s in cfg.train.transforms)
    check_steps(steps)
    predict_steps = eval_steps(steps)
    paths, labels = splits.train
    fit_at, val_at = split_validation(labels, cfg.train.val_size, cfg.seed)
    cache, seed = cfg.train.cache_images, cfg.seed
    fit_ds = ImageDataset([paths[i] for i in fit_at], labels[fit_at], steps, seed=seed, cache=cache)
    val_paths = [paths[i] for i in val_at]
    val_ds = ImageDataset(val_paths, labels[val_at], predict_steps, seed=seed, cache=cache)
    size = output_size(steps) or read_image(paths[0]).shape[:2]
    classes = splits.classes
    names = np.asarray(classes, dtype=object)
    schema = Schema(
        (ColumnSchema("image", "image", nullable=False),),
        TargetSchema("label", "classification", "category", tuple(classes)),
    )
    test_paths, test_labels = splits.test
    return Data(
        fit_ds, val_ds, [str(p) for p in test_paths], pd.Series(names[test_labels]),
        [str(p) for p in val_paths], pd.Series(names[labels[val_at]]), ImageInput(predict_steps),
        classes, "classification", schema,
        {"channels": 3, "outputs": len(classes), "image_size": int(size[0])},
        _image_lineage(root, splits, len(fit_at), len(val_at)),
        {"train": len(fit_at), "validation": len(val_at), "test": len(test_paths)},
        {TRANSFORMS_JSON: {"train": steps, "predict": predict_steps}},
    )  # fmt: skip


def _image_lineage(root: Path, splits: Any, n_fit: int, n_val: int) -> dict[str, Any]:
    digest = hashlib.sha256()
    for split in (splits.train, splits.test):
        for path, label in zip(*split, strict=True):
            digest.update(f"{path.relative_to(root).as_posix()}\0{label}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return {
        "source": str(root),
        "resolved": str(root),
        "split": splits.layout,
        "rows": n_fit + n_val + len(splits.test[0]),
        "fingerprint": digest.hexdigest(),
        "classes": splits.classes,
        "train_rows": n_fit,
        "validation_rows": n_val,
        "test_rows": len(splits.test[0]),
    }


def load_table(cfg: Config) -> Data:
    """A CSV/Parquet/sklearn source through the schema machinery; features preprocessed as configured."""
    import pandas as pd

    from mlpact.dataset import prepare
    from mlpact.pipeline import build_preprocessor
    from mlpact.torch.images import split_validation
    from mlpact.torch.inputs import TableInput, dense

    data = prepare(cfg)
    X_train, y_train = data.train()
    X_test, y_test = data.test()
    classes = sorted(pd.unique(y_train)) if data.task == "classification" else None
    codes = _encode(y_train, classes)
    strata = codes.astype(np.int64) if classes is not None else np.zeros(len(codes), dtype=np.int64)
    fit_at, val_at = split_validation(strata, cfg.train.val_size, cfg.seed)
    preprocessor = build_preprocessor(data.plan, cfg.features).fit(X_train.iloc[fit_at], y_train.iloc[fit_at])
    features = dense(preprocessor.transform(X_train))

    def tensors(at: np.ndarray) -> Any:
        return torch.utils.data.TensorDataset(torch.from_numpy(features[at]), torch.from_numpy(codes[at]))

    return Data(
        tensors(fit_at), tensors(val_at), X_test, y_test, X_train.iloc[val_at], y_train.iloc[val_at],
        TableInput(preprocessor), classes, data.task, data.schema,
        {"features": features.shape[1], "outputs": len(classes) if classes else 1},
        data.lineage, {"train": len(fit_at), "validation": len(val_at), "test": len(X_test)},
        preprocessor=preprocessor, warnings=list(data.warnings),
    )  # fmt: skip


def _encode(y: pd.Series, classes: list[Any] | None) -> np.ndarray:
    if classes is None:
        values: np.ndarray = y.to_numpy(dtype=np.float32)
        return values
    index = {c: i for i, c in enumerate(classes)}
    return np.asarray([index[v] for v in y], dtype=np.int64)


# --------------------------------------------------------------------------- the job
class Job:
    """One PyTorch training: data, module, engine, evaluation; what `save` writes."""

    def __init__(self, cfg: Config, progress: Progress, *, checkpoint: Path | None = None) -> None:
        self.cfg, self.progress, self.checkpoint = cfg, progress, checkpoint
        self.warnings: list[str] = []
        self.timings: dict[str, float] = {}
        self.lineage_extra: dict[str, Any] = {}

    def fit(self) -> None:
        from mlpact import preflight
        from mlpact.metrics import metrics_for

        cfg = self.cfg
        start = time.perf_counter()
        path = cfg.source_path()
        with self.progress.stage(f"Loading {cfg.data.source}"):
            self.data = load_images(cfg) if path is not None and path.is_dir() else load_table(cfg)
        self.timings["load"] = round(time.perf_counter() - start, 4)
        self.warnings += self.data.warnings
        self.schema, self.task = self.data.schema, self.data.task
        preflight.torch_loss(cfg, self.task, why=f"the target {cfg.data.target!r} makes this a {self.task}")
        classes = self.data.classes or []
        self.positive = classes[1] if len(classes) == 2 else None
        self.metric_names = metrics_for(self.task, cfg.evaluate.metrics, binary=self.positive is not None)
        torch.manual_seed(cfg.seed)
        self.module, self.kwargs = build_module(cfg.model.type, cfg.model.params, self.data.shape)
        self.result: FitResult
        if cfg.train.engine == "ray":  # data-parallel workers; rank 0's weights come back here
            from mlpact.torch._ray import fit_on_ray

            self.result, self.lineage_extra["training"] = fit_on_ray(self.module, cfg, progress=self.progress)
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
        from mlpact.evaluate import assess, primary_metric, probability_facts, test_intervals
        from mlpact.metrics import compute_metrics

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
        self.metrics: dict[str, Any] = {
            "task": self.task,
            "primary": primary_metric(self.task, self.cfg.evaluate.primary),
            "cv": {"folds": 0, "metrics": {}},
            "validation": validation,
            "test": test["metrics"],
            "ci": test_intervals(self.found, self.metric_names, task=self.task, seed=self.cfg.seed),
            **probability_facts(self.predictor, self.metric_names, positive=self.positive),
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
        from mlpact.evaluate import predictions

        return predictions(self.predictor, X, y)

    def _baseline(self) -> None:
        from mlpact.evaluate import baseline_estimator, score
        from mlpact.report import baseline_warning

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
        from mlpact.plots import write_plots
        from mlpact.torch.curves import write_learning_curves

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
    from mlpact import bundle, recording
    from mlpact.lineage import environment, git_state

    cfg = job.cfg
    job.metrics["plots"] = job.write_plots(tmp / "reports")
    spec = {"type": cfg.model.type, "kwargs": job.kwargs, "task": job.task, "classes": job.data.classes,
            "input": "image" if TRANSFORMS_JSON in job.data.files else "table"}  # fmt: skip
    save_module(job.module, tmp, spec)
    trusted: list[str] = []
    if job.data.preprocessor is not None:
        trusted = bundle.dump_pipeline(job.data.preprocessor, tmp, allowed=[cfg.model.type])
    for name, content in {**job.data.files, HISTORY_JSON: job.result.history}.items():
        bundle.write_json(tmp / name, content)
    bundle.write_json(tmp / "schema.json", job.schema.to_dict())
    from mlpact.metrics import finite_json

    bundle.write_json(tmp / "metrics.json", finite_json(job.metrics))
    bundle.write_bytes(tmp / "config.yaml", cfg.to_yaml().encode())
    lineage = {
        **job.lineage_extra,
        "data": job.data.lineage, "seed": cfg.seed, "config_hash": cfg.hash(), "run_id": run_id,
        "warnings": job.warnings, "timings_s": job.timings, "git": git_state(cfg.base_dir),
        "environment": environment(("torch", "safetensors", "pillow")), "origin": "mlpact.train",
    }  # fmt: skip
    bundle.write_json(tmp / "lineage.json", lineage)
    recording.record_torch(tmp, job, trusted)
    files = bundle.hash_files(tmp)

    def finalize(directory: Path, version: int) -> dict[str, Any]:
        from mlpact.training import finalize_version

        return finalize_version(
            directory, version, cfg=job.cfg, flavor="torch", schema=job.schema.to_dict(), metrics=job.metrics,
            lineage=lineage, files=files, trusted=trusted,
        )  # fmt: skip

    return store.register(cfg.name, tmp, finalize, flavor="torch", run_id=run_id)
