"""Registry operations stay fast as the store grows: 100 vs 10,000 versions in the index.

Registering (allocate a number above the counter and every folder on disk, mark and move the
folder in, insert the row, fsync) and resolving `name@alias` are timed as real calls; the store
is filled with rows directly, since neither operation reads other versions' folders. Opening a
store checks that its index knows every version folder (probing the numbers above each counter);
that check is timed against the same open with the check skipped, at 10,000 versions.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from common import WORK, entry, median
from mlpact.store import Store
from mlpact.version import bundle

OPS = 200


def _filled(n: int) -> Store:
    root = WORK / f"registry_{n}"
    shutil.rmtree(root, ignore_errors=True)
    store = Store(root)
    store.versions()  # creates the index
    rows = [
        ("bench", v, "2026-01-01T00:00:00+00:00", f"models/bench/{v}", "sklearn", "0" * 64, "[]")
        for v in range(1, n + 1)
    ]
    with sqlite3.connect(store.db_path) as db:
        db.executemany(
            "INSERT INTO versions (name, version, created, path, flavor, digest, trusted_types) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.execute("INSERT INTO counters (name, last_version) VALUES ('bench', ?)", (n,))
        db.execute(
            "INSERT INTO aliases (name, alias, version, updated) VALUES ('bench', 'production', ?, 'x')",
            (n // 2,),
        )
    return store


def _register_once(store: Store) -> float:
    tmp = store.new_tmp_dir()
    (tmp / "payload.json").write_text(json.dumps({"x": 1}))

    def finalize(directory: Path, version: int) -> dict[str, Any]:
        bundle.write_manifest(directory, {"name": "bench", "version": version}, bundle.hash_files(directory))
        return {"digest": bundle.manifest_digest(directory)}

    start = time.perf_counter()
    store.register("bench", tmp, finalize)
    return time.perf_counter() - start


def _resolve_once(store: Store) -> float:
    start = time.perf_counter()
    store.resolve("bench@production")
    return time.perf_counter() - start


def _open_once(root: Path, *, check: bool) -> float:
    start = time.perf_counter()
    store = Store(root)
    store._rebuilding = not check  # the flag `store rebuild-index` uses to open without the check
    store.resolve("bench@production")
    return time.perf_counter() - start


def measure(n: int) -> dict[str, list[float]]:
    store = _filled(n)
    out = {
        "register": [_register_once(store) * 1000 for _ in range(OPS)],
        "resolve": [_resolve_once(store) * 1000 for _ in range(OPS)],
        "open": [],
        "open_unchecked": [],
    }
    for _ in range(OPS):  # alternating, so both see the same machine
        out["open"].append(_open_once(store.root, check=True) * 1000)
        out["open_unchecked"].append(_open_once(store.root, check=False) * 1000)
    return out


def run() -> list[dict[str, Any]]:
    small, large = measure(100), measure(10_000)
    out = []
    for op in ("register", "resolve"):
        out.append(
            entry(
                f"registry_{op}_10k",
                unit="ms",
                value=median(large[op]),
                baseline=f"{op}_at_100_versions",
                baseline_value=median(small[op]),
                better="lower",
                goal="<= 5",
                goal_on="value",
                runs=OPS,
                params={
                    "versions": [100, 10_000],
                    "op": "register a version (fsync)" if op == "register" else "resolve name@alias",
                },
            )
        )
    out.append(
        entry(
            "registry_open_check_10k",
            unit="ms",
            value=median(large["open"]),
            baseline="open_without_the_index_check",
            baseline_value=median(large["open_unchecked"]),
            better="lower",
            goal="<= 5",
            goal_on="value",
            runs=OPS,
            params={"versions": 10_000, "op": "open a store (index vs folders check) and resolve name@alias"},
        )
    )
    for n in (100, 10_000):
        shutil.rmtree(WORK / f"registry_{n}", ignore_errors=True)
    return out
