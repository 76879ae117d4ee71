"""Scoring a large batch on several cores, for estimators that score every row on its own.

A fitted tree or tree ensemble of scikit-learn (random forest, extra trees, a single tree)
scores each row independently: a row's leaf in every tree, and the sum of its trees' values in
tree order, do not depend on the other rows of the batch. So the rows of a batch can be cut into
blocks, scored in threads and put back together, and every prediction and probability is the
same to the last bit as one call on the whole batch. The traversal runs in sklearn's Cython
without the GIL, so the threads run on separate cores: 1M rows through a 100-tree forest take
about 10 s on one core of the bench machine and 5.6 s on two.

sklearn's own ``n_jobs`` parallelises over trees instead, adding the trees' values under a lock
in whatever order the threads finish: the last bit of a probability can change from run to run.
A forest saved with ``n_jobs`` other than None or 1 is left to it (splitting on top would
oversubscribe the cores). Estimators not named in `TREES` are never split: a linear
model's matrix product can sum in another order for another block shape, and histogram gradient
boosting already uses every core through OpenMP.

`mlpact.version.model.Model.score_rows` decides the threads (`threads_for`: the cores this
process may use, `available_cores`, unless told) and scores through `score_pipeline`, or through
the compiled form (`mlpact.version.rowpath`), which transforms and scores each block in its
thread. The Ray engine's actors use one thread each.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

#: scikit-learn's trees and forests: each scores every row on its own, without the GIL, after
#: casting its input to float32 (qualified class names: a subclass may override how it scores,
#: so it is not assumed to keep these properties).
TREES = frozenset(
    f"sklearn.{module}.{name}"
    for module, names in {
        "ensemble._forest": (
            "RandomForestClassifier",
            "RandomForestRegressor",
            "ExtraTreesClassifier",
            "ExtraTreesRegressor",
        ),
        "tree._classes": (
            "DecisionTreeClassifier",
            "DecisionTreeRegressor",
            "ExtraTreeClassifier",
            "ExtraTreeRegressor",
        ),
    }.items()
    for name in names
)
#: Fewer rows than this per thread are scored in one call: a thread's start costs more than it saves.
MIN_BLOCK_ROWS = 10_000
#: Rows per block handed to a thread. Larger calls cost less per row (blocks of 25,000 took 8%
#: longer than one call on 200,000 rows of the bench forest); a batch of more than `threads`
#: blocks is handed out block by block as threads free up.
BLOCK_ROWS = 100_000


def available_cores() -> int:
    """The CPUs this process may use: joblib's count, which honours CPU affinity, a container's
    CPU quota (Linux CFS) and `LOKY_MAX_CPU_COUNT`, where `os.cpu_count()` sees the whole host."""
    from joblib import cpu_count

    return max(1, int(cpu_count()))


def is_tree(estimator: Any) -> bool:
    """Is `estimator` exactly one of scikit-learn's trees or forests (`TREES`)?"""
    kind = type(estimator)
    return f"{kind.__module__}.{kind.__qualname__}" in TREES


def splits(estimator: Any) -> bool:
    """Can `estimator`'s rows be scored in blocks on several threads, with the same numbers?"""
    return is_tree(estimator) and getattr(estimator, "n_jobs", None) in (None, 1)


def threads_for(estimator: Any, rows: int, threads: int | None) -> int:
    """How many threads `score` will use for `rows` rows: 1 unless the estimator `splits` and
    every thread gets at least `MIN_BLOCK_ROWS` rows. `threads` None: `available_cores()`."""
    if rows < 2 * MIN_BLOCK_ROWS or not splits(estimator):
        return 1
    wanted = available_cores() if threads is None else threads
    return max(1, min(wanted, rows // MIN_BLOCK_ROWS))


def score(fn: Callable[[Any], np.ndarray], X: Any, threads: int) -> np.ndarray:
    """`fn(X)`, computed block by block of rows on `threads` threads and stacked in row order."""
    return fn(X) if threads <= 1 else np.concatenate(map_blocks(fn, X, threads))


def map_blocks(fn: Callable[[Any], T], X: Any, threads: int) -> list[T]:
    """`fn` of each block of `X`'s rows, in row order, computed on `threads` threads.

    Blocks of about `BLOCK_ROWS` rows (at least one per thread) are handed out as threads free
    up, so a thread that finishes early takes the next block instead of waiting for the slowest.
    """
    count = max(threads, -(-len(X) // BLOCK_ROWS))
    bounds = np.linspace(0, len(X), count + 1).astype(int)
    take = X.iloc if hasattr(X, "iloc") else X
    blocks = [take[a:b] for a, b in itertools.pairwise(bounds.tolist())]
    with ThreadPoolExecutor(threads, thread_name_prefix="mlpact-score") as pool:
        return list(pool.map(fn, blocks))


def final_estimator(pipeline: Any) -> Any:
    """The step that scores: a Pipeline's last step, else the estimator itself."""
    steps = getattr(pipeline, "steps", None)
    return steps[-1][1] if isinstance(steps, list) and steps else pipeline


def score_pipeline(pipeline: Any, method: str, X: Any, threads: int) -> np.ndarray:
    """`pipeline.<method>(X)`, its final estimator's part in `threads` blocks (see `threads_for`):
    the preprocessing runs once on the whole frame, as the Pipeline itself runs it."""
    if threads <= 1:
        return np.asarray(getattr(pipeline, method)(X))
    estimator = final_estimator(pipeline)
    if estimator is not pipeline:
        X = pipeline[:-1].transform(X)
    return score(getattr(estimator, method), X, threads)
