"""`mlpact ui`: seconds to the first page, and page render time on a big store.

- `ui_ready`: a fresh `mlpact ui` process until /models answers 200, against a bare FastAPI +
  uvicorn app with one route (bench/baselines/bare_fastapi_app.py), alternated, fresh processes.
- `ui_page_1k_runs`: GET /runs (every run read, filtered, sorted, one page of 100 rendered) from
  a running `mlpact ui` over a store of 1,000 runs and 10,000 versions, against a raw SQLite query
  + hand-written HTML of the same page (bench/baselines/sqlite_runs_page.py). /models (10,000
  versions grouped by model) is timed too and reported in the entry's params.

The store's index is filled with rows directly (neither page reads version folders).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from common import MLPACT, PYTHON, ROOT, WORK, alternate, entry, median

sys.path.insert(0, str(ROOT / "bench" / "baselines"))

from sqlite_runs_page import render as baseline_page

RUNS, VERSIONS, MODELS = 1_000, 10_000, 10
READY_RUNS, PAGE_RUNS = 5, 30


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _first_200(cmd: list[str], url: str, timeout: float = 60) -> float:
    """Seconds from starting `cmd` until `url` answers 200; the process is then stopped."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < timeout:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.01)
        raise RuntimeError(f"{' '.join(cmd)} did not answer {url} within {timeout} s")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def filled_store() -> Path:
    """A store index of 10,000 versions (10 models) and 1,000 runs with params and metrics."""
    from mlpact.store import Store

    root = WORK / "ui_store"
    shutil.rmtree(root, ignore_errors=True)
    Store(root).versions()  # creates the index
    rng = random.Random(0)
    per = VERSIONS // MODELS
    versions = [
        (f"model{m}", v, f"2026-01-01T00:{v // 60 % 60:02d}:{v % 60:02d}+00:00", f"models/model{m}/{v}", "sklearn",
         "0" * 64, "1" * 64, "2" * 64, "f1_macro", rng.random(), "[]")
        for m in range(MODELS) for v in range(1, per + 1)
    ]  # fmt: skip
    runs = []
    for i in range(RUNS):
        params = {"model.type": "sklearn.ensemble.RandomForestClassifier", "model.params.max_depth": rng.randint(2, 12),
                  "model.params.n_estimators": rng.choice([100, 200, 500]), "seed": 42, "data.source": "data.csv"}  # fmt: skip
        metrics = {"f1_macro": rng.random(), "accuracy": rng.random(), "roc_auc_ovr": rng.random()}
        runs.append((f"{i:012x}", f"model{i % MODELS}", "train", "succeeded", f"2026-02-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
                     json.dumps(params), json.dumps(metrics), i // MODELS + 1))  # fmt: skip
    with sqlite3.connect(root / "mlpact.db") as db:
        db.executemany(
            "INSERT INTO versions (name, version, created, path, flavor, digest, config_hash, data_fingerprint, "
            "metric_name, metric_value, trusted_types) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            versions,
        )
        db.executemany(
            "INSERT INTO runs (id, name, kind, status, started, params, metrics, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            runs,
        )
        db.executemany(
            "INSERT INTO aliases (name, alias, version, updated) VALUES (?, 'production', ?, 'x')",
            [(f"model{m}", per // 2) for m in range(MODELS)],
        )
    return root


def _get(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        assert response.status == 200
    return time.perf_counter() - start


def measure_ready(store: Path) -> tuple[list[float], list[float]]:
    def ours() -> float:
        port = _port()
        return _first_200(
            [MLPACT, "ui", "--store", str(store), "--port", str(port)], f"http://127.0.0.1:{port}/models"
        )

    def bare() -> float:
        port = _port()
        script = str(ROOT / "bench" / "baselines" / "bare_fastapi_app.py")
        return _first_200([PYTHON, script, str(port)], f"http://127.0.0.1:{port}/models")

    return alternate(ours, bare, READY_RUNS)


def measure_pages(store: Path) -> dict[str, list[float]]:
    port = _port()
    proc = subprocess.Popen([MLPACT, "ui", "--store", str(store), "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _first_200_running(base + "/health")
        for path in ("/runs", "/models"):
            _get(base + path)  # warm: first request
        runs, models, raw = [], [], []
        for _ in range(PAGE_RUNS):
            runs.append(_get(base + "/runs"))
            models.append(_get(base + "/models"))
            start = time.perf_counter()
            baseline_page(store / "mlpact.db")
            raw.append(time.perf_counter() - start)
        return {"runs": runs, "models": models, "raw": raw}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _first_200_running(url: str, timeout: float = 60) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def run() -> list[dict[str, Any]]:
    store = filled_store()
    ours, bare = measure_ready(store)
    pages = measure_pages(store)
    shutil.rmtree(store, ignore_errors=True)
    # The 1-minute load average when measured: this machine is shared, and start-up times scale with it.
    size = {
        "runs": RUNS,
        "versions": VERSIONS,
        "models": MODELS,
        "load_average": round(os.getloadavg()[0], 1),
    }
    return [
        entry("ui_ready", unit="s", value=median(ours), baseline="bare_fastapi_app", baseline_value=median(bare),
              better="lower", goal="<= 2", goal_on="value", runs=READY_RUNS, params=size,
              samples={"ours": ours, "baseline": bare}),
        entry("ui_page_1k_runs", unit="s", value=median(pages["runs"]), baseline="sqlite_query_and_html",
              baseline_value=median(pages["raw"]), better="lower", goal="<= 0.2", goal_on="value", runs=PAGE_RUNS,
              params={**size, "page": "/runs (100 of 1,000 shown)",
                      "models_page_s": round(median(pages["models"]), 4)}),
    ]  # fmt: skip
