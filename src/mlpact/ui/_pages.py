"""Rendering: the Jinja2 environment (autoescaped) and its filters, URL state of the runs page,
the version's report page, and the small helpers the routes share."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from mlpact import bundle, registry
from mlpact.errors import NotFoundError
from mlpact.report import fmt, render_html
from mlpact.store import Store
from mlpact.ui import _catalog as catalog
from mlpact.ui import _plots

if TYPE_CHECKING:
    from starlette.datastructures import QueryParams
    from starlette.requests import Request

FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}\.png$")
MAX_REASON = 500


class WriteRefused(Exception):
    """A write the UI does not accept (read-only, cross-site, no CSRF token)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Pages:
    """The templates, with autoescaping on for every page (values are text unless marked safe)."""

    def __init__(self, folder: Path) -> None:
        import jinja2

        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(folder),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(num=num, when=when, short=short, value=value, ci=ci, markdown=markdown)
        self.env.globals.update(
            best_class=best_class,
            version_link=version_link,
            interval=catalog.interval,
            lower_is_better=catalog.lower_is_better,
        )

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        return self.env.get_template(name).render(**context)


# --------------------------------------------------------------------------- filters
def num(x: Any, digits: int = 4) -> str:
    """A number for a table: 4 decimals for floats, '-' when missing."""
    if isinstance(x, float) and not math.isfinite(x):
        return "-"
    return fmt(x, digits)


def when(iso: Any) -> str:
    return str(iso or "")[:16].replace("T", " ")


def short(text: Any, n: int = 12) -> str:
    return str(text or "")[:n]


def value(x: Any) -> str:
    """Any config or param value as compact text (JSON for lists and mappings)."""
    if x is None:
        return "-"
    if isinstance(x, float):
        return fmt(x, 6) if abs(x) < 1e6 else f"{x:g}"
    if isinstance(x, list | dict):
        return json.dumps(x, default=str, sort_keys=True)
    return str(x)


def ci(bounds: tuple[float, float] | None) -> str:
    return f"[{fmt(bounds[0])}, {fmt(bounds[1])}]" if bounds else ""


def markdown(text: str, base: str = "") -> Any:
    """card.md as HTML: markdown-it without raw HTML (tags in the text are shown, not run); its
    relative image links (``reports/x.png``) point under `base`."""
    from markdown_it import MarkdownIt
    from markupsafe import Markup

    md = MarkdownIt("js-default")  # html: false, tables on
    tokens = md.parse(text)
    for token in tokens:
        for child in token.children or ():
            src = str(child.attrs.get("src") or "")
            if child.type == "image" and src and not src.startswith("/") and ":" not in src:
                child.attrSet("src", base + src)
    return Markup(md.renderer.render(tokens, md.options, {}))


def best_class(i: int, best: Sequence[int]) -> str:
    return "best" if i in best else ""


def version_link(ref: str | None) -> str:
    if not ref or ":" not in ref:
        return ""
    name, _, number = str(ref).partition(":")
    return f"/models/{name}/{number}"


def sort_models(rows: list[catalog.ModelRow], q: str, sort: str, order: str) -> list[catalog.ModelRow]:
    """Models whose name contains `q`, sorted by name, versions, created or metric."""
    found = [r for r in rows if q.lower() in r.name.lower()]
    keys = {
        "name": lambda r: r.name,
        "versions": lambda r: r.versions,
        "created": lambda r: r.latest.created,
        "metric": lambda r: r.headline.metric_value if r.headline.metric_value is not None else -math.inf,
    }
    return sorted(found, key=keys.get(sort, keys["name"]), reverse=order == "desc")


# --------------------------------------------------------------------------- runs page state
def run_query(params: QueryParams) -> catalog.RunQuery:
    """The runs page's filter, sort, columns and page from its URL (bad values are ignored)."""
    where = []
    for text in params.getlist("where"):
        key, sep, wanted = text.partition("=")
        if sep and key.strip():
            where.append((key.strip(), wanted.strip()))
    columns = [c for c in params.getlist("col") if c.startswith(("param:", "metric:"))][:30]
    page = params.get("page", "1")
    kind = params.get("kind") or None
    return catalog.RunQuery(
        kind=kind if kind in catalog.RUN_KINDS else None,
        model=params.get("model") or None,
        status=params.get("status") or None,
        where=where,
        sort=params.get("sort") or "started",
        descending=params.get("order", "desc") != "asc",
        columns=columns,
        page=int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1,
    )


