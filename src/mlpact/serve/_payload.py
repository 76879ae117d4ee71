"""Request bodies: size limits, JSON parsing, and the payload shapes `/predict` accepts.

Accepted shapes (all become a list of records):

- a list of records: ``[{"col": value, ...}, ...]`` (or one record, a JSON object of columns);
- ``{"dataframe_records": [...]}`` (MLflow / pandas ``orient="records"``);
- ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`` (pandas ``orient="split"``);
- ``{"inputs": [...]}`` or ``{"inputs": {"col": [values], ...}}`` (MLflow ``inputs``).

Messages name where the problem is but never echo a value from the payload.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from mlpact.errors import PayloadError, plural

_SCALARS = (str, int, float, bool, type(None))
_WRAPPERS = ("dataframe_records", "dataframe_split", "inputs")


async def read_body(chunks: AsyncIterator[bytes], content_length: str | None, *, max_bytes: int) -> bytes:
    """The whole body, refusing (413) as soon as it is known to exceed `max_bytes`."""
    if content_length is not None and content_length.isdigit() and int(content_length) > max_bytes:
        raise PayloadError(413, _too_large(f"{int(content_length):,} bytes", max_bytes))
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > max_bytes:
            raise PayloadError(413, _too_large(f"more than {max_bytes:,} bytes", max_bytes))
    return bytes(body)


def _too_large(found: str, max_bytes: int) -> str:
    return (
        f"Request body too large: {found}; this server accepts at most {max_bytes:,} bytes "
        "(mlpact serve --max-bytes). Split the request into smaller batches."
    )


def parse_records(body: bytes, *, max_rows: int) -> list[dict[str, Any]]:
    """Parse a JSON body in any accepted shape into a list of records of scalar values.

    Raises:
        PayloadError: 422 for a body that is not JSON or not an accepted shape; 413 for too many rows.
    """
    import orjson  # strict JSON (no NaN/Infinity), and 5-10x faster than json for request bodies

    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(
            422, f"Request body is not valid JSON at line {exc.lineno}, column {exc.colno}."
        ) from None
    records, label = _records(data)
    if len(records) > max_rows:
        raise PayloadError(
            413,
            f"Too many rows: {len(records):,}; this server accepts at most {max_rows:,} per request "
            "(mlpact serve --max-rows). Split the request into smaller batches.",
        )
    _check_scalars(records, label)
    return records


def _records(data: Any) -> tuple[list[Any], str]:
    if isinstance(data, list):
        return data, "records"
    if not isinstance(data, dict):
        raise PayloadError(422, _shape_error(f"a JSON {_kind(data)}"))
    keys = [k for k in _WRAPPERS if k in data]
    if len(keys) > 1:
        raise PayloadError(422, f"Request body has more than one of {keys}; send exactly one.")
    if not keys:
        return [data], "record"
    key = keys[0]
    if key == "dataframe_split":
        return _from_split(data[key]), "dataframe_split.data"
    if key == "inputs" and isinstance(data[key], dict):
        return _from_columns(data[key]), "inputs"
    if not isinstance(data[key], list):
        raise PayloadError(422, f"{key}: expected a list of records, got a JSON {_kind(data[key])}.")
    return data[key], key


def _shape_error(found: str) -> str:
    return (
        f"Expected a list of records, one record, or an object with one of {list(_WRAPPERS)}; "
        f"got {found}. See /docs for the request schema."
    )


def _from_split(split: Any) -> list[dict[str, Any]]:
    if not isinstance(split, dict) or not isinstance(split.get("columns"), list):
        raise PayloadError(422, "dataframe_split: expected an object with `columns` (a list) and `data`.")
    columns, rows = split["columns"], split.get("data")
    if not all(isinstance(c, str) for c in columns):
        raise PayloadError(422, "dataframe_split.columns: expected a list of column names (strings).")
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise PayloadError(422, "dataframe_split.data: expected a list of rows, each a list of values.")
    bad = [i for i, r in enumerate(rows) if len(r) != len(columns)]
    if bad:
        raise PayloadError(
            422,
            f"dataframe_split.data: {plural(len(bad), 'row')} {'does' if len(bad) == 1 else 'do'} not have "
            f"{plural(len(columns), 'value')}, one per column "
            f"(rows {', '.join(str(i + 1) for i in bad[:5])}).",
        )
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _from_columns(columns: dict[str, Any]) -> list[dict[str, Any]]:
    if not all(isinstance(v, list) for v in columns.values()):
        raise PayloadError(422, "inputs: expected a mapping of column name to a list of values.")
    lengths = sorted({len(v) for v in columns.values()})
    if len(lengths) > 1:
        raise PayloadError(
            422, f"inputs: every column needs the same number of values; got lengths {lengths}."
        )
    n = lengths[0] if lengths else 0
    return [{name: values[i] for name, values in columns.items()} for i in range(n)]


def _check_scalars(records: list[Any], label: str) -> None:
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise PayloadError(
                422,
                f"{label}[{i}]: expected a record (an object of column: value), got a JSON {_kind(record)}.",
            )
        for name, value in record.items():
            if not isinstance(value, _SCALARS):
                raise PayloadError(
                    422,
                    f"{label}[{i}].{name}: expected a single value (number, string, boolean or null), "
                    f"got a JSON {_kind(value)}.",
                )


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
