"""How inputs become tensors: image paths/arrays through the saved transforms, table rows through
the saved preprocessing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlpact.torch.deps import require
from mlpact.torch.images import Transforms, decode_bytes, read_image

torch = require("torch")


class ImageInput:
    """Image files, bytes or RGB arrays -> a float tensor, through the prediction transforms.

    Args:
        steps: the prediction transforms (transforms.json's ``predict`` list).
        trusted: the import paths your own steps may name (see `mlpact.torch.images.Transforms`).
    """

    def __init__(self, steps: Sequence[Mapping[str, Any]], *, trusted: Iterable[str] | None = None) -> None:
        self.transforms = Transforms(steps, trusted=trusted)
        self.steps = self.transforms.steps
        self._rng = np.random.default_rng(0)  # prediction steps are deterministic; apply() wants one
        # a leading resize is done while a file is still a PIL image (as training reads it)
        self._resize = self.steps[0] if self.steps and self.steps[0]["type"] == "resize" else None

    def image(self, item: Any, *, name: str | None = None) -> np.ndarray:
        """One input as an RGB uint8 array (HWC).

        Raises:
            DataError: a file that does not exist or is not an image; bytes that are not an image.
        """
        if isinstance(item, (str, Path)):
            return read_image(item)
        if isinstance(item, bytes):
            return decode_bytes(item, name=name or "upload")
        array = np.asarray(item)
        return np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array

    def __call__(self, batch: Sequence[Any]) -> Any:
        return torch.from_numpy(np.ascontiguousarray(np.stack([self._tensor(item) for item in batch])))

    def _tensor(self, item: Any) -> np.ndarray:
        functions = self.transforms.functions
        if self._resize is not None and isinstance(item, (str, Path)):
            image, functions = read_image(item, self._resize), functions[1:]
        else:
            image = self.image(item)
        for function in functions:
            image = function(image, self._rng)
        return image


class TableInput:
    """Rows (a DataFrame coerced to the schema) -> a float tensor, through the fitted preprocessing."""

    def __init__(self, preprocessor: Any) -> None:
        self.preprocessor = preprocessor

    def __call__(self, frame: Any) -> Any:
        return torch.from_numpy(dense(self.preprocessor.transform(frame)))


def dense(matrix: Any) -> np.ndarray:
    """A float32 C-contiguous array from a dense or sparse matrix."""
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return np.ascontiguousarray(matrix, dtype=np.float32)
