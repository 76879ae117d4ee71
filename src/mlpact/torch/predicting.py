"""A loaded PyTorch version, and predicting a folder (or file) of images into a table."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact._core import files
from mlpact._core.progress import Silent
from mlpact.data.sources import make_output_folder, table_format
from mlpact.data.validation import Problem, ValidationReport
from mlpact.errors import DataError, InputWarning, plural
from mlpact.torch.deps import require
from mlpact.torch.images import image_files
from mlpact.torch.inputs import ImageInput, TableInput
from mlpact.torch.saving import TRANSFORMS_JSON, TorchPredictor, inference_batch, load_module
from mlpact.version import bundle
from mlpact.version.model import PROBA_PREFIX, Model
from mlpact.version.trust import extra_types

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlpact._core.progress import Progress
    from mlpact.data.validation import ValidationReport
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
    config_type = str((raw_config.get("model") or {}).get("type", ""))
    named = [config_type] if allowed is None else list(allowed)  # from the index (mlpact.version.trust)
    module, spec = load_module(directory, "", [*named, *trust])
    batch = int((raw_config.get("train") or {}).get("batch_size", 32))
    if spec.get("input") == "image":
        steps = files.read_json(directory, TRANSFORMS_JSON)["predict"]
        to_tensor = ImageInput(steps, trusted=[*named, *trust])
        predictor = TorchPredictor(
            module, to_tensor, spec.get("classes"), batch_size=inference_batch(batch, images=True)
        )
        return ImageModel(
            directory, manifest, predictor, record=record, raw_config=raw_config, lineage=lineage
        )
    pre = bundle.load_pipeline(directory, trusted=extra_types(record, named, trust))
    predictor = TorchPredictor(
        module, TableInput(pre), spec.get("classes"), batch_size=inference_batch(batch, images=False)
    )
    return Model(directory, manifest, predictor, record=record, raw_config=raw_config, lineage=lineage)


class ImageModel(Model):
    """A version whose input is images: file paths, image bytes or RGB arrays.

    An image that cannot be read (a missing file, bytes that are not an image) is one finding of
    the `unreadable_image` check of the version's validation policy: `error` refuses the whole
    input, `warn` (the default) and `ignore` predict the other images and leave its row empty.
    """

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

    def read(self, data: Any, *, names: Sequence[str] | None = None, row_offset: int = 0) -> Decoded:
        """Decode every image (None where one cannot be read) and report the unreadable ones
        under the version's validation policy (check `unreadable_image`).

        Args:
            names: what to call each image in messages (default: its path, or "upload").
        """
        items = self._images(data)
        found = Decoded([], {}, None)  # type: ignore[arg-type]
        labels = []
        for i, item in enumerate(items):
            label = names[i] if names is not None else _label(item, row_offset + i)
            labels.append(label)
            try:
                found.images.append(self.pipeline.to_tensor.image(item, name=repr(label)))
            except DataError as exc:
                found.images.append(None)
                found.errors[i] = exc.message
        found.report = unreadable_report(found.errors, labels, self.unreadable_policy, row_offset)
        return found

    @property
    def unreadable_policy(self) -> str:
        """error, warn or ignore: what an unreadable image is under this version's policy."""
        saved = (self._raw_config.get("validation") or {}).get("unreadable_image")
        return str(saved) if saved in ("error", "warn", "ignore") else "warn"

    def _readable(self, data: Any, check: bool) -> tuple[list[Any], list[int], int]:
        found = self.read(data)
        decoded, report = found.images, found.report
        if check:
            report.raise_for_errors()
            if report.warnings:
                import warnings

                warnings.warn(
                    "Input has problems the validation policy allows:\n" + report.format(),
                    InputWarning,
                    stacklevel=4,
                )
        kept = [i for i, image in enumerate(decoded) if image is not None]
        return [decoded[i] for i in kept], kept, len(decoded)

    def predict(self, data: Any, *, check: bool = True, compiled: bool | None = None) -> np.ndarray:
        """The predicted class of each image (None for an image that cannot be read). `compiled`
        is accepted for the table models' signature; an image network has no compiled form."""
        import numpy as np

        images, kept, n = self._readable(data, check)
        if len(kept) == n:
            return np.asarray(self.pipeline.predict(images))
        out = np.full(n, None, dtype=object)
        if images:
            out[kept] = self.pipeline.predict(images)
        return out

    def predict_proba(self, data: Any, *, check: bool = True) -> pd.DataFrame:
        """Class probabilities, one column per class (empty for an image that cannot be read)."""
        import numpy as np
        import pandas as pd

        images, kept, n = self._readable(data, check)
        proba = np.full((n, len(self.classes or [])), np.nan)
        if images:
            proba[kept] = self.pipeline.predict_proba(images)
        return pd.DataFrame(proba, columns=self.classes)

    def score(
        self,
        items: Sequence[Any],
        *,
        names: Sequence[str] | None = None,
        chunk: int = 512,
        on_chunk: Callable[[int], None] | None = None,
    ) -> Scored:
        """Class probabilities of many images, decoded a chunk at a time (memory stays flat), with
        the unreadable ones reported under the policy.

        Raises:
            InputValidationError: an image cannot be read and the policy says `unreadable_image: error`.
        """
        import numpy as np

        proba = np.full((len(items), len(self.classes or [])), np.nan, dtype=np.float32)
        errors: dict[int, str] = {}
        report = ValidationReport()
        for start in range(0, len(items), chunk):
            part = list(items[start : start + chunk])
            labels = names[start : start + chunk] if names is not None else None
            found = self.read(part, names=labels, row_offset=start)
            found.report.raise_for_errors()
            report.merge(found.report)
            errors.update({start + i: why for i, why in found.errors.items()})
            kept = [i for i, image in enumerate(found.images) if image is not None]
            if kept:
                proba[[start + i for i in kept]] = self.pipeline.predict_proba(
                    [found.images[i] for i in kept]
                )
            if on_chunk is not None:
                on_chunk(len(part))
        return Scored(proba, errors, report)

    def predict_frame(self, data: Any, *, check: bool = True, keep: Sequence[str] = ()) -> pd.DataFrame:
        """`prediction`, then `proba_<class>` per class, one row per image."""
        found = self.read(data)
        if check:
            found.report.raise_for_errors()
        return image_table(self.pipeline, found.images, errors=found.errors)


