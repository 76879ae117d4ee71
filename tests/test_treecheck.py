"""Tree structures are checked before first use: crafted child/feature indices, value shapes and
stage grids are refused instead of crashing the process in predict, serve, verify and import.

The end-to-end cases run the CLI in a subprocess: a regression there is a failing test (a
negative return code: the signal), not a dead pytest worker.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlpact
from mlpact import bundle, treecheck
from mlpact.errors import IntegrityError


# --------------------------------------------------------------------------- crafting
def _retree(holder: Any, edit: Callable[[dict[str, Any]], None]) -> None:
    """Give a fitted tree estimator a Tree rebuilt from its own state after `edit` (what a
    crafted file makes skops build)."""
    from sklearn.tree._tree import Tree

    tree = holder.tree_
    state = tree.__getstate__()
    state["nodes"] = state["nodes"].copy()
    edit(state)
    new = Tree(tree.n_features, np.asarray(tree.n_classes, dtype=np.intp), tree.n_outputs)
    new.__setstate__(state)
    holder.tree_ = new


def _internal(state: dict[str, Any], at: int = 0) -> int:
    """The index of an internal node (from `at` on)."""
    return int(np.flatnonzero(state["nodes"]["left_child"][at:] != -1)[0]) + at


def _set(field: str, value: int, node: str = "root") -> Callable[[dict[str, Any]], None]:
    def edit(state: dict[str, Any]) -> None:
        i = 0 if node == "root" else _internal(state, 1)
        state["nodes"][field][i] = value

    return edit


def _data() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    return X, y


def _forest() -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=5, random_state=0).fit(*_data())


def _tree() -> Any:
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(random_state=0).fit(*_data())


def _boosting(classes: int = 2) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = _data()
    return GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, y if classes == 3 else y == 1)


def _hist(categorical: bool = False) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = _data()
    if categorical:
        X = np.column_stack([X, np.arange(len(X)) % 4])
    features = [False] * 4 + [True] if categorical else None
    return HistGradientBoostingClassifier(max_iter=5, random_state=0, categorical_features=features).fit(X, y)


def _bagged() -> Any:
    from sklearn.ensemble import BaggingClassifier
    from sklearn.tree import DecisionTreeClassifier

    return BaggingClassifier(DecisionTreeClassifier(), n_estimators=4, max_features=2, random_state=0).fit(
        *_data()
    )


def _iforest() -> Any:
    from sklearn.ensemble import IsolationForest

    return IsolationForest(n_estimators=5, max_features=2, random_state=0).fit(_data()[0])


def _predictor_edit(field: str, value: int) -> Callable[[Any], None]:
    def edit(model: Any) -> None:
        nodes = model._predictors[0][0].nodes
        i = int(np.flatnonzero(nodes["is_leaf"] == 0)[0])
        nodes[field][i] = value

    return edit


# --------------------------------------------------------------------------- genuine models pass
@pytest.mark.parametrize(
    "build",
    [_tree, _forest, _boosting, lambda: _boosting(3), _hist, lambda: _hist(True), _bagged, _iforest],
    ids=["tree", "forest", "boosting", "boosting-3", "hist", "hist-categorical", "bagging", "iforest"],
)
def test_genuine_tree_models_pass(build: Callable[[], Any]) -> None:
    treecheck.check(build(), file="f")


def test_a_pipeline_of_ensembles_passes() -> None:
    from sklearn.ensemble import ExtraTreesClassifier, StackingClassifier, VotingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    X, y = _data()
    voting = VotingClassifier([("a", ExtraTreesClassifier(n_estimators=3)), ("b", _forest())], voting="soft")
    stack = StackingClassifier([("v", voting)], final_estimator=ExtraTreesClassifier(n_estimators=3))
    treecheck.check(make_pipeline(PolynomialFeatures(), stack).fit(X, y), file="f")  # trees see 15 columns


# --------------------------------------------------------------------------- crafted models are refused
CRAFTED: dict[str, tuple[Callable[[], Any], Callable[[Any], None], str]] = {
    "child beyond the tree": (
        _tree,
        lambda m: _retree(m, _set("left_child", 10**6)),
        "left child is 1000000",
    ),
    "negative child": (_tree, lambda m: _retree(m, _set("right_child", -5)), "right child is -5"),
    "child pointing back (a cycle)": (
        _tree,
        lambda m: _retree(m, _set("left_child", 0, node="later")),
        "left child is 0; expected a later node",
    ),
    "one child": (_tree, lambda m: _retree(m, _set("right_child", -1)), "a node with one child"),
    "feature beyond the row": (
        _tree,
        lambda m: _retree(m, _set("feature", 10**6)),
        "splits on feature 1000000",
    ),
    "feature beyond n_features_in_": (
        _tree,
        lambda m: setattr(m, "n_features_in_", 2),
        "the rows it is given have 2",
    ),
    "no n_features_in_": (_tree, lambda m: delattr(m, "n_features_in_"), "records no n_features_in_"),
    "outputs differ": (
        _tree,
        lambda m: setattr(m, "n_outputs_", 3),
        "the tree has 1 outputs, its estimator 3",
    ),
    "forest member beyond the forest's rows": (
        _forest,
        lambda m: [
            setattr(m.estimators_[2], "n_features_in_", 10**6),
            _retree(m.estimators_[2], _set("feature", 50)),
        ],
        "estimators_[2].tree_: node 0 splits on feature 50; the rows it is given have 4",
    ),
    "bagged member beyond its bag": (
        _bagged,
        lambda m: [
            setattr(m.estimators_[1], "n_features_in_", 4),
            _retree(m.estimators_[1], _set("feature", 3)),
        ],
        "estimators_[1].tree_: node 0 splits on feature 3; the rows it is given have 2",
    ),
    "isolation tree beyond its bag": (
        _iforest,
        lambda m: [
            setattr(m.estimators_[0], "n_features_in_", 4),
            _retree(m.estimators_[0], _set("feature", 3)),
        ],
        "the rows it is given have 2",
    ),
    "boosting stage wider than its predictions": (
        _boosting,
        lambda m: setattr(m, "estimators_", np.concatenate([m.estimators_] * 3, axis=1)),
        "3 trees per stage for 1 prediction columns",
    ),
    "boosting tree beyond the row": (
        lambda: _boosting(3),
        lambda m: _retree(m.estimators_[1, 2], _set("left_child", 999)),
        "estimators_[5].tree_: node 0's left child is 999",
    ),
    "hist child beyond the nodes": (_hist, _predictor_edit("left", 10**7), "left child is 10000000"),
    "hist feature beyond the row": (
        _hist,
        _predictor_edit("feature_idx", 10**7),
        "splits on feature 10000000",
    ),
    "hist categorical split on a numeric feature": (  # columns come categorical first: 2 is numeric
        lambda: _hist(True),
        lambda m: [_predictor_edit("is_categorical", 1)(m), _predictor_edit("feature_idx", 2)(m)],
        "a categorical split on a feature that is not categorical",
    ),
    "hist categorical bitset beyond the bitsets": (
        lambda: _hist(True),
        lambda m: [
            _predictor_edit("is_categorical", 1)(m),
            _predictor_edit("feature_idx", 0)(m),
            _predictor_edit("bitset_idx", 10**6)(m),
        ],
        "points at a bitset beyond the",
    ),
    "hist nodes not predictor records": (
        _hist,
        lambda m: setattr(m._predictors[0][0], "nodes", np.zeros(3)),
        "not an array of scikit-learn's predictor records",
    ),
}


def test_a_text_vectorizer_reading_files_its_rows_name_is_refused(tmp_path: Path) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(
        ["red car", "blue sky"] * 5, [0, 1] * 5
    )
    treecheck.check(pipeline, file="f")
    pipeline.steps[0][1].input = "filename"  # predict would open "/etc/passwd" if a row said so
    with pytest.raises(
        IntegrityError, match=r"pipeline.steps\[0\]\[1\]: a text vectorizer with input='filename'"
    ):
        treecheck.check(pipeline, file="f")


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_trees_are_refused_naming_where_and_what(case: str) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    build, craft, message = CRAFTED[case]
    model = build()
    craft(model)
    pipeline = make_pipeline(StandardScaler(), model)
    with pytest.raises(IntegrityError, match="malformed decision trees") as caught:
        treecheck.check(pipeline, file="pipeline.skops")
    assert message in caught.value.message, caught.value.message
    assert "pipeline.steps[1][1]" in caught.value.message


def test_at_most_five_problems_are_listed() -> None:
    model = _forest()
    for member in model.estimators_:
        _retree(member, _set("feature", 99))
    model.estimators_ = model.estimators_ * 2
    with pytest.raises(IntegrityError) as caught:
        treecheck.check(model, file="f")
    assert caught.value.message.count("splits on feature 99") == treecheck.MAX_PROBLEMS


# --------------------------------------------------------------------------- end to end, in a subprocess
@pytest.fixture(scope="module")
def forest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("forest")
    cfg = {
        "name": "iris",
        "data": {"source": "sklearn:iris"},
        "model": {"type": "sklearn.ensemble.RandomForestClassifier", "params": {"n_estimators": 5}},
        "evaluate": {"cv_folds": 0, "plots": False, "importance_repeats": 0},
    }
    result = mlpact.train(cfg, store=root / "store")
    from sklearn.datasets import load_iris

    rows = root / "rows.csv"
    load_iris(as_frame=True).data.head(20).to_csv(rows, index=False)
    return {"store": root / "store", "path": result.version.path, "rows": rows}


def _crafted_version(forest: dict[str, Any], dst: Path, craft: Callable[[Any], None]) -> Path:
    """A copy of the version whose pipeline holds a crafted forest, rehashed into the manifest."""
    shutil.copytree(forest["path"], dst)
    for path in dst.rglob("*"):
        path.chmod(0o644 if path.is_file() else 0o755)
    sio = bundle.import_skops()
    pipeline = sio.load(dst / bundle.PIPELINE, trusted=sio.get_untrusted_types(file=dst / bundle.PIPELINE))
    craft(pipeline.steps[-1][1])
    (dst / bundle.PIPELINE).write_bytes(sio.dumps(pipeline))
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["files"] = bundle.hash_files(dst)
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def _mlpact(*args: str, unchecked: bool = False, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh process; `unchecked` turns the tree check off there (what the crafted
    file does to scikit-learn without it)."""
    prelude = "import mlpact.treecheck as t; t.check = lambda *a, **k: None; " if unchecked else ""
    code = f"{prelude}import sys; from mlpact.cli import app; sys.argv = ['mlpact', *{list(args)!r}]; app()"
    env = {**os.environ, "PYTHONFAULTHANDLER": ""}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env
    )


