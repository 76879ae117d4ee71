"""The data of a PyTorch training: image folders (classes from folder names) or a table through
the schema machinery, as torch datasets for the fit, validation and test splits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpact.learn.pipeline import build_preprocessor
from mlpact.learn.prepare import prepare
from mlpact.torch._deps import require
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
from mlpact.torch.inputs import ImageInput, TableInput, dense
from mlpact.torch.saving import TRANSFORMS_JSON

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


def load_images(cfg: Config) -> Data:
    """Image folders: classes from folder names, validation carved from train/, test/ kept for once."""
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
