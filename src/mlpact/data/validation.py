"""Validation: what in a frame (or in records) does not match a version's input schema, and how
serious each finding is under the validation policy (missing columns, unconvertible values,
unseen categories, out-of-range numbers, unexpected nulls). `Model.check` (predict, batch
predict, serving) and `mlpact check` apply it the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlpact._core.metrics import plain
from mlpact.data.schema import BOOL_TEXT, NUMERIC_TYPES, ColumnSchema, Schema, coerce, coerce_series
from mlpact.data.sources import closest_column, nested_kinds
from mlpact.errors import InputValidationError, plural

if TYPE_CHECKING:
    from mlpact.config import ValidationPolicy

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
    text = repr(plain(value))
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


# --------------------------------------------------------------------------- records fast path
# Records (a dict or a list of dicts, as an HTTP request carries them) are common and small, and
# building a DataFrame first and then converting every column with pandas costs more than scoring
# one row. When every value already has its column's plain Python type and nothing would be
# reported per value, the coerced frame is built directly from the values. Anything else (a value
# needing pandas' conversion rules, a missing column, any per-value finding) returns None and goes
# through :func:`check`, so the result and the report are the same either way
# (tests/workloads/test_serve.py compares both paths on generated records).
_MISSING = object()


def check_records(
    records: Sequence[Mapping[Any, Any]], schema: Schema, policy: Mapping[str, str], skip: set[str]
) -> tuple[pd.DataFrame, ValidationReport] | None:
    """The coerced frame and report for clean records, or None to take the general path."""
    columns: dict[str, Any] = {}
    for col in schema.columns:
        values = [r.get(col.name, _MISSING) for r in records]
        converted = _fast_column(values, col)
        if converted is None:
            return None
        columns[col.name] = converted
    report = ValidationReport(rows=len(records))
    level = policy["extra_column"]
    if level != "ignore":
        known = {*schema.names, *skip}
        for name in dict.fromkeys(k for r in records for k in r if k not in known):
            report.problems.append(
                Problem("extra_column", str(name), 0, level, "column is not used by the model")
            )
    index = pd.RangeIndex(len(records))
    for series in columns.values():
        if isinstance(series, pd.Series):
            series.index = index
    return pd.DataFrame(columns, index=index), report


def _fast_column(values: list[Any], col: Any) -> Any:
    """One column's coerced values when no value needs pandas and no check would report; else None."""
    if all(v is _MISSING for v in values):
        return None
    values = [None if v is _MISSING or (isinstance(v, float) and v != v) else v for v in values]
    if not col.nullable and None in values:
        return None
    if col.categories is not None and col.type not in ("category", "string"):
        return None
    converter = _FAST_CONVERTERS.get(col.type)
    return converter(values, col) if converter is not None else None


_NUMBER_TYPES = {int, float, type(None)}


def _fast_numbers(values: list[Any], col: Any) -> Any:
    types = set(map(type, values))
    if not types <= _NUMBER_TYPES or (
        int in types and any(type(v) is int and abs(v) >= 2**53 for v in values)
    ):
        return None
    numbers = np.array(values, dtype="float64")  # None becomes NaN
    if np.isinf(numbers).any():  # the general path reports inf as unconvertible
        return None
    return numbers if _in_range(numbers, col) else None


def _fast_bools(values: list[Any], col: Any) -> Any:
    out = []
    for v in values:
        if v is None or type(v) is bool:
            out.append(np.nan if v is None else float(v))
        elif type(v) is str and v.strip().lower() in BOOL_TEXT:
            out.append(BOOL_TEXT[v.strip().lower()])
        else:
            return None
    numbers = np.array(out, dtype="float64")
    return numbers if _in_range(numbers, col) else None


def _in_range(numbers: np.ndarray, col: Any) -> bool:
    if col.min is None or col.max is None:
        return True
    present = numbers[~(numbers != numbers)]
    return bool(((present >= col.min) & (present <= col.max)).all())


def _fast_strings(values: list[Any], col: Any) -> Any:
    if not all(v is None or type(v) is str for v in values):
        return None
    if col.categories is not None:
        allowed = set(col.categories)
        if not all(v is None or v in allowed for v in values):
            return None
    fill: Any = "" if col.type == "text" else np.nan
    out = np.empty(len(values), dtype=object)
    out[:] = [fill if v is None else v for v in values]
    return pd.Series(out, dtype=object, copy=False)  # an ndarray alone would become pandas' str dtype


def _fast_datetimes(values: list[Any], col: Any) -> Any:
    import numpy as np

    if not all(v is None or type(v) is str for v in values):
        return None
    raw = pd.Series([np.nan if v is None else v for v in values], dtype=object)
    converted = coerce_series(raw, "datetime")
    if bool((converted.isna() & raw.notna()).any()):
        return None
    return converted.to_numpy()


_FAST_CONVERTERS = {
    "int": _fast_numbers,
    "float": _fast_numbers,
    "bool": _fast_bools,
    "category": _fast_strings,
    "string": _fast_strings,
    "text": _fast_strings,
    "datetime": _fast_datetimes,
}
