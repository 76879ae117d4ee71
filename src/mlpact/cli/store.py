"""`mlpact store ...`: point a store at object storage shared by a team, and sync it."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mlpact.cli._app import JsonOpt, StoreOpt, app, command, print_json, stderr, stdout
from mlpact.errors import StoreError, plural

store_app = typer.Typer(
    help="The store itself: rebuild its index from its folders; a team store (versions and registry "
    "in object storage, s3://..., with a local index as cache).",
    no_args_is_help=True,
)
app.add_typer(store_app, name="store")


@store_app.command("connect")
@command
def store_connect(
    url: Annotated[str, typer.Argument(help="Artifact root, e.g. s3://bucket/mlpact.", show_default=False)],
    option: Annotated[
        Optional[list[str]],
        typer.Option(
            "--option",
            "-o",
            metavar="KEY=VALUE",
            help="An fsspec storage option, e.g. endpoint_url=http://minio:9000; repeatable. "
            "Write credentials as ${env:VAR}: store.yaml keeps the expression, not the value.",
        ),
    ] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a new store folder use URL for its versions, aliases and history (writes store.yaml).

    Every machine of a team connects its own store folder to the same URL. Version numbers are
    taken and alias moves appended with conditional writes, so writers on different machines
    never collide; the local index is a cache that every lookup brings up to date. See
    docs/store.md.

    [bold]Example[/]

      mlpact store connect s3://ml-team/mlpact --option endpoint_url=http://minio:9000
    """
    from mlpact.store import DEFAULT_DIR, connect

    options: dict[str, str] = {}
    for item in option or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StoreError(f"--option expects KEY=VALUE, found {item!r}.")
        options[key] = value
    remote = connect(store or DEFAULT_DIR, url, options)
    count = len(remote.versions(include_archived=True))
    if as_json:
        print_json({"store": str(remote.root), "url": remote.url, "versions": count})
        return
    stdout().print(
        f"Store {remote.root} now keeps its versions in {remote.url} ({plural(count, 'version')} there)."
    )


@store_app.command("sync")
@command
def store_sync(
    name: Annotated[Optional[str], typer.Argument(help="Only this model.", show_default=False)] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bring the local index up to date with the team store (lookups also do this by themselves)."""
    from mlpact.store import team_store

    remote = team_store(store)
    new = remote.sync(name)
    if as_json:
        print_json({"url": remote.url, **new})
        return
    versions, events = plural(new["versions"], "new version"), plural(new["events"], "new event")
    stdout().print(f"Synced {remote.url}: {versions}, {events}.")


@store_app.command("garbage")
@command
def store_garbage(
    older_than: Annotated[
        float, typer.Option(help="Only saves started more than this many hours ago.", min=0)
    ] = 1.0,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List interrupted saves: numbers claimed whose version was never committed (invisible)."""
    from mlpact.store import team_store

    remote = team_store(store)
    found = remote.garbage(older_than_s=older_than * 3600)
    if as_json:
        print_json({"url": remote.url, "uncommitted": found})
        return
    for ref in found:
        stdout().print(f"{ref}  claimed, never committed: files under {remote.url}/models/ may be deleted")
    if not found:
        stdout().print("No interrupted saves.")


@store_app.command("rebuild-index")
@command
def store_rebuild_index(
    trust: Annotated[
        Optional[list[str]],
        typer.Option(
            "--trust",
            metavar="NAME",
            help="A type or import path to trust for the rebuilt versions that claim it (their manifest's "
            "types, their config's model.type and features.custom); repeatable. Only for versions you trust.",
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Start from the folders alone when the index disagrees with them (an index of another "
            "store); the current index is copied aside first.",
        ),
    ] = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the store's index (mlpact.db) back from its version folders' manifests.

    Needed when the index was deleted or restored from an older copy: the store then refuses
    every command (exit 8) rather than forget versions and hand their numbers out again. Rows the
    index has and whose folder matches are kept as recorded at save. Every other folder whose files
    match its manifest is indexed, marked rebuilt: it trusts only mlpact's own allowlist plus
    the --trust names it claims, never its manifest's own list. Interrupted saves come back archived,
    purged versions purged; folders that do not verify are reported and left on disk. Aliases,
    their history, archive status and runs were recorded only in the index: what it lacks is lost,
    and the output says so. The
    previous index is copied aside (mlpact.db.before-rebuild-TIME). A team store is rebuilt from
    its bucket, with nothing lost. See docs/registry.md.

    [bold]Example[/]

      mlpact store rebuild-index --store .mlpact
      mlpact store rebuild-index --trust xgboost.XGBClassifier
    """
    from rich.markup import escape

    from mlpact import registry

    done = registry.rebuild_index(trust=trust or (), replace=replace, store=store)
    if as_json:
        print_json(done.to_dict())
        return
    out = stdout()
    source = "its version folders" if done.source == "folders" else escape(done.source)
    out.print(f"Rebuilt the index of {escape(str(done.root))} from {source}.")
    if done.backup:
        out.print(f"  previous index copied to {escape(str(done.backup))}")
    for label, refs in (
        ("kept (as recorded at save)", done.kept),
        ("indexed" + (" (rebuilt from their manifests)" if done.source == "folders" else ""), done.indexed),
        ("archived (interrupted saves, never committed)", done.archived),
        ("purged", done.purged),
    ):
        if refs:
            out.print(f"  {label}: {escape(', '.join(refs))}")
    for ref, names in done.trusted.items():
        out.print(f"  {ref} trusts, as you confirmed: {escape(', '.join(names))}")
    if done.unused_trust:
        out.print(
            "  [yellow]--trust names no version claims (not recorded):[/] "
            + escape(", ".join(done.unused_trust))
        )
    for where, why in done.refused.items():
        out.print(f"  [yellow]not indexed[/] {escape(where)}: {escape(why)}")
    for name, held in done.aliases.items():
        out.print(
            f"  aliases of {escape(name)}: " + ", ".join(f"@{escape(a)} -> {v}" for a, v in held.items())
        )
    if done.counters:
        out.print("  next numbers: " + ", ".join(f"{escape(n)}:{v + 1}" for n, v in done.counters.items()))
    for line in done.lost:
        stderr().print(f"[yellow]note:[/] {escape(line)}")
