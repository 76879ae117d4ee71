"""The input schema: inferred from training data, declared in config, saved with each version.

A :class:`Schema` is the contract of a version's input. :func:`coerce` turns any frame into
the exact dtypes the pipeline was trained on; `mlpact.data.validation` says what in a frame does
not match it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlpact._core.metrics import plain
from mlpact.data.sources import FLOAT32_MAX, nested_kinds

if TYPE_CHECKING:
    from mlpact.config import SchemaConfig

NUMERIC_TYPES = ("int", "float", "bool")
STRING_TYPES = ("category", "text", "string")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_TRUE = {"true", "1", "yes", "y", "t", "1.0"}
_FALSE = {"false", "0", "no", "n", "f", "0.0"}
BOOL_TEXT = {**dict.fromkeys(_TRUE, 1.0), **dict.fromkeys(_FALSE, 0.0)}  # text a bool column accepts


@dataclass(frozen=True)
class ColumnSchema:
    """One input column: logical type, nullability, categories and observed range."""

    name: str
    type: str
    nullable: bool = True
    categories: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return _lists(asdict(self))


@dataclass(frozen=True)
class TargetSchema:
    """The output: the target column, the task and, for classifiers, the classes."""

    name: str
    task: str
    type: str
    classes: tuple[Any, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return _lists(asdict(self))


def _lists(data: dict[str, Any]) -> dict[str, Any]:
    """Tuples (categories, classes) as lists, the way JSON will hold them."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


@dataclass(frozen=True)
class Schema:
    """Input columns (in training order) and the target."""

    columns: tuple[ColumnSchema, ...]
    target: TargetSchema | None = None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSchema:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def select(self, names: Iterable[str]) -> Schema:
        """A schema with only these columns, in this order."""
        by_name = {c.name: c for c in self.columns}
        return replace(self, columns=tuple(by_name[n] for n in names))

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": [c.to_dict() for c in self.columns],
            "target": self.target.to_dict() if self.target else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        cols = []
        for item in data["columns"]:
            cats = item.get("categories")
            cols.append(ColumnSchema(**{**item, "categories": tuple(cats) if cats is not None else None}))
        target = data.get("target")
        if target is not None:
            classes = target.get("classes")
            target = TargetSchema(**{**target, "classes": tuple(classes) if classes is not None else None})
        return cls(tuple(cols), target)


# --------------------------------------------------------------------------- inference
def infer_schema(
    frame: pd.DataFrame,
    settings: SchemaConfig,
    *,
    target: str | None = None,
    task: str | None = None,
) -> Schema:
    """Infer a schema from training data; columns declared in `settings.columns` win.

    Args:
        frame: the training data, target included when `target` is given.
        settings: the config's `schema` section.
        target: the target column, described separately from the inputs.
        task: classification or regression, for the target description.
    """
    columns = []
    for name in frame.columns:
        if name == target:
            continue
        declared = settings.columns.get(name)
        kind = declared.type if declared and declared.type else infer_type(frame[name], settings)
        col = describe_column(frame[name], kind, max_categories=settings.max_categories)
        columns.append(_apply_declared(col, declared))
    target_schema = None
    if target is not None:
        target_schema = _describe_target(frame[target], task or "regression")
    return Schema(tuple(columns), target_schema)


def infer_type(series: pd.Series, settings: SchemaConfig) -> str:
    """The logical type of a column: int, float, bool, datetime, category, text or string."""
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_numeric_dtype(series):
        values = series.dropna().to_numpy(dtype=float)
        integral = values.size > 0 and bool(np.all(np.mod(values, 1) == 0))
        return "int" if integral else "float"
    values = series.dropna()
    nested = nested_kinds(values)  # lists or bytes say nothing about the type: leave them out
    values = (values if nested is None else values[nested == ""]).astype(str)
    if len(values) == 0:
        return "category"
    sample = values.iloc[:1000]
    if sample.map(lambda v: bool(_ISO_DATE.match(v))).mean() >= 0.95:
        return "datetime"
    if set(sample.str.lower().unique()) <= _TRUE | _FALSE and sample.nunique() <= 2:
        return "bool"
    if values.nunique() <= settings.max_categories:
        return "category"
    if values.str.split().str.len().mean() >= settings.text_min_words:
        return "text"
    return "string"


ID_NAME = re.compile(r"(^|[_\W])(id|uuid|guid|key|index|idx|row|rowid)$|^(id|uuid|guid)[_\W]", re.IGNORECASE)


_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.IGNORECASE)


