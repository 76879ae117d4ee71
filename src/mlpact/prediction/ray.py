"""Batch prediction on Ray (`mlpact predict --engine ray`): a Parquet file or folder through a pool
of actors, with the same output, row order and validation report as the local engine.

The unit of work is one Parquet row group: the driver lists them (file footers only), Ray Data
(`from_items` + `map_batches` with a callable class, an actor pool of `workers`) hands each to an
actor, which reads it, validates it in chunks with the row numbers the local engine would report,
and predicts. The version is verified and loaded once on the driver and shipped to the actors
through the object store, so each actor deserialises it once and cluster nodes need no access to
the store. Results come back in input order (Ray Data's `preserve_order`) and the driver writes
them, so the output file is the same as the local engine's; if any row group has an error, the
rest is still validated (the report is complete) and nothing is written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact._core import remote
from mlpact._core.progress import Progress, Silent
from mlpact.data.sources import table_format
from mlpact.data.validation import Problem, ValidationReport
from mlpact.errors import DataError, MissingDependencyError
from mlpact.prediction.local import DEFAULT_CHUNK_ROWS, PredictResult, Writer, check_keep, empty_input
from mlpact.version.rowpath import row_path

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.version.model import Model


def import_ray_data() -> Any:
    """`ray` (with Ray Data), or MissingDependencyError with the install hint."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingDependencyError("ray", extra="ray", feature="Prediction with --engine ray") from exc
    return ray


def predict_ray(
    model: Model,
    source: str | Path,
    output: str | Path,
    *,
    keep: Sequence[str] = (),
    workers: int = 2,
    address: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    compiled: bool | None = None,
    progress: Progress | None = None,
) -> PredictResult:
    """Predict every row of a Parquet file (or a folder of them) on Ray into one output file.

    Args:
        model: a loaded (so verified) version; shipped to the actors once.
        source: a Parquet file, or a folder whose ``*.parquet`` files are read in name order.
        output: a Parquet or CSV file; written only if the whole input validates.
        keep: input columns copied to the output before the predictions.
        workers: actors in the pool (each holds one copy of the model).
        address: the Ray cluster (``ray://host:10001``, ``auto``); default: the running Ray
            session, else a local one started (and stopped) here.
        chunk_rows: rows validated and predicted at a time inside an actor.
        compiled: as for the local engine (`mlpact.prediction.local.predict_local`).

    Raises:
        InputValidationError: some rows do not match the schema; lists every problem.
        DataError: the input is not Parquet or cannot be read.
    """

    if remote.is_url(source) or remote.is_url(output):
        raise DataError(
            "--engine ray reads and writes local (or shared-filesystem) Parquet paths, not URLs.",
            hint="Use the local engine for s3:// input and output, or copy the data to a path the "
            "Ray workers share.",
        )
    files, output = parquet_files(Path(source)), Path(output)
    if any(f.resolve() == output.resolve() for f in files):
        raise DataError("The output file must differ from the input file.")
    tasks = row_groups(files)
    check_keep(_schema_frame(files[0]), keep)
    ray = import_ray_data()
    started = _connect(ray, address)
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    report, writer, start, compiled_rows = ValidationReport(), None, time.perf_counter(), 0
    try:
        results = _results(
            ray, model, tasks, keep=keep, workers=workers, chunk_rows=chunk_rows, compiled=compiled
        )
        total = sum(t["rows"] for t in tasks)
        with (progress or Silent()).bar(f"Predicting {Path(source).name} on Ray", total) as advance:
            for part in results:
                report.merge(_report(part["report"]))
                compiled_rows += int(part["compiled_rows"])
                if report.ok and part["rows"]:
                    writer = writer or Writer(tmp, table_format(output))
                    writer.write(_frame(part["table"]))
                advance(part["rows"])
            report.raise_for_errors()  # inside the bar: no "✓ Predicting" before a refused input
        writer = writer or Writer(tmp, table_format(output))
        if not report.rows:
            writer.write(model.output_frame(empty_input(model)))
        writer.close()
        os.replace(tmp, output)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        if started:
            ray.shutdown()
    return PredictResult(
        report.rows, output, report, time.perf_counter() - start, ref=model.ref,
        compiled_rows=compiled_rows if report.ok else 0,
    )  # fmt: skip


