"""The registry: what versions exist, which one holds which alias, what changed, can I trust it.

Each function here backs one `mlpact models ...` or `mlpact runs ...` command and works the same
from Python. Stores are opened with :meth:`Store.open` (``store=None`` means ``$MLPACT_HOME`` or
``./.mlpact``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict, cast

from mlpact._core import files
from mlpact._core.metrics import MetricsFile
from mlpact.config import key_paths
from mlpact.errors import ExitCode, MlpactError, NotFoundError, StoreError
from mlpact.store import Rebuilt, Store, VersionRecord, parse_ref
from mlpact.tracking import RUN_ID_PARAM
from mlpact.version import bundle, golden
from mlpact.version.portable import export_version, import_version
from mlpact.version.trust import check_digest

__all__ = [
    "AliasMove",
    "Check",
    "Checks",
    "archive",
    "compare_runs",
    "diff",
    "export_version",
    "history",
    "import_version",
    "orphans",
    "plot_runs",
    "promote",
    "rebuild_index",
    "restore",
    "rollback",
    "run",
    "runs",
    "show",
    "verify",
    "versions",
]  # fmt: skip

StoreArg = str | Path | Store | None


@dataclass(frozen=True)
class AliasMove:
    """An alias moved: which model, which alias, to which version, from which."""

    name: str
    alias: str
    version: int
    previous: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Check:
    """The result of re-hashing one version."""

    ref: str
    status: str
    ok: bool
    problem: str | None = None
    # golden rows: "ok", "differs", "none" (not recorded), "refused" (not loaded), None (not checked)
    behaviour: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class VersionInfo(TypedDict):
    """Everything about a version (:func:`show`): its index record and its verified files."""

    version: dict[str, Any]
    manifest: dict[str, Any]
    schema: dict[str, Any]
    metrics: MetricsFile
    config: dict[str, Any]
    lineage: dict[str, Any]
    card: str
    evaluations: list[dict[str, Any]]
    mlflow_run_id: str | None


class Changes(TypedDict):
    """Keys added, removed and changed (with both values) between two flat mappings."""

    added: dict[str, Any]
    removed: dict[str, Any]
    changed: dict[str, dict[str, Any]]


class SchemaChanges(TypedDict):
    added: list[str]
    removed: list[str]
    retyped: dict[str, dict[str, str]]
    categories: dict[str, dict[str, list[Any]]]
    nullable: dict[str, dict[str, bool]]
    target: dict[str, dict[str, Any]]


class MetricDelta(TypedDict):
    a: float | None
    b: float | None
    delta: float | None


class VersionDiff(TypedDict):
    """What changed from one version to another (:func:`diff`); `data` holds `changed` and,
    for each of source, fingerprint, rows, train/test fingerprints and split that differ, both values."""

    a: str
    b: str
    config: Changes
    schema: SchemaChanges
    metrics: dict[str, MetricDelta]
    data: dict[str, Any]
    packages: Changes
    git: Changes


class Checks(list[Check]):
    """The results of re-hashing versions, and the exit code they mean (docs/cli.md)."""

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self)

    @property
    def exit_code(self) -> ExitCode:
        """6 (integrity) when any version's files fail, else 14 (behaviour) when any version
        predicts its golden rows differently here, else 0."""
        if any(c.behaviour != "differs" for c in self if not c.ok):
            return ExitCode.INTEGRITY
        return ExitCode.BEHAVIOUR if not self.ok else ExitCode.OK


# --------------------------------------------------------------------------- listing and showing
def versions(
    name: str | None = None, *, include_archived: bool = False, store: StoreArg = None
) -> list[VersionRecord]:
    """Versions of one model or all, oldest first (archived and purged ones with `include_archived`)."""
    return Store.open(store).versions(name, include_archived=include_archived)


def show(ref: str, *, store: StoreArg = None) -> VersionInfo:
    """Everything about a version: index record, aliases, schema, metrics, config, lineage, card, evaluations.

    Files are read after the version's hashes are verified.
    """
    st = Store.open(store)
    record = st.resolve(ref)
    folder = st.local_dir(record)
    manifest = bundle.verify(folder)
    lineage = files.read_json(folder, "lineage.json")
    return {
        "version": record.to_dict(),
        "manifest": manifest,
        "schema": files.read_json(folder, "schema.json"),
        "metrics": cast(MetricsFile, files.read_json(folder, "metrics.json")),
        "config": bundle.read_config(folder),
        "lineage": lineage,
        "card": (folder / "card.md").read_text(encoding="utf-8"),
        "evaluations": st.evaluations(record.name, record.version),
        "mlflow_run_id": _mlflow_run_id(st, lineage.get("run_id")),
    }


def _mlflow_run_id(st: Store, run_id: str | None) -> str | None:
    """The MLflow run that mirrored the version's training run (see `mlpact.tracking`), if any."""

    if not run_id:
        return None
    try:
        found = st.run(run_id)["params"].get(RUN_ID_PARAM)
    except NotFoundError:  # an imported version: its run lives in another store
        return None
    return str(found) if found else None


