"""Data: read a source, choose the task, split it (seeded) and fingerprint it."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from mlpact._core import files, remote
from mlpact.errors import DataError, shorten

if TYPE_CHECKING:
    from mlpact.config import Config, DataConfig

Task = Literal["classification", "regression"]
MAX_CLASSES = 50
# Columns the serving prediction log adds beside the input columns; `check` ignores them.
LOG_COLUMNS = ("mlpact_prediction", "mlpact_request_id", "mlpact_time", "mlpact_model")


def read_table(
    path: str | Path, *, fmt: str = "auto", sep: str = ",", storage_options: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Read a whole CSV or Parquet file (a local path or a URL such as ``s3://bucket/key``), or a
    local folder of Parquet files (such as the prediction log `mlpact serve` writes).

    Args:
        storage_options: fsspec options for a URL (e.g. ``endpoint_url``); ignored for paths.

    Raises:
        DataError: the file is missing, of an unknown format, or cannot be parsed.
    """

    if not remote.is_url(path) and Path(path).is_dir():
        return _read_parquet_folder(Path(path))
    kind = table_format(path, fmt)
    where: str | Path = str(path)
    options: dict[str, Any] | None = None
    if remote.is_url(path):
        remote.require(str(path), storage_options)
        options = dict(storage_options or {})
    else:
        where = Path(path)
        if not where.exists():
            raise DataError(f"Data file {str(path)!r} does not exist.", hint="Check data.source.")
    try:
        if kind == "parquet":
            frame = pd.read_parquet(where, storage_options=options)
            refuse_duplicate_columns(list(map(str, frame.columns)), path)
            return frame
        frame = pd.read_csv(where, sep=sep, low_memory=False, storage_options=options)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise empty_file(path) from None
    except Exception as exc:  # parsers raise many types; all mean the same to a user
        if kind == "parquet":
            refuse_duplicate_columns(_parquet_names(where, options), path)
        raise DataError(f"Failed while reading {kind.upper()} file {str(path)!r}.\n{exc}") from exc
    check_separator([str(c) for c in frame.columns], sep, path)
    if any(_MANGLED.fullmatch(str(c)) for c in frame.columns):  # pandas renames a 2nd `x` to `x.1`
        header = pd.read_csv(where, sep=sep, header=None, nrows=1, dtype=str, storage_options=options)
        refuse_duplicate_columns([str(v) for v in header.iloc[0]], path)
    return frame


_MANGLED = re.compile(r".+\.\d+")


def _parquet_names(where: str | Path, options: dict[str, Any] | None) -> list[str]:
    """The column names in a Parquet file's footer (empty when it cannot be read)."""
    import pyarrow.parquet as pq

    try:
        if options is None:
            return list(pq.read_schema(where).names)

        fs, inner = remote.filesystem(str(where), options)
        with fs.open(inner, "rb") as handle:
            return list(pq.read_schema(handle).names)
    except Exception:  # not Parquet at all: the caller's error says so
        return []


_SEPARATORS = (",", ";", "\t", "|")


def check_separator(names: list[str], sep: str, path: str | Path) -> None:
    """Refuse a CSV header read as one column that holds another separator (`a;b;c` read with ',').

    Raises:
        DataError: naming the separator the header seems to use, with the flag that sets it.
    """
    if len(names) != 1:
        return
    found = next((c for c in _SEPARATORS if c != sep and names[0].count(c) >= 1), None)
    if found is None:
        return
    shown, flag, key = {"\t": ("a tab", "'\\t'", '"\\t"')}.get(found, (repr(found), repr(found), repr(found)))
    expected = {"\t": "a tab"}.get(sep, repr(sep))
    raise DataError(
        f"CSV file {str(path)!r}: expected columns separated by {expected}, found a header that is one "
        f"column holding {shown}: {shorten(names[0], 120)!r}.",
        hint=f"Read it with --sep {flag} (in a config: data.sep: {key}).",
    )


def closest_column(name: str, columns: Iterable[str]) -> str | None:
    """The column a misspelt `name` most likely means: one equal but for case, spaces,
    underscores or punctuation (`Alcohol`, `malic acid`), else the closest spelling."""
    import difflib

    columns = [str(c) for c in columns]
    key = _loose(name)
    same = [c for c in columns if _loose(c) == key]
    close = same or difflib.get_close_matches(name, columns, n=1, cutoff=0.75)
    return close[0] if close else None


