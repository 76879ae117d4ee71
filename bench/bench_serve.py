"""HTTP serving: requests/s and p50/p99 latency for 1-row and 100-row requests on 127.0.0.1.

`mlpact serve` beside a hand-written FastAPI app around the same pipeline (joblib) and beside
`mlflow models serve --env-manager local` of the same fitted pipeline. One worker each, the same
load generator (fixed connections and duration), runs alternated, medians reported.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import MLPACT, PYTHON, ROOT, WORK, entry, median
from fixtures import table, trained_model
from loadgen import load

BENCH = ROOT / "bench"
RUNS = 3
SECONDS = 4.0
CONNECTIONS = 4
MLFLOW = str(Path(PYTHON).with_name("mlflow"))


def mlflow_model(info: dict[str, Any]) -> Path:
    """The same fitted pipeline saved in MLflow's format (made once)."""
    path = WORK / "mlflow_model"
    if not path.exists():
        import joblib
        import mlflow.sklearn

        # cloudpickle: the format MLflow used by default before 3.x and what most saved models use
        mlflow.sklearn.save_model(joblib.load(info["joblib"]), str(path), serialization_format="cloudpickle")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(cmd: list[str], port: int, ready: str) -> Iterator[int]:
    """Start a server process, wait until `ready` answers 200, stop it afterwards."""
    # `mlflow models serve` runs `uvicorn` from PATH: put this environment's scripts first.
    env = {**os.environ, "PATH": f"{Path(PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{' '.join(cmd)} exited:\n{proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{ready}", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd[0]} did not start in 120 s") from None
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _bodies() -> dict[int, list[dict[str, Any]]]:
    rows = json.loads(table(100, seed=7).drop(columns="target").to_json(orient="records"))
    return {1: rows[:1], 100: rows}


def measure(info: dict[str, Any]) -> list[dict[str, Any]]:
    bodies = _bodies()
    ours_cmd = [MLPACT, "serve", info["ref"], "--store", info["store"], "--log-level", "warning"]
    base_cmd = [PYTHON, str(BENCH / "baselines" / "fastapi_joblib_app.py"), info["joblib"]]
    mlflow_cmd = [
        MLFLOW,
        "models",
        "serve",
        "-m",
        str(mlflow_model(info)),
        "--env-manager",
        "local",
        "-w",
        "1",
    ]
    p1, p2, p3 = _free_port(), _free_port(), _free_port()
    with (
        server([*ours_cmd, "--port", str(p1)], p1, "/ready"),
        server([*base_cmd, str(p2)], p2, "/health"),
        server([*mlflow_cmd, "-h", "127.0.0.1", "-p", str(p3)], p3, "/health"),
    ):
        targets = {"ours": (p1, "plain"), "fastapi_joblib": (p2, "plain"), "mlflow": (p3, "mlflow")}
        samples: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for rows, records in bodies.items():
            payload = {
                "plain": json.dumps(records).encode(),
                "mlflow": json.dumps({"dataframe_records": records}).encode(),
            }
            for port, kind in targets.values():  # warm up every server on this payload
                load(
                    port,
                    "/invocations" if kind == "mlflow" else "/predict",
                    payload[kind],
                    seconds=1.0,
                    connections=CONNECTIONS,
                )
            for _ in range(RUNS):  # alternate: noise hits every server alike
                for name, (port, kind) in targets.items():
                    path = "/invocations" if kind == "mlflow" else "/predict"
                    result = load(port, path, payload[kind], seconds=SECONDS, connections=CONNECTIONS)
                    samples.setdefault((name, rows), []).append(result)
    return [e for rows in bodies for e in _entries(samples, rows)]


def _entries(samples: dict[tuple[str, int], list[dict[str, Any]]], rows: int) -> list[dict[str, Any]]:
    def med(name: str, key: str) -> float:
        return median([s[key] for s in samples[(name, rows)]])

    latency = {
        f"{n}_{k}": round(med(n, k), 2)
        for n in ("ours", "fastapi_joblib", "mlflow")
        for k in ("p50_ms", "p99_ms")
    }
    params = {"rows": rows, "connections": CONNECTIONS, "seconds": SECONDS, "workers": 1, **latency}
    out = []
    for baseline, goal in (("fastapi_joblib", ">= 0.9"), ("mlflow", ">= 2.0")):
        out.append(
            entry(
                f"serve_{rows}row_rps_vs_{baseline}",
                unit="req/s",
                value=med("ours", "rps"),
                baseline=baseline if baseline == "fastapi_joblib" else "mlflow_models_serve",
                baseline_value=med(baseline, "rps"),
                better="higher",
                goal=goal,
                runs=RUNS,
                params=params,
                samples={
                    "ours_rps": [s["rps"] for s in samples[("ours", rows)]],
                    "baseline_rps": [s["rps"] for s in samples[(baseline, rows)]],
                },
            )
        )
    print(f"  latency ms ({rows} row(s)): {latency}", flush=True)
    return out


def run() -> list[dict[str, Any]]:
    return measure(trained_model())
