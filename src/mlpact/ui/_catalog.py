"""What the UI shows, read from the store: models, versions, runs of every kind, comparisons.

Pure reads through the store's and the registry's public functions (the ones `mlpact models` and
`mlpact runs` use), shaped into plain dicts for the templates. Nothing here writes. Version
configs are immutable, so their flattened key paths are cached for the life of the process.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mlpact import registry
from mlpact._core.metrics import LOWER_IS_BETTER
from mlpact.config import key_paths
from mlpact.errors import MlpactError, NotFoundError, StoreError
from mlpact.store import Store, VersionRecord, check_name
from mlpact.version import bundle

RUN_KINDS = ("train", "tune", "evaluate", "check", "reproduce", "external")
RUN_ID_RE = re.compile(r"^[0-9a-f]{4,32}$")
MAX_COMPARE = 6
T = TypeVar("T")
# Run params that name the version a run is about (not one it produced).
ABOUT_PARAMS = ("checks", "reproduces", "evaluates")


# --------------------------------------------------------------------------- reading the index once
class Snapshot:
    """Reads of the store's index, kept until the index changes.

    SQLite in WAL mode writes every commit to ``mlpact.db-wal`` (and checkpoints into
    ``mlpact.db``), so the two files' sizes and modification times change with every write: while
    they stay the same, the listings of 10,000 versions and 1,000 runs are built once, not per page.
    """

    def __init__(self) -> None:
        self._stamp: tuple[str | int, ...] | None = None
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, store: Store, key: str, make: Callable[[], T]) -> T:
        stamp = _stamp(store)
        with self._lock:
            if stamp != self._stamp:
                self._stamp, self._values = stamp, {}
            if key in self._values:
                return self._values[key]  # type: ignore[no-any-return]
        value = make()
        with self._lock:
            if stamp == self._stamp:
                self._values[key] = value
        return value


def _stamp(store: Store) -> tuple[str | int, ...]:
    out: list[str | int] = [str(store.root)]
    for suffix in ("", "-wal"):
        try:
            stat = os.stat(f"{store.db_path}{suffix}")
            out += [stat.st_mtime_ns, stat.st_size]
        except OSError:
            out += [0, 0]
    return tuple(out)


_SNAPSHOT = Snapshot()


# --------------------------------------------------------------------------- validation
def version_ref(name: str, version: str | int) -> tuple[str, int]:
    """A model name and version number from a URL, validated.

    Raises:
        NotFoundError: the name is not a valid model name, or the version is not a positive integer.
    """
    try:
        check_name(name)
    except StoreError as exc:
        raise NotFoundError(exc.message) from None
    text = str(version)
    if not text.isdigit() or len(text) > 9 or int(text) < 1:
        raise NotFoundError(f"Invalid version {text!r}: expected a positive whole number such as 3.")
    return name, int(text)


def run_id(text: str) -> str:
    """A run id (or unique prefix) from a URL, validated: 4-32 lowercase hex characters.

    Raises:
        NotFoundError: it is not.
    """
    if not RUN_ID_RE.match(text):
        raise NotFoundError(f"Invalid run id {text!r}: expected 4-32 characters 0-9 and a-f.")
    return text


def parse_refs(text: str, *, what: str) -> list[str]:
    """A comma-separated list of 2-6 references from a query string, each validated.

    Raises:
        NotFoundError: fewer than 2 or more than 6, or one is malformed.
    """
    items = [part.strip() for part in text.split(",") if part.strip()]
    items = list(dict.fromkeys(items))
    if not 2 <= len(items) <= MAX_COMPARE:
        raise NotFoundError(f"Compare needs 2 to {MAX_COMPARE} {what}; got {len(items)}.")
    if what == "runs":
        return [run_id(i) for i in items]
    out = []
    for item in items:
        name, _, number = item.partition(":")
        out.append("{}:{}".format(*version_ref(name, number)))
    return out


# --------------------------------------------------------------------------- metrics
def lower_is_better(metric: str) -> bool:
    return metric in LOWER_IS_BETTER


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def interval(metrics: Mapping[str, Any], name: str, split: str = "test") -> tuple[float, float] | None:
    """The confidence interval of a metric when metrics.json carries one, else None.

    Read from ``metrics["ci"][split][name]`` or ``metrics["ci"][name]`` as ``{"low": .., "high": ..}``
    (or ``lower``/``upper``, or a two-item list), so one place adapts to how intervals are recorded.
    """
    ci = metrics.get("ci") or metrics.get("intervals") or {}
    if not isinstance(ci, Mapping):
        return None
    found = ci.get(split, {}).get(name) if isinstance(ci.get(split), Mapping) else None
    found = found if found is not None else ci.get(name)
    if isinstance(found, Mapping):
        low, high = found.get("low", found.get("lower")), found.get("high", found.get("upper"))
    elif isinstance(found, Sequence) and not isinstance(found, str) and len(found) == 2:
        low, high = found
    else:
        return None
    return (float(low), float(high)) if is_number(low) and is_number(high) else None


def best_of(values: Sequence[Any], metric: str) -> list[int]:
    """Which of `values` are best for `metric` (every one that ties for best); none when fewer
    than two are numbers or all are equal."""
    numbers = [(v, i) for i, v in enumerate(values) if is_number(v)]
    if len(numbers) < 2 or len({v for v, _ in numbers}) == 1:
        return []
    best = (min if lower_is_better(metric) else max)(v for v, _ in numbers)
    return [i for v, i in numbers if v == best]


# --------------------------------------------------------------------------- models
@dataclass
class ModelRow:
    """One model on the models page: its versions and what its headline version says."""

    name: str
    versions: int
    latest: VersionRecord
    aliases: dict[str, int]
    headline: VersionRecord
    flavors: list[str]
    origins: list[str]
    interval: tuple[float, float] | None = None


def models(store: Store) -> list[ModelRow]:
    """Every model with active versions: count, latest, aliases, and the headline metric of the
    version that holds `production` (else the latest)."""
    return _SNAPSHOT.get(store, "models", lambda: _models(store))


def _latest(store: Store, name: str, records: list[VersionRecord]) -> VersionRecord:
    """What `NAME` alone names (a reproduction only once promoted); the newest when that is none."""
    try:
        version = store.resolve(name).version
    except NotFoundError:  # only reproductions are active
        return records[-1]
    return next((r for r in records if r.version == version), records[-1])


def _models(store: Store) -> list[ModelRow]:
    by_name: dict[str, list[VersionRecord]] = {}
    for record in all_records(store):
        if record.status != "active":
            continue
        by_name.setdefault(record.name, []).append(record)
    rows = []
    for name, records in sorted(by_name.items()):
        aliases = {a: r.version for r in records for a in r.aliases}
        latest = _latest(store, name, records)
        held = aliases.get("production")
        headline = next((r for r in records if r.version == held), latest)
        rows.append(
            ModelRow(
                name, len(records), latest, dict(sorted(aliases.items())), headline,
                sorted({r.flavor for r in records}), sorted({r.made_by for r in records}),
                _headline_interval(headline),
            )
        )  # fmt: skip
    return rows


def _headline_interval(record: VersionRecord) -> tuple[float, float] | None:
    """The interval of the headline metric, when the version's metrics.json (read where it lies
    on this machine; a team store's version is not downloaded for it) records one."""
    import json

    if record.metric_name is None:
        return None
    try:
        metrics = json.loads((record.path / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return interval(metrics, record.metric_name) if isinstance(metrics, Mapping) else None


def versions_of(store: Store, name: str, *, include_archived: bool) -> list[VersionRecord]:
    """A model's versions, newest first.

    Raises:
        NotFoundError: the model has no version at all.
    """
    found = [r for r in all_records(store) if r.name == name]
    if not found:
        store.resolve(name)  # raises with the store's own message (did you mean ...?)
    shown = found if include_archived else [r for r in found if r.status == "active"]
    return shown[::-1]


# --------------------------------------------------------------------------- one version
def version(store: Store, name: str, number: int) -> dict[str, Any]:
    """Everything the version page shows: `registry.show` (files verified first), golden rows,
    the alias timeline, and the check / reproduce / tune runs about this version."""
    info = registry.show(f"{name}:{number}", store=store)
    record = store.get(name, number)
    folder = store.local_dir(record)
    golden = _json_file(folder / "golden.json")
    about = [r for r in store.runs(name) if _about(r) == record.ref or r["version"] == number]
    return {
        **info,
        "record": record,
        "golden": golden,
        "timeline": registry.history(name, store=store),
        "checks": [r for r in about if r["kind"] == "check"],
        "reproductions": [r for r in about if r["kind"] == "reproduce"],
        "config_paths": key_paths(info["config"]),
    }


def _about(run: Mapping[str, Any]) -> str | None:
    params = run.get("params") or {}
    for key in ABOUT_PARAMS:
        if params.get(key):
            return str(params[key])
    return None


def _json_file(path: Any) -> Any:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- runs
@dataclass
class RunQuery:
    """What the runs page shows: a filter, a sort and the chosen columns, all from the URL."""

    kind: str | None = None
    model: str | None = None
    status: str | None = None
    where: list[tuple[str, str]] = field(default_factory=list)
    sort: str = "started"
    descending: bool = True
    columns: list[str] = field(default_factory=list)
    page: int = 1
    per_page: int = 100


def all_runs(store: Store) -> list[dict[str, Any]]:
    """Every run of every kind, newest first: the run history plus each evaluation, shown as a
    run of kind `evaluate` (evaluations are recorded in their own table)."""
    return _SNAPSHOT.get(store, "runs", lambda: _all_runs(store))


def _all_runs(store: Store) -> list[dict[str, Any]]:
    found = store.runs()
    names = sorted({r["name"] for r in found} | {r.name for r in all_records(store)})
    evaluations = [_evaluation_run(e) for name in names for e in store.evaluations(name)]
    return sorted([*found, *evaluations], key=lambda r: r["started"], reverse=True)


def all_records(store: Store) -> list[VersionRecord]:
    """Every version of every model, archived and purged ones too, in name and number order."""
    return _SNAPSHOT.get(store, "records", lambda: store.versions(include_archived=True))


def _evaluation_run(ev: Mapping[str, Any]) -> dict[str, Any]:
    metrics = ev.get("metrics") or {}
    numbers = {k: v for k, v in (metrics.get("test") or {}).items() if is_number(v)}
    return {
        "id": ev["id"], "name": ev["name"], "kind": "evaluate", "status": "succeeded",
        "started": ev["created"], "ended": ev["created"], "config_hash": None,
        "params": {"evaluates": f"{ev['name']}:{ev['version']}", "data": ev["data"], "rows": ev.get("rows")},
        "metrics": numbers, "error": None, "version": None,
    }  # fmt: skip


def columns_of(runs: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """The param keys and numeric metric names these runs have, sorted."""
    params = sorted({k for r in runs for k in r["params"]})
    metrics = sorted({k for r in runs for k, v in r["metrics"].items() if is_number(v)})
    return params, metrics


def default_columns(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Params whose values differ between runs (up to 4) and the most common metrics (up to 4)."""
    params, _ = columns_of(runs)
    varying = [
        p for p in params if len({repr(r["params"].get(p)) for r in runs}) > 1 and p not in ABOUT_PARAMS
    ]
    counts: dict[str, int] = {}
    for r in runs:
        for k, v in r["metrics"].items():
            if is_number(v):
                counts[k] = counts.get(k, 0) + 1
    common = sorted(counts, key=lambda k: (-counts[k], k))[:4]
    return [f"param:{p}" for p in varying[:4]] + [f"metric:{m}" for m in common]


def query_runs(
    store: Store, query: RunQuery, config_of: ConfigCache | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The runs a query selects, sorted, one page of them, and how many matched in all."""
    found = [r for r in all_runs(store) if _keep(r, query, config_of, store)]
    found = sort_runs(found, query.sort, descending=query.descending)
    start = (query.page - 1) * query.per_page
    return found[start : start + query.per_page], len(found)


def _keep(run: Mapping[str, Any], q: RunQuery, config_of: ConfigCache | None, store: Store) -> bool:
    if q.kind and run["kind"] != q.kind:
        return False
    if q.model and run["name"] != q.model:
        return False
    if q.status and run["status"] != q.status:
        return False
    return all(matches(run, key, value, config_of, store) for key, value in q.where)


def matches(
    run: Mapping[str, Any],
    key: str,
    value: str,
    config_of: ConfigCache | None = None,
    store: Store | None = None,
) -> bool:
    """Whether a run's param `key` (else the `key` of the config of the version it produced) is
    `value`: compared as text, and as YAML (so ``8`` matches 8 and ``true`` matches True)."""
    params = run["params"]
    if key in params:
        return same(params[key], value)
    if config_of is None or store is None or not run.get("version"):
        return False
    paths = config_of(store, run["name"], int(run["version"]))
    return key in paths and same(paths[key], value)


def same(found: Any, wanted: str) -> bool:
    import yaml

    if str(found) == wanted:
        return True
    try:
        return bool(yaml.safe_load(wanted) == found)
    except yaml.YAMLError:
        return False


def sort_runs(runs: list[dict[str, Any]], key: str, *, descending: bool) -> list[dict[str, Any]]:
    """Runs sorted by `started`, `name`, `kind`, `status`, ``metric:NAME`` or ``param:KEY``; runs
    without the value go last either way."""

    def value(r: Mapping[str, Any]) -> Any:
        if key.startswith("metric:"):
            return r["metrics"].get(key[7:])
        if key.startswith("param:"):
            return r["params"].get(key[6:])
        return r.get(key)

    present = [r for r in runs if value(r) is not None]
    missing = [r for r in runs if value(r) is None]
    numeric = all(is_number(value(r)) for r in present)
    present.sort(
        key=(lambda r: float(value(r))) if numeric else (lambda r: str(value(r))), reverse=descending
    )
    return present + missing


class ConfigCache:
    """Flattened configs of versions (immutable, so cached for the process), for filtering runs."""

    def __init__(self) -> None:
        self._paths: dict[tuple[str, str, int], dict[str, Any]] = {}

    def __call__(self, store: Store, name: str, number: int) -> dict[str, Any]:
        key = (str(store.root), name, number)
        if key not in self._paths:
            self._paths[key] = self._read(store, name, number)
        return self._paths[key]

    @staticmethod
    def _read(store: Store, name: str, number: int) -> dict[str, Any]:

        try:
            folder = store.local_dir(store.get(name, number))
            return key_paths(bundle.read_config(folder))
        except (MlpactError, OSError):
            return {}


# --------------------------------------------------------------------------- compare
def compare_versions(store: Store, refs: Sequence[str]) -> dict[str, Any]:
    """2-6 versions side by side: config keys that differ, test metrics (best marked, with
    intervals when recorded), and schema / data / package / git differences from the first one
    (`registry.diff`, what `mlpact models diff` prints)."""
    shown = [registry.show(ref, store=store) for ref in refs]
    configs = [key_paths(s["config"]) for s in shown]
    metric_sets = [s["metrics"] for s in shown]
    diffs = [registry.diff(refs[0], ref, store=store) for ref in refs[1:]]
    return {
        "items": [s["version"]["ref"] for s in shown],
        "shown": shown,
        "config": differing(configs),
        "metrics": metric_table([m.get("test") or {} for m in metric_sets], metric_sets),
        "diffs": diffs,
    }


def compare_runs(store: Store, ids: Sequence[str]) -> dict[str, Any]:
    """2-6 runs side by side (`registry.compare_runs`, what `mlpact runs compare` prints): params
    that differ and metrics with the best marked; the versions they produced, when every run
    produced one, are compared as versions too."""
    found = registry.compare_runs(ids, store=store)
    params = found["params"]
    metrics = {k: v for k, v in found["metrics"].items() if any(is_number(x) for x in v)}
    refs = [f"{r['name']}:{r['version']}" for r in found["runs"] if r["version"]]
    versions = (
        compare_versions(store, refs) if len(refs) == len(ids) and len(set(refs)) == len(refs) else None
    )
    same_params = {k: v[0] for k, v in params.items() if len({repr(x) for x in v}) == 1}
    return {
        "runs": found["runs"],
        "params": {k: v for k, v in params.items() if k not in same_params},
        "same_params": same_params,
        "metrics": [
            {"name": k, "values": v, "best": best_of(v, k), "intervals": [None] * len(v)}
            for k, v in metrics.items()
        ],
        "versions": versions,
    }


def differing(flat: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Keys whose values are not the same in every mapping (absent counts as a value)."""
    missing = object()
    keys = sorted({k for f in flat for k in f})
    out = {}
    for key in keys:
        values = [f.get(key, missing) for f in flat]
        if len({repr(v) for v in values}) > 1:
            out[key] = [None if v is missing else v for v in values]
    return out


def metric_table(
    values: Sequence[Mapping[str, Any]], full: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One row per metric: the value per item, which is best, and each value's interval."""
    names = list(dict.fromkeys(k for v in values for k, x in v.items() if is_number(x)))
    return [
        {
            "name": name,
            "values": [v.get(name) for v in values],
            "best": best_of([v.get(name) for v in values], name),
            "intervals": [interval(m, name) for m in full],
        }
        for name in names
    ]
