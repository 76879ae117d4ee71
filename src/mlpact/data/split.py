"""Splits: the train/test split of the rows (seeded), and the cross-validation folds of the
training split that match it (grouped, time-ordered or stratified)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlpact.errors import DataError

if TYPE_CHECKING:
    from mlpact.config import Config
    from mlpact.data.sources import Task


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
        counts = counts[counts > 0]  # a categorical column lists categories no row has
        n_test = math.ceil(len(frame) * spec.test_size)
        if counts.min() < 2:
            rare = sorted(map(str, counts[counts < 2].index))
            warnings.append(f"Split not stratified: classes with a single row: {rare}.")
        elif min(n_test, len(frame) - n_test) < len(counts):
            warnings.append(
                f"Split not stratified: {len(counts)} classes do not fit in {n_test} test rows "
                "(a stratified split puts every class in both splits)."
            )
        else:
            stratify = frame[cfg.data.target]
    train, test = train_test_split(
        positions, test_size=spec.test_size, random_state=cfg.seed, stratify=stratify
    )
    return Split(np.sort(train), np.sort(test), "stratified" if stratify is not None else "random", warnings)


def _as_time(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series
    return pd.to_datetime(series, errors="coerce", format="mixed")


def cv_splits(
    cfg: Config, task: str, X: pd.DataFrame, y: pd.Series, groups: pd.Series | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Folds of the training split matching the split config: grouped, time-ordered or stratified."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit

    k = cfg.evaluate.cv_folds
    split = cfg.data.split
    splitter: Any
    if split.time_column:
        splitter = TimeSeriesSplit(n_splits=k)
    elif split.group_column and groups is not None:
        splitter = GroupKFold(n_splits=k)
    elif task == "classification" and split.stratify and y.value_counts().min() >= k:
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=cfg.seed)
    else:
        splitter = KFold(n_splits=k, shuffle=True, random_state=cfg.seed)
    yield from splitter.split(X, y, groups)
