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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpact.progress import Progress
from mlpact.store import lineage_origin
from mlpact.torch._deps import require
from mlpact.torch.engine import EpochHook, FitResult, fit
from mlpact.torch.saving import (
    HISTORY_JSON,
    TRANSFORMS_JSON,
    TorchPredictor,
    build_module,
    save_module,
    unrecorded_defaults,
)

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.config import Config
    from mlpact.config._train import TrainConfig
    from mlpact.schema import Schema
    from mlpact.store import Store, VersionRecord
    from mlpact.training import TrainResult

torch = require("torch")


def run(
    cfg: Config,
    *,
    store: Store,
    progress: Progress,
    lineage_extra: dict[str, Any] | None = None,
    threads: int | None = None,
) -> TrainResult:
    """Train one PyTorch version; the run is recorded as failed (and nothing saved) on any error.

    `lineage_extra` is merged into the version's lineage.json; `threads` replaces `train.threads`
    for this run.
    """
    from mlpact.training import TrainResult, recorded_run

    def work(run_id: str, tmps: list[Path]) -> TrainResult:
        job = Job(cfg, progress, checkpoint=checkpoint_path(cfg, store.root), threads=threads)
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
    images: ImageRecord | None = None
    prepared: Any = None


def load_images(cfg: Config, *, lineage: bool = True) -> Data:
    """Image folders: classes from folder names, validation carved from train/, test/ kept for once.

    Args:
        lineage: fingerprint every file (what a version records); tuning trials skip it.
    """
    import pandas as pd

    from mlpact.schema import ColumnSchema, Schema, TargetSchema
    from mlpact.torch.images import (
        ImageDataset,
        check_steps,
        eval_steps,
        read_folders,
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
    to_tensor = ImageInput(predict_steps)
    channels, height, width = to_tensor([paths[0]]).shape[1:]  # what the module is given
    classes = splits.classes
    names = np.asarray(classes, dtype=object)
    schema = Schema(
        (ColumnSchema("image", "image", nullable=False),),
        TargetSchema("label", "classification", "category", tuple(classes)),
    )
    test_paths, test_labels = splits.test
    digests = file_digests([*paths, *test_paths]) if lineage else {}
    recorded = image_lineage(root, splits, fit_at, val_at, digests) if lineage else {}
    return Data(
        fit_ds, val_ds, [str(p) for p in test_paths], pd.Series(names[test_labels]),
        [str(p) for p in val_paths], pd.Series(names[labels[val_at]]), to_tensor,
        classes, "classification", schema,
        {"channels": int(channels), "outputs": len(classes),
         "image_size": int(height) if height == width else [int(height), int(width)]},  # type: ignore[dict-item]
        recorded, {"train": len(fit_at), "validation": len(val_at), "test": len(test_paths)},
        {TRANSFORMS_JSON: {"train": steps, "predict": predict_steps}},
        images=ImageRecord(root, paths, _split_names(len(paths), val_at), list(test_paths), digests),
    )  # fmt: skip


def _split_names(n: int, val_at: np.ndarray) -> np.ndarray:
    names: np.ndarray = np.full(n, "train", dtype=object)
    names[val_at] = "validation"
    return names


@dataclass
class ImageRecord:
    """The files behind an image version's splits, for split.parquet and errors.parquet."""

    root: Path
    train: list[Path]
    train_split: np.ndarray
    test: list[Path]
    digests: dict[Path, bytes]


def file_digests(paths: Sequence[Path]) -> dict[Path, bytes]:
    """The sha256 of every file (read once)."""
    return {p: hashlib.sha256(p.read_bytes()).digest() for p in paths}


def image_lineage(
    root: Path, splits: Any, fit_at: np.ndarray, val_at: np.ndarray, digests: dict[Path, bytes]
) -> dict[str, Any]:
    """What an image folder's version records: the folder's fingerprint (every path, label and
    file's sha256; the same digest `mlpact reproduce` recomputes), one per split, and the counts."""

    def fingerprint(*parts: tuple[Sequence[Path], Sequence[int]]) -> str:
        digest = hashlib.sha256()
        for paths, labels in parts:
            for path, label in zip(paths, labels, strict=True):
                digest.update(f"{path.relative_to(root).as_posix()}\0{label}\0".encode())
                digest.update(digests[path])
        return digest.hexdigest()

    paths, labels = splits.train
    val = ([paths[i] for i in val_at], labels[val_at])
    return {
        "source": str(root),
        "resolved": str(root),
        "split": splits.layout,
        "rows": len(paths) + len(splits.test[0]),
        "fingerprint": fingerprint(splits.train, splits.test),
        "train_fingerprint": fingerprint(splits.train),
        "validation_fingerprint": fingerprint(val),
        "test_fingerprint": fingerprint(splits.test),
        "classes": splits.classes,
        "train_rows": len(fit_at),
        "validation_rows": len(val_at),
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
        preprocessor=preprocessor, warnings=list(data.warnings), prepared=data,
    )  # fmt: skip


def _encode(y: pd.Series, classes: list[Any] | None) -> np.ndarray:
    if classes is None:
        values: np.ndarray = y.to_numpy(dtype=np.float32)
        return values
    index = {c: i for i, c in enumerate(classes)}
    return np.asarray([index[v] for v in y], dtype=np.int64)


def load_data(cfg: Config, *, lineage: bool = True) -> Data:
    """The splits of an image folder or a table, as the config describes them."""
    path = cfg.source_path()
    return load_images(cfg, lineage=lineage) if path is not None and path.is_dir() else load_table(cfg)


def fit_labels(dataset: Any) -> np.ndarray:
    """The integer labels (or targets) of a fitting dataset."""
    labels = dataset.labels if hasattr(dataset, "labels") else dataset.tensors[1].numpy()
    return np.asarray(labels)


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
    from mlpact.torch.parts import class_weights

    train = cfg.train if threads is None else cfg.train.model_copy(update={"threads": threads})
    torch.manual_seed(cfg.seed)
    module, kwargs = build_module(cfg.model.type, cfg.model.params, data.shape, near=cfg.base_dir)
    if train.engine == "ray":  # data-parallel workers; rank 0's weights come back here
        from mlpact.torch._ray import fit_on_ray

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
        from mlpact import preflight
        from mlpact.metrics import metrics_for

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
                       "stopped_early": fitted.stopped_early, "stopped_by": fitted.stopped_by,
                       "resumed_from": fitted.resumed_from},
            "training": training_facts(self.train, fitted, self.module),
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


