"""`mlpact models ...`: the registry (versions, aliases, integrity, portable bundles)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from mlpact._core.html import fmt
from mlpact.cli._app import JsonOpt, StoreOpt, app, command, print_json, stderr, stdout
from mlpact.cli._output import iso

if TYPE_CHECKING:
    from mlpact.registry import VersionDiff, VersionInfo

models_app = typer.Typer(
    help="The model registry: versions, aliases, history, diffs, integrity, export and import.\n\n"
    "MODEL is NAME (latest active version), NAME:VERSION, or NAME@ALIAS.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")

ModelArg = Annotated[
    str, typer.Argument(metavar="MODEL", help="NAME, NAME:VERSION or NAME@ALIAS.", show_default=False)
]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The model name.", show_default=False)]
AliasArg = Annotated[
    str, typer.Argument(metavar="ALIAS", help="Any alias, e.g. production or staging.", show_default=False)
]
ReasonOpt = Annotated[Optional[str], typer.Option("--reason", "-m", help="Why; recorded in the history.")]


# --------------------------------------------------------------------------- list / show
@models_app.command("list")
@command
def models_list(
    name: Annotated[Optional[str], typer.Argument(help="Only this model.")] = None,
    include_all: Annotated[
        bool, typer.Option("--all", "-a", help="Include archived and purged versions.")
    ] = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List versions: name, version, created, aliases, headline metric, data fingerprint, origin
    (mlpact: `mlpact train`; external: `mlpact.save`; imported: `models import`; "(rebuilt)": the
    row was written by `mlpact store rebuild-index`)."""
    from rich import box
    from rich.table import Table

    from mlpact import registry

    records = registry.versions(name, include_archived=include_all, store=store)
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    if not records:
        stdout().print("No versions yet. Train one with [bold]mlpact train CONFIG[/].")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)  # fits 80 columns
    for col in (
        "model",
        "version",
        "created",
        "aliases",
        "metric (test)",
        "data",
        "origin",
        *(["status"] if include_all else []),
    ):
        table.add_column(
            col, no_wrap=col in ("model", "version", "created", "origin", "status"), overflow="fold"
        )
    for r in records:
        metric = f"{r.metric_name} {fmt(r.metric_value)}" if r.metric_name else "-"
        row = [
            r.name,
            str(r.version),
            iso(r.created),
            ", ".join(r.aliases),
            metric,
            (r.data_fingerprint or "")[:8],
            r.made_by + (" (rebuilt)" if r.rebuilt else ""),
        ]
        table.add_row(
            *row, *([r.status] if include_all else []), style="dim" if r.status != "active" else None
        )
    stdout().print(table)


