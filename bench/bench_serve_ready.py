"""Ready time: seconds from starting `mlpact serve` until `/health` first answers 200.

`mlpact serve` answers nothing before it has loaded the version (store lookup, sha256 of every
file, the trust check, skops) and re-predicted its golden rows, so the first 200 on `/health`
includes all of that. The baseline is the hand-written FastAPI app that `joblib.load`s the same
pipeline (bench/baselines/fastapi_joblib_app.py), started the same way and polled the same way.
Fresh processes, alternated, READY_RUNS each, medians; the load average is recorded because
the machine is shared.

Entry: `serve_ready` (goal: at most 1.2x the hand app; the 2 s goal is in the params, since an
absolute time on a shared 2-core machine says more about the machine than about the server).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from typing import Any

from common import MLPACT, PYTHON, ROOT, alternate, entry, median
from fixtures import trained_model

READY_RUNS = 7
POLL_S = 0.01


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def first_200(cmd: list[str], url: str, timeout: float = 120) -> float:
    """Seconds from starting `cmd` until `url` answers 200; the process is then stopped."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while time.perf_counter() - start < timeout:
            if proc.poll() is not None:
                err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                raise RuntimeError(f"{' '.join(cmd)} exited ({proc.returncode}):\n{err}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(POLL_S)
        raise RuntimeError(f"{' '.join(cmd)} did not answer {url} within {timeout} s")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def measure(info: dict[str, Any]) -> tuple[list[float], list[float]]:
    def ours() -> float:
        port = _port()
        cmd = [MLPACT, "serve", info["ref"], "--store", info["store"], "--port", str(port)]
        return first_200([*cmd, "--log-level", "warning"], f"http://127.0.0.1:{port}/health")

    def hand() -> float:
        port = _port()
        script = str(ROOT / "bench" / "baselines" / "fastapi_joblib_app.py")
        return first_200([PYTHON, script, info["joblib"], str(port)], f"http://127.0.0.1:{port}/health")

    ours()  # warm the file cache for both (the first start reads every module from disk)
    hand()
    return alternate(ours, hand, READY_RUNS)


def run() -> list[dict[str, Any]]:
    info = trained_model()
    load = [round(os.getloadavg()[0], 2)]
    ours, hand = measure(info)
    load.append(round(os.getloadavg()[0], 2))
    params = {
        "model": "LogisticRegression, 8 numeric + 2 categorical columns",
        "ready_url": "/health",
        "golden_rows_checked": True,
        "absolute_goal_s": 2.0,
        "absolute_goal_met": median(ours) <= 2.0,
        "load_average_1min": load,
    }
    return [
        entry("serve_ready", unit="s", value=median(ours), baseline="fastapi_joblib_app",
              baseline_value=median(hand), better="lower", goal="<= 1.2", runs=READY_RUNS, params=params,
              samples={"ours": ours, "fastapi_joblib": hand}),
    ]  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