def cpu_capability() -> str | None:
    """The vector instructions torch's CPU kernels use here (e.g. AVX2, AVX512): another value
    can give other floating-point results, so reproduction compares it."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return None


def folder_lineage(cfg: Config) -> tuple[dict[str, Any], list[str]]:
    """An image folder's lineage as `mlpact train` would record it now, and its test images."""
    from mlpact.torch.images import read_folders, split_validation

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
    from mlpact import bundle, recording, usercode
    from mlpact.lineage import environment, git_state
    from mlpact.metrics import finite_json

    cfg = job.cfg
    job.metrics["plots"] = job.write_plots(tmp / "reports")
    spec = {"type": cfg.model.type, "kwargs": job.kwargs, "task": job.task, "classes": job.data.classes,
            "input": "image" if TRANSFORMS_JSON in job.data.files else "table"}  # fmt: skip
    save_module(job.module, tmp, spec)
    named = usercode.import_paths(cfg.to_dict())
    trusted: list[str] = []
    if job.data.preprocessor is not None:
        trusted = bundle.dump_pipeline(job.data.preprocessor, tmp, allowed=named)
    for name, content in {**job.data.files, HISTORY_JSON: job.result.history}.items():
        bundle.write_json(tmp / name, content)
    bundle.write_json(tmp / "schema.json", job.schema.to_dict())
    recording.record_torch_data(tmp, job)
    bundle.write_json(tmp / "metrics.json", finite_json(job.metrics))
    bundle.write_bytes(tmp / "config.yaml", cfg.to_yaml().encode())
    lineage = {
        **job.lineage_extra,
        "data": job.data.lineage, "seed": cfg.seed, "config_hash": cfg.hash(), "run_id": run_id,
        "warnings": job.warnings, "timings_s": job.timings, "git": git_state(cfg.base_dir),
        "environment": environment(("torch", "safetensors", "pillow")), "origin": "mlpact.train",
        "code": usercode.describe(named, training=usercode.training_only(cfg.to_dict())),
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

    origin = lineage_origin(lineage)  # a reproduction is kept out of `latest`
    return store.register(cfg.name, tmp, finalize, flavor="torch", run_id=run_id, origin=origin)