# --------------------------------------------------------------------------- aliases
def promote(
    ref: str, alias: str, *, reason: str | None = None, user: str | None = None, store: StoreArg = None
) -> AliasMove:
    """Point `NAME@ALIAS` at the version `ref` names; the move is recorded with time, user and reason
    (`user` default: the operating-system user)."""
    st = Store.open(store)
    record = st.resolve(ref)
    previous = st.set_alias(record.name, alias, record.version, reason=reason, user=user)
    return AliasMove(record.name, alias, record.version, previous)


def rollback(
    name: str, alias: str, *, reason: str | None = None, user: str | None = None, store: StoreArg = None
) -> AliasMove:
    """Move `NAME@ALIAS` back to its previous holder (again: the one before that)."""
    version, previous = Store.open(store).rollback_alias(name, alias, reason=reason, user=user)
    return AliasMove(name, alias, version, previous)


def history(name: str, *, alias: str | None = None, store: StoreArg = None) -> list[dict[str, Any]]:
    """Every alias move of a model (or of one alias), oldest first."""
    return Store.open(store).alias_history(name, alias)


# --------------------------------------------------------------------------- archive, purge, restore
def archive(
    ref: str,
    *,
    purge: bool = False,
    reason: str | None = None,
    user: str | None = None,
    store: StoreArg = None,
) -> VersionRecord:
    """Hide a version from `latest` and listings; with `purge`, also delete its files.

    The row and the number stay: a version number is never reused. The status is checked and
    changed in one transaction, so a `promote` racing this call cannot leave an alias on an
    archived or purged version. Purging a version purged before retries deleting its files. The
    change is logged in the model's history with `user` (default: the operating-system user) and
    `reason`.

    Raises:
        StoreError: the version holds an alias (move the alias first), its index row points
            outside the store (nothing is deleted), or some of its files could not be deleted.
    """
    st = Store.open(store)
    record = st.resolve(ref, purged=purge)
    status: Literal["purged", "archived"] = "purged" if purge else "archived"
    if purge:
        st.own_dir(record)  # a row pointing outside the store is refused before anything changes
        st.set_status(record, "purged")
        st.delete_files(record)
    else:
        st.set_status(record, "archived")
    st.record_status(record.name, record.version, status, reason=reason, user=user)
    return st.get(record.name, record.version)


def restore(ref: str, *, store: StoreArg = None) -> VersionRecord:
    """Bring an archived version back into `latest` and listings."""
    st = Store.open(store)
    record = st.resolve(ref)
    st.set_status(record, "active")
    st.record_status(record.name, record.version, "restored")
    return st.get(record.name, record.version)


# --------------------------------------------------------------------------- integrity
def verify(ref: str | None = None, *, store: StoreArg = None, behaviour: bool = True) -> Checks:
    """Re-hash every file of the versions `ref` names that still have files: all of them (None),
    every version of a model (``NAME``, archived ones too), or one (``NAME:3``, ``NAME@alias``).

    Also checks each manifest against the digest recorded in the index when it was saved, so a
    file rewritten together with its manifest is caught. With `behaviour`, versions whose files
    are intact are loaded and their golden rows predicted again (see `mlpact.version.golden`).

    Raises:
        NotFoundError: no such model, version or alias.
    """
    st = Store.open(store)
    records = _verified_records(st, ref)
    checks = [_check(st, r) for r in records if r.status != "purged"]
    return Checks(_behaviour(c, st) if behaviour and c.ok else c for c in checks)


def _verified_records(st: Store, ref: str | None) -> list[VersionRecord]:
    if ref is None:
        return st.versions(include_archived=True)
    parsed = parse_ref(ref)
    if parsed.version is not None or parsed.alias is not None:
        return [st.resolve(ref)]
    records = st.versions(parsed.name, include_archived=True)
    if not records:
        st.resolve(ref)  # NotFoundError, naming the models there are
    return records


