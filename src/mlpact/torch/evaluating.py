"""Scoring an image version on new labelled images: `mlpact evaluate MODEL FOLDER|FILE`.

The labelled images are a folder of class folders (the course's layout: the folder names are the
labels) or a CSV/Parquet table with a `path` column (relative to the table's folder) and a label
column. They are scored once with the metrics and plots of training and recorded in the store as
an evaluation of the version, like a table version's evaluation. An image that cannot be read is
reported under the version's validation policy (`unreadable_image`); images byte-identical to
ones the version was trained on are named as possible leakage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpact.errors import DataError
from mlpact.torch.images import image_files

if TYPE_CHECKING:
    from mlpact.evaluate import Evaluation
    from mlpact.store import Store
    from mlpact.torch.predicting import ImageModel


@dataclass(frozen=True)
class Labelled:
    """Image files with their labels, and the folder names are relative to."""

    paths: list[Path]
    labels: list[str]
    root: Path
    source: str


def labelled_images(data: str | Path, classes: Sequence[str], *, target: str, sep: str = ",") -> Labelled:
    """The labelled images a folder of class folders or a table of paths and labels describes.

    Raises:
        DataError: the folder or file does not exist, holds labels the model does not know, no
            image, or (a table) lacks the `path` or the label column.
    """
    path = Path(data)
    if not path.exists():
        raise DataError(f"{str(data)!r} does not exist.", hint="Give a folder of class folders or a table.")
    found = _from_folder(path) if path.is_dir() else _from_table(path, target=target, sep=sep)
    unknown = sorted(set(found.labels) - {str(c) for c in classes})
    if unknown:
        raise DataError(
            f"{str(data)!r} has labels the model does not know: {unknown!r}; its classes: {list(classes)!r}.",
            hint="Evaluate on images of the model's classes (for the course layout, the folder that "
            "holds the class folders, e.g. DATA/test).",
        )
    if not found.paths:
        raise DataError(f"No image files under {str(data)!r}.")
    return found


def _from_folder(root: Path) -> Labelled:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    paths: list[Path] = []
    labels: list[str] = []
    for folder in folders:
        files = image_files(folder)
        paths += files
        labels += [folder.name] * len(files)
    return Labelled(paths, labels, root, str(root.resolve()))


def _from_table(file: Path, *, target: str, sep: str) -> Labelled:
    from mlpact.data import read_table

    frame = read_table(file, sep=sep)
    missing = [c for c in ("path", target) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{str(file)!r} needs a `path` column and the label column {target!r}; missing {missing!r} "
            f"(it has {sorted(map(str, frame.columns))!r}).",
            hint="Name the label column with --target.",
        )
    frame = frame[frame[target].notna()]
    root = file.resolve().parent
    paths = [p if p.is_absolute() else root / p for p in map(Path, frame["path"].astype(str))]
    return Labelled(paths, frame[target].astype(str).tolist(), root, str(file.resolve()))


def evaluate_images(
    model: ImageModel,
    data: Any,
    *,
    store: Store,
    target: str | None = None,
    plots: bool = True,
    sep: str = ",",
) -> Evaluation:
    """Score an image version on labelled images once and record the evaluation (see the module).

    Raises:
        DataError: `data` is not a folder or a file (a DataFrame), or see `labelled_images`.
        InputValidationError: an image cannot be read and the policy says `unreadable_image: error`.
    """
    import pandas as pd

    from mlpact.evaluate import Predictions, record_evaluation
    from mlpact.metrics import compute_metrics, finite_json, metrics_for, per_class, primary_metric

    if not isinstance(data, str | Path):
        raise DataError("An image model is evaluated on a folder of class folders or a table of paths.")
    classes = [str(c) for c in model.classes or []]
    found = labelled_images(data, classes, target=target or "label", sep=sep)
    scored = model.score(found.paths)
    notes = [f"Input: {p.describe()}" for p in scored.report.warnings]
    kept = scored.kept
    if not kept:
        raise DataError(f"None of the {len(found.paths)} images under {str(data)!r} can be read.")
    y = pd.Series([found.labels[i] for i in kept], dtype=object)
    proba = scored.proba[kept].astype(np.float64)
    pred = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    predictions = Predictions(y, pred, proba, classes)
    names = metrics_for("classification", model.config.evaluate.metrics)
    digests = [
        hashlib.sha256(p.read_bytes()).digest() if i in kept else b"" for i, p in enumerate(found.paths)
    ]
    notes += _seen_in_training(model, digests, kept)
    metrics: dict[str, Any] = {
        "task": "classification",
        "primary": primary_metric("classification", model.config.evaluate.primary),
        "test": compute_metrics(names, y, pred, proba, classes),
        "per_class": per_class(y, pred),
        "rows": {"evaluated": len(kept), "unreadable": len(scored.errors)},
        "version_test": model.metrics.get("test", {}),
        "warnings": notes,
    }
    folder = store.evaluation_dir()
    if plots:
        from mlpact.plots import write_plots

        metrics["plots"] = write_plots(
            predictions, folder / "reports", task="classification", split="new data"
        )
    fingerprint = _fingerprint(found, digests, kept)
    return record_evaluation(
        model, store, folder, finite_json(metrics), label=found.source, fingerprint=fingerprint,
        rows=len(kept), notes=notes,
    )  # fmt: skip


def _fingerprint(found: Labelled, digests: Sequence[bytes], kept: Sequence[int]) -> str:
    """Every evaluated image's path (relative), label and content, in one sha256."""
    digest = hashlib.sha256()
    for i in kept:
        path = found.paths[i]
        name = path.relative_to(found.root).as_posix() if path.is_relative_to(found.root) else str(path)
        digest.update(f"{name}\0{found.labels[i]}\0".encode())
        digest.update(digests[i])
    return digest.hexdigest()


def _seen_in_training(model: ImageModel, digests: Sequence[bytes], kept: Sequence[int]) -> list[str]:
    """A leakage note when evaluated images are byte-identical to the version's training images."""
    import pandas as pd

    from mlpact.inspection import SPLIT

    if not model.config.evaluate.leakage or SPLIT not in (model.manifest.get("files") or {}):
        return []
    split = pd.read_parquet(model.path / SPLIT)
    trained = set(split.loc[split["split"].isin(["train", "validation"]), "hash"].astype("uint64").tolist())
    same = sum(int.from_bytes(digests[i][:8], "big") in trained for i in kept)
    if not same:
        return []
    return [
        f"Possible leakage (duplicate_images): {same} of {len(kept)} evaluated images are byte-identical "
        "to images the version was trained on; its metrics here overstate how it does on new images."
    ]
