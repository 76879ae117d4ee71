"""`mlpact check` and `mlpact reproduce`: judge new data against a version, and retrain a version
from what it recorded. Their verdicts are exit codes (docs/cli.md) a scheduled job can act on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from mlpact._core.html import fmt
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
    from mlpact.check import CheckResult
    from mlpact.reproduce import ReproduceResult

ModelArg = Annotated[
    str, typer.Argument(help="NAME, NAME:VERSION, NAME@ALIAS or a version folder.", show_default=False)
]
_STYLE = {
    "reload": "green",
    "reproduced": "green",
    "retrain": "yellow",
    "inconclusive": "yellow",
    "differs": "yellow",
    "incompatible": "red",
}


@app.command()
@command
def check(
    model: ModelArg,
    data: Annotated[
        str,
        typer.Argument(
            help="New data: a CSV or Parquet file, a folder of Parquet files (a serve prediction log), "
            "or a URL (s3://...). Image models: a folder of images (of class folders, for performance).",
            show_default=False,
        ),
    ],
    target: Annotated[
        Optional[str],
        typer.Option(
            help="The label column; with labels, performance is compared "
            "\\[default: the version's target, if present]."
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or html.")] = "table",
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="Write the output to this file.", show_default=False),
    ] = None,
    psi: Annotated[
        Optional[float],
        typer.Option(help="Override check.psi (smallest PSI that counts as drift).", show_default=False),
    ] = None,
    p_value: Annotated[
        Optional[float],
        typer.Option(help="Override check.p_value (the false-alarm rate of the check).", show_default=False),
    ] = None,
    performance_drop: Annotated[
        Optional[float], typer.Option(help="Override check.performance_drop.", show_default=False)
    ] = None,
    min_rows: Annotated[
        Optional[int], typer.Option(help="Override check.min_rows.", show_default=False)
    ] = None,
    retrain: Annotated[
        bool, typer.Option("--retrain", help="Also train the recorded config on this data and compare.")
    ] = False,
    promote: Annotated[
        Optional[str],
        typer.Option(
            help="With --retrain: move this alias to the new version if it is better.", show_default=False
        ),
    ] = None,
    sep: SepOpt = ",",
    trust: TrustOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check new data against a version: reload, retrain, inconclusive or incompatible, and why.

    Schema compatibility under the version's validation policy (the one predict and serve
    apply); drift per feature and of the predictions against the training split (two-sample
    tests valid at any batch size, PSI beside them); with labels, a test of a drop of the
    primary metric against the recorded test metric. All tests together hold one false-alarm
    rate (check.p_value, default 1%: Holm-corrected). Too few rows to rule a change out:
    inconclusive, with the number of rows needed. Thresholds are the version's `check:`
    section; the flags override them. Image versions: drift of image size, channel statistics
    and predicted classes under the same rule (docs/check.md says what is and is not compared).

    Exit code: 0 reload, 11 retrain, 12 incompatible, 15 inconclusive.

    [bold]Examples[/]

      mlpact check wine@production march.csv

      mlpact check wine@production march.csv --retrain --promote production
    """
    from mlpact.check import check_data, to_html

    if fmt not in ("table", "json", "html"):
        raise typer.BadParameter(f"expected table, json or html, got {fmt!r}", param_hint="--format")
    if promote and not retrain:
        raise typer.BadParameter("--promote needs --retrain", param_hint="--promote")
    flags = {"psi": psi, "p_value": p_value, "performance_drop": performance_drop, "min_rows": min_rows}
    overrides = {k: v for k, v in flags.items() if v is not None}  # the flags given
    result = check_data(
        model, data, target=target, thresholds=overrides, store=store, sep=sep, trust=trust or (),
        retrain=retrain, promote=promote, progress=progress(),
    )  # fmt: skip
    fmt = "json" if as_json else fmt
    if fmt == "table" and output is None:
        _print_check(result)
    else:
        import json

        text = (
            to_html(result) if fmt == "html" else json.dumps(result.to_dict(), indent=2, default=str) + "\n"
        )
        _emit(text, output)
    if result.exit_code:
        raise typer.Exit(int(result.exit_code))


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    stderr().print(f"Wrote {output}")