def id_like(series: pd.Series) -> str | None:
    """Why a column looks like a row identifier (which carries no signal about new rows), or None.

    Id-like: named like an id and (nearly) unique per row; unique integers that are monotone or
    fill a dense range (a row number or counter); unique UUIDs; unique one-token codes.
    """
    values = series.dropna()
    n = len(values)
    if n < 10 or pd.api.types.is_bool_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return None
    distinct = values.nunique()
    if ID_NAME.search(str(series.name)) and distinct >= 0.9 * n:
        return "named like an identifier and unique per row"
    if distinct < n or n < 20:
        return None
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.to_numpy(dtype=float)
        if not np.all(np.mod(numbers, 1) == 0):
            return None
        if values.is_monotonic_increasing or values.is_monotonic_decreasing:
            return "unique integers in row order (a row number or counter)"
        if numbers.max() - numbers.min() + 1 <= 2 * n:
            return "unique integers in a dense range (a row number or counter)"
        return None
    text = values.astype(str)
    if text.map(lambda v: bool(_ISO_DATE.match(v))).mean() >= 0.95:
        return None  # dates: see the datetime notes
    if text.map(lambda v: bool(_UUID.match(v))).mean() >= 0.95:
        return "unique UUIDs"
    if not text.str.contains(r"\s", regex=True).any():
        return "unique one-word codes, one per row"
    return None


def describe_column(series: pd.Series, kind: str, *, max_categories: int = 50) -> ColumnSchema:
    """Describe a column of a known type: nullability, categories and observed range."""
    values = coerce_series(series, kind)
    nullable = bool(values.isna().any())
    categories = lo = hi = None
    if kind == "category":
        uniques = values.dropna().unique()
        if len(uniques) <= max(max_categories, 1000):
            categories = tuple(sorted(str(v) for v in uniques))
    elif kind in NUMERIC_TYPES and values.notna().any():
        lo, hi = float(values.min()), float(values.max())
    elif kind == "datetime" and values.notna().any():
        lo, hi = float(values.min().timestamp()), float(values.max().timestamp())
    return ColumnSchema(str(series.name), kind, nullable, categories, lo, hi)


def _apply_declared(col: ColumnSchema, declared: Any) -> ColumnSchema:
    if declared is None:
        return col
    updates = {
        key: getattr(declared, key)
        for key in ("nullable", "min", "max")
        if getattr(declared, key) is not None
    }
    if declared.categories is not None:
        updates["categories"] = tuple(str(c) for c in declared.categories)
    return replace(col, **updates)


def _describe_target(series: pd.Series, task: str) -> TargetSchema:
    kind = "float" if task == "regression" else _target_type(series)
    classes = None
    if task == "classification":
        classes = tuple(plain(v) for v in sorted(series.dropna().unique(), key=_sort_key))
    return TargetSchema(str(series.name), task, kind, classes)


def _target_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_numeric_dtype(series):
        return "float"
    return "category"


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float, np.number)) else (1, str(value))


# --------------------------------------------------------------------------- coercion
def coerce_series(series: pd.Series, kind: str) -> pd.Series:
    """Convert a column to the dtype used for `kind`; values that do not convert become NaN
    (lists, mappings and bytes too, and numbers that are infinite or beyond float32's range)."""
    nested = nested_kinds(series)
    if nested is not None:
        series = series.where(nested == "")
    if kind in ("int", "float"):
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values = series.astype("float64")
        else:
            values = pd.to_numeric(series, errors="coerce").astype("float64")
        # inf, or 1e308, is not a number a model can use (training refuses it): it converts
        # like any other unusable value.
        numbers = values.to_numpy()
        with np.errstate(invalid="ignore"):
            unusable = ~(np.abs(numbers) <= FLOAT32_MAX) & ~np.isnan(numbers)
        return values.where(~unusable) if unusable.any() else values
    if kind == "bool":
        return _to_bool(series)
    if kind == "datetime":
        return _to_datetime(series)
    if kind == "text":
        return _to_str(series).fillna("")
    return _to_str(series)


def coerce(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The schema's columns of `frame`, in schema order, with training dtypes.

    Missing columns are added as all-missing (validation decides whether that is allowed).
    """
    n = len(frame)
    out = {}
    for col in schema.columns:
        series = (
            frame[col.name]
            if col.name in frame.columns
            else pd.Series([np.nan] * n, index=frame.index, dtype=object)
        )
        out[col.name] = coerce_series(series, col.type)
    return pd.DataFrame(out, index=frame.index)


def _to_str(series: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(series):
        # 3.0 read from a CSV is the category "3", as it was in training.
        values = series.map(lambda v: _num_text(v) if pd.notna(v) else np.nan)
        return values.astype(object)
    if isinstance(series.dtype, pd.StringDtype):  # already text (pandas 3 reads text so): no copy by mask
        return pd.Series(series.to_numpy(dtype=object, na_value=np.nan), index=series.index, dtype=object)
    mask = series.notna()
    out = pd.Series(np.full(len(series), np.nan, dtype=object), index=series.index)
    out[mask] = series[mask].astype(str).astype(object)
    return out


def _num_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _to_bool(series: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        values = pd.to_numeric(series, errors="coerce").astype("float64")
        return values.where(values.isin([0.0, 1.0]))
    lowered = series.astype(object).map(lambda v: str(v).strip().lower() if pd.notna(v) else None)
    mapping = BOOL_TEXT
    return lowered.map(mapping).astype("float64")


def _to_datetime(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        values = series
    else:
        values = pd.to_datetime(series, errors="coerce", format="mixed", utc=True)
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    if values.dtype != "datetime64[ns]":  # pandas may parse year 1 or 9999 at a coarser unit
        values = values.where((values >= pd.Timestamp.min) & (values <= pd.Timestamp.max))
    return values.astype("datetime64[ns]")
