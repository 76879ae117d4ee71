"""`mlpact models ...`: the registry (versions, aliases, integrity, portable bundles)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mlpact.cli._app import JsonOpt, StoreOpt, app, command, print_json, stderr, stdout, when

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
    (mlpact: `mlpact train`; external: `mlpact.save`; imported: `models import`)."""
    from rich.table import Table

    from mlpact import registry
    from mlpact.report import fmt

    records = registry.versions(name, include_archived=include_all, store=store)
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    if not records:
        stdout().print("No versions yet. Train one with [bold]mlpact train CONFIG[/].")
        return
    table = Table()
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
        table.add_column(col)
    for r in records:
        metric = f"{r.metric_name} {fmt(r.metric_value)}" if r.metric_name else "-"
        row = [
            r.name,
            str(r.version),
            when(r.created),
            ", ".join(r.aliases),
            metric,
            (r.data_fingerprint or "")[:12],
            r.made_by,
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


def _print_show(info: dict[str, Any]) -> None:
    from rich.markdown import Markdown
    from rich.panel import Panel
    from rich.table import Table

    from mlpact.cli._tables import metrics_table
    from mlpact.report import fmt

    out = stdout()
    v = info["version"]
    aliases = ", ".join(v["aliases"]) or "none"
    out.print(f"[bold]{v['ref']}[/]  {v['status']}  created {when(v['created'])}  aliases: {aliases}")
    out.print(f"path {v['path']}\ndigest {v['digest']}  (sha256 of manifest.json, recorded in the index)")
    if v["origin"]:
        out.print(_origin_text(v["origin"]))
    out.print(metrics_table(info["metrics"], title="Metrics"))
    if info["evaluations"]:
        evals = Table(title="Evaluations on other data", title_justify="left")
        for col in ("when", "data", "rows", info["metrics"].get("primary", "metric")):
            evals.add_column(col)
        for e in info["evaluations"]:
            primary = info["metrics"].get("primary")
            value = e["metrics"].get("test", e["metrics"]).get(primary) if primary else None
            evals.add_row(when(e["created"]), e["data"], str(e["rows"]), fmt(value))
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
            ),
            title="Lineage",
        )
    )
    out.print(Markdown(info["card"].split("## Input schema", 1)[-1].join(["## Input schema", ""])))


def _origin_text(origin: str) -> str:
    if origin == "external":
        return "origin external: trained outside mlpact (mlpact.save); `mlpact reproduce` cannot retrain it"
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
        table.add_column(col)
    for e in events:
        prev = str(e["previous"]) if e["previous"] is not None else "-"
        table.add_row(
            when(e["time"]), e["alias"], e["action"], str(e["version"]), prev, e["user"], e["reason"] or ""
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


def _print_diff(d: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from mlpact.evaluate import LOWER_IS_BETTER
    from mlpact.report import fmt

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
        better = delta is not None and delta != 0 and ((delta < 0) == (name in LOWER_IS_BETTER))
        style = None if not delta else "green" if better else "red"
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
    first (promote another version, or rollback).
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
        Optional[str], typer.Argument(metavar="[MODEL]", help="One version; default: all.")
    ] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-hash every file of one version or of all, and check each manifest against the index.

    Exits with code 6 (integrity) when any version fails.
    """
    from rich.markup import escape
    from rich.table import Table

    from mlpact import registry
    from mlpact.errors import ExitCode

    checks = registry.verify(model, store=store)
    orphans = [] if model else registry.orphans(store=store)
    failed = [c for c in checks if not c.ok]
    if as_json:
        print_json(
            {
                "ok": not failed,
                "versions": [c.to_dict() for c in checks],
                "orphans": [str(p) for p in orphans],
            }
        )
    else:
        table = Table()
        for col in ("version", "status", "result"):
            table.add_column(col)
        for c in checks:
            table.add_row(
                c.ref, c.status, "[green]ok[/]" if c.ok else f"[red]FAILED[/]: {escape(c.problem or '')}"
            )
        stdout().print(table)
        for path in orphans:
            stderr().print(
                f"[yellow]note:[/] {path} is not registered (an interrupted save); "
                "the next save of that number removes it."
            )
        stdout().print(f"{len(checks) - len(failed)} of {len(checks)} versions verified.")
    if failed:
        raise typer.Exit(int(ExitCode.INTEGRITY))


# --------------------------------------------------------------------------- export / import
@models_app.command("export")
@command
def models_export(
    model: ModelArg,
    path: Annotated[
        Path, typer.Argument(metavar="FILE.tar.gz", help="Where to write the bundle.", show_default=False)
    ],
    store: StoreOpt = None,
) -> None:
    """Write a version as a portable, verifiable .tar.gz bundle."""
    from mlpact import bundle
    from mlpact.portable import export_version

    out = export_version(model, path, store=store)
    digest = bundle.sha256_file(out)
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
        typer.Option("--trust", help="Also trust this type (only for bundles you trust)."),
    ] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import an exported bundle as the next version, after verifying every file.

    Damaged, truncated, tampered or path-traversing archives are refused and leave nothing
    behind.
    """
    from mlpact.portable import import_version

    record = import_version(path, name=name, store=store, trust=trust or (), expect_digest=expect_digest)
    if as_json:
        print_json(record.to_dict())
        return
    stdout().print(f"Imported [bold]{record.ref}[/] from {path} (originally {record.origin}).")