def _loose(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", name.lower())


def make_output_folder(folder: Path) -> None:
    """Create the folder an output file goes into (and its parents), or say why it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DataError(
            f"Cannot write the output into {str(folder)!r}: expected a folder, found a file.",
            hint="Choose another --output path.",
        ) from None
    except OSError as exc:
        raise DataError(
            f"Cannot create the output folder {str(folder)!r}: {exc.strerror}.",
            hint="Choose an --output path in a folder you can write.",
        ) from None


def empty_file(path: str | Path) -> DataError:
    """The error for a CSV file with nothing in it, not even a header."""
    return DataError(
        f"CSV file {str(path)!r} is empty: expected a header line naming the columns, then one row "
        "per line; found 0 bytes (or only blank lines).",
        hint="Check the file was written completely (an export that failed leaves an empty file).",
    )


def refuse_duplicate_columns(names: list[str], path: str | Path) -> None:
    """Raise DataError naming every column name a file gives more than once."""
    counts = Counter(names)
    twice = sorted(n for n, k in counts.items() if k > 1)
    if twice:
        found = ", ".join(f"{n!r} ({counts[n]} columns)" for n in twice)
        raise DataError(
            f"Data file {str(path)!r} has duplicate column names: {found}. Expected every column "
            "name once: which column a config, a schema or a request means must be unambiguous.",
            hint="Rename or remove the duplicate columns in the file.",
        )


def _read_parquet_folder(path: Path) -> pd.DataFrame:
    parts = sorted(path.glob("*.parquet"))
    if not parts:
        raise DataError(
            f"Folder {str(path)!r} has no .parquet files.",
            hint="Name a CSV or Parquet file, or a folder of Parquet files (e.g. a prediction log).",
        )
    try:
        return pd.concat([pd.read_parquet(f) for f in parts], ignore_index=True)
    except Exception as exc:  # parsers raise many types; all mean the same to a user
        raise DataError(f"Failed while reading the Parquet files in {str(path)!r}.\n{exc}") from exc


def table_format(path: str | Path, fmt: str = "auto") -> Literal["csv", "parquet"]:
    """Decide a file's format from `fmt` or its extension."""
    if fmt in ("csv", "parquet"):
        return fmt  # type: ignore[return-value]
    suffixes = [s.lower() for s in Path(str(path).split("?")[0]).suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if ".csv" in suffixes or ".tsv" in suffixes or ".txt" in suffixes:
        return "csv"
    found = f"'{suffixes[-1]}'" if suffixes else "no extension"
    excel = bool(suffixes) and suffixes[-1] in (".xlsx", ".xls", ".xlsm", ".ods")
    raise DataError(
        f"Cannot tell the format of {str(path)!r} from its extension: expected a CSV file (.csv, .tsv, "
        f".txt) or a Parquet file (.parquet, .pq), found {found}.",
        hint="Save the workbook as CSV (File > Save As > CSV) and pass that file."
        if excel
        else "Rename the file to the format it holds (a config can also set data.format: csv or parquet).",
    )


def load_sklearn_dataset(name: str) -> pd.DataFrame:
    """A dataset that ships with scikit-learn, as one frame whose target column is `target`."""
    from sklearn import datasets

    loader = getattr(datasets, f"load_{name}")
    bunch = loader(as_frame=True)
    frame: pd.DataFrame = bunch.frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    return frame


def load_frame(cfg: Config) -> pd.DataFrame:
    """Load the configured source and keep the configured columns (target included)."""
    data = cfg.data
    path = cfg.source_url() or cfg.source_path()
    if path is None:
        frame = load_sklearn_dataset(data.source.removeprefix("sklearn:"))
    else:
        frame = read_table(path, fmt=data.format, sep=data.sep, storage_options=data.storage_options)
    return select_columns(frame, data)


def select_columns(frame: pd.DataFrame, data: DataConfig) -> pd.DataFrame:
    """Apply `data.columns` and `data.drop`; check the target and named columns exist."""
    frame.columns = [str(c) for c in frame.columns]
    named = [data.target, *(data.columns or []), *data.drop]
    named += [c for c in (data.split.group_column, data.split.time_column) if c]
    missing = sorted(set(named) - set(frame.columns))
    if missing:
        near = {m: closest_column(m, set(frame.columns) - set(named)) for m in missing}
        meant = "; ".join(f"did you mean {c!r} for {m!r}?" for m, c in near.items() if c)
        raise DataError(
            f"Columns named in the config are not in the data: {missing!r}.{' ' + meant if meant else ''}\n"
            f"The data has: {sorted(frame.columns)!r}.",
            hint="Fix data.target, data.columns, data.drop or data.split in the config (or --set).",
        )
    if data.columns is not None:
        keep = list(dict.fromkeys([*data.columns, data.target]))
        keep += [c for c in (data.split.group_column, data.split.time_column) if c and c not in keep]
        frame = frame[keep]
    if len(frame) == 0:
        raise DataError(
            "The data has a header but 0 rows: expected at least one row to train on.",
            hint="Check data.source names the file you meant (and that it was written completely).",
        )
    return frame


# --------------------------------------------------------------------------- values no model can use
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_values(frame: pd.DataFrame, *, skip: Iterable[str] = ()) -> None:
    """Refuse cells no model can use, naming each column with a count and the first rows:
    lists, mappings and bytes (e.g. Parquet list, struct or binary columns), and numbers that are
    infinite or beyond ±3.4e38 (float32's range: scikit-learn's trees compute in float32, and
    larger values overflow scalers and metrics).

    Raises:
        DataError: some column holds such values (rows count data rows from 1).
    """
    ignored = set(skip)
    found = [(name, *f) for name in frame.columns if name not in ignored for f in _unusable(frame[name])]
    if not found:
        return
    lines = [
        f"  - {name!r}: {count} {kind[count != 1]} ({_rows(rows, count)})"
        for name, kind, count, rows in found
    ]
    numbers = any("number" in kind[0] for _, kind, _, _ in found)
    raise DataError(
        "Columns hold values no model can use:\n" + "\n".join(lines) + "\nExpected in every cell a "
        f"number within ±{FLOAT32_MAX:.2g}, a boolean, a date or text (an empty cell for a missing value).",
        hint=(
            "Write infinite or sentinel numbers (such as 1e308 for 'unknown') as missing values, which "
            "the pipeline imputes, or clip them. "
            if numbers
            else ""
        )
        + "Leave such a column out (data.drop, for training), or turn it into plain columns "
        "(one column per list element or mapping key; bytes decoded to text).",
    )


_INFINITE = ("infinite number", "infinite numbers")


_HUGE = (f"number beyond ±{FLOAT32_MAX:.2g}", f"numbers beyond ±{FLOAT32_MAX:.2g}")


_NESTED = {list: "list", tuple: "list", np.ndarray: "list", dict: "mapping", set: "set", frozenset: "set",
           bytes: "bytes value", bytearray: "bytes value"}  # fmt: skip


def _unusable(series: pd.Series) -> list[tuple[tuple[str, str], int, np.ndarray]]:
    """((singular, plural), count, row positions) for each kind of unusable value in a column."""
    if pd.api.types.is_float_dtype(series):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            masks = [
                (_INFINITE, np.isinf(values)),
                (_HUGE, np.isfinite(values) & (np.abs(values) > FLOAT32_MAX)),
            ]
        return [(kind, int(mask.sum()), np.flatnonzero(mask)) for kind, mask in masks if mask.any()]
    kinds = nested_kinds(series)
    if kinds is None:
        return []
    out = []
    for kind in sorted(set(kinds) - {""}):
        mask = kinds == kind
        out.append(((kind, f"{kind}s"), int(mask.sum()), np.flatnonzero(mask)))
    return out


def nested_kinds(series: pd.Series) -> np.ndarray | None:
    """Per value, "list", "mapping", "set", "bytes value" or "" (a plain value); None when the
    column holds plain values only (decided without a Python loop for plain columns)."""
    if series.dtype != object or pd.api.types.infer_dtype(series, skipna=True) in _PLAIN:
        return None
    kinds = series.map(lambda v: _NESTED.get(type(v), "")).to_numpy()
    return kinds if (kinds != "").any() else None


_PLAIN = frozenset({"string", "integer", "floating", "boolean", "mixed-integer-float", "decimal", "empty",
                    "datetime", "datetime64", "date", "time", "timedelta", "timedelta64"})  # fmt: skip


def _rows(rows: np.ndarray, count: int) -> str:
    shown = ", ".join(str(int(r) + 1) for r in rows[:5])
    return f"row{'s' if count > 1 else ''} {shown}{', ...' if count > 5 else ''}"


def classification_target(y: pd.Series, *, rows: int) -> pd.Series:
    """The labels of a classification target, checked and in one plain type: booleans (with
    missing values read as objects) become a bool column, a mix of types becomes text.

    Raises:
        DataError: fewer than two classes, or more classes than half the rows (an identifier or
            a continuous number: no class could be both learned and tested).
    """
    values = y.dropna()
    types = set(map(type, values.array)) if y.dtype == object else set()
    if types and types <= {bool, np.bool_}:
        y = y.astype(bool)
    elif len(types) > 1 and not any(issubclass(t, str | bytes | bool) for t in types):
        y = pd.to_numeric(y)  # ints and floats read as objects
    elif len(types) > 1:
        y = y.map(lambda v: v if pd.isna(v) else _label_text(v))  # text and numbers: all text
    name = str(y.name)
    if pd.api.types.is_float_dtype(y) and not bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0)):
        raise DataError(
            f"The target {name!r} holds numbers that are not whole ({values.nunique()} distinct values): "
            "scikit-learn's classifiers take integers, text or booleans as class labels.",
            hint="Set data.task: regression if the target is a quantity; write the labels as text or "
            "integers if they are classes.",
        )
    classes = y.nunique()
    if classes < 2:
        only = f" ({values.iloc[0]!r})" if len(values) else ""
        raise DataError(
            f"The target {name!r} has {classes} class{only} in {rows} rows: a classifier needs at "
            "least two classes.",
            hint="Check data.target, or that filtering the data left more than one class.",
        )
    if classes > rows / 2:
        raise DataError(
            f"The target {name!r} has {classes} classes in {rows} rows: a classifier needs at least "
            "two rows per class on average, to learn each class and to test it.",
            hint="If the target is a number, set data.task: regression; if it is an identifier or "
            "free text, choose another data.target.",
        )
    return y