def _print_check(result: CheckResult) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = stdout()
    style = _STYLE[result.verdict]
    out.print(f"{result.ref} on {plural(result.rows, 'row')}: [bold {style}]{result.verdict}[/]")
    for reason in result.reasons:
        out.print(f"  - {escape(reason)}", soft_wrap=True)
    if result.drift:
        table = Table(
            title="Drift against the training split",
            title_justify="left",
            caption=f"{plural(result.tests, 'test')} together at a false-alarm rate of "
            f"{result.thresholds.p_value:g} "
            f"(Holm); drift also needs PSI >= {result.thresholds.psi:g}.",
            caption_justify="left",
        )
        for name in ("column", "test", "p-value", "adjusted", "PSI", ""):
            table.add_column(name, justify="left" if name in ("column", "test", "") else "right")
        drifts = [*result.drift, *([result.prediction] if result.prediction else [])]
        for d in drifts:
            state = "drifted" if d.drifted else ("ok" if d.judged else "too few rows")
            table.add_row(
                d.column, d.test, f"{d.p_value:.2g}", _p(d.adjusted), f"{d.psi:.3f}", state,
                style="yellow" if d.drifted else None,
            )  # fmt: skip
        out.print(table)
    perf = result.performance
    if perf is not None:
        tested = f"; {perf.test}: p={perf.p_value:.2g}, adjusted {_p(perf.adjusted)}" if perf.test else ""
        out.print(
            f"{perf.metric}: {fmt(perf.now)} on {plural(perf.rows, 'labelled row')}, "
            f"{fmt(perf.recorded)} on the "
            f"{perf.recorded_rows}-row test split at training{tested}",
            soft_wrap=True,
        )
    if result.retrained is not None:
        r = result.retrained
        out.print(f"Retrained: {escape(r.reason)}")
        if r.alias:
            out.print(f"{r.alias}: {'moved to ' + r.ref if r.moved else 'not moved'}")
    for note in result.notes:
        out.print(f"[dim]note: {escape(note)}[/]", soft_wrap=True)


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"


@app.command()
@command
def reproduce(
    model: ModelArg,
    allow_data_change: Annotated[
        bool, typer.Option("--allow-data-change", help="Retrain even if the recorded data changed.")
    ] = False,
    metric_tolerance: Annotated[
        Optional[float], typer.Option(help="Override check.metric_tolerance.", show_default=False)
    ] = None,
    agreement: Annotated[
        Optional[float], typer.Option(help="Override check.agreement.", show_default=False)
    ] = None,
    trust: TrustOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Retrain a version from its recorded config, data and seed, and compare with the original.

    The data must still have its recorded fingerprint (else it stops and explains,
    unless --allow-data-change). The new version is saved as a reproduction (origin reproduce): NAME
    alone (latest) keeps naming the version it had until you promote the reproduction with
    `mlpact models promote`. Compared are the split, every test metric,
    the predictions on the test split and the environment (packages, Python, git, your own
    code's source). Recorded as a run of kind reproduce. Also the way to rebuild a version that
    the installed libraries cannot load.

    PyTorch: an image folder's fingerprint covers every image file; the retraining uses the
    recorded CPU thread count (unless train.threads is set); the weights must be bit-identical
    when both trainings ran on the CPU with the same threads, CPU capability and torch version,
    else the prediction agreement and the metric tolerance decide.

    Exit code: 0 reproduced, 13 differs (also when the data changed).

    [bold]Example[/]

      mlpact reproduce wine:3
    """
    from mlpact.reproduce import reproduce as run

    result = run(
        model,
        store=store,
        allow_data_change=allow_data_change,
        thresholds={
            k: v
            for k, v in {"metric_tolerance": metric_tolerance, "agreement": agreement}.items()
            if v is not None
        },
        trust=trust or (),
        progress=None if as_json else progress(),
    )
    if as_json:
        print_json(result.to_dict())
    else:
        _print_reproduce(result)
    if result.exit_code:
        raise typer.Exit(int(result.exit_code))


def _print_reproduce(result: ReproduceResult) -> None:
    from rich.markup import escape

    out = stdout()
    style = _STYLE[result.verdict]
    out.print(f"{result.ref} retrained as {result.new_ref}: [bold {style}]{result.verdict}[/]")
    for reason in result.reasons:
        out.print(f"  - {escape(reason)}", soft_wrap=True)
    split = "identical" if result.split.get("identical") else "different"
    if rows := result.split.get("rows"):
        moved = rows["train"]["rows_differing"], rows["test"]["rows_differing"]
        split += f" (row hashes: {moved[0]} train, {moved[1]} test rows differ)"
    agree = result.agreement
    agreed = (
        f"{agree['fraction']:.1%} of {plural(agree['rows'], 'row')}"
        if agree.get("compared")
        else agree.get("note", "-")
    )
    out.print(
        f"data: {'identical' if result.data.get('identical') else 'changed'}; split: {split}; "
        f"predictions agree: {agreed}"
    )
    for note in result.notes:
        out.print(f"[dim]note: {escape(note)}[/]", soft_wrap=True)
    out.print(
        f"Recorded as run {result.run_id}; {result.new_ref} is a reproduction: `latest` skips it "
        f"until it is promoted (`mlpact models promote {result.new_ref} ALIAS`).",
        soft_wrap=True,
    )