E2E = {
    "child beyond the tree": lambda m: _retree(m.estimators_[0], _set("left_child", 10**8)),
    "feature beyond the row": lambda m: _retree(m.estimators_[1], _set("feature", 10**8)),
}


@pytest.mark.parametrize("case", list(E2E))
def test_predict_by_path_refuses_a_crafted_forest_that_would_crash(
    forest: dict[str, Any], tmp_path: Path, case: str
) -> None:
    folder = _crafted_version(forest, tmp_path / "version", E2E[case])
    args = ("predict", str(folder), str(forest["rows"]), "-o", str(tmp_path / "out.csv"))
    refused = _mlpact(*args)
    assert refused.returncode == 6, refused.stderr[-2000:]
    assert "malformed decision trees" in refused.stderr + refused.stdout
    crashed = _mlpact(*args, unchecked=True)  # the same file without the check: the process dies
    assert crashed.returncode in (-signal.SIGSEGV, -signal.SIGBUS, -signal.SIGABRT), crashed.returncode


def test_import_and_verify_refuse_a_crafted_forest_without_crashing(
    forest: dict[str, Any], tmp_path: Path
) -> None:
    import sqlite3
    import tarfile

    folder = _crafted_version(forest, tmp_path / "version", E2E["child beyond the tree"])
    digest = bundle.manifest_digest(folder)
    archive = tmp_path / "crafted.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        meta = json.dumps({"format": 1, "name": "iris", "version": 1, "digest": digest}).encode()
        info = tarfile.TarInfo("mlpact-export.json")
        info.size = len(meta)
        import io

        tar.addfile(info, io.BytesIO(meta))
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=f"version/{path.relative_to(folder).as_posix()}", recursive=False)
    imported = _mlpact("models", "import", str(archive), "--store", str(tmp_path / "other"))
    assert imported.returncode == 6 and "malformed decision trees" in imported.stderr + imported.stdout
    store = tmp_path / "store"
    shutil.copytree(forest["store"], store)
    (version,) = (store / "models" / "iris").iterdir()
    shutil.rmtree(version)
    shutil.copytree(folder, version)
    with sqlite3.connect(store / "mlpact.db") as db:
        db.execute("UPDATE versions SET digest = ?", (digest,))
    verified = _mlpact("models", "verify", "--store", str(store))
    assert verified.returncode == 6, verified.stdout[-2000:]
    assert "not loaded" in verified.stdout
