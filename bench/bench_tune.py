"""Tuning throughput: trials per minute of `mlpact tune` against raw Optuna on the same search.

The search (digits, RandomForestClassifier(40), stratified 3-fold CV on the 80% training split,
random sampling of max_depth and max_features, 16 trials) runs three ways in each round, in
fresh processes, alternated: `mlpact tune --jobs 1`, `mlpact tune --jobs 2`, and the script a
user writes without mlpact (bench/baselines/optuna_cv_tune.py: Optuna's in-memory study around
`cross_val_score`, n_jobs=1). Each mlpact run starts a new study in a new store with the same
sampler seed as the baseline, so with one job both evaluate the same 16 points (two processes
sample their own points from the same space). A rate is the trials a run added divided by the
time from its first trial's start to its last trial's end, read from the study itself (so
interpreter start-up, imports and data loading do not count; worker start-up does).

Entries: `tune_jobs1` (goal >= 0.9x raw Optuna with one job), `tune_jobs2` (goal >= 1.6x raw
Optuna with one job), and `tune_trials_per_min_jobs2`, mlpact's two jobs against its own one
(goal >= 1.6x, from issue 6).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from common import MLPACT, PYTHON, ROOT, WORK, entry, median, run_timed

TRIALS = 16
RUNS = 3
SEED = 42  # mlpact's default seed: its sampler's, and the baseline's
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
PARAMS = {
    "trials": TRIALS,
    "data": "sklearn:digits",
    "model": "RandomForestClassifier(40)",
    "cv_folds": 3,
    "sampler": "random",
}


def _ours(jobs: int) -> float:
    """Trials per minute of one fresh `mlpact tune` process running TRIALS trials in a new study."""
    store = WORK / f"tune-store-{jobs}"
    shutil.rmtree(store, ignore_errors=True)
    cmd = [MLPACT, "tune", str(WORK / "tune.yaml"), "--trials", str(TRIALS), "--jobs", str(jobs)]
    run_timed([*cmd, "--store", str(store), "--json"])
    trials = _trials(store)  # two processes may add one more trial than asked
    start = min(t.datetime_start for t in trials)
    end = max(t.datetime_complete for t in trials)
    return len(trials) * 60 / (end - start).total_seconds()


def _raw() -> float:
    """Trials per minute of raw Optuna around cross_val_score, one job (the script prints it)."""
    import subprocess

    script = ROOT / "bench" / "baselines" / "optuna_cv_tune.py"
    done = subprocess.run(
        [PYTHON, str(script), str(TRIALS), "1", str(SEED)], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def _trials(store: Path) -> list[Any]:
    import optuna

    (db,) = (store / "tuning").glob("*/study.db")
    study = optuna.load_study(study_name=db.parent.name, storage=f"sqlite:///{db}")
    return list(study.trials)


def run() -> list[dict[str, Any]]:
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "tune.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    one: list[float] = []
    two: list[float] = []
    raw: list[float] = []
    load = [round(os.getloadavg()[0], 2)]  # the machine is shared: how busy it was, round by round
    for _ in range(RUNS):  # alternate: noise hits all three alike
        one.append(_ours(1))
        two.append(_ours(2))
        raw.append(_raw())
        load.append(round(os.getloadavg()[0], 2))
    samples = {"mlpact_jobs1": one, "mlpact_jobs2": two, "raw_optuna_jobs1": raw}
    common = {"unit": "trials/min", "better": "higher", "runs": RUNS, "samples": samples}
    params = {**PARAMS, "load_average_1min": load}
    return [
        entry("tune_jobs1", value=median(one), baseline="raw_optuna_cross_val_score_jobs1",
              baseline_value=median(raw), goal=">= 0.9", params={**params, "jobs": 1}, **common),
        entry("tune_jobs2", value=median(two), baseline="raw_optuna_cross_val_score_jobs1",
              baseline_value=median(raw), goal=">= 1.6", params={**params, "jobs": 2}, **common),
        entry("tune_trials_per_min_jobs2", value=median(two), baseline="mlpact_tune_jobs1",
              baseline_value=median(one), goal=">= 1.6", params={**params, "jobs": 2}, **common),
    ]  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
