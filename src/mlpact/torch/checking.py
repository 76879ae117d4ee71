"""`mlpact check MODEL FOLDER` for image versions: drift of the images and of the predictions.

Compared with what the version recorded of its training images (`reference.json`, see
`mlpact.torch.imagestats`), under the same verdict rule as a table's columns: the image size
(height, width), each RGB channel's mean and standard deviation, and the distribution of the
predicted classes. With labels (a folder of class folders named like the version's classes),
the metrics too, against the recorded test metrics. Not compared: what the images show beyond
these statistics (new kinds of objects, backgrounds or framing can pass unnoticed), their file
formats and metadata. At most `imagestats.SAMPLE` images are measured (a seeded sample).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlpact.errors import DataError
from mlpact.torch.images import image_files
from mlpact.torch.imagestats import SAMPLE, sample, stats_frame

if TYPE_CHECKING:
    from mlpact.check import CheckResult
    from mlpact.config._check import CheckConfig
    from mlpact.torch.predicting import ImageModel

COMPARED = (
    "Compared with the training images: height and width, the mean and standard deviation of each "
    "RGB channel (measured on images shrunk to at most 64x64), and the predicted classes. Not "
    "compared: what the images show beyond these statistics, file formats and metadata."
)


def check_images(model: ImageModel, data: Any, settings: CheckConfig) -> CheckResult:
    """Judge a folder of new images against an image version: reload, retrain or incompatible.

    Raises:
        DataError: `data` is not a folder or file of images.
    """
    import pandas as pd

    from mlpact.check import CheckResult, judge
    from mlpact.evaluate import Predictions

    paths, labels = _images(model, data)
    chosen_at = _positions(len(paths), model.config.seed)
    chosen = [paths[i] for i in chosen_at]
    scored = model.score(chosen, names=[_name(p, data) for p in chosen])
    result = CheckResult(model.ref, "reload", len(paths), scored.report, settings)
    result.notes.append(COMPARED)
    if len(chosen) < len(paths):
        result.notes.append(f"Measured a seeded sample of {len(chosen)} of the {len(paths)} images.")
    warned = [f"input warning ({p.check}): {p.describe()}" for p in scored.report.warnings]
    if scored.report.errors:
        result.verdict = "incompatible"
        policy = "unreadable_image is an error under this version's validation policy"
        result.reasons = [f"{p.describe()} ({policy})" for p in scored.report.errors]
        return result
    kept = scored.kept
    stats, _ = stats_frame([chosen[i] for i in kept])
    classes = np.asarray(model.classes or [], dtype=object)
    proba = scored.proba[kept].astype(np.float64)
    y = pd.Series([labels[chosen_at[i]] for i in kept], dtype=object) if labels is not None else None
    found = Predictions(y, classes[proba.argmax(axis=1)], proba, list(classes)) if kept else None
    if labels is None:
        result.notes.append(
            "No labels (the folder is not one of class folders named like the version's classes): "
            "performance is not assessed."
        )
    judge(model, result, stats, found, y)
    result.reasons += warned
    return result


def _images(model: ImageModel, data: Any) -> tuple[list[Path], list[str] | None]:
    """The images to check, and their labels when the folder holds the version's class folders."""
    if not isinstance(data, str | Path):
        raise DataError("An image model is checked on a folder of images (or one image), not a table.")
    root = Path(data)
    if not root.exists():
        raise DataError(f"{str(data)!r} does not exist.", hint="Give a folder of images.")
    paths = image_files(root)
    if not paths:
        raise DataError(f"No image files under {str(data)!r}.")
    if not root.is_dir():
        return paths, None
    folders = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    classes = {str(c) for c in model.classes or []}
    if not folders or not folders <= classes or any(p.parent.parent != root for p in paths):
        return paths, None
    return paths, [p.parent.name for p in paths]


def _positions(n: int, seed: int) -> list[int]:
    """The images measured: all of them, or a seeded sample of SAMPLE, in order."""
    return sample(range(n), seed=seed, size=SAMPLE)


def _name(path: Path, data: Any) -> str:
    root = Path(data)
    return path.relative_to(root).as_posix() if root.is_dir() else path.name
