"""What an image version remembers about its training images, so `mlpact check` can tell drift.

Per image, from the file as decoded (before any transform): its height and width, and the mean
and standard deviation of each RGB channel (0-255), measured on a copy shrunk to at most 64x64
pixels (aspect kept; the same procedure at training and check time, so the numbers compare).
These eight columns are summarised like numeric table columns (`mlpact.reference`), and the
model's predicted classes like a table model's predictions. Not compared: what the images show
beyond these statistics (new kinds of objects, backgrounds, framing), file formats and metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from mlpact.errors import DataError
from mlpact.torch.images import opened

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")
COLUMNS = ("height", "width", "mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b")
SAMPLE = 2000  # images summarised at most (a seeded sample), at training and check time
_THUMB = (64, 64)


def describe_image(path: Path | str) -> list[float]:
    """The statistics of one image file (see the module docstring).

    Raises:
        DataError: the file does not exist or is not an image.
    """
    with opened(path) as img:
        width, height = img.size
        rgb = img.convert("RGB")
        rgb.thumbnail(_THUMB)
        pixels = np.asarray(rgb, dtype=np.float32).reshape(-1, 3)
    return [float(height), float(width), *pixels.mean(axis=0).tolist(), *pixels.std(axis=0).tolist()]


def sample(items: Sequence[T], *, seed: int, size: int = SAMPLE) -> list[T]:
    """At most `size` of the items, a seeded sample kept in their order."""
    if len(items) <= size:
        return list(items)
    chosen = np.sort(np.random.default_rng(seed).choice(len(items), size, replace=False))
    return [items[int(i)] for i in chosen]


def stats_frame(paths: Sequence[Path]) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row of statistics per readable image, and the unreadable ones with why."""
    import pandas as pd

    rows, failed = [], {}
    for path in paths:
        try:
            rows.append(describe_image(path))
        except DataError as exc:
            failed[str(path)] = exc.message
    return pd.DataFrame(rows, columns=list(COLUMNS), dtype="float64"), failed


def build_reference(paths: Sequence[Path], predicted: Any, *, bins: int) -> dict[str, Any]:
    """reference.json of an image version: the statistics of (a sample of) its fitting images and
    the predicted classes on them."""
    from mlpact.reference import summarise_numbers, summarise_predictions

    frame, _ = stats_frame(paths)
    return {
        "kind": "image",
        "rows": len(frame),
        "bins": bins,
        "features": {name: summarise_numbers(frame[name], bins=bins) for name in COLUMNS},
        "skipped": {},
        "prediction": summarise_predictions(predicted, "classification", bins=bins),
    }
