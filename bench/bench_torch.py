"""PyTorch: TinyVGG training and inference images/s through mlpact vs a plain going-modular script.

Same generated image folders (3 classes of coloured shapes, 64x64 after resize), same model,
batch size, learning rate and epochs; each side runs in a fresh process and times its loops only.
A second entry shows what `train.cache_images: true` (decode + resize once) buys.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import PYTHON, ROOT, WORK, alternate, entry, median

RUNS = 3
INFER_PASSES = 5  # inference: the fastest of this many passes over the test images, on both sides
PARAMS = {
    "images_per_class": 100,
    "test_per_class": 30,
    "size": 80,
    "epochs": 2,
    "batch_size": 32,
    "hidden_units": 10,
}


def make_images(root: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests" / "torch"))
    from test_images import make_shapes

    if not (root / "test").exists():
        make_shapes(
            root,
            per_class=PARAMS["images_per_class"],
            test_per_class=PARAMS["test_per_class"],
            size=PARAMS["size"],
        )
    return root


def ours(data: Path, cache: bool) -> dict[str, float]:
    """Train with mlpact (in this fresh process) and time inference on the test images."""
    from mlpact import load, train
    from mlpact.torch.images import image_files

    cfg = {
        "name": "bench-tinyvgg",
        "data": {"source": str(data)},
        "model": {"type": "mlpact.torch.models:TinyVGG", "params": {"hidden_units": PARAMS["hidden_units"]}},
        "train": {"epochs": PARAMS["epochs"], "batch_size": PARAMS["batch_size"], "lr": 0.001, "val_size": 0,
                  "cache_images": cache, "transforms": [{"type": "resize", "size": 64}, {"type": "to_tensor"}]},
        "evaluate": {"plots": False, "baseline": False},
    }  # fmt: skip
    store = WORK / "torch-store"
    result = train(cfg, store=store)
    model = load(result.ref, store=store)
    files = image_files(data / "test")
    infer_s = float("inf")
    for _ in range(INFER_PASSES):  # the fastest of a few passes, as the script does
        start = time.perf_counter()
        model.predict_proba(files)
        infer_s = min(infer_s, time.perf_counter() - start)
    return {"train_images_per_s": result.metrics["training"]["samples_per_s"],
            "infer_images_per_s": len(files) / infer_s}  # fmt: skip


def _side(cmd: list[str], key: str, box: list[dict[str, float]]) -> float:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    box.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return box[-1][key]


def run() -> list[dict[str, Any]]:
    data = make_images(WORK / "torch-images")
    base_cmd = [PYTHON, str(ROOT / "bench" / "baselines" / "going_modular_train.py"), str(data),
                "--batch_size", str(PARAMS["batch_size"]), "--lr", "0.001", "--num_epochs", str(PARAMS["epochs"]),
                "--hidden_units", str(PARAMS["hidden_units"])]  # fmt: skip
    results = []
    for cache in (False, True):
        ours_cmd = [PYTHON, __file__, "ours", str(data), "cache" if cache else "nocache"]
        mine: list[dict[str, float]] = []
        base: list[dict[str, float]] = []
        load = [round(os.getloadavg()[0], 2)]  # the machine is shared: how busy it was, round by round

        def baseline(b: list[dict[str, float]] = base, at: list[float] = load) -> float:
            rate = _side(base_cmd, "train_images_per_s", b)
            at.append(round(os.getloadavg()[0], 2))
            return rate

        alternate(lambda c=ours_cmd, m=mine: _side(c, "train_images_per_s", m), baseline, RUNS)  # fmt: skip
        suffix = "_cache_images" if cache else ""
        for key, name in (("train_images_per_s", "train"), ("infer_images_per_s", "infer")):
            if cache and name == "infer":
                continue
            results.append(entry(f"torch_tinyvgg_{name}{suffix}", unit="images/s",
                                 value=median([m[key] for m in mine]), baseline="going_modular_script",
                                 baseline_value=median([b[key] for b in base]), better="higher", goal=">= 1.0",
                                 runs=RUNS, params={**PARAMS, "cache_images": cache, "device": "cpu", "infer_passes": INFER_PASSES,
                                                    "load_average_1min": load},
                                 samples={"mlpact": [m[key] for m in mine],
                                          "going_modular_script": [b[key] for b in base]}))  # fmt: skip
    return results


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "ours":
        print(json.dumps(ours(Path(sys.argv[2]), sys.argv[3] == "cache")))
    else:
        print(json.dumps(run(), indent=2))
