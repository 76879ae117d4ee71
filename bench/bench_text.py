"""Saving a text pipeline, and what a normal `mlpact train` costs beside a hand-written script.

`save_text_pipeline`: a fitted pipeline with two text columns of a 20,000-term TF-IDF vocabulary
each, saved and loaded by mlpact (skops, vocabularies as one string each) beside joblib, in the
same process, alternating. Goal (the issue's): save <= 0.5 s and load <= 0.5 s.

`train_overhead_text` / `train_overhead_table`: `mlpact train CONFIG` (defaults: leakage checks,
baseline, permutation importance, plots, profile, report, card, golden rows, lock) as a whole
fresh process beside bench/baselines/hand_train.py (cross-validate, fit, score the test split,
save with skops) on the same generated data, alternating. Goal: <= 1.3x.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

import numpy as np
import pandas as pd

from common import MLPACT, PYTHON, ROOT, WORK, alternate, entry, median, run_timed

RUNS = 5
TRAIN_RUNS = 3  # whole trainings take a minute or more each on 2 shared cores
TERMS = 20_000


# --------------------------------------------------------------------------- data
def text_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """Titles and bodies of pseudo-words (Zipf-distributed), four topics that shift the word odds."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i:05d}" for i in range(60_000)])
    base = 1.0 / np.arange(1, len(words) + 1) ** 0.9
    topics = [np.roll(base, 150 * k) for k in range(4)]
    target = rng.integers(0, 4, rows)
    probs = [t / t.sum() for t in topics]
    title = [" ".join(rng.choice(words, 8, p=probs[t])) for t in target]
    body = [" ".join(rng.choice(words, 40, p=probs[t])) for t in target]
    return pd.DataFrame({"title": title, "body": body, "target": [f"topic{t}" for t in target]})


def plain_table(rows: int, seed: int = 0) -> pd.DataFrame:
    from fixtures import table

    return table(rows, seed)


# --------------------------------------------------------------------------- save / load
def _text_pipeline() -> tuple[Any, pd.DataFrame]:
    from mlpact.config import load_config
    from mlpact.learn.pipeline import build_pipeline
    from mlpact.learn.prepare import prepare

    frame = text_table(6000)
    path = WORK / "text_save.csv"
    frame.to_csv(path, index=False)
    cfg = load_config({
        "name": "text", "data": {"source": str(path)},
        "features": {"text": {"combine": False, "max_features": TERMS}},
        "model": {"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 300}},
    })  # fmt: skip
    data = prepare(cfg)
    pipeline = build_pipeline(cfg, data.plan).fit(data.X, data.y)
    sizes = [len(v.vocabulary_) for _, v, _ in pipeline.named_steps["preprocess"].transformers_[:2]]
    assert sizes == [TERMS, TERMS], sizes
    return pipeline, data.X


def save_text_pipeline() -> list[dict[str, Any]]:
    import joblib

    from mlpact.version import bundle

    pipeline, X = _text_pipeline()
    folder = WORK / "text_save"

    def ours_save() -> float:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        start = time.perf_counter()
        bundle.dump_pipeline(pipeline, folder)
        return time.perf_counter() - start

    def joblib_save() -> float:
        start = time.perf_counter()
        joblib.dump(pipeline, WORK / "text.joblib")
        return time.perf_counter() - start

    saves = alternate(ours_save, joblib_save, RUNS)
    bundle.dump_pipeline(pipeline, folder)  # scikit-learn's text classes are on the allowlist

    def ours_load() -> float:
        start = time.perf_counter()
        bundle.load_pipeline(folder)
        return time.perf_counter() - start

    def joblib_load() -> float:
        start = time.perf_counter()
        joblib.load(WORK / "text.joblib")
        return time.perf_counter() - start

    loads = alternate(ours_load, joblib_load, RUNS)
    loaded = bundle.load_pipeline(folder)
    assert (loaded.predict(X.head(200)) == pipeline.predict(X.head(200))).all()
    size = (folder / bundle.PIPELINE).stat().st_size / 2**20
    params = {"terms": 2 * TERMS, "text_columns": 2, "file_mib": round(size, 2)}
    return [
        entry("save_text_pipeline", unit="s", value=median(saves[0]), baseline="joblib_dump",
              baseline_value=median(saves[1]), better="lower", goal="<= 0.5", goal_on="value", runs=RUNS,
              params=params, samples={"ours": saves[0], "baseline": saves[1]}),
        entry("load_text_pipeline", unit="s", value=median(loads[0]), baseline="joblib_load",
              baseline_value=median(loads[1]), better="lower", goal="<= 0.5", goal_on="value", runs=RUNS,
              params=params, samples={"ours": loads[0], "baseline": loads[1]}),
    ]  # fmt: skip


# --------------------------------------------------------------------------- whole trainings
def _config(kind: str, data: str) -> str:
    import yaml

    if kind == "text":
        features = {"text": {"ngram_max": 2, "sublinear_tf": True, "max_features": TERMS}}
        model = {"type": "sklearn.linear_model.LogisticRegression", "params": {"C": 10, "max_iter": 2000}}
    else:
        features = {}
        model = {"type": "sklearn.ensemble.HistGradientBoostingClassifier"}
    cfg = {"name": f"overhead-{kind}", "data": {"source": data, "target": "target"}, "features": features,
           "model": model, "evaluate": {"cv_folds": 5, "primary": "f1_macro"}}  # fmt: skip
    path = WORK / f"overhead_{kind}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def train_overhead(kind: str, rows: int) -> dict[str, Any]:
    frame = text_table(rows) if kind == "text" else plain_table(rows)
    data = WORK / f"overhead_{kind}.csv"
    frame.to_csv(data, index=False)
    config, store = _config(kind, str(data)), WORK / f"overhead_store_{kind}"
    shutil.rmtree(store, ignore_errors=True)
    hand = [
        PYTHON,
        str(ROOT / "bench" / "baselines" / "hand_train.py"),
        str(data),
        kind,
        str(WORK / "hand.skops"),
    ]
    ours, base = alternate(
        lambda: run_timed([MLPACT, "train", config, "--store", str(store)]),
        lambda: run_timed(hand),
        TRAIN_RUNS,
    )
    return entry(f"train_overhead_{kind}", unit="s", value=median(ours), baseline="hand_train_skops",
                 baseline_value=median(base), better="lower", goal="<= 1.3", runs=TRAIN_RUNS,
                 params={"rows": rows, "cv_folds": 5}, samples={"ours": ours, "baseline": base})  # fmt: skip


def run() -> list[dict[str, Any]]:
    WORK.mkdir(parents=True, exist_ok=True)
    return [*save_text_pipeline(), train_overhead("text", 4000), train_overhead("table", 5000)]