@models_app.command("show")
@command
def models_show(model: ModelArg, store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Show a version: aliases, metrics, schema, resolved config, lineage, card and evaluations."""
    from mlpact import registry

    info = registry.show(model, store=store)
    if as_json:
        print_json(info)
        return
    _print_show(info)


def _print_show(info: VersionInfo) -> None:
    from rich.markdown import Markdown
    from rich.panel import Panel
    from rich.table import Table

    from mlpact._core.html import fmt
    from mlpact.cli._tables import metrics_table
    from mlpact.version.report import training_facts

    out = stdout()
    v = info["version"]
    aliases = ", ".join(v["aliases"]) or "none"
    out.print(f"[bold]{v['ref']}[/]  {v['status']}  created {iso(v['created'])}  aliases: {aliases}")
    out.print(f"path {v['path']}\ndigest {v['digest']}  (sha256 of manifest.json, recorded in the index)")
    if v["origin"]:
        out.print(_origin_text(v["origin"]))
    if v.get("rebuilt"):
        out.print(
            f"[yellow]rebuilt[/] {iso(v['rebuilt'])}: this row was written by `mlpact store rebuild-index` "
            "from the version's own manifest; it trusts only mlpact's own allowlist and the --trust names "
            "confirmed then"
        )
    out.print(metrics_table(info["metrics"], title="Metrics"))
    training = training_facts(info["metrics"])
    if training:
        facts = Table(title="Training (PyTorch)", title_justify="left", show_header=False)
        for _ in range(2):
            facts.add_column()
        for label, text in training:
            facts.add_row(label, text)
        out.print(facts)
    if info["metrics"].get("decision"):
        out.print(f"[bold]decision[/] {info['metrics']['decision']['description']}")
    if info["evaluations"]:
        evals = Table(title="Evaluations on other data", title_justify="left")
        for col in ("when", "data", "rows", info["metrics"].get("primary", "metric")):
            evals.add_column(col, no_wrap=col == "when")
        for e in info["evaluations"]:
            primary = info["metrics"].get("primary")
            value = e["metrics"].get("test", e["metrics"]).get(primary) if primary else None
            evals.add_row(iso(e["created"]), e["data"], str(e["rows"]), fmt(value))
        out.print(evals)
    lineage = info["lineage"]
    data = lineage.get("data", {})
    git = lineage.get("git") or {}
    out.print(
        Panel.fit(
            f"data {data.get('source')} ({data.get('rows')} rows, "
            f"fingerprint {str(data.get('fingerprint'))[:12]})\n"
            f"split {data.get('split')}: {data.get('train_rows')} train / {data.get('test_rows')} test, "
            f"seed {lineage.get('seed')}\n"
            f"git {git.get('commit', 'none')[:12]}{' (uncommitted changes)' if git.get('dirty') else ''}\n"
            f"python {lineage.get('environment', {}).get('python')}, "
            + ", ".join(
                f"{k} {v}" for k, v in lineage.get("environment", {}).get("packages", {}).items() if v
            )
            + (f"\nMLflow run {info['mlflow_run_id']}" if info.get("mlflow_run_id") else ""),
            title="Lineage",
        )
    )
    schema = Markdown(info["card"].split("## Input schema", 1)[-1].join(["## Input schema", ""]))
    out.print(schema, width=min(out.width, 100))  # a heading fills its width: not a pipe's 500 columns


def _origin_text(origin: str) -> str:
    from mlpact.store import REPRODUCTION

    if origin == "external":
        return "origin external: trained outside mlpact (mlpact.save); `mlpact reproduce` cannot retrain it"
    if origin == REPRODUCTION:
        return "origin reproduce: retrained by `mlpact reproduce`; `latest` skips it until it is promoted"
    return f"imported from {origin}"


# --------------------------------------------------------------------------- aliases
@models_app.command("promote")
@command
def models_promote(
    model: ModelArg,
    alias: AliasArg,
    reason: ReasonOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Point NAME@ALIAS at a version (any alias; production and staging are conventions).

    [bold]Example[/]

      mlpact models promote wine:3 production --reason "better F1 on the March data"
    """
    from mlpact import registry

    move = registry.promote(model, alias, reason=reason, store=store)
    if as_json:
        print_json(move.to_dict())
        return
    was = f" (was {move.name}:{move.previous})" if move.previous is not None else ""
    if move.previous == move.version:
        stdout().print(f"{move.name}@{alias} already points to {move.name}:{move.version}; nothing changed.")
        return
    stdout().print(f"{move.name}@{alias} -> [bold]{move.name}:{move.version}[/]{was}")


@models_app.command("rollback")
@command
def models_rollback(
    name: NameArg, alias: AliasArg, reason: ReasonOpt = None, store: StoreOpt = None, as_json: JsonOpt = False
) -> None:
    """Move NAME@ALIAS back to the version that held it before (again: further back)."""
    from mlpact import registry

    move = registry.rollback(name, alias, reason=reason, store=store)
    if as_json:
        print_json(move.to_dict())
        return
    stdout().print(
        f"{name}@{alias} -> [bold]{name}:{move.version}[/] (rolled back from {name}:{move.previous})"
    )


@models_app.command("history")
@command
def models_history(
    name: NameArg,
    alias: Annotated[Optional[str], typer.Option("--alias", help="Only this alias.")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every alias move of a model: when, who, which versions, why."""
    from rich.table import Table

    from mlpact import registry

    events = registry.history(name, alias=alias, store=store)
    if as_json:
        print_json(events)
        return
    if not events:
        stdout().print(f"No alias of {name!r} has been set yet.")
        return
    table = Table()
    for col in ("time", "alias", "action", "version", "previous", "user", "reason"):
        table.add_column(col, no_wrap=col == "time")
    for e in events:
        prev = str(e["previous"]) if e["previous"] is not None else "-"
        table.add_row(
            iso(e["time"]), e["alias"], e["action"], str(e["version"]), prev, e["user"], e["reason"] or ""
        )
    stdout().print(table)


# --------------------------------------------------------------------------- diff
@models_app.command("diff")
@command
def models_diff(
    a: Annotated[str, typer.Argument(metavar="A", help="The older version.", show_default=False)],
    b: Annotated[str, typer.Argument(metavar="B", help="The newer version.", show_default=False)],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What changed between two versions: config, schema, metrics, data, packages, git."""
    from mlpact import registry

    result = registry.diff(a, b, store=store)
    if as_json:
        print_json(result)
        return
    _print_diff(result)


def _print_diff(d: VersionDiff) -> None:
    from rich.markup import escape
    from rich.table import Table

    from mlpact._core.metrics import better

    out = stdout()
    out.print(f"[bold]{d['a']}[/] -> [bold]{d['b']}[/]")
    for section in ("config", "packages", "git"):
        rows = [(k, v["a"], v["b"]) for k, v in d[section]["changed"].items()]
        rows += [(k, v, "(absent)") for k, v in d[section]["removed"].items()]
        rows += [(k, "(absent)", v) for k, v in d[section]["added"].items()]
        if rows:
            table = Table(title=section, title_justify="left")
            for col in ("key", d["a"], d["b"]):
                table.add_column(col)
            for k, va, vb in rows:
                table.add_row(k, escape(str(va)), escape(str(vb)))
            out.print(table)
        else:
            out.print(f"{section}: no changes")
    s = d["schema"]
    changes = [
        f"added {', '.join(s['added'])}" if s["added"] else "",
        f"removed {', '.join(s['removed'])}" if s["removed"] else "",
    ]
    changes += [f"{c}: {t['a']} -> {t['b']}" for c, t in s["retyped"].items()]
    changes += [f"{c}: categories +{v['added']} -{v['removed']}" for c, v in s["categories"].items()]
    changes += [f"{c}: nullable {v['a']} -> {v['b']}" for c, v in s["nullable"].items()]
    changes += [f"target {k}: {v['a']} -> {v['b']}" for k, v in s["target"].items()]
    changes = [c for c in changes if c]
    out.print("schema: " + ("; ".join(escape(c) for c in changes) if changes else "no changes"))
    out.print("data: " + _data_text(d["data"]))
    table = Table(title="test metrics", title_justify="left")
    for col in ("metric", d["a"], d["b"], "delta"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    for name, m in d["metrics"].items():
        delta = m["delta"]
        style = None if not delta else "green" if better(name, m["b"], m["a"]) else "red"
        table.add_row(
            name, fmt(m["a"]), fmt(m["b"]), f"{delta:+.4f}" if delta is not None else "-", style=style
        )
    out.print(table)


def _data_text(data: dict[str, Any]) -> str:
    if data["changed"]:
        fp = data["fingerprint"]
        return f"[yellow]different data[/] (fingerprint {str(fp['a'])[:12]} -> {str(fp['b'])[:12]})"
    if "train_fingerprint" in data or "test_fingerprint" in data:
        return "same data, [yellow]different split[/] (train/test rows differ: seed or split settings)"
    return "same data, same split"


# --------------------------------------------------------------------------- archive / restore
@models_app.command("archive")
@command
def models_archive(
    model: ModelArg,
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete the version's files (not its number).")
    ] = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Hide a version from `latest` and listings (files kept); --purge deletes its files.

    A version number is never reused. A version that holds an alias is refused: move the alias
    first (promote another version, or rollback); this is checked in the same transaction as any
    promote. A purge that cannot delete some files names them and exits 8: run it again once they
    can be deleted.
    """
    from mlpact import registry

    record = registry.archive(model, purge=purge, store=store)
    if as_json:
        print_json(record.to_dict())
        return
    stdout().print(f"{record.ref} is now {record.status}.")


@models_app.command("restore")
@command
def models_restore(model: ModelArg, store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Bring an archived version back into `latest` and listings."""
    from mlpact import registry

    record = registry.restore(model, store=store)
    if as_json:
        print_json(record.to_dict())
        return
    stdout().print(f"{record.ref} is active again.")


# --------------------------------------------------------------------------- verify
@models_app.command("verify")
@command
def models_verify(
    model: Annotated[
        Optional[str],
        typer.Argument(
            metavar="[MODEL]",
            help="NAME: every version of NAME; NAME:N or NAME@ALIAS: that version; default: all.",
        ),
    ] = None,
    files_only: Annotated[
        bool, typer.Option("--files-only", help="Only re-hash files; do not re-predict golden rows.")
    ] = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-hash every file of the versions MODEL names (every version of NAME, archived ones too;
    one with NAME:N), check each manifest against the index, and
    predict each version's golden rows again (test rows saved with their outputs at training).

    Exits with code 6 (integrity) when any version's files fail or loading it is refused
    (untrusted types, a malformed tree), else 14 (behaviour) when any version predicts its
    golden rows differently here (the message names the packages whose
    installed version differs from the recorded one). Versions saved before golden rows existed
    are reported as such, not failed.
    """
    from rich.markup import escape
    from rich.table import Table

    from mlpact import registry

    checks = registry.verify(model, store=store, behaviour=not files_only)
    orphans = [] if model else registry.orphans(store=store)
    if as_json:
        print_json(
            {
                "ok": checks.ok,
                "versions": [c.to_dict() for c in checks],
                "orphans": [str(p) for p in orphans],
            }
        )
    else:
        table = Table()
        for col in ("version", "status", "result", "golden rows"):
            table.add_column(col)
        golden = {
            "ok": "[green]ok[/]",
            "none": "[dim]none recorded[/]",
            None: "-",
            "differs": "[red]differ[/]",
            "refused": "[red]not loaded[/]",
        }
        for c in checks:
            result = "[green]ok[/]" if c.ok else f"[red]FAILED[/]: {escape(c.problem or '')}"
            table.add_row(c.ref, c.status, result, golden.get(c.behaviour, "-"))
        stdout().print(table)
        for path in orphans:
            stderr().print(
                f"[yellow]note:[/] {path} is not registered (an interrupted save, or a folder the index "
                "does not know); it is kept and its number is never reused. "
                "`mlpact store rebuild-index` indexes it if its files match its manifest."
            )
        stdout().print(f"{sum(c.ok for c in checks)} of {len(checks)} versions verified.")
    if checks.exit_code:
        raise typer.Exit(int(checks.exit_code))


# --------------------------------------------------------------------------- export / import
@models_app.command("export")
@command
def models_export(
    model: ModelArg,
    path: Annotated[
        Path,
        typer.Argument(
            metavar="PATH",
            help="mlpact: the .tar.gz bundle to write. mlflow: the (new or empty) model folder.",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="mlpact: a portable, verifiable bundle for `models import`. mlflow: an MLflow "
            "model (sklearn flavour + pyfunc) for `mlflow models serve` and MLflow registries.",
        ),
    ] = "mlpact",
    store: StoreOpt = None,
) -> None:
    """Write a version as a portable .tar.gz bundle, or as an MLflow model folder.

    [bold]Examples[/]

      mlpact models export wine:3 wine-3.tar.gz

      mlpact models export wine@production --format mlflow wine-mlflow/

      mlflow models serve -m wine-mlflow/ --env-manager local   (needs mlpact installed there)
    """
    from mlpact.version import mlflow, portable

    if fmt not in ("mlpact", "mlflow"):
        raise typer.BadParameter(f"expected mlpact or mlflow, found {fmt!r}", param_hint="--format")
    if fmt == "mlflow":
        folder = mlflow.export_mlflow(model, path, store=store)
        stdout().print(
            f"Wrote the MLflow model {folder}. Load it with `mlflow.pyfunc.load_model({str(folder)!r})`."
        )
        return
    out = portable.export_version(model, path, store=store)
    digest = portable.archive_digest(out)
    stdout().print(
        f"Wrote {out} (sha256 {digest[:16]}...). Import it with `mlpact models import {out.name}`."
    )


@models_app.command("import")
@command
def models_import(
    path: Annotated[
        Path, typer.Argument(metavar="FILE.tar.gz", help="A bundle from `models export`.", show_default=False)
    ],
    name: Annotated[Optional[str], typer.Option("--name", help="Register under this model name.")] = None,
    expect_digest: Annotated[
        Optional[str],
        typer.Option("--expect-digest", help="Refuse unless the bundle's manifest has this sha256."),
    ] = None,
    trust: Annotated[
        Optional[list[str]],
        typer.Option(
            "--trust",
            help="Also trust this exact class or function (module.Name), for bundles you trust; "
            "recorded in the index for this version. Repeatable.",
        ),
    ] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import an exported bundle as the next version, after verifying every file.

    Damaged, truncated, tampered or path-traversing archives are refused and leave nothing
    behind.
    """
    from mlpact.version.portable import import_version

    record = import_version(path, name=name, store=store, trust=trust or (), expect_digest=expect_digest)
    if as_json:
        print_json(record.to_dict())
        return
    stdout().print(f"Imported [bold]{record.ref}[/] from {path} (originally {record.origin}).")


# --------------------------------------------------------------------------- errors / docker
@models_app.command("errors")
@command
def models_errors(
    model: ModelArg,
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="How many rows to show.")] = 20,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The test rows (image versions: test images) the version got most wrong, worst first.

    Classification: ranked by -log P(true class), so confident mistakes come first; regression:
    by absolute error. The input values are joined from the original source when it can still
    be read and has the recorded fingerprint (or were saved with `record.test_rows: true`);
    otherwise rows are shown by position and hash. Image versions list each test image's path
    (relative to the image folder), with the probabilities of its true and predicted class.
    """
    from rich.markup import escape
    from rich.table import Table

    from mlpact.version.load import load

    table = load(model, store=store).errors(n)
    if as_json:
        print_json(json.loads(table.to_json(orient="records")))
        return
    inputs = [c for c in table.columns if str(c).startswith("input.")]
    if len(inputs) > 4:  # the terminal shows a few inputs; --json has them all
        table = table.drop(columns=inputs[4:])
    if "path" in table.columns:  # images: the file, and the probabilities of truth and prediction
        table = _image_errors(table)
    out = Table(title=f"The {len(table)} worst-predicted test rows of {model}", title_justify="left")
    for col in table.columns:
        widest = min(max((len(str(v)) for v in table[col]), default=0), 60) if col == "path" else None
        out.add_column(escape(str(col)), overflow="fold", min_width=widest)
    for row in table.itertuples(index=False):
        out.add_row(*(escape(fmt(v) if isinstance(v, float) else str(v)) for v in row))
    stdout().print(out)


def _image_errors(table: Any) -> Any:
    def proba(row: Any, label: Any) -> Any:
        return row.get(f"proba_{label}")

    out = table[["path", "truth", "prediction", "loss"]].copy()
    out["P(truth)"] = [proba(row, row["truth"]) for _, row in table.iterrows()]
    out["P(prediction)"] = [proba(row, row["prediction"]) for _, row in table.iterrows()]
    return out


@models_app.command("build-docker")
@command
def models_build_docker(
    model: ModelArg,
    directory: Annotated[
        Optional[Path],
        typer.Argument(
            metavar="[DIR]", help="Where to write the build context (default: docker-NAME-VERSION)."
        ),
    ] = None,
    build: Annotated[
        bool, typer.Option("--build", help="Also run `docker build` (needs docker on PATH).")
    ] = False,
    tag: Annotated[
        Optional[str], typer.Option("--tag", "-t", help="Image tag; default mlpact-NAME:VERSION.")
    ] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a docker build context that serves the version with the package versions it was saved with.

    The context holds the exported bundle (model.tar.gz); requirements.lock: only the packages
    serving the version needs (mlpact with its serve extra, torch for a PyTorch version, your
    code's distribution, and what they require), at the versions it was saved with, plus
    PyTorch's CPU index for a PyTorch version; wheels/: a wheel of mlpact, built when mlpact is
    installed from a local checkout; an entrypoint running `mlpact serve` (which re-predicts the
    golden rows at start); and a Dockerfile.
    """
    from mlpact.version.portable import build_docker

    ctx = build_docker(model, directory, store=store, build=build, tag=tag)
    if as_json:
        print_json(ctx.to_dict())
        return
    stdout().print(f"Wrote {ctx.directory}: {', '.join(ctx.files)}")
    if ctx.built:
        stdout().print(f"Built image [bold]{ctx.tag}[/]: `docker run -p 8000:8000 {ctx.tag}`")
    else:
        stdout().print(f"Build it with `docker build -t {ctx.tag} {ctx.directory}`.")
