"""`mlpact store ...`: point a store at object storage shared by a team, and sync it."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mlpact.cli._app import JsonOpt, StoreOpt, app, command, print_json, stdout
from mlpact.errors import StoreError

store_app = typer.Typer(
    help="A team store: versions and registry in object storage (s3://...), a local index as cache.",
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
    stdout().print(f"Store {remote.root} now keeps its versions in {remote.url} ({count} versions there).")


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
    stdout().print(f"Synced {remote.url}: {new['versions']} new versions, {new['events']} new events.")


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