def _behaviour(check: Check, st: Store) -> Check:
    from mlpact.version.load import load

    try:
        found = golden.check(load(check.ref, store=st))
    except MlpactError as exc:  # refused (untrusted types, a malformed tree ...): not a behaviour change
        differs = exc.exit_code == ExitCode.BEHAVIOUR
        return Check(check.ref, check.status, False, exc.message, "differs" if differs else "refused")
    problem = found.problem if not found.ok else None
    return Check(check.ref, check.status, found.ok, problem, found.status)


def _check(st: Store, record: VersionRecord) -> Check:
    try:
        folder = st.local_dir(record, fresh=True)  # a team store: check what the bucket holds
        bundle.verify(folder)
        check_digest(record, folder)
    except MlpactError as exc:
        return Check(record.ref, record.status, False, exc.message)
    return Check(record.ref, record.status, True)


def orphans(*, store: StoreArg = None) -> list[Path]:
    """Version folders the index does not know (interrupted saves); kept, their numbers never reused."""
    return Store.open(store).orphans()


def rebuild_index(*, trust: Sequence[str] = (), replace: bool = False, store: StoreArg = None) -> Rebuilt:
    """Write the store's index back from its version folders (a team store: from its bucket).

    Rows the index has and whose folder matches are kept; every other verified folder is indexed
    from its own manifest, marked rebuilt, trusting only mlpact's own allowlist plus the `trust`
    names it claims. Aliases, statuses and runs come only from the index: what it lacks is lost,
    and the result says so (docs/registry.md, "When the index is lost").

    Args:
        trust: type names or import paths confirmed as trusted for the versions that claim them.
        replace: start from the folders alone; the current index is copied aside first.

    Raises:
        StoreError: the current index disagrees with some folders (without `replace`).
    """
    return Store.open(store).rebuild_index(trust=trust, replace=replace)  # opening reads no index


# --------------------------------------------------------------------------- diff
def diff(a: str, b: str, *, store: StoreArg = None) -> VersionDiff:
    """What changed from version `a` to version `b`: config, schema, metrics, data, environment."""

    left, right = show(a, store=store), show(b, store=store)
    return {
        "a": left["version"]["ref"],
        "b": right["version"]["ref"],
        "config": _dict_diff(key_paths(left["config"]), key_paths(right["config"])),
        "schema": _schema_diff(left["schema"], right["schema"]),
        "metrics": _metric_deltas(left["metrics"], right["metrics"]),
        "data": _data_diff(left["lineage"], right["lineage"]),
        "packages": _dict_diff(
            left["lineage"].get("environment", {}).get("packages", {}),
            right["lineage"].get("environment", {}).get("packages", {}),
        ),
        "git": _dict_diff(left["lineage"].get("git") or {}, right["lineage"].get("git") or {}),
    }


def _dict_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> Changes:
    """Keys added, removed and changed (with both values) between two flat mappings."""
    return {
        "added": {k: b[k] for k in sorted(set(b) - set(a))},
        "removed": {k: a[k] for k in sorted(set(a) - set(b))},
        "changed": {k: {"a": a[k], "b": b[k]} for k in sorted(set(a) & set(b)) if a[k] != b[k]},
    }


def _schema_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> SchemaChanges:
    left = {c["name"]: c for c in a.get("columns", [])}
    right = {c["name"]: c for c in b.get("columns", [])}
    common = sorted(set(left) & set(right))
    retyped = {
        n: {"a": left[n]["type"], "b": right[n]["type"]}
        for n in common
        if left[n]["type"] != right[n]["type"]
    }
    categories = {}
    for n in common:
        old, new = set(left[n].get("categories") or []), set(right[n].get("categories") or [])
        if old != new:
            categories[n] = {"added": sorted(new - old, key=str), "removed": sorted(old - new, key=str)}
    nullable = {
        n: {"a": left[n]["nullable"], "b": right[n]["nullable"]}
        for n in common
        if left[n]["nullable"] != right[n]["nullable"]
    }
    return {
        "added": sorted(set(right) - set(left)),
        "removed": sorted(set(left) - set(right)),
        "retyped": retyped,
        "categories": categories,
        "nullable": nullable,
        "target": _dict_diff(a.get("target") or {}, b.get("target") or {})["changed"],
    }


