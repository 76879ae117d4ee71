"""A real `mlpact serve` process under bounded load on 127.0.0.1: no failed request, bounded
memory growth, and its alias moved 50 times meanwhile, with answers switching versions.

Runs for 20 s by default; `MLPACT_LOAD_SECONDS=60` (set by `make fuzz`) runs longer."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import mlpact
from conftest import free_port, wait_until_answers, wine_config, write_config
from mlpact import registry

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

SECONDS = float(os.environ.get("MLPACT_LOAD_SECONDS", "20"))
MOVES = 50
CONNECTIONS = 4
MAX_GROWTH_MIB = 40


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def _load(url: str, body: list[dict[str, Any]], until: float) -> tuple[Counter[int], Counter[str], int]:
    statuses: Counter[int] = Counter()
    versions: Counter[str] = Counter()
    failures = 0

    async def worker(client: Any) -> None:
        nonlocal failures
        while time.monotonic() < until:
            try:
                response = await client.post(f"{url}/predict", json=body)
            except httpx.HTTPError:
                failures += 1
                continue
            statuses[response.status_code] += 1
            versions[response.headers.get("x-mlpact-model", "")] += 1
            assert response.json()["model"] == response.headers["x-mlpact-model"]

    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONNECTIONS)))
    return statuses, versions, failures


@pytest.mark.slow
def test_a_server_under_load_never_fails_while_its_alias_moves(tmp_path: Path) -> None:
    config = write_config(tmp_path, wine_config(evaluate={"cv_folds": 0}))
    store = tmp_path / "store"
    mlpact.train(config, store=store)
    mlpact.train(config, overrides=["model.params.C=0.01"], store=store)
    registry.promote("wine:1", "live", store=store)
    from sklearn.datasets import load_wine

    body = load_wine(as_frame=True).frame.drop(columns="target").sample(5, random_state=0).to_dict("records")
    port = free_port()
    cmd = [str(Path(sys.executable).with_name("mlpact")), "serve", "wine@live", "--port", str(port)]
    cmd += ["--poll-interval", "0.05", "--log-level", "warning", "--store", str(store)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{url}/ready", proc)
        asyncio.run(_load(url, body, time.monotonic() + 2))  # warm up before the first sample
        start_rss = _rss_mib(proc.pid)
        moves = threading.Thread(target=_move_alias, args=(store, SECONDS * 0.8))
        moves.start()
        statuses, versions, failures = asyncio.run(_load(url, body, time.monotonic() + SECONDS))
        moves.join()
        end_rss = _rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    print(f"load: {dict(statuses)} versions={dict(versions)} rss {start_rss:.0f} -> {end_rss:.0f} MiB")
    assert failures == 0 and set(statuses) == {200}, (statuses, failures)
    assert sum(statuses.values()) > 10 * SECONDS  # it really was under load
    assert set(versions) == {"wine:1", "wine:2"} and min(versions.values()) > 0, versions
    assert end_rss - start_rss < MAX_GROWTH_MIB, (start_rss, end_rss)


def _move_alias(store: Path, seconds: float) -> None:
    """Promote version 2, roll back to 1, and so on: MOVES moves spread over `seconds`."""
    for i in range(MOVES):
        if i % 2 == 0:
            registry.promote("wine:2", "live", store=store)
        else:
            registry.rollback("wine", "live", store=store)
        time.sleep(seconds / MOVES)
