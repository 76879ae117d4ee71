"""Data: read a source, choose the task, split it (seeded) and fingerprint it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from mlpact.errors import DataError

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
    from mlpact import remote

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
            return pd.read_parquet(where, storage_options=options)
        return pd.read_csv(where, sep=sep, low_memory=False, storage_options=options)
    except Exception as exc:  # parsers raise many types; all mean the same to a user
        raise DataError(f"Failed while reading {kind.upper()} file {str(path)!r}.\n{exc}") from exc


def _read_parquet_folder(path: Path) -> pd.DataFrame:
    files = sorted(path.glob("*.parquet"))
    if not files:
        raise DataError(
            f"Folder {str(path)!r} has no .parquet files.",
            hint="Name a CSV or Parquet file, or a folder of Parquet files (e.g. a prediction log).",
        )
    try:
        return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
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
    raise DataError(
        f"Cannot tell the format of {str(path)!r} from its extension: expected .csv or .parquet.",
        hint="Rename the file or set data.format.",
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
        raise DataError(
            f"Columns named in the config are not in the data: {missing!r}.\n"
            f"The data has: {sorted(frame.columns)!r}.",
            hint="Fix data.target, data.columns, data.drop or data.split in the config.",
        )
    if data.columns is not None:
        keep = list(dict.fromkeys([*data.columns, data.target]))
        keep += [c for c in (data.split.group_column, data.split.time_column) if c and c not in keep]
        frame = frame[keep]
    if len(frame) == 0:
        raise DataError("The data has no rows.")
    return frame


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


@dataclass(frozen=True)
class Split:
    """Row positions of the training and test splits, and anything worth warning about."""

    train: np.ndarray
    test: np.ndarray
    strategy: str
    warnings: list[str] = field(default_factory=list)


def split_rows(frame: pd.DataFrame, cfg: Config, task: Task) -> Split:
    """Split rows into train and test as `data.split` says, seeded by `seed`."""
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    spec = cfg.data.split
    positions = np.arange(len(frame))
    if len(frame) < 4:
        raise DataError(f"Too few rows to split: {len(frame)}; at least 4 are needed.")
    if spec.time_column:
        order = np.argsort(_as_time(frame[spec.time_column]).to_numpy(), kind="stable")
        n_test = max(1, round(len(frame) * spec.test_size))
        return Split(np.sort(order[:-n_test]), np.sort(order[-n_test:]), "time")
    if spec.group_column:
        groups = frame[spec.group_column].dropna().unique()
        if len(groups) < 2:
            found = f"{len(groups)}" + (f" ({groups[0]!r})" if len(groups) else "")
            raise DataError(
                f"Expected at least 2 values of data.split.group_column {spec.group_column!r} to split by; "
                f"found {found}, so one split would be empty.",
                hint="Name a column that groups rows (a customer or patient id), or remove group_column.",
            )
        splitter = GroupShuffleSplit(n_splits=1, test_size=spec.test_size, random_state=cfg.seed)
        train, test = next(splitter.split(positions, groups=frame[spec.group_column]))
        return Split(np.sort(train), np.sort(test), "group")
    warnings = []
    stratify = None
    if task == "classification" and spec.stratify:
        counts = frame[cfg.data.target].value_counts()
        if counts.min() >= 2:
            stratify = frame[cfg.data.target]
        else:
            rare = sorted(map(str, counts[counts < 2].index))
            warnings.append(f"Split not stratified: classes with a single row: {rare}.")
    train, test = train_test_split(
        positions, test_size=spec.test_size, random_state=cfg.seed, stratify=stratify
    )
    return Split(np.sort(train), np.sort(test), "stratified" if stratify is not None else "random", warnings)


def _as_time(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series
    return pd.to_datetime(series, errors="coerce", format="mixed")


def fingerprint(frame: pd.DataFrame) -> str:
    """A sha256 of a frame's column names, dtypes and values (not its index or file format)."""
    digest = hashlib.sha256()
    for name in frame.columns:
        digest.update(f"{name}\0{frame[name].dtype}\0".encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def file_sha256(path: str | Path, *, storage_options: Mapping[str, Any] | None = None) -> str:
    """The sha256 of a file's bytes, streamed (a URL's object the same way)."""
    from mlpact import bundle, remote

    if remote.is_url(path):
        return remote.url_sha256(str(path), storage_options)
    return bundle.sha256_file(Path(path))
