"""Batch prediction: a file (or a folder of Parquet files) through a saved version.

:func:`predict_file` chooses the engine: `local` streams a CSV or Parquet file in chunks in this
process (`mlpact.prediction.local`); `ray` sends Parquet row groups through a pool of Ray actors with
the same output, row order and validation report (`mlpact.prediction.ray`). Image models predict a
folder of images (or one image) with the local engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from mlpact import torch as torch_flavor
from mlpact._core.progress import Progress
from mlpact.errors import DataError, UsageError
from mlpact.prediction.local import DEFAULT_CHUNK_ROWS, PredictResult, predict_local
from mlpact.prediction.ray import predict_ray
from mlpact.version.load import load
from mlpact.version.model import Model

if TYPE_CHECKING:
    from mlpact._core.progress import Progress
    from mlpact.store import Store

__all__ = ["DEFAULT_CHUNK_ROWS", "PredictResult", "predict", "predict_file"]

Engine = Literal["local", "ray"]


def predict(
    model: str | Path | Model,
    source: str | Path,
    output: str | Path,
    *,
    keep: Sequence[str] = (),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    sep: str = ",",
    engine: Engine = "local",
    workers: int = 2,
    address: str | None = None,
    store: str | Path | Store | None = None,
    trust: Iterable[str] = (),
    compiled: bool | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> PredictResult:
    """Predict every row of a file (or every image of a folder) into a CSV or Parquet file
    (formats by extension): `mlpact.predict`, what `mlpact predict` runs.

    Args:
        model: a reference (``name``, ``name:3``, ``name@alias``), a version folder or a loaded model.
        source: a CSV or Parquet file or URL; for `ray`, a Parquet file or a folder of them; for an
            image model, a folder of images or one image.
        output: the output file; written only if the whole input validates.
        keep: input columns copied to the output before the predictions (e.g. an id).
        chunk_rows: rows per chunk; memory grows with this, not with the file.
        engine: ``local`` (this process) or ``ray`` (a pool of `workers` Ray actors, on the cluster
            at `address`, else the running or a local Ray).
        compiled: score chunks through the pipeline's compiled form (its preprocessing replayed with
            numpy, used only where it gives scikit-learn's exact numbers; `PredictResult.scored_by`
            says which path ran); False: always the pipeline; None: the version's `predict.compiled`.
        threads: the local engine scores a forest's or tree's chunks in blocks of rows on this many
            threads, with the same numbers as one call (`mlpact.version.rowsplit`); None: every
            core this process may use. Other estimators, and each Ray actor, use one.

    Raises:
        InputValidationError: some rows do not match the schema; lists every problem.
        DataError: the file cannot be read or written; an image model asked for the ray engine.
        UsageError: `threads` with the ray engine or an image model.
    """
    loaded = model if isinstance(model, Model) else load(model, store=store, trust=trust)
    if getattr(loaded, "takes_images", False):
        if threads is not None:
            raise UsageError(
                f"--threads is for tables scored by scikit-learn; found --threads {threads} for "
                f"{loaded.ref}, an image model, which PyTorch scores on its own threads.",
                hint="Drop --threads; set OMP_NUM_THREADS to change how many threads PyTorch uses.",
            )
        if engine == "ray":
            raise DataError(
                f"{loaded.ref} is an image model; --engine ray predicts Parquet tables.",
                hint="Drop --engine ray: image folders are predicted by the local engine.",
            )
        found = torch_flavor.predict_images(loaded, Path(source), Path(output), progress=progress)
        return PredictResult(
            found.rows, found.output, found.report, found.seconds, images=True, ref=loaded.ref
        )
    if engine == "ray":
        if threads is not None:
            raise UsageError(
                f"--threads is for the local engine; found --threads {threads} with --engine ray, "
                "whose actors score on one core each.",
                hint="Scale Ray with --workers (one core per actor), or drop --engine ray.",
            )
        return predict_ray(
            loaded, source, output, keep=keep, workers=workers, address=address,
            chunk_rows=chunk_rows, compiled=compiled, progress=progress,
        )  # fmt: skip
    return predict_local(
        loaded,
        source,
        output,
        keep=keep,
        chunk_rows=chunk_rows,
        sep=sep,
        compiled=compiled,
        threads=threads,
        progress=progress,
    )


predict_file = predict  # its first name, kept for existing scripts