class Links:
    """URLs of the runs page that keep its current state and change one thing."""

    def __init__(self, request: Request) -> None:
        self.items = list(request.query_params.multi_items())

    def with_(self, **changes: Any) -> str:
        keep = [(k, v) for k, v in self.items if k not in changes]
        for key, val in changes.items():
            if val is None:
                continue
            keep += [(key, v) for v in val] if isinstance(val, list) else [(key, str(val))]
        return "/runs?" + urlencode(keep)

    def sort(self, key: str, current: str, descending: bool) -> str:
        order = "asc" if key == current and descending else "desc"
        return self.with_(sort=key, order=order, page=None)


# --------------------------------------------------------------------------- one run
def one_run(store: Store, rid: str) -> dict[str, Any]:
    """A run by id (or prefix), or an evaluation shown as a run of kind `evaluate`."""
    try:
        return registry.run(rid, store=store)
    except NotFoundError:
        for found in catalog.all_runs(store):
            if found["kind"] == "evaluate" and found["id"].startswith(rid):
                return {**found, "history": {}}
        raise


# --------------------------------------------------------------------------- compare
def comparison(store: Store, params: QueryParams) -> dict[str, Any]:
    """What /compare shows for ``runs=ID,ID`` or ``versions=NAME:N,NAME:N`` (or repeated keys).

    Raises:
        NotFoundError: neither is given, or a list is malformed or has the wrong length.
    """
    runs = ",".join(params.getlist("runs"))
    refs = ",".join(params.getlist("versions"))
    if runs:
        ids = catalog.parse_refs(runs, what="runs")
        data = catalog.compare_runs(store, ids)
        data["kind"] = "runs"
        data["ids"] = ids
    elif refs:
        data = {
            "kind": "versions",
            "versions": catalog.compare_versions(store, catalog.parse_refs(refs, what="versions")),
        }
    else:
        raise NotFoundError("Nothing to compare: add ?runs=ID,ID or ?versions=NAME:N,NAME:N (2 to 6).")
    if data["versions"] is not None:
        data["versions"]["plots"] = _overlays(store, data["versions"])
    return data


def _overlays(store: Store, versions: Mapping[str, Any]) -> dict[str, str]:
    tables = {}
    tasks: set[str | None] = set()
    for shown in versions["shown"]:
        record = store.get(shown["version"]["name"], shown["version"]["version"])
        table = _plots.read_predictions(store.local_dir(record))
        if table is not None:
            tables[record.ref] = table
            tasks.add((shown["schema"].get("target") or {}).get("task"))
    task = tasks.pop() if len(tasks) == 1 else None
    return _plots.overlays(tables, task) if task else {}


# --------------------------------------------------------------------------- the report
def report_html(store: Store, name: str, version: int) -> str:
    """The version's report page: the report.html saved with it (hash-checked) or, when it has
    been evaluated since, the same renderer run again with the evaluations listed (not saved)."""
    from mlpact.config import validate_config

    record = store.resolve(f"{name}:{version}")
    folder = store.local_dir(record)
    manifest = bundle.verify(folder)
    evaluations = store.evaluations(name, version)
    own = folder / "report.html"
    if not evaluations and own.is_file():
        return own.read_text(encoding="utf-8")
    schema = bundle.read_json(folder, "schema.json")
    metrics = bundle.read_json(folder, "metrics.json")
    lineage = bundle.read_json(folder, "lineage.json")
    cfg = validate_config(bundle.read_config(folder), label=f"{record.ref} config.yaml")
    return render_html(
        manifest, schema, metrics, lineage, cfg, reports=folder / "reports", evaluations=evaluations
    )


def report_image(store: Store, name: str, version: int, file: str) -> bytes:
    """A PNG of the version's ``reports/`` folder that its manifest lists (and hashes).

    Raises:
        NotFoundError: the name is not a plain .png file name, or the manifest does not list it.
    """
    if not FILE_RE.match(file):
        raise NotFoundError(f"Invalid plot file name {file!r}.")
    record = store.resolve(f"{name}:{version}")
    folder = store.local_dir(record)
    manifest = bundle.verify(folder)
    if f"reports/{file}" not in (manifest.get("files") or {}):
        raise NotFoundError(f"{record.ref} has no plot {file!r}.")
    return (folder / "reports" / file).read_bytes()


# --------------------------------------------------------------------------- writes
def reason(form: Mapping[str, str]) -> str:
    """The reason a form gives, required (it goes into the history).

    Raises:
        WriteRefused: the form gives none.
    """
    text = " ".join(form.get("reason", "").split())[:MAX_REASON]
    if not text:
        raise WriteRefused(400, "Say why: the reason is recorded in the model's history.")
    return text


def archive(store: Store, name: str, version: int, *, reason: str, user: str) -> None:
    """Archive a version (never purge from the UI); the change is logged with who and why."""
    registry.archive(f"{name}:{version}", reason=reason, user=user, store=store)