@dataclass
class Scored:
    """Class probabilities per image (NaN rows for unreadable ones), why each failed, the report."""

    proba: np.ndarray
    errors: dict[int, str]
    report: ValidationReport

    @property
    def kept(self) -> list[int]:
        return [i for i in range(len(self.proba)) if i not in self.errors]


@dataclass
class Decoded:
    """Images as decoded (None where one cannot be read), why each failed, and the report."""

    images: list[Any]
    errors: dict[int, str]
    report: ValidationReport


def unreadable_report(
    failed: Mapping[int, str], labels: Sequence[str], level: str, row_offset: int = 0
) -> ValidationReport:
    """A validation report with one `unreadable_image` finding (when any image failed) naming the
    first five files; `examples` holds the first three reasons."""

    report = ValidationReport(rows=len(labels))
    if failed and level != "ignore":
        n = len(failed)
        named = ", ".join(repr(labels[i]) for i in list(failed)[:5]) + (", ..." if n > 5 else "")
        report.problems.append(
            Problem(
                "unreadable_image",
                "image",
                n,
                level,
                f"{n} of {len(labels)} images cannot be read: {named}",
                rows=[row_offset + i + 1 for i in list(failed)[:5]],
                examples=list(failed.values())[:3],
            )
        )
    return report


def _label(item: Any, position: int) -> str:
    return str(item) if isinstance(item, (str, Path)) else f"image {position + 1}"


