"""`mlpact predict`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Optional

import typer

from mlpact.cli._app import (
    JsonOpt,
    SepOpt,
    StoreOpt,
    TrustOpt,
    app,
    command,
    print_json,
    progress,
    stderr,
    stdout,
)
from mlpact.errors import plural

if TYPE_CHECKING:
    from mlpact.prediction import PredictResult


@app.command()
@command
def predict(
    model: Annotated[
        str, typer.Argument(help="NAME, NAME:VERSION, NAME@ALIAS or a version folder.", show_default=False)
    ],
    source: Annotated[
        str,
        typer.Argument(
            metavar="INPUT",
            help="CSV or Parquet file or URL (s3://...; image models: a folder of images or one image).",
            show_default=False,
        ),
    ],
    output: Annotated[
        str,
        typer.Option("--output", "-o", help="CSV or Parquet file or URL to write.", show_default=False),
    ],
    keep: Annotated[
        Optional[list[str]],
        typer.Option("--keep", help="Copy this input column to the output (e.g. an id); repeatable."),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option(help="Rows per chunk; memory grows with this, not with the file.", min=1)
    ] = 200_000,
    sep: SepOpt = ",",
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="local: stream in this process. ray: Parquet row groups through a pool of Ray "
            "actors (same output, row order and validation).",
        ),
    ] = "local",
    address: Annotated[
        Optional[str],
        typer.Option(
            "--address",
            help="Ray cluster to use with --engine ray (e.g. ray://head:10001, auto).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", help="Ray actors (--engine ray), one model each.", min=1)
    ] = 2,
    compiled: Annotated[
        Optional[bool],
        typer.Option(
            "--compiled/--no-compiled",
            help="Score chunks through the pipeline's compiled form (its preprocessing replayed "
            "with numpy, used only where it gives scikit-learn's exact numbers on probe rows), or "
            "always through scikit-learn. Default: the version's predict.compiled (true).",
            show_default=False,
        ),
    ] = None,
    threads: Annotated[
        Optional[int],
        typer.Option(
            "--threads",
            help="Threads a random forest, extra trees or a decision tree scores each chunk on, "
            "in blocks of rows (the same numbers as one thread); other estimators use one. "
            "Default: every core this process may use.",
            min=1,
            show_default=False,
        ),
    ] = None,
    trust: TrustOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Predict every row of a file with a saved version, streamed in chunks.

    The input is checked against the version's schema first: missing columns and values that
    cannot be converted stop the run and nothing is written; unseen categories and out-of-range
    values are warnings (the version's validation policy decides). The output has the kept
    columns, `prediction`, and `proba_<class>` per class for classifiers; its folder is created
    when missing. Input columns the model does not use are named once and ignored; a header with
    0 rows is a warning. A CSV whose header looks separated by ';' or tabs is refused with
    the --sep to use (--sep '\\t' is a tab).

    [bold]Examples[/]

      mlpact predict wine data.csv -o predictions.csv

      mlpact predict churn@production customers.parquet -o scores.parquet --keep customer_id

      mlpact predict shapes images/ -o preds.csv   (an image model: path, prediction, proba_<class>)

      mlpact predict churn@production events/ -o scores.parquet --engine ray --workers 8 --address auto

      mlpact predict wine s3://bucket/in.parquet -o s3://bucket/out.parquet   (needs mlpact\\[remote];
      credentials and endpoint from the AWS environment: AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ...)
    """
    import gc

    gc.disable()  # imports make long-lived objects, not garbage (see mlpact._core.startup)
    try:
        from mlpact.prediction import predict
    finally:
        gc.enable()
    if engine not in ("local", "ray"):
        raise typer.BadParameter(f"expected local or ray, found {engine!r}", param_hint="--engine")
    result = predict(
        model, source, output, keep=keep or (), chunk_rows=chunk_rows, sep=sep, engine=engine,  # type: ignore[arg-type]
        workers=workers, address=address, store=store, trust=trust or (), compiled=compiled,
        threads=threads, progress=progress(),
    )  # fmt: skip
    if result.images:
        _print_images(result, as_json=as_json)
        return
    if as_json:
        print_json(
            {
                "model": result.ref,
                "rows": result.rows,
                "output": str(result.output),
                "seconds": result.seconds,
                "validation": result.report.to_dict(),
                "ignored_columns": result.ignored,
                "scored_by": result.scored_by,
                "compiled_rows": result.compiled_rows,
                "threads": result.threads,
            }
        )
        return
    err = stderr()
    if result.report.warnings:
        err.print(
            f"[yellow]{plural(len(result.report.warnings), 'warning')}[/] "
            "(the validation policy lets these through):"
        )
        err.print(result.report.format(), highlight=False, markup=False, soft_wrap=True)
    if result.ignored:
        n = len(result.ignored)
        err.print(
            f"Note: {n} input column{'s' if n != 1 else ''} not used by the model, ignored: "
            f"{', '.join(result.ignored[:10])}{f' and {n - 10} more' if n > 10 else ''}.",
            highlight=False, markup=False, soft_wrap=True,
        )  # fmt: skip
    if result.rows == 0:
        err.print(
            f"[yellow]Warning:[/] the input {source} has a header but 0 rows: nothing was predicted; "
            f"{result.output} holds the output columns only.",
            highlight=False, soft_wrap=True,
        )  # fmt: skip
        return
    speed = f", {result.rows_per_s:,.0f} rows/s" if result.seconds >= 1 else ""
    stdout().print(
        f"Wrote {plural(result.rows, 'prediction')} of [bold]{result.ref}[/] to {result.output} "
        f"({result.seconds:.1f}s{speed}{_scored_by(result)})"
    )


def _scored_by(result: PredictResult) -> str:
    """Which path scored the rows, when it was not scikit-learn's pipeline throughout, and on
    how many threads, when more than one."""
    threads = f"; {result.threads} threads" if result.threads > 1 else ""
    if result.scored_by == "compiled":
        return f"; compiled pipeline{threads}"
    if result.scored_by == "mixed":
        rest = result.rows - result.compiled_rows
        return f"; compiled pipeline for {result.compiled_rows:,} rows, scikit-learn for {rest:,}{threads}"
    return threads


def _print_images(result: PredictResult, *, as_json: bool) -> None:
    """An image model: every image under a folder (or one file) into `path, prediction, proba_*`;
    images that could not be read are reported under the validation policy."""
    if as_json:
        print_json({"model": result.ref, "rows": result.rows, "output": str(result.output),
                    "seconds": result.seconds, "validation": result.report.to_dict()})  # fmt: skip
        return
    if result.report.warnings:
        err = stderr()
        err.print("[yellow]warning[/] (the validation policy lets these through):")
        err.print(result.report.format(), highlight=False, markup=False, soft_wrap=True)
    where = f"[bold]{result.ref}[/] to {result.output}"
    stdout().print(f"Wrote {result.rows:,} predictions of {where} ({result.seconds:.1f}s)")
