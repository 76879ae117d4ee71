"""A loaded PyTorch version, and predicting a folder (or file) of images into a table."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact.errors import DataError
from mlpact.model import PROBA_PREFIX, Model
from mlpact.torch._deps import require
from mlpact.torch.images import image_files
from mlpact.torch.saving import TRANSFORMS_JSON, TorchPredictor, load_module

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlpact.progress import Progress
    from mlpact.schema import ValidationReport
    from mlpact.store import VersionRecord

require("torch")


def load_version(
    directory: Path,
    manifest: Mapping[str, Any],
    *,
    record: VersionRecord | None,
    raw_config: Mapping[str, Any],
    lineage: Mapping[str, Any] | None = None,
    trust: Iterable[str] = (),
    allowed: Iterable[str] | None = None,
) -> Model:
    """Rebuild a verified torch version: the module from model.json + weights.safetensors, the
    transforms (image models) or the preprocessing (table models).

    Raises:
        UntrustedTypesError: model.json or the preprocessing names a type that is not trusted
            (`allowed`: the import paths the index trusts; default: the one the config names).
    """
    from mlpact import bundle
    from mlpact.torch.inputs import ImageInput, TableInput
    from mlpact.trust import extra_types

    config_type = str((raw_config.get("model") or {}).get("type", ""))
    named = [config_type] if allowed is None else list(allowed)  # from the index (mlpact.trust)
    module, spec = load_module(directory, "", [*named, *trust])
    batch = int((raw_config.get("train") or {}).get("batch_size", 32))
    if spec.get("input") == "image":
        steps = bundle.read_json(directory, TRANSFORMS_JSON)["predict"]
        predictor = TorchPredictor(module, ImageInput(steps), spec.get("classes"), batch_size=max(batch, 64))
        return ImageModel(
            directory, manifest, predictor, record=record, raw_config=raw_config, lineage=lineage
        )
    pre = bundle.load_pipeline(directory, trusted=extra_types(record, named, trust))
    predictor = TorchPredictor(module, TableInput(pre), spec.get("classes"), batch_size=max(batch, 256))
    return Model(directory, manifest, predictor, record=record, raw_config=raw_config, lineage=lineage)


class ImageModel(Model):
    """A version whose input is images: file paths, image bytes or RGB arrays."""

    takes_images = True

    def check(
        self, data: Any, *, ignore: Iterable[str] = (), row_offset: int = 0
    ) -> tuple[pd.DataFrame, ValidationReport]:
        raise DataError(
            f"{self.ref} is an image model: it takes image files, bytes or arrays, not table rows.",
            hint="Call predict() with image paths, or `mlpact predict MODEL IMAGES_DIR -o preds.csv`.",
        )

    def _images(self, data: Any) -> list[Any]:
        if isinstance(data, (str, Path, bytes)):
            return [data]
        if hasattr(data, "ndim") and data.ndim == 3:
            return [data]
        return list(data)

    def predict(self, data: Any, *, check: bool = True) -> np.ndarray:
        """The predicted class of each image."""
        import numpy as np

        return np.asarray(self.pipeline.predict(self._images(data)))

    def predict_proba(self, data: Any, *, check: bool = True) -> pd.DataFrame:
        """Class probabilities, one column per class."""
        import pandas as pd

        return pd.DataFrame(self.pipeline.predict_proba(self._images(data)), columns=self.classes)

    def predict_frame(self, data: Any, *, check: bool = True, keep: Sequence[str] = ()) -> pd.DataFrame:
        """`prediction`, then `proba_<class>` per class, one row per image."""
        return image_table(self.pipeline, self._images(data))


def image_table(
    predictor: TorchPredictor, images: Sequence[Any], names: Sequence[str] | None = None
) -> pd.DataFrame:
    """The output table: `path` (when names are given), `prediction`, `proba_<class>` per class."""
    import pandas as pd

    proba = predictor.predict_proba(images)
    classes = predictor.classes_
    assert classes is not None
    cols: dict[str, Any] = {} if names is None else {"path": list(names)}
    cols["prediction"] = classes[proba.argmax(axis=1)] if len(proba) else []
    for i, cls in enumerate(classes):
        cols[f"{PROBA_PREFIX}{cls}"] = proba[:, i]
    return pd.DataFrame(cols)


def predict_images(
    model: Model,
    source: str | Path,
    output: str | Path,
    *,
    chunk: int = 1024,
    progress: Progress | None = None,
) -> tuple[int, Path, float]:
    """Predict every image under `source` (a folder, searched recursively, or one file) into a
    CSV or Parquet table: `path` (relative to the folder), `prediction`, `proba_<class>`.

    Returns:
        The number of images, the output path and the seconds it took.

    Raises:
        DataError: the model does not take images, or there is no image to predict.
    """
    import pandas as pd

    from mlpact.data import table_format
    from mlpact.progress import Silent

    if not isinstance(model, ImageModel):
        raise DataError(f"{model.ref} takes table rows, not images; give it a CSV or Parquet file.")
    source, output = Path(source), Path(output)
    files = image_files(source) if source.exists() else []
    if not files:
        raise DataError(
            f"No image files found at {str(source)!r}.", hint="Give a folder of images or one image file."
        )
    fmt, start = table_format(output), time.perf_counter()
    base = source if source.is_dir() else source.parent
    parts = []
    with (progress or Silent()).bar(f"Predicting {len(files)} images", len(files)) as advance:
        for i in range(0, len(files), chunk):
            batch = files[i : i + chunk]
            parts.append(image_table(model.pipeline, batch, [p.relative_to(base).as_posix() for p in batch]))
            advance(len(batch))
    table = pd.concat(parts, ignore_index=True)
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        table.to_parquet(tmp, index=False) if fmt == "parquet" else table.to_csv(tmp, index=False)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return len(files), output, time.perf_counter() - start
