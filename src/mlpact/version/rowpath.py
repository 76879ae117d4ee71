"""The compiled form of a fitted pipeline: its preprocessing replayed with plain numpy.

scikit-learn's ColumnTransformer spends most of its time on machinery, not arithmetic. For one
row that is pandas indexing, input validation, feature-name checks and joblib dispatch: about
4 ms for a row that needs a few microseconds of maths, paid on every request a server answers.
For a batch it is per-column object handling and copies: about a third of a second per 200,000
rows that numpy does in a tenth of that. `row_path` compiles the common shape of a fitted mlpact
pipeline, ``Pipeline([ColumnTransformer(...), estimator])``, into:

- numeric branches (imputer, scaler) replayed with the same numpy operations sklearn applies,
  in the same order, so the result is bitwise the same;
- categorical branches (imputer, one-hot or ordinal encoder) turned into lookup tables by
  probing the fitted branch once per known value: each output column of those transformers
  depends on one input column, so a row's output is the base row's output plus one
  per-column difference (a dictionary lookup per value for a few rows; for a batch, one
  `pandas.Index.get_indexer` per column and a gather of the differences, added in the same
  column order, so the sums are the same).

The estimator then scores the compiled matrix: the same numbers in the same layout, so the same
predictions and probabilities (for a tree or forest, which casts its input to float32 itself, the
matrix is written as float32: each value rounded once, as that cast rounds it). Nothing is trusted
on faith: a compiled path is checked against the sklearn pipeline on a few hundred probe rows when
it is built and discarded (returns None) if any output differs, and at prediction time any value
the lookup tables have not seen (an unseen category, say) sends that request, or that chunk of a
batch, down the ordinary sklearn path, which raises or warns exactly as before. Anything else
(text, dates, custom steps, sparse output, pandas output) is not compiled at all. Serving uses it
for every request (`mlpact.serve`), batch prediction for chunks of `BATCH_ROWS` rows and more
(`mlpact.version.model.Model.score_rows`); the version's `predict.compiled: false` turns both off.
"""

from __future__ import annotations

import abc
import logging
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlpact.version import rowsplit

log = logging.getLogger(__name__)

_MISSING = object()  # the lookup key of a missing value (None or NaN)
_PROBE_ROWS = 256
_LOOP_ROWS = 64  # up to this many rows, a dictionary lookup per value beats building an index
_CACHE: weakref.WeakKeyDictionary[Any, RowPath | None] = weakref.WeakKeyDictionary()


class RowPath:
    """A compiled preprocessing: `transform` gives the estimator's input, or None to fall back."""

    def __init__(self, blocks: Sequence[_Block], estimator: Any) -> None:
        self.blocks = tuple(blocks)
        self.estimator = estimator
        # The memory layout sklearn's output has: BLAS sums in a different order for another
        # layout, and the last bit of a probability would differ.
        self.fortran = False
        # float32 for an estimator that casts its input to float32 itself (trees and forests):
        # each value is rounded once, as that cast would, without a float64 matrix in between.
        self.dtype: type[np.floating[Any]] = np.float64

    def transform(self, X: Any) -> np.ndarray | None:
        """The preprocessed matrix for a coerced input frame; None when a value was not compiled."""
        parts = []
        for block in self.blocks:
            part = block.apply(X)
            if part is None:
                return None
            parts.append(part)
        if len(parts) == 1:
            out = parts[0]
            layout = np.asfortranarray if self.fortran else np.ascontiguousarray
            return layout(out, dtype=self.dtype)
        # one allocation in sklearn's layout, each branch copied into its columns once
        out = np.empty(
            (len(X), sum(p.shape[1] for p in parts)), dtype=self.dtype, order="F" if self.fortran else "C"
        )
        start = 0
        for part in parts:
            out[:, start : start + part.shape[1]] = part
            start += part.shape[1]
        return out

    def predict_proba(self, X: Any, threads: int = 1) -> np.ndarray | None:
        """The estimator's probabilities for the compiled matrix; None when a value was not
        compiled. With `threads` > 1, blocks of rows are transformed and scored on that many
        threads (`mlpact.version.rowsplit`: only for estimators that score each row on its own;
        the compiled preprocessing is row by row too)."""
        return self._score(self.estimator.predict_proba, X, threads)

    def predict(self, X: Any, threads: int = 1) -> np.ndarray | None:
        return self._score(self.estimator.predict, X, threads)

    def _score(self, method: Callable[[np.ndarray], np.ndarray], X: Any, threads: int) -> np.ndarray | None:
        def one(rows: Any) -> np.ndarray | None:
            Xt = self.transform(rows)
            return None if Xt is None else method(Xt)

        if threads <= 1:
            return one(X)
        parts = rowsplit.map_blocks(one, X, threads)
        scored = [p for p in parts if p is not None]
        return np.concatenate(scored) if len(scored) == len(parts) else None  # None: fall back


