"""What `mlpact reproduce` adds for PyTorch versions: the weights compared bit for bit.

The guarantee (docs/torch.md): training the same config on the same data gives bit-identical
weights when it runs on the CPU with the same number of threads, the same torch version and the
same CPU capability (the vector instructions torch's kernels use, e.g. AVX2 or AVX512). Anything
else (a GPU, another thread count, another torch) changes floating-point sums: then only the
prediction agreement and the metric tolerance judge the reproduction.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mlpact.torch.saving import WEIGHTS


def recorded_threads(lineage: Mapping[str, Any]) -> int | None:
    """The CPU thread count a version recorded training with (None when it did not)."""
    training = lineage.get("training") or {}
    threads = training.get("threads")
    return int(threads) if isinstance(threads, int) and threads > 0 else None


def exactness(was: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Why two trainings may differ in their last bits (empty: they should be bit-identical)."""
    a, b = was.get("training") or {}, now.get("training") or {}
    why = []
    for side, facts in (("then", a), ("now", b)):
        if facts.get("device") != "cpu":
            why.append(f"trained on {facts.get('device') or 'an unrecorded device'} {side} (not the CPU)")
        if facts.get("engine", "local") != "local":
            why.append(f"trained on {facts.get('engine')} {side} (data-parallel workers)")
    for key, what in (("threads", "CPU threads"), ("cpu_capability", "CPU capability")):
        if a.get(key) != b.get(key):
            why.append(f"{what}: {a.get(key)} then, {b.get(key)} now")
    torch_then = ((was.get("environment") or {}).get("packages") or {}).get("torch")
    torch_now = ((now.get("environment") or {}).get("packages") or {}).get("torch")
    if torch_then != torch_now:
        why.append(f"torch {torch_then} then, {torch_now} now")
    return sorted(set(why))


def compare_weights(
    old: Path, new: Path, *, was: Mapping[str, Any], now: Mapping[str, Any]
) -> dict[str, Any]:
    """Whether two versions' weights are bit-identical, whether they should be, and by how much
    they differ (the largest absolute difference of any value)."""
    from safetensors.numpy import load_file

    a, b = load_file(str(old / WEIGHTS)), load_file(str(new / WEIGHTS))
    same_keys = a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)
    identical = same_keys and all(np.array_equal(a[k], b[k]) for k in a)
    largest = (
        max((float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in a if a[k].size), default=0.0)
        if same_keys
        else None
    )
    why = exactness(was, now)
    return {
        "identical": identical,
        "expected_identical": not why,
        "max_difference": largest,
        "why_not_exact": why,
    }
