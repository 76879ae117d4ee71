"""A small HTTP/1.1 load generator: fixed connections, fixed duration, 127.0.0.1 only.

Each connection sends one POST at a time over keep-alive and waits for the whole response,
so the numbers are closed-loop throughput and per-request latency.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any


async def _connection(
    port: int, request: bytes, until: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":")[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
            )
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(1)
    finally:
        writer.close()


def load(port: int, path: str, body: bytes, *, seconds: float, connections: int) -> dict[str, Any]:
    """POST `body` to 127.0.0.1:`port``path` for `seconds`; requests/s and latency percentiles (ms)."""
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors: list[int] = []

    async def main() -> float:
        start = time.perf_counter()
        until = start + seconds
        await asyncio.gather(
            *(_connection(port, request, until, latencies, errors) for _ in range(connections))
        )
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    if errors or not latencies:
        raise RuntimeError(f"{len(errors)} of {len(latencies)} requests to port {port} did not return 200")
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
        "requests": len(latencies),
    }
