"""Tuning throughput: trials per minute with `--jobs 2` vs `--jobs 1` on the same study.

Each measurement is a fresh `mlpact tune` process adding TRIALS trials to one shared study
(alternating 1 and 2 jobs); its rate is the trials it added divided by the time from its first
trial's start to its last trial's end, read from the study storage (so worker start-up counts,
interpreter start-up and data loading do not). Goal from issue 6: at least 1.6x on 2 cores.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from common import MLPACT, WORK, alternate, entry, median, run_timed

TRIALS = 16
RUNS = 3
CONFIG = {
    "name": "bench-tune",
    "data": {"source": "sklearn:digits"},
    "model": {"type": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 40}},
    "tune": {
        "space": {
            "model.params.max_depth": {"type": "int", "low": 4, "high": 16},
            "model.params.max_features": {"type": "float", "low": 0.1, "high": 0.5},
        },
        "cv_folds": 3,
        "sampler": "random",
        "pruner": "none",
    },
}


def _rate(store: Path, jobs: int) -> float:
    """Trials per minute of one fresh `mlpact tune` process adding TRIALS trials."""
    before = len(_trials(store))
    cmd = [MLPACT, "tune", str(WORK / "tune.yaml"), "--trials", str(TRIALS), "--jobs", str(jobs)]
    run_timed([*cmd, "--store", str(store), "--json"])
    mine = _trials(store)[before:]  # two processes may add one more trial than asked
    start = min(t.datetime_start for t in mine)
    end = max(t.datetime_complete for t in mine)
    return len(mine) * 60 / (end - start).total_seconds()


def _trials(store: Path) -> list[Any]:
    import optuna

    folders = list((store / "tuning").glob("*/study.db"))
    if not folders:
        return []
    study = optuna.load_study(study_name=folders[0].parent.name, storage=f"sqlite:///{folders[0]}")
    return list(study.trials)


def run() -> list[dict[str, Any]]:
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "tune.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    store = WORK / "tune-store"
    shutil.rmtree(store, ignore_errors=True)
    two, one = alternate(lambda: _rate(store, 2), lambda: _rate(store, 1), RUNS)
    return [
        entry(
            "tune_trials_per_min_jobs2",
            unit="trials/min",
            value=median(two),
            baseline="mlpact_tune_jobs1",
            baseline_value=median(one),
            better="higher",
            goal=">= 1.6",
            runs=RUNS,
            params={
                "trials": TRIALS,
                "data": "sklearn:digits",
                "model": "RandomForestClassifier(40)",
                "cv_folds": 3,
            },
            samples={"jobs2": two, "jobs1": one},
        )
    ]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