def row_path(pipeline: Any) -> RowPath | None:
    """The compiled fast path of a fitted pipeline (built once per pipeline object), or None."""
    try:
        weakref.ref(pipeline)
    except TypeError:  # not weak-referenceable: nothing we know how to compile
        return None
    if pipeline in _CACHE:
        return _CACHE[pipeline]
    try:
        compiled = _compile(pipeline)
    except Exception as exc:  # a pipeline we misread must never break serving: use sklearn
        log.debug("no fast path for this pipeline: %s: %s", type(exc).__name__, exc)
        compiled = None
    _CACHE[pipeline] = compiled
    return compiled


def is_built(pipeline: Any) -> bool:
    """Has `row_path` already been asked for this pipeline (so using it costs nothing more)?"""
    try:
        return pipeline in _CACHE
    except TypeError:  # not weak-referenceable
        return False


# --------------------------------------------------------------------------- compiling
def _compile(pipeline: Any) -> RowPath | None:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        return None
    ct, estimator = pipeline.steps[0][1], pipeline.steps[1][1]
    if not isinstance(ct, ColumnTransformer) or getattr(ct, "sparse_output_", True):
        return None
    if hasattr(estimator, "feature_names_in_"):  # fitted on a frame (pandas output): keep sklearn
        return None
    blocks: list[_Block] = []
    for _, transformer, columns in ct.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        if not (isinstance(columns, list) and columns and all(isinstance(c, str) for c in columns)):
            return None
        block = _numeric_block(transformer, columns) or _lookup_block(transformer, columns)
        if block is None:
            return None
        blocks.append(block)
    if not blocks:
        return None
    compiled = RowPath(blocks, estimator)
    if rowsplit.is_tree(estimator):  # it casts its input to float32 itself
        compiled.dtype = np.float32
    return compiled if _agrees(compiled, ct) else None


def _steps(transformer: Any) -> list[Any]:
    from sklearn.pipeline import Pipeline

    return [step for _, step in transformer.steps] if isinstance(transformer, Pipeline) else [transformer]


class _Block(abc.ABC):
    """One ColumnTransformer branch, compiled."""

    columns: list[str]

    @abc.abstractmethod
    def apply(self, X: Any) -> np.ndarray | None:
        """The branch's output for a coerced input frame; None when a value was not compiled."""


class _NumericBlock(_Block):
    """Imputers and scalers, applied with the operations sklearn's `transform` uses."""

    def __init__(self, columns: list[str], ops: list[Callable[[np.ndarray], np.ndarray]]) -> None:
        self.columns = columns
        self.ops = ops

    def apply(self, X: Any) -> np.ndarray | None:
        try:
            values = np.column_stack([X[c].to_numpy(dtype="float64", na_value=np.nan) for c in self.columns])
        except (TypeError, ValueError):
            return None
        for op in self.ops:
            values = op(values)
        return values


def _numeric_block(transformer: Any, columns: list[str]) -> _NumericBlock | None:
    ops = [_numeric_op(step) for step in _steps(transformer)]
    if any(op is None for op in ops):
        return None
    return _NumericBlock(columns, [op for op in ops if op is not None])


