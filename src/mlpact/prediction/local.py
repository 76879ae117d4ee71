"""Batch prediction: stream a CSV or Parquet file through a version in chunks.

Memory stays bounded by the chunk size whatever the file size. Every chunk is validated
against the schema; if any chunk has an error, the rest is still validated (so the report is
complete) but nothing is written: output goes to a temporary file that replaces the target
only when every chunk succeeded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact._core import remote
from mlpact._core.progress import Progress, Silent
from mlpact._core.remote import filesystem, is_url
from mlpact.data.schema import coerce
from mlpact.data.sources import (
    check_separator,
    empty_file,
    make_output_folder,
    refuse_duplicate_columns,
    table_format,
)
from mlpact.data.validation import ValidationReport
from mlpact.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.version.model import Model, Scores

DEFAULT_CHUNK_ROWS = 200_000


@dataclass
class PredictResult:
    """What a batch prediction did: rows written, where, and what validation found."""

    rows: int
    output: Path | str
    report: ValidationReport
    seconds: float
    images: bool = False  # an image model: one row per image file, no table validation
    ref: str = ""  # the version that predicted
    #: Input columns the model does not use, left out without a finding (the policy ignores them).
    ignored: list[str] = field(default_factory=list)
    #: Rows scored by the pipeline's compiled form (`mlpact.version.rowpath`); the rest by the
    #: pipeline itself (compiled off, a shape it does not compile, or a chunk with a value it was
    #: not compiled for).
    compiled_rows: int = 0
    #: The most threads the estimator scored one chunk on (a forest or tree, in blocks of rows:
    #: `mlpact.version.rowsplit`); 1 for every other estimator, and for each Ray actor.
    threads: int = 1

    @property
    def scored_by(self) -> str:
        """Which path scored the rows: ``compiled``, ``scikit-learn``, or ``mixed`` (some chunks each)."""
        if self.images or not self.compiled_rows:
            return "torch" if self.images else "scikit-learn"
        return "compiled" if self.compiled_rows == self.rows else "mixed"

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


def predict_local(
    model: Model,
    source: str | Path,
    output: str | Path,
    *,
    keep: Sequence[str] = (),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    sep: str = ",",
    compiled: bool | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> PredictResult:
    """Predict every row of a CSV/Parquet file into a CSV/Parquet file (formats by extension), in
    this process, streamed in chunks (the `local` engine of `mlpact.prediction.predict_file`).

    Args:
        model: a loaded version.
        source: the input file.
        output: the output file; written only if the whole input validates.
        keep: input columns copied to the output before the predictions (e.g. an id).
        chunk_rows: rows per chunk; memory grows with this, not with the file.
        compiled: score chunks through the pipeline's compiled form where it gives the exact same
            numbers (`mlpact.version.model.Model.score_rows`); None: the version's `predict.compiled`.
        threads: a forest or tree scores each chunk in blocks of rows on this many threads, with
            the same numbers (`mlpact.version.rowsplit`); None: every core this process may use.

    Raises:
        InputValidationError: some rows do not match the schema; lists every problem.
        DataError: the file cannot be read, or is empty, or the output cannot be written.

    The output's folder is created when it does not exist.
    """

    source, target = _location(source), _location(output)
    if isinstance(source, Path) and not source.exists():
        raise DataError(f"Input file {str(source)!r} does not exist.")
    if isinstance(source, str):
        remote.require(source, what="Input file")
    if str(source) == str(target):
        raise DataError(
            "Expected an output file other than the input, found -o naming the input itself: "
            f"{str(source)!r}.",
            hint="Write the predictions to a new file, e.g. -o predictions.csv.",
        )
    out_fmt = table_format(target)
    if isinstance(target, Path):
        make_output_folder(target.parent)
    # a URL output is written here first and uploaded whole once every chunk succeeded
    local = target if isinstance(target, Path) else Path.cwd() / Path(target.split("?")[0]).name
    tmp = local.with_name(f".{local.name}.{os.getpid()}.tmp")
    report = ValidationReport()
    start = time.perf_counter()
    writer: Writer | None = None
    columns: list[str] | None = None
    compiled_rows, used = 0, 1
    try:
        chunks, total = _read_chunks(source, chunk_rows, sep)
        chunks = _ahead(chunks)
        name = source.name if isinstance(source, Path) else source.rsplit("/", 1)[-1]
        bar = (progress or Silent()).bar(f"Predicting {name}", total)
        # Chunk k is scored in a background thread while chunk k+1 is read and validated here,
        # and written behind while k+1 is scored: one chunk in flight at each stage, so memory
        # stays bounded by the chunk size.
        with bar as advance, ThreadPoolExecutor(1, thread_name_prefix="mlpact-score") as scorer:
            pending: Future[tuple[pd.DataFrame, Scores | None]] | None = None

            def finish() -> None:
                nonlocal compiled_rows, used, writer
                assert pending is not None
                table, scores = pending.result()
                if scores is not None:
                    compiled_rows += len(table) if scores.compiled else 0
                    used = max(used, scores.threads)
                writer = writer or Writer(tmp, out_fmt, behind=True)
                writer.write(table)
                advance(len(table))  # the chunk's rows, scored

            for offset, chunk in chunks:
                check_keep(chunk, keep)
                columns = columns if columns is not None else [str(c) for c in chunk.columns]
                X, chunk_report = model.check(chunk, ignore=keep, row_offset=offset)
                report.merge(chunk_report)
                if pending is not None:
                    finish()
                    pending = None
                if report.ok:
                    kept = chunk[list(keep)] if keep else None
                    pending = scorer.submit(model.output, X, kept, compiled=compiled, threads=threads)
                else:
                    advance(len(chunk))
            if pending is not None:
                finish()
            report.raise_for_errors()  # inside the bar: no "✓ Predicting" before a refused input
        if writer is None:
            writer = Writer(tmp, out_fmt)
            writer.write(model.output_frame(empty_input(model)))
        writer.close()
        if isinstance(target, Path):
            os.replace(tmp, target)
        else:
            remote.upload(tmp, target)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    ignored = ignored_columns(columns or [], model, keep, report)
    return PredictResult(
        report.rows, target, report, time.perf_counter() - start, ref=model.ref, ignored=ignored,
        compiled_rows=compiled_rows, threads=used,
    )  # fmt: skip


def _location(where: str | Path) -> str | Path:
    """A URL stays a string (``s3://...``: `Path` would fold its ``//``); a path is resolved."""

    return str(where) if is_url(where) else Path(where).resolve()


def check_keep(chunk: pd.DataFrame, keep: Sequence[str]) -> None:
    missing = sorted(set(keep) - set(chunk.columns))
    if missing:
        raise DataError(
            f"--keep names columns that are not in the input: {missing!r}. "
            f"Input columns: {sorted(map(str, chunk.columns))!r}."
        )


def empty_input(model: Model) -> pd.DataFrame:
    import pandas as pd

    return coerce(pd.DataFrame({c: [] for c in model.schema.names}), model.schema)


def _read_chunks(
    source: str | Path, chunk_rows: int, sep: str
) -> tuple[Iterator[tuple[int, pd.DataFrame]], int | None]:
    fmt = table_format(source)
    name, opened = source, None
    if isinstance(source, str):  # a URL: stream it through fsspec (the file object lives with the reader)
        fs, key = filesystem(source)
        source = opened = fs.open(key, "rb")
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            # pre_buffer=True (the default) keeps every column chunk it read cached until the
            # file is closed, so memory grows with the file; off, it stays flat.
            pf = pq.ParquetFile(source, pre_buffer=False)
            refuse_duplicate_columns(pf.schema_arrow.names, name)
            return _offsets(
                (b.to_pandas() for b in pf.iter_batches(batch_size=chunk_rows)), source
            ), pf.metadata.num_rows
        import pandas as pd

        # pandas renames a second `x` to `x.1`: read the header as it is written first
        try:
            header = pd.read_csv(source, sep=sep, header=None, nrows=1, dtype=str)
        except pd.errors.EmptyDataError:
            raise empty_file(name) from None
        names = [str(v) for v in header.iloc[0]]
        check_separator(names, sep, name)
        refuse_duplicate_columns(names, name)
        if opened is not None:
            opened.seek(0)
        reader = pd.read_csv(source, chunksize=chunk_rows, sep=sep, low_memory=False)
        return _offsets(iter(reader), source), None
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"Failed while reading {str(source)!r}.\n{exc}") from exc