def parquet_files(source: Path) -> list[Path]:
    """The Parquet files of a file or folder (name order), or a DataError saying what is accepted."""
    if not source.exists():
        raise DataError(f"Input {str(source)!r} does not exist.")
    files = sorted(source.glob("*.parquet")) if source.is_dir() else [source]
    if not files or any(f.suffix.lower() not in (".parquet", ".pq") for f in files):
        raise DataError(
            f"--engine ray reads Parquet: a .parquet file or a folder of them; found {str(source)!r}.",
            hint="Convert the input to Parquet, or use the local engine (the default) for CSV.",
        )
    return files


def row_groups(files: list[Path]) -> list[dict[str, Any]]:
    """One task per row group: file, row group, its rows and its first row's number in the input."""
    import pyarrow.parquet as pq

    tasks, offset = [], 0
    for path in files:
        try:
            meta = pq.ParquetFile(path).metadata
        except Exception as exc:
            raise DataError(f"Failed while reading {str(path)!r}.\n{exc}") from exc
        for group in range(meta.num_row_groups):
            rows = meta.row_group(group).num_rows
            tasks.append({"path": str(path), "group": group, "rows": rows, "offset": offset})
            offset += rows
    return tasks


def _schema_frame(path: Path) -> pd.DataFrame:
    """An empty frame with the columns of a Parquet file (read from its footer)."""
    import pyarrow.parquet as pq

    return pq.read_schema(path).empty_table().to_pandas()


def _connect(ray: Any, address: str | None) -> bool:
    """Join the cluster at `address` (or the running session); True when a local Ray was started here."""
    if ray.is_initialized():
        return False
    ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    return address is None


def _results(
    ray: Any,
    model: Model,
    tasks: list[dict[str, Any]],
    *,
    keep: Sequence[str],
    workers: int,
    chunk_rows: int,
    compiled: bool | None,
) -> Iterator[dict[str, Any]]:
    """Each row group's result (output table as Arrow IPC bytes, report as JSON), in input order."""
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    dataset = ray.data.from_items(tasks, override_num_blocks=max(1, len(tasks)))
    mapped = dataset.map_batches(
        RowGroupPredictor,
        fn_constructor_kwargs={
            "model": ray.put(model),
            "keep": list(keep),
            "chunk_rows": chunk_rows,
            "compiled": compiled,
        },
        batch_size=1,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=max(1, workers)),
        num_cpus=1,
    )
    yield from mapped.iter_rows()


class RowGroupPredictor:
    """A Ray Data actor: holds the model (deserialised once) and predicts whole row groups."""

    def __init__(self, model: Any, keep: list[str], chunk_rows: int, compiled: bool | None = None) -> None:
        import ray

        self.model = ray.get(model) if isinstance(model, ray.ObjectRef) else model
        self.keep, self.chunk_rows, self.compiled = keep, chunk_rows, compiled
        if self.model.compiled if compiled is None else compiled:
            row_path(self.model.pipeline)  # built once per actor, so every chunk can use it

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        out = [self._one(task) for task in batch.to_dict("records")]
        return pd.DataFrame(out)

    def _one(self, task: dict[str, Any]) -> dict[str, Any]:
        import json

        import pyarrow.parquet as pq

        report, tables, compiled_rows = ValidationReport(), [], 0
        pf = pq.ParquetFile(task["path"], pre_buffer=False)
        offset = int(task["offset"])
        for batch in pf.iter_batches(batch_size=self.chunk_rows, row_groups=[int(task["group"])]):
            chunk = batch.to_pandas()
            chunk.index = range(offset, offset + len(chunk))
            X, found = self.model.check(chunk, ignore=self.keep, row_offset=offset)
            report.merge(found)
            if report.ok:
                kept = chunk[self.keep] if self.keep else None
                # one thread: the actor has one CPU of its own (`num_cpus=1`)
                table, scores = self.model.output(X, kept, compiled=self.compiled, threads=1)
                tables.append(table)
                compiled_rows += len(table) if scores is not None and scores.compiled else 0
            offset += len(chunk)
        table = _ipc(tables) if report.ok and tables else b""
        return {
            "rows": report.rows, "report": json.dumps(report.to_dict(), default=str), "table": table,
            "compiled_rows": compiled_rows,
        }  # fmt: skip


def _ipc(frames: list[pd.DataFrame]) -> bytes:
    import pandas as pd
    import pyarrow as pa

    table = pa.Table.from_pandas(pd.concat(frames), preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as stream:
        stream.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def _frame(data: bytes) -> pd.DataFrame:
    import pyarrow as pa

    return pa.ipc.open_stream(data).read_all().to_pandas()


def _report(text: str) -> ValidationReport:
    import json

    data = json.loads(text)
    return ValidationReport([Problem(**p) for p in data["problems"]], rows=int(data["rows"]))