def _label_text(value: Any) -> str:
    return str(value.item() if isinstance(value, np.generic) else value)


def infer_task(y: pd.Series, requested: str = "auto") -> Task:
    """Classification for text, bool, category or few-valued integral targets; else regression."""
    if requested in ("classification", "regression"):
        return requested  # type: ignore[return-value]
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    values = y.dropna()
    integral = bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
    if integral and values.nunique() <= min(MAX_CLASSES, max(2, len(values) // 5)):
        return "classification"
    return "regression"


def fingerprint(frame: pd.DataFrame) -> str:
    """A sha256 of a frame's column names, dtypes and values (not its index or file format)."""
    digest = hashlib.sha256()
    for name in frame.columns:
        digest.update(f"{name}\0{frame[name].dtype}\0".encode())
    digest.update(hash_rows(frame).tobytes())
    return digest.hexdigest()


def hash_rows(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's values, not its index (pandas' ``hash_pandas_object``)."""
    try:
        hashed = pd.util.hash_pandas_object(frame, index=False)
    except TypeError:  # lists or mappings, in a column left out with data.drop: hash their text
        hashed = pd.util.hash_pandas_object(frame.apply(_hashable), index=False)
    return np.asarray(hashed, dtype="uint64")


def _hashable(column: pd.Series) -> pd.Series:
    return column.map(repr) if column.dtype == object else column


def file_sha256(path: str | Path, *, storage_options: Mapping[str, Any] | None = None) -> str:
    """The sha256 of a file's bytes, streamed (a URL's object the same way)."""

    if remote.is_url(path):
        return remote.url_sha256(str(path), storage_options)
    return files.sha256_file(Path(path))
