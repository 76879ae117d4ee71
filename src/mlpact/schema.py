"""The input schema: inferred from training data, declared in config, saved with each version.

A :class:`Schema` is the contract of a version's input. :func:`coerce` turns any frame into
the exact dtypes the pipeline was trained on; :func:`validate` says, in one report, what in a
frame does not match (missing columns, unconvertible values, unseen categories, out-of-range
numbers, unexpected nulls) and how serious each finding is under the validation policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlpact.data import FLOAT32_MAX, closest_column, nested_kinds
from mlpact.errors import InputValidationError, plural

if TYPE_CHECKING:
    from mlpact.config import SchemaConfig, ValidationPolicy

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
        classes = tuple(_plain(v) for v in sorted(series.dropna().unique(), key=_sort_key))
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


def _plain(value: Any) -> Any:
    """A numpy scalar as the matching Python scalar (for JSON)."""
    return value.item() if isinstance(value, np.generic) else value


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


# --------------------------------------------------------------------------- validation
CHECKS = (
    "missing_column",
    "extra_column",
    "unconvertible",
    "unexpected_null",
    "unseen_category",
    "out_of_range",
)


@dataclass
class Problem:
    """One finding about one column: which check, how many rows, and where."""

    check: str
    column: str
    count: int
    severity: str
    detail: str
    rows: list[int] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    context: str = ""

    def describe(self, *, show_values: bool = True) -> str:
        text = f"{self.column}: {self.detail}"
        if self.rows:
            more = ", ..." if self.count > len(self.rows) else ""
            text += f" (row{'s' if self.count > 1 else ''} {', '.join(map(str, self.rows))}{more})"
        if show_values and self.examples:
            text += f"; e.g. {', '.join(self.examples)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ValidationReport:
    """Every problem found in an input, each with its severity under the policy."""

    problems: list[Problem] = field(default_factory=list)
    rows: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warn"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def merge(self, other: ValidationReport) -> None:
        """Add another chunk's findings, summing counts per (check, column)."""
        index = {(p.check, p.column): p for p in self.problems}
        for p in other.problems:
            mine = index.get((p.check, p.column))
            if mine is None:
                self.problems.append(p)
                index[(p.check, p.column)] = p
            elif p.check != "missing_column" and p.check != "extra_column":
                mine.count += p.count
                mine.rows = (mine.rows + p.rows)[:5]
                mine.examples = list(dict.fromkeys(mine.examples + p.examples))[:3]
                mine.detail = _detail(p.check, mine.count, p.context)
        self.rows += other.rows

    def format(self, *, show_values: bool = True) -> str:
        lines = []
        for label, items in (("error", self.errors), ("warning", self.warnings)):
            for p in sorted(items, key=lambda p: (p.column, p.check)):
                lines.append(f"  {label}: {p.describe(show_values=show_values)}")
        return "\n".join(lines)

    def raise_for_errors(self, *, show_values: bool = True) -> None:
        """Raise InputValidationError listing every error (and warning) when there is an error."""
        if self.ok:
            return
        n = len(self.errors)
        head = (
            f"Input does not match the model's schema: {plural(n, 'error')}"
            f"{' and ' + plural(len(self.warnings), 'warning') if self.warnings else ''}.\n"
        )
        raise InputValidationError(self, head + self.format(show_values=show_values))

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "ok": self.ok, "problems": [p.to_dict() for p in self.problems]}


def validate(
    frame: pd.DataFrame,
    schema: Schema,
    policy: ValidationPolicy | Mapping[str, str],
    *,
    row_offset: int = 0,
    ignore: Iterable[str] = (),
) -> ValidationReport:
    """Check a frame against a schema; the policy sets each finding's severity.

    Args:
        frame: raw input rows.
        schema: the version's input schema.
        policy: error / warn / ignore per check.
        row_offset: added to row numbers (for chunks of a larger file); rows count from 1.
        ignore: columns never reported as extra (the target, passed-through ids).
    """
    return check(frame, schema, policy, row_offset=row_offset, ignore=ignore)[1]