_END = object()


def _ahead(items: Iterator[Any]) -> Iterator[Any]:
    """The items of `items`, the next one read in a background thread while this one is used.

    Parquet and CSV readers spend most of a chunk's time outside the GIL (pyarrow, pandas' C
    parser), so reading chunk k+1 overlaps with validating and scoring chunk k on a second
    core. One chunk is read ahead, never more: memory stays bounded by the chunk size. A read
    error is raised here, where the chunk would have been used.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="mlpact-read") as pool:
        pending = pool.submit(next, items, _END)
        while True:
            item = pending.result()
            if item is _END:
                return
            pending = pool.submit(next, items, _END)
            yield item


def _offsets(chunks: Iterator[pd.DataFrame], source: str | Path) -> Iterator[tuple[int, pd.DataFrame]]:
    offset = 0
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except Exception as exc:  # files are parsed lazily: a bad line far in fails here
            raise DataError(f"Failed while reading {str(source)!r} after row {offset}.\n{exc}") from exc
        chunk.index = range(offset, offset + len(chunk))
        yield offset, chunk
        offset += len(chunk)


class Writer:
    """Appends frames to one CSV or Parquet file, keeping the first chunk's column types.

    With `behind`, each frame is written in a background thread while the caller prepares the
    next one (Arrow conversion and Parquet encoding run outside the GIL); at most one write is
    in flight, so frames land in order and memory stays bounded. A write's error is raised by the
    next `write` or by `close`.
    """

    def __init__(self, path: Path, fmt: str, *, behind: bool = False) -> None:
        self.path, self.fmt = path, fmt
        self._parquet: Any = None
        self._csv: Any = None
        self._schema: Any = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mlpact-write") if behind else None
        self._pending: Future[None] | None = None

    def write(self, frame: pd.DataFrame) -> None:
        if self._pool is None:
            self._write(frame)
            return
        self._wait()
        self._pending = self._pool.submit(self._write, frame)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _write(self, frame: pd.DataFrame) -> None:
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._schema = table.schema
                self._parquet = pq.ParquetWriter(self.path, self._schema)
            elif table.schema != self._schema:
                table = table.cast(self._schema)
            self._parquet.write_table(table)
        else:
            first = self._csv is None
            if first:
                self._csv = open(self.path, "w", encoding="utf-8", newline="")  # noqa: SIM115 (closed in close())
            frame.to_csv(self._csv, header=first, index=False)

    def close(self) -> None:
        try:
            self._wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown()
            if self._parquet is not None:
                self._parquet.close()
                self._parquet = None
            if self._csv is not None:
                self._csv.close()
                self._csv = None


def ignored_columns(
    columns: Sequence[str], model: Model, keep: Sequence[str], report: ValidationReport
) -> list[str]:
    """Input columns the model does not use that no finding named (the policy ignores them)."""
    used = {*model.schema.names, *keep}
    reported = {p.column for p in report.problems if p.check == "extra_column"}
    return [c for c in columns if c not in used and c not in reported]
