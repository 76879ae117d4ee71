"""`mlpact check` verdicts measured: false alarms on unchanged data, power on shifted data.

- `check_false_alarm`: the share of `retrain` over simulated no-drift batches of 50..2000 rows
  on three datasets that ship with scikit-learn (breast_cancer: 30 columns; wine: 13 columns,
  a 142-row training split; diabetes: 10 columns, a regression), two ways:
  1. `version`: the issue's measurement. One version per dataset (`mlpact.train`), checked with
     `mlpact.check.check_data` against labelled batches drawn with replacement from the whole
     dataset (drift of every column and of the predictions, and the performance test).
  2. `fresh`: what the tests promise. For every batch a new training sample and an independent
     batch are drawn (with replacement) from the dataset, a model is fitted on the sample and its
     reference statistics built; the batch is then judged by the same tests and rule.
  The value is the larger of the two shares; the goal is at most 1% (`check.p_value`).
- `check_power`: one numeric feature (each in turn) of an unlabelled 200-row batch shifted by
  half its standard deviation, or multiplied by 1.5 (the issue's shifts), checked against the
  version: the share caught (`retrain`). The value is the smallest share over datasets and
  shifts; the goal is at least 95%. A change of spread (x1.5 about the mean) is measured too, and
  what the batches not caught were told (inconclusive, or reload: the wrong answer).

Baseline (both): the rule `check` used before issue 21 (bench/baselines/old_check_rule.py: PSI
>= 0.2 or p < 0.001 per column, no correction, a point drop of 5%), on the same batches in the
same run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common import WORK, entry

sys.path.insert(0, str(Path(__file__).resolve().parent / "baselines"))

from old_check_rule import old_verdict

DATASETS = ("breast_cancer", "wine", "diabetes")
SIZES = (50, 100, 200, 500, 1000, 2000)
REPEATS = 40  # per dataset and size: 720 checks of a version
FRESH_REPEATS = 20  # per dataset and size: 360 fresh draws
POWER_REPEATS = 100  # per dataset and shift: 900 checks
POWER_ROWS = 200
SHIFTS: dict[str, Callable[[np.ndarray, float, float], np.ndarray]] = {
    "shift_0.5sd": lambda x, mean, sd: x + 0.5 * sd,
    "times_1.5": lambda x, mean, sd: x * 1.5,
    "spread_1.5": lambda x, mean, sd: (x - mean) * 1.5 + mean,
}
GOAL_SHIFTS = ("shift_0.5sd", "times_1.5")


def _config(dataset: str) -> dict[str, Any]:
    regression = dataset == "diabetes"
    model = "sklearn.linear_model.Ridge" if regression else "sklearn.linear_model.LogisticRegression"
    return {
        "name": f"check-{dataset.replace('_', '-')}",
        "data": {"source": f"sklearn:{dataset}"},
        "model": {"type": model, "params": {} if regression else {"max_iter": 5000}},
        "evaluate": {"cv_folds": 0, "plots": False, "leakage": False, "importance_repeats": 0},
        "record": {"profile": False, "lock": False},
    }


def _versions(store: Path) -> dict[str, Any]:
    import mlpact

    return {d: mlpact.load(mlpact.train(_config(d), store=store).ref, store=store) for d in DATASETS}


def _both(model: Any, batch: pd.DataFrame) -> tuple[str, str]:
    """The new verdict (`check_data`) and the old rule's, on one batch."""
    from mlpact.check import check_data
    from mlpact.evaluate import predictions

    result = check_data(model, batch)
    X, _ = model.check(batch, ignore=["target"])
    found = predictions(model.pipeline, X, None, decision=model.decision)
    reference = _reference(model)
    old = old_verdict(reference, X, found.pred, result.performance)
    return result.verdict, old


def _reference(model: Any) -> dict[str, Any]:
    from mlpact import bundle

    if not hasattr(model, "_bench_reference"):
        model._bench_reference = bundle.read_json(model.path, "reference.json")
    return model._bench_reference  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- false alarms
def _false_alarms(
    versions: dict[str, Any],
) -> tuple[dict[str, dict[int, list[str]]], dict[str, dict[int, list[str]]]]:
    from mlpact.data import load_sklearn_dataset

    ours: dict[str, dict[int, list[str]]] = {}
    old: dict[str, dict[int, list[str]]] = {}
    for d, model in versions.items():
        frame = load_sklearn_dataset(d)
        rng = np.random.default_rng(21)
        ours[d], old[d] = {}, {}
        for size in SIZES:
            pairs = [_both(model, frame.iloc[rng.integers(0, len(frame), size)]) for _ in range(REPEATS)]
            ours[d][size], old[d][size] = [p[0] for p in pairs], [p[1] for p in pairs]
        print(f"  version {d}: retrain {_share(ours[d]):.2%} (old rule {_share(old[d]):.2%})", flush=True)
    return ours, old