def _metric_deltas(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, MetricDelta]:
    left, right = a.get("test", {}), b.get("test", {})
    out: dict[str, MetricDelta] = {}
    for name in list(dict.fromkeys([*left, *right])):
        va, vb = left.get(name), right.get(name)
        delta = vb - va if isinstance(va, int | float) and isinstance(vb, int | float) else None
        out[name] = {"a": va, "b": vb, "delta": delta}
    return out


def _data_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    da, db = a.get("data", {}), b.get("data", {})
    keys = ("source", "fingerprint", "rows", "train_fingerprint", "test_fingerprint", "split")
    return {
        "changed": da.get("fingerprint") != db.get("fingerprint"),
        **{k: {"a": da.get(k), "b": db.get(k)} for k in keys if da.get(k) != db.get(k)},
    }


# --------------------------------------------------------------------------- runs
def runs(name: str | None = None, *, store: StoreArg = None) -> list[dict[str, Any]]:
    """Runs (trainings, tunings, checks, reproductions; succeeded and failed), newest first.

    Each has `primary`: the metric it is judged by, ``{"name", "value"}``, or None: a version's
    headline test metric for the runs that saved one, the best cross-validated value for a tune
    run, the primary metric on the new data for a check with labels.
    """
    st = Store.open(store)
    headline = {
        (v.name, v.version): (v.metric_name, v.metric_value)
        for v in st.versions(name, include_archived=True)
        if v.metric_name is not None
    }
    return [{**r, "primary": _primary(r, headline)} for r in st.runs(name)]


_NOT_METRICS = frozenset({"verdict", "rows", "drifted", "reasons", "trials", "new_trials"})


def _primary(
    run: Mapping[str, Any], headline: Mapping[tuple[str, int], tuple[str, Any]]
) -> dict[str, Any] | None:
    metrics, params = run.get("metrics") or {}, run.get("params") or {}
    if run["kind"] == "tune" and f"cv_{params.get('metric')}" in metrics:
        return {"name": f"cv {params['metric']}", "value": metrics[f"cv_{params['metric']}"]}
    if (run["name"], run["version"]) in headline:
        metric, value = headline[(run["name"], run["version"])]
        return {"name": f"test {metric}", "value": value}
    if run["kind"] == "check":
        found = [(k, v) for k, v in metrics.items() if k not in _NOT_METRICS and isinstance(v, int | float)]
        return {"name": found[0][0], "value": found[0][1]} if found else None
    return None


def run(run_id: str, *, store: StoreArg = None) -> dict[str, Any]:
    """One run by id or unique id prefix, with the history of the metrics it logged step by step
    (`mlpact.run`'s `log_metric`), by key."""
    st = Store.open(store)
    found = st.run(run_id)
    return {**found, "history": st.metric_history(found["id"])}


def compare_runs(run_ids: Sequence[str], *, store: StoreArg = None) -> dict[str, Any]:
    """Params and metrics of several runs side by side.

    Returns:
        ``{"runs": [...], "params": {key: [value per run]}, "metrics": {name: [value per run]}}``;
        a run that lacks a key has None there.
    """
    st = Store.open(store)
    found = [st.run(r) for r in run_ids]
    params = sorted({k for r in found for k in r["params"]})
    metrics = sorted({k for r in found for k in r["metrics"]})
    return {
        "runs": [
            {k: r[k] for k in ("id", "name", "kind", "status", "started", "version", "error")} for r in found
        ],
        "params": {k: [r["params"].get(k) for r in found] for k in params},
        "metrics": {k: [r["metrics"].get(k) for r in found] for k in metrics},
    }


def plot_runs(comparison: Mapping[str, Any], metric: str, path: str | Path) -> Path:
    """A bar chart of one metric across compared runs, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if metric not in comparison["metrics"]:
        known = ", ".join(comparison["metrics"]) or "none"
        raise StoreError(f"No run has a metric {metric!r}; the runs have: {known}.")
    labels = [
        r["id"][:8] + (f"\n{r['name']}:{r['version']}" if r["version"] else "\n(failed)")
        for r in comparison["runs"]
    ]
    values = [v if v is not None else 0.0 for v in comparison["metrics"][metric]]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(values)), 3.5))
    bars = ax.bar(labels, values, color="#4C72B0")
    ax.bar_label(bars, fmt="%.4f", fontsize=8)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by run (test split)")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
