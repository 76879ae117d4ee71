"""The data of a PyTorch run: an image folder or a table, split, encoded and fingerprinted.

The same protocol as scikit-learn runs: a validation split carved from the training data picks
the epoch (early stopping, best checkpoint); the test split (`test/` for image folders) is scored
once; the version is written with the same manifest, hashes and store registration (flavor torch).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpact.learn.pipeline import build_preprocessor
from mlpact.learn.prepare import prepare
from mlpact.torch.deps import require
from mlpact.torch.images import (
    ImageDataset,
    check_steps,
    eval_steps,
    read_folders,
    split_validation,
    with_tensor,
)
from mlpact.torch.inputs import ImageInput, TableInput, dense
from mlpact.torch.saving import (
    TRANSFORMS_JSON,
)

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.config import Config
    from mlpact.data.schema import Schema

torch = require("torch")


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

    from mlpact.data.schema import ColumnSchema, Schema, TargetSchema

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