def image_table(
    predictor: TorchPredictor,
    images: Sequence[Any],
    names: Sequence[str] | None = None,
    *,
    errors: Mapping[int, str] | None = None,
) -> pd.DataFrame:
    """The output table: `path` (when names are given), `prediction`, `proba_<class>` per class.

    An image given as None (it could not be read) gets an empty row, and the table an `error`
    column saying why (from `errors`, by position).
    """
    import numpy as np

    classes = predictor.classes_
    assert classes is not None
    kept = [i for i, image in enumerate(images) if image is not None]
    proba = np.full((len(images), len(classes)), np.nan, dtype=np.float32)
    if kept:
        proba[kept] = predictor.predict_proba([images[i] for i in kept])
    why = dict(errors or {})
    why.update({i: why.get(i, "cannot be read") for i, image in enumerate(images) if image is None})
    return proba_table(classes, proba, names, why)


def proba_table(
    classes: Any, proba: np.ndarray, names: Sequence[str] | None, errors: Mapping[int, str]
) -> pd.DataFrame:
    """`path`, `prediction`, `proba_<class>` per class, and `error` when some image failed."""
    import numpy as np
    import pandas as pd

    cols: dict[str, Any] = {} if names is None else {"path": list(names)}
    if not errors:
        cols["prediction"] = classes[proba.argmax(axis=1)] if len(proba) else []
    else:
        prediction = np.full(len(proba), None, dtype=object)
        kept = [i for i in range(len(proba)) if i not in errors]
        prediction[kept] = classes[proba[kept].argmax(axis=1)] if kept else []
        cols["prediction"] = prediction
    for i, cls in enumerate(classes):
        cols[f"{PROBA_PREFIX}{cls}"] = proba[:, i]
    if errors:
        cols["error"] = [errors.get(i, "") for i in range(len(proba))]
    return pd.DataFrame(cols)


@dataclass
class ImagePredictions:
    """What predicting a folder of images did: how many, where to, how long, and what was found."""

    rows: int
    output: Path
    seconds: float
    report: ValidationReport


def predict_images(
    model: Model,
    source: str | Path,
    output: str | Path,
    *,
    chunk: int = 1024,
    progress: Progress | None = None,
) -> ImagePredictions:
    """Predict every image under `source` (a folder, searched recursively, or one file) into a
    CSV or Parquet table: `path` (relative to the folder), `prediction`, `proba_<class>`, and
    `error` when some image cannot be read (its row is otherwise empty; see `ImageModel.read`).

    Raises:
        DataError: the model does not take images, `source` does not exist or holds no image.
        InputValidationError: an image cannot be read and the policy says `unreadable_image: error`.
    """

    if not isinstance(model, ImageModel):
        raise DataError(f"{model.ref} takes table rows, not images; give it a CSV or Parquet file.")
    source, output = Path(source), Path(output)
    if not source.exists():
        raise DataError(
            f"Input {str(source)!r} does not exist.", hint="Give a folder of images or one image file."
        )
    files = image_files(source)
    if not files:
        raise DataError(
            f"No image files found at {str(source)!r}.", hint="Give a folder of images or one image file."
        )
    fmt, start = table_format(output), time.perf_counter()
    make_output_folder(output.parent)
    base = source if source.is_dir() else source.parent
    names = [p.relative_to(base).as_posix() for p in files]
    with (progress or Silent()).bar(f"Predicting {plural(len(files), 'image')}", len(files)) as advance:
        scored = model.score(files, names=names, chunk=chunk, on_chunk=advance)
    table = proba_table(model.pipeline.classes_, scored.proba, names, scored.errors)
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        table.to_parquet(tmp, index=False) if fmt == "parquet" else table.to_csv(tmp, index=False)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return ImagePredictions(len(files), output, time.perf_counter() - start, scored.report)