def _numeric_op(step: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    if type(step) is SimpleImputer:
        raw = np.asarray(step.statistics_)
        if raw.dtype.kind == "O" and not all(isinstance(v, (int, float)) for v in raw):
            return None  # a category imputer (strings): see _lookup_block
        statistics = raw.astype("float64")
        if (
            step.add_indicator
            or not (isinstance(step.missing_values, float) and np.isnan(step.missing_values))
            or np.isnan(statistics).any()  # empty features are dropped or kept: leave it to sklearn
        ):
            return None

        def impute(X: np.ndarray) -> np.ndarray:
            missing = np.isnan(X)
            if missing.any():
                X = X.copy()
                X[missing] = np.broadcast_to(statistics, X.shape)[missing]
            return X

        return impute
    if type(step) is StandardScaler:
        mean, scale = step.mean_, step.scale_

        def standardize(X: np.ndarray) -> np.ndarray:
            X = X.copy()
            if mean is not None:
                X -= mean
            if scale is not None:
                X /= scale
            return X

        return standardize
    if type(step) is MinMaxScaler:
        low, high = step.feature_range

        def minmax(X: np.ndarray) -> np.ndarray:
            X = X * step.scale_
            X += step.min_
            if step.clip:
                np.clip(X, low, high, out=X)
            return X

        return minmax
    if type(step) is RobustScaler:

        def robust(X: np.ndarray) -> np.ndarray:
            X = X.copy()
            if step.center_ is not None:
                X -= step.center_
            if step.scale_ is not None:
                X /= step.scale_
            return X

        return robust
    return None


class _LookupBlock(_Block):
    """Per-column encoders as lookup tables: output = base + sum of one difference per column."""

    def __init__(
        self, columns: list[str], base: np.ndarray, tables: list[dict[Any, np.ndarray | None]]
    ) -> None:
        self.columns = columns
        self.base = base
        self.tables = tables
        self._batch: list[tuple[Any, np.ndarray, slice]] | None = None  # built on the first batch

    def apply(self, X: Any) -> np.ndarray | None:
        if len(X) > _LOOP_ROWS:
            return self._gather(X)
        n = len(X)
        out = np.repeat(self.base[None, :], n, axis=0)
        for column, table in zip(self.columns, self.tables, strict=True):
            for i, value in enumerate(X[column].to_numpy()):
                key = _MISSING if value is None or value != value else value
                try:
                    delta = table[key]
                except (KeyError, TypeError):  # not seen when compiled: let sklearn decide
                    return None
                if delta is not None:
                    out[i] += delta
        return out

    def _gather(self, X: Any) -> np.ndarray | None:
        """The batch form of `apply`: per column, codes of the known values, then their differences."""
        if self._batch is None:
            self._batch = [_gather_table(table, len(self.base)) for table in self.tables]
        out = np.empty((len(X), len(self.base)))
        out[:] = self.base
        for column, (index, deltas, where) in zip(self.columns, self._batch, strict=True):
            values = X[column]
            codes = index.get_indexer(values)
            codes[values.isna().to_numpy()] = len(index)  # the last row of `deltas` is a missing value's
            if (codes < 0).any():  # a value not seen when compiled: let sklearn decide
                return None
            out[:, where] += deltas[codes]
        return out


def _gather_table(table: dict[Any, np.ndarray | None], width: int) -> tuple[Any, np.ndarray, slice]:
    """One column's lookup table as an index of its known values, their differences (the missing
    value's last) restricted to the output columns they touch, and those columns as a slice."""
    import pandas as pd

    keys = [k for k in table if k is not _MISSING]
    zero = np.zeros(width)
    full = np.vstack([zero if table[k] is None else table[k] for k in [*keys, _MISSING]])  # type: ignore[misc]
    touched = np.flatnonzero(full.any(axis=0))
    if not len(touched):  # a column that changes nothing (a single category, say)
        return pd.Index(keys, dtype=object), full[:, :0], slice(0, 0)
    if touched[-1] - touched[0] + 1 == len(touched):  # one-hot: a run of columns
        where = slice(int(touched[0]), int(touched[-1]) + 1)
    else:
        where = slice(0, width)
    return pd.Index(keys, dtype=object), np.ascontiguousarray(full[:, where]), where


def _lookup_block(transformer: Any, columns: list[str]) -> _LookupBlock | None:
    import pandas as pd
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    steps = _steps(transformer)
    if not all(type(s) in (SimpleImputer, OneHotEncoder, OrdinalEncoder) for s in steps):
        return None
    encoders = [s for s in steps if type(s) in (OneHotEncoder, OrdinalEncoder)]
    if len(encoders) != 1 or getattr(encoders[0], "sparse_output", False):
        return None
    if any(type(s) is SimpleImputer and s.add_indicator for s in steps):
        return None
    known = [list(values) for values in encoders[0].categories_]
    if len(known) != len(columns) or not all(known):
        return None

    def run(rows: list[list[Any]]) -> np.ndarray:
        frame = pd.DataFrame(np.array(rows, dtype=object), columns=columns)
        return np.asarray(transformer.transform(frame), dtype="float64")

    base_row = [values[0] for values in known]
    base = run([base_row])[0]
    tables: list[dict[Any, np.ndarray | None]] = []
    for j, values in enumerate(known):
        probes = [*values, np.nan]
        rows = [[*base_row[:j], v, *base_row[j + 1 :]] for v in probes]
        outputs = run(rows)
        table: dict[Any, np.ndarray | None] = {}
        for value, output in zip(probes, outputs, strict=True):
            delta = output - base
            table[_MISSING if value is np.nan else value] = delta if delta.any() else None
        tables.append(table)
    return _LookupBlock(columns, base, tables)


# --------------------------------------------------------------------------- the proof
def _agrees(compiled: RowPath, ct: Any) -> bool:
    """Does the compiled path give exactly sklearn's output on a few hundred probe rows?"""
    import pandas as pd

    rng = np.random.default_rng(0)
    columns: dict[str, Any] = {
        name: np.full(_PROBE_ROWS, np.nan, dtype=object) for name in ct.feature_names_in_
    }
    for block in compiled.blocks:
        for j, name in enumerate(block.columns):
            if isinstance(block, _LookupBlock):
                keys = [k for k in block.tables[j] if k is not _MISSING]
                picks = rng.integers(0, len(keys) + 1, _PROBE_ROWS)
                column = np.array([keys[p] if p < len(keys) else np.nan for p in picks], dtype=object)
            else:
                column = rng.normal(0, 3, _PROBE_ROWS)
                column[rng.random(_PROBE_ROWS) < 0.1] = np.nan
            columns[name] = column
    frame = pd.DataFrame(columns)
    expected = np.asarray(ct.transform(frame), dtype="float64")
    compiled.fortran = expected.flags.f_contiguous and not expected.flags.c_contiguous
    fast = compiled.transform(frame)  # the batch form (more than _LOOP_ROWS rows) ...
    few = compiled.transform(frame.iloc[:_LOOP_ROWS])  # ... and the row-at-a-time form
    cast = expected.astype(compiled.dtype)  # float32: what the estimator would cast it to
    same = (
        fast is not None
        and few is not None
        and fast.shape == expected.shape
        and fast.dtype == few.dtype == compiled.dtype
        and np.array_equal(fast, cast, equal_nan=True)
        and np.array_equal(few, cast[:_LOOP_ROWS], equal_nan=True)
        and _same_predictions(compiled.estimator, fast, expected)
    )
    if not same:
        log.debug("fast path disagrees with the pipeline on probe rows: not used")
    return bool(same)


def _same_predictions(estimator: Any, fast: np.ndarray, expected: np.ndarray) -> bool:
    method = "predict_proba" if hasattr(estimator, "predict_proba") else "predict"
    ours, theirs = getattr(estimator, method)(fast), getattr(estimator, method)(expected)
    return bool(np.array_equal(ours, theirs, equal_nan=True))
