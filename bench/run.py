"""Run the benchmarks and write bench/results.json (see shared BENCH.md).

usage: python bench/run.py [--only NAME]   (NAME: a module such as `predict`, or an entry name)
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, write_results, write_summary

MODULES = [
    "bench_check",
    "bench_cli",
    "bench_predict_cold",
    "bench_batch",
    "bench_ray_batch",
    "bench_registry",
    "bench_serve",
    "bench_serve_ready",
    "bench_text",
    "bench_torch",
    "bench_torch_tune",
    "bench_tune",
    "bench_ui",
    "bench_wide",
]


def main() -> None:
    parser = argparse.ArgumentParser(description="Run mlpact's benchmarks.")
    parser.add_argument("--only", help="a benchmark module (cli, predict_cold, batch, serve) to run alone")
    args = parser.parse_args()
    chosen = [m for m in MODULES if not args.only or m == f"bench_{args.only}" or m == args.only]
    if not chosen:
        raise SystemExit(f"no benchmark named {args.only!r}; choose from {[m[6:] for m in MODULES]}")
    results = []
    for name in chosen:
        start = time.perf_counter()
        print(f"{name}:", flush=True)
        results += importlib.import_module(name).run()
        print(f"  ({time.perf_counter() - start:.0f}s)", flush=True)
    out = ROOT / "bench" / "results.json"
    write_results(out, results)
    write_summary(out, ROOT / "docs" / "performance.md")
    missed = [r["name"] for r in results if not r["meets_goal"]]
    print(f"wrote {len(results)} results to {out}" + (f"; goals missed: {missed}" if missed else ""))


if __name__ == "__main__":
    main()
