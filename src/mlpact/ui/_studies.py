"""Tuning studies kept in the store (``<store>/tuning/<study>/study.db``, see `mlpact tune`).

The list comes from the folders and the `tune` runs of the run history (no Optuna import); one
study's page loads it with Optuna, read-only, and draws Optuna's own plots, cached until the
study changes (its database file's size and modification time).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlpact.errors import NotFoundError
from mlpact.store import Store
from mlpact.ui import _plots

STUDY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")
_BEST_RE = re.compile(r"^# Best config of study .*: trial (\d+), (\S+) = (\S+)$")


def folder(store: Store, name: str) -> Path:
    """The folder of study `name`, validated: a plain name of an existing study of this store.

    Raises:
        NotFoundError: the name is malformed or there is no such study.
    """
    if not STUDY_RE.match(name) or ".." in name:
        raise NotFoundError(f"Invalid study name {name!r}: expected letters, digits, '_', '-' and '.'.")
    path = store.root / "tuning" / name
    if not (path / "study.db").is_file():
        known = ", ".join(s["name"] for s in studies(store)) or "none yet (run `mlpact tune CONFIG`)"
        raise NotFoundError(f"No tuning study {name!r} in the store at {store.root}. Studies: {known}.")
    return path


def studies(store: Store) -> list[dict[str, Any]]:
    """Every study of the store, newest first: name, model, best trial and value, its tune runs."""
    root = store.root / "tuning"
    if not root.is_dir():
        return []
    runs: dict[str, list[dict[str, Any]]] = {}
    for run in store.runs():
        if run["kind"] == "tune" and run["params"].get("study"):
            runs.setdefault(str(run["params"]["study"]), []).append(run)
    out = []
    for path in root.iterdir():
        if (path / "study.db").is_file() and STUDY_RE.match(path.name):
            model = path.name.rsplit("-", 1)[0]
            modified = (path / "study.db").stat().st_mtime
            out.append({"name": path.name, "model": model, "runs": runs.get(path.name, []),
                        "modified": modified, **_best(path)})  # fmt: skip
    return sorted(out, key=lambda s: s["modified"], reverse=True)


def _best(path: Path) -> dict[str, Any]:
    try:
        first = (path / "best.yaml").read_text(encoding="utf-8").splitlines()[0]
    except (OSError, IndexError):
        return {"best_trial": None, "metric": None, "best_value": None}
    match = _BEST_RE.match(first)
    if not match:
        return {"best_trial": None, "metric": None, "best_value": None}
    return {"best_trial": int(match[1]), "metric": match[2], "best_value": float(match[3])}


class StudyCache:
    """A study's trials and plots, drawn once per state of its database."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, path: Path) -> dict[str, Any]:
        db = path / "study.db"
        stat = db.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        page = load(path)
        with self._lock:
            self._cache[path] = (stamp, page)
        return page


def load(path: Path) -> dict[str, Any]:
    """Trials, direction, best trial and Optuna's plots of the study in `path`.

    Raises:
        MissingDependencyError: optuna is not installed.
    """
    try:
        import optuna
    except ImportError:
        from mlpact.errors import MissingDependencyError

        raise MissingDependencyError("optuna", extra="tune", feature="Showing a tuning study") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=path.name, storage=f"sqlite:///{path / 'study.db'}")
    rows = _plots.trial_rows(study)
    done = [r for r in rows if r["state"] == "COMPLETE"]
    direction = study.direction.name.lower()
    best = None
    if done:
        best = (min if direction == "minimize" else max)(done, key=lambda r: r["value"])
    return {
        "name": path.name,
        "direction": direction,
        "trials": rows,
        "params": _plots.param_names(rows),
        "best": best,
        "counts": _counts(rows),
        "plots": _plots.study_plots(study) if done else {},
    }


def _counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r["state"]] = out.get(r["state"], 0) + 1
    return out
