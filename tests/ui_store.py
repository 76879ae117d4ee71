"""A store made the way users make one, for the UI tests: `train`, `tune`, `evaluate`, `check`,
`reproduce` and `mlpact.save`; scikit-learn classifiers and regressors and a small PyTorch MLP;
aliases promoted, moved and rolled back. Built once per test session (shared across xdist
workers through a lock file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# Text that must render as text: in a model description and in a config value.
SCRIPT = "<script>window.__pwned = 1</script>"


def build(root: Path, data: Path) -> dict[str, Any]:
    """Fill the store at `root` (data files go to `data`); returns the refs and run ids made."""
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression

    import mlpact
    from mlpact import registry
    from mlpact.check import check_data
    from mlpact.evaluate import evaluate_version
    from mlpact.reproduce import reproduce
    from mlpact.tune import tune

    wine = {
        "name": "wine",
        "description": f"Wine cultivars {SCRIPT}",
        "data": {"source": "sklearn:wine", "target": "target"},
        "model": {"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 500, "C": 1.0}},
        "evaluate": {"cv_folds": 2, "importance_repeats": 0},
        "tracking": {"tags": {"note": SCRIPT}},
    }
    first = mlpact.train(wine, store=root)  # the one with CV, plots and a data profile
    wine = {
        **wine,
        "evaluate": {"cv_folds": 0, "importance_repeats": 0, "plots": False},
        "record": {"profile": False},
    }
    second = mlpact.train(
        {**wine, "model": {**wine["model"], "params": {"max_iter": 500, "C": 0.05}}}, store=root
    )
    tuning = {**wine, "tune": {"space": {"model.params.C": {"type": "float", "low": 0.01, "high": 10, "log": True}},
                               "trials": 3, "cv_folds": 2}}  # fmt: skip
    tuned = tune(tuning, store=root, train_best=True, plots=False)
    frame = load_wine(as_frame=True).frame
    labelled = data / "wine_new.csv"
    frame.sample(60, random_state=1).to_csv(labelled, index=False)
    evaluate_version(first.ref, labelled, store=root, plots=False)
    check_data(first.ref, labelled, store=root)
    reproduced = reproduce(first.ref, store=root)
    diabetes = {
        "name": "diabetes",
        "data": {"source": "sklearn:diabetes", "target": "target"},
        "model": {"type": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}},
        "evaluate": {"cv_folds": 0, "importance_repeats": 0, "plots": False},
        "record": {"profile": False},
    }
    reg1 = mlpact.train(diabetes, store=root)
    reg2 = mlpact.train({**diabetes, "model": {**diabetes["model"], "params": {"alpha": 10.0}}}, store=root)
    shuffled = frame.sample(frac=1.0, random_state=0)
    train, test = shuffled.iloc[:140], shuffled.iloc[140:]
    fitted = LogisticRegression(max_iter=5000).fit(train.drop(columns="target"), train["target"])
    external = mlpact.save(fitted, "wine-own", train_data=train, test_data=test, target="target", store=root)
    torch = mlpact.train(
        {"name": "iris-mlp", "data": {"source": "sklearn:iris"},
         "model": {"type": "mlpact.torch.models:MLP", "params": {"hidden_units": 8}},
         "train": {"epochs": 3, "batch_size": 16, "lr": 0.01}, "evaluate": {"plots": False},
         "record": {"profile": False}},
        store=root,
    )  # fmt: skip
    registry.promote(first.ref, "production", reason="first good one", store=root)
    registry.promote(second.ref, "production", reason="try the regularised one", store=root)
    registry.rollback("wine", "production", reason="regularised one is worse", store=root)
    registry.promote(second.ref, "staging", reason="keep an eye on it", store=root)
    return {
        "wine1": first.ref, "wine2": second.ref, "tuned": tuned.trained.ref if tuned.trained else None,
        "study": tuned.study, "reproduced": reproduced.new_ref, "reg1": reg1.ref, "reg2": reg2.ref,
        "external": external.ref, "torch": torch.ref,
        "runs": {"train1": first.run_id, "train2": second.run_id},
    }  # fmt: skip


def copy_store(source: Path, target: Path) -> Path:
    """A copy of a store that other processes may be reading: files as they are, the index
    through SQLite's backup API (a reader's closing connection removes its -wal and -shm files,
    which a plain copy may then miss)."""
    import shutil
    import sqlite3

    skip = shutil.ignore_patterns("mlpact.db", "mlpact.db-wal", "mlpact.db-shm", "*.db-journal")
    shutil.copytree(source, target, ignore=skip)
    src, dst = sqlite3.connect(source / "mlpact.db"), sqlite3.connect(target / "mlpact.db")
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return target


def shared_store(factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The store, built by the first worker that asks; the others wait for it."""
    import os

    from filelock import FileLock

    base = factory.getbasetemp()
    if os.environ.get("MLPACT_UI_STORE_CACHE"):  # developing: keep one store across sessions
        base = Path(os.environ["MLPACT_UI_STORE_CACHE"])
        base.mkdir(parents=True, exist_ok=True)
    elif os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by every xdist worker of this session
    root, info_file = base / "ui-store", base / "ui-store.json"
    with FileLock(str(base / "ui-store.lock")):
        if not info_file.exists():
            data = base / "ui-data"
            data.mkdir(exist_ok=True)
            info = build(root, data)
            info_file.write_text(json.dumps(info))
    return root, json.loads(info_file.read_text())