def _fresh(dataset: str) -> dict[int, list[str]]:
    """A new training sample, model and reference for every batch; the same tests and rule."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlpact.data import load_sklearn_dataset
    from mlpact.reference import compare, summarise_numbers, summarise_predictions
    from mlpact.verdict import Hypothesis, decide, rows_needed

    frame = load_sklearn_dataset(dataset)
    X, y = frame.drop(columns="target"), frame["target"]
    task = "regression" if dataset == "diabetes" else "classification"
    rng = np.random.default_rng(22)
    n_train, k = int(0.8 * len(frame)), X.shape[1] + 1
    level = 0.01 / k
    out: dict[int, list[str]] = {}
    for size in SIZES:
        verdicts = []
        for _ in range(FRESH_REPEATS):
            train, batch = rng.integers(0, len(frame), n_train), rng.integers(0, len(frame), size)
            estimator = Ridge() if task == "regression" else LogisticRegression(max_iter=5000)
            model = make_pipeline(StandardScaler(), estimator).fit(X.iloc[train], y.iloc[train])
            refs = {c: summarise_numbers(X.iloc[train][c], bins=10) for c in X.columns}
            refs["prediction"] = summarise_predictions(model.predict(X.iloc[train]), task, bins=10)
            values = {c: X.iloc[batch][c] for c in X.columns}
            values["prediction"] = pd.Series(model.predict(X.iloc[batch]))
            tests = [compare(c, refs[c], values[c], level=level) for c in refs]
            hypotheses = [Hypothesis(t.column, t.p_value, material=t.psi >= 0.1) for t in tests]
            needed = rows_needed(reference_rows=n_train, level=level / 2, shift=0.5, power=0.8)
            verdicts.append(
                decide(hypotheses, alpha=0.01, rows=size, min_rows=50, rows_needed=needed).verdict
            )
        out[size] = verdicts
    print(f"  fresh {dataset}: retrain {_share(out):.2%}", flush=True)
    return out


def _share(by_size: dict[int, list[str]]) -> float:
    verdicts = [v for vs in by_size.values() for v in vs]
    return sum(v == "retrain" for v in verdicts) / len(verdicts)


# --------------------------------------------------------------------------- power
def _power(
    versions: dict[str, Any],
) -> tuple[dict[str, dict[str, dict[str, int]]], dict[str, dict[str, float]]]:
    """Per dataset and shift: how many batches got each verdict (ours), and the old rule's share caught."""
    from mlpact.data import load_sklearn_dataset

    ours: dict[str, dict[str, dict[str, int]]] = {}
    old: dict[str, dict[str, float]] = {}
    for d, model in versions.items():
        frame = load_sklearn_dataset(d).drop(columns="target")
        numeric = [c for c in frame.columns if frame[c].std() > 0]
        rng = np.random.default_rng(23)
        ours[d], old[d] = {}, {}
        for name, change in SHIFTS.items():
            verdicts = []
            for rep in range(POWER_REPEATS):
                batch = frame.iloc[rng.integers(0, len(frame), POWER_ROWS)].copy()
                column = numeric[rep % len(numeric)]
                batch[column] = change(batch[column].to_numpy(), frame[column].mean(), frame[column].std())
                verdicts.append(_both(model, batch))
            ours[d][name] = {
                v: sum(c[0] == v for c in verdicts) for v in ("retrain", "inconclusive", "reload")
            }
            old[d][name] = sum(c[1] == "retrain" for c in verdicts) / len(verdicts)
        print(f"  power {d}: {ours[d]} (old rule caught {old[d]})", flush=True)
    return ours, old


# --------------------------------------------------------------------------- entries
def run() -> list[dict[str, Any]]:
    import shutil

    WORK.mkdir(parents=True, exist_ok=True)
    store = WORK / "check-store"
    shutil.rmtree(store, ignore_errors=True)
    start = time.perf_counter()
    versions = _versions(store)
    ours, old = _false_alarms(versions)
    fresh = {d: _fresh(d) for d in DATASETS}
    power, old_power = _power(versions)
    print(f"  ({time.perf_counter() - start:.0f}s of checks)", flush=True)
    version_share = float(np.mean([v == "retrain" for d in ours for vs in ours[d].values() for v in vs]))
    fresh_share = float(np.mean([v == "retrain" for d in fresh for vs in fresh[d].values() for v in vs]))
    old_share = float(np.mean([v == "retrain" for d in old for vs in old[d].values() for v in vs]))
    checks = sum(len(vs) for d in ours for vs in ours[d].values())
    fresh_checks = sum(len(vs) for d in fresh for vs in fresh[d].values())
    per_size = {
        d: {str(s): {"retrain": _count(ours[d][s]), "inconclusive": _count(ours[d][s], "inconclusive"),
                     "old_rule_retrain": _count(old[d][s]), "fresh_retrain": _count(fresh[d][s]),
                     "checks": len(ours[d][s]), "fresh_checks": len(fresh[d][s])}
            for s in SIZES}
        for d in DATASETS
    }  # fmt: skip
    caught = {d: {s: power[d][s]["retrain"] / POWER_REPEATS for s in SHIFTS} for d in DATASETS}
    goal = [caught[d][s] for d in DATASETS for s in GOAL_SHIFTS]
    old_goal = [old_power[d][s] for d in DATASETS for s in GOAL_SHIFTS]
    return [
        entry(
            "check_false_alarm", unit="share", value=max(version_share, fresh_share),
            baseline="old_psi_rule_same_batches", baseline_value=old_share, better="lower", goal="<= 0.01",
            goal_on="value", runs=checks + fresh_checks,
            params={"datasets": list(DATASETS), "sizes": list(SIZES), "version_share": version_share,
                    "version_checks": checks, "fresh_share": fresh_share, "fresh_checks": fresh_checks,
                    "old_rule_share": old_share, "per_dataset_and_size": per_size},
        ),
        entry(
            "check_power", unit="share", value=min(goal), baseline="old_psi_rule_same_batches",
            baseline_value=min(old_goal), better="higher", goal=">= 0.95", goal_on="value",
            runs=POWER_REPEATS * len(SHIFTS) * len(DATASETS),
            params={"rows": POWER_ROWS, "repeats": POWER_REPEATS, "goal_shifts": list(GOAL_SHIFTS),
                    "caught": caught, "verdicts": power, "old_rule_caught": old_power},
        ),
    ]  # fmt: skip


def _count(verdicts: list[str], what: str = "retrain") -> int:
    return sum(v == what for v in verdicts)


if __name__ == "__main__":
    run()