def check(
    frame: pd.DataFrame,
    schema: Schema,
    policy: ValidationPolicy | Mapping[str, str],
    *,
    row_offset: int = 0,
    ignore: Iterable[str] = (),
) -> tuple[pd.DataFrame, ValidationReport]:
    """Coerce a frame to the schema and validate it in one pass (see :func:`validate`).

    Returns:
        The coerced frame (schema columns, training dtypes) and the report.
    """
    coerced = coerce(frame, schema)
    report = ValidationReport(rows=len(frame))
    levels = {name: _level(policy, name) for name in CHECKS}
    names = set(schema.names)
    unused = [str(c) for c in frame.columns if c not in names]
    for col in schema.columns:
        if col.name not in frame.columns:
            detail = "column is missing" + _near_miss(col.name, unused)
            _add(report, levels, Problem("missing_column", col.name, len(frame), "", detail))
            continue
        for problem in _check_column(frame[col.name], coerced[col.name], col, row_offset):
            _add(report, levels, problem)
    skip = set(ignore)
    for name in frame.columns:
        if name not in names and name not in skip:
            _add(report, levels, Problem("extra_column", str(name), 0, "", "column is not used by the model"))
    return coerced, report


def _near_miss(name: str, unused: Sequence[str]) -> str:
    """'; did you mean ...' for a missing column: an input column that differs only in case,
    spaces, underscores or punctuation, else the closest spelling among the unused columns."""
    close = closest_column(name, unused)
    if close is None:
        return ""
    return f"; did you mean the input's {close!r}? (names must match exactly: rename it to {name!r})"


def _level(policy: ValidationPolicy | Mapping[str, str], check: str) -> str:
    return str(policy[check] if isinstance(policy, Mapping) else getattr(policy, check))


def _add(report: ValidationReport, levels: Mapping[str, str], problem: Problem) -> None:
    level = levels[problem.check]
    if level != "ignore":
        problem.severity = level
        report.problems.append(problem)


def _check_column(raw: pd.Series, values: pd.Series, col: ColumnSchema, offset: int) -> list[Problem]:
    problems = []
    raw_null = raw.isna().to_numpy()
    bad = values.isna().to_numpy() & ~raw_null
    if col.type == "text":  # any value is text, but a list, a mapping or bytes
        nested = nested_kinds(raw)
        bad = np.zeros(len(raw), dtype=bool) if nested is None else nested != ""
    if bad.any():
        problems.append(_problem("unconvertible", col, raw, bad, offset, f"to {col.type}"))
    if not col.nullable and raw_null.any():
        problems.append(_problem("unexpected_null", col, raw, raw_null, offset, ""))
    if col.categories is not None:
        known = values.isin(col.categories).to_numpy()
        unseen = values.notna().to_numpy() & ~known
        if unseen.any():
            problems.append(_problem("unseen_category", col, raw, unseen, offset, ""))
    if col.min is not None and col.max is not None and col.type in NUMERIC_TYPES:
        numbers = values.to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            outside = (numbers < col.min) | (numbers > col.max)
        if outside.any():
            suffix = f"[{col.min:g}, {col.max:g}]"
            problems.append(_problem("out_of_range", col, raw, outside, offset, suffix))
    return problems


def _problem(
    check: str, col: ColumnSchema, raw: pd.Series, mask: np.ndarray, offset: int, suffix: str
) -> Problem:
    where = np.flatnonzero(mask)
    count = int(where.size)
    examples = (
        []
        if check == "unexpected_null"
        else list(dict.fromkeys(_example(v) for v in raw.to_numpy()[where[:50]]))[:3]
    )
    rows = [int(i) + offset + 1 for i in where[:5]]
    return Problem(check, col.name, count, "", _detail(check, count, suffix), rows, examples, suffix)


def _example(value: Any) -> str:
    """A value as an example in a message: its repr, cut at 80 characters."""
    text = repr(_plain(value))
    return text if len(text) <= 80 else f"{text[:77]}..."


def _detail(check: str, count: int, suffix: str) -> str:
    s = "" if count == 1 else "s"
    texts = {
        "unconvertible": f"{count} value{s} cannot be converted {suffix}",
        "unexpected_null": f"{count} missing value{s}; training data had none",
        "unseen_category": f"{count} value{s} not among the categories seen in training",
        "out_of_range": f"{count} value{s} outside the training range {suffix}",
    }
    return texts[check]
