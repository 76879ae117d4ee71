"""PyTorch tuning throughput: trials per minute of a small TinyVGG search through `mlpact tune` vs
the same search written by hand with Optuna around the plain going-modular loop.

Same generated image folders (3 classes of coloured shapes, 32x32), same space (lr on a log
scale, hidden_units, batch_size), same sampler (TPE, seed 0), trial count, epochs and
validation share (a fifth of train/), no pruning (each side still reports every epoch to
Optuna), each side in a fresh process; the rate is read from each study's own timestamps (first
trial's start to last trial's end), so interpreter start-up and imports do not count. Goal from
issue 24: at least 0.9x.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import PYTHON, ROOT, WORK, alternate, entry, median

RUNS = 3
PARAMS = {"images_per_class": 40, "size": 32, "trials": 6, "epochs": 2}


def make_images(root: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests" / "torch"))
    from test_images import make_shapes

    if not (root / "test").exists():
        make_shapes(root, per_class=PARAMS["images_per_class"], test_per_class=10, size=PARAMS["size"])
    return root


def ours(data: Path) -> dict[str, float]:
    """`mlpact tune` in this (fresh) process; trials per minute from its study."""
    import optuna

    from mlpact.tune import tune

    cfg = {
        "name": "bench-torch-tune",
        "data": {"source": str(data)},
        "model": {"type": "mlpact.torch.models:TinyVGG", "params": {"hidden_units": 8}},
        "train": {"epochs": PARAMS["epochs"], "batch_size": 32, "lr": 0.001, "val_size": 0.2,
                  "transforms": [{"type": "resize", "size": PARAMS["size"]}, {"type": "to_tensor"}]},
        "tune": {"trials": PARAMS["trials"], "sampler": "tpe", "pruner": "none", "seed": 0, "space": {
            "train.lr": {"type": "float", "low": 0.0005, "high": 0.01, "log": True},
            "model.params.hidden_units": {"type": "int", "low": 4, "high": 12},
            "train.batch_size": {"type": "categorical", "choices": [16, 32]},
        }},
    }  # fmt: skip
    store = WORK / "torch-tune-store"
    shutil.rmtree(store, ignore_errors=True)
    result = tune(cfg, store=store, plots=False)
    study = optuna.load_study(study_name=result.study, storage=f"sqlite:///{result.folder / 'study.db'}")
    start = min(t.datetime_start for t in study.trials)
    end = max(t.datetime_complete for t in study.trials)
    return {"trials_per_min": len(study.trials) * 60 / (end - start).total_seconds()}


def _side(cmd: list[str], box: list[float]) -> float:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    box.append(json.loads(done.stdout.strip().splitlines()[-1])["trials_per_min"])
    return box[-1]


def run() -> list[dict[str, Any]]:
    data = make_images(WORK / "torch-tune-images")
    ours_cmd = [PYTHON, __file__, "ours", str(data)]
    base_cmd = [PYTHON, str(ROOT / "bench" / "baselines" / "optuna_tinyvgg.py"), str(data),
                "--trials", str(PARAMS["trials"]), "--epochs", str(PARAMS["epochs"]), "--seed", "0"]  # fmt: skip
    mine: list[float] = []
    base: list[float] = []
    load = [round(os.getloadavg()[0], 2)]  # the machine is shared: how busy it was, round by round

    def baseline() -> float:
        rate = _side(base_cmd, base)
        load.append(round(os.getloadavg()[0], 2))
        return rate

    alternate(lambda: _side(ours_cmd, mine), baseline, RUNS)
    return [
        entry(
            "torch_tune_trials_per_min",
            unit="trials/min",
            value=median(mine),
            baseline="optuna_around_going_modular_loop",
            baseline_value=median(base),
            better="higher",
            goal=">= 0.9",
            runs=RUNS,
            params={
                **PARAMS,
                "model": "TinyVGG",
                "sampler": "tpe",
                "pruner": "none",
                "device": "cpu",
                "load_average_1min": load,
            },
            samples={"mlpact": mine, "optuna_script": base},
        )
    ]


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "ours":
        print(json.dumps(ours(Path(sys.argv[2]))))
    else:
        print(json.dumps(run(), indent=2))
