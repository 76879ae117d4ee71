"""scikit-learn transformers mlpact adds to pipelines; all are on mlpact's trusted list."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

_ATTRIBUTES = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}


class DatetimeParts(TransformerMixin, BaseEstimator):
    """Expand datetime columns into numeric parts (year, month, day, ...); NaT becomes NaN."""

    def __init__(self, parts: tuple[str, ...] = ("year", "month", "day", "dayofweek")) -> None:
        self.parts = parts

    def fit(self, X: Any, y: Any = None) -> DatetimeParts:
        frame = pd.DataFrame(X)
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = pd.DataFrame(X)
        out = []
        for name in frame.columns:
            values = pd.to_datetime(frame[name], errors="coerce")
            for part in self.parts:
                attr = _ATTRIBUTES.get(part, part)
                out.append(getattr(values.dt, attr).astype("float64").to_numpy())
        return np.column_stack(out) if out else np.empty((len(frame), 0))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = self.feature_names_in_ if input_features is None else input_features
        return np.asarray([f"{n}_{p}" for n in names for p in self.parts], dtype=object)


class JoinText(TransformerMixin, BaseEstimator):
    """Join several text columns into one document per row, so one TF-IDF sees them all.

    Missing values count as empty text; the result is a 1-D array of strings (what a vectorizer takes).
    """

    def __init__(self, separator: str = "\n") -> None:
        self.separator = separator

    def fit(self, X: Any, y: Any = None) -> JoinText:
        frame = pd.DataFrame(X)
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        frame = pd.DataFrame(X).fillna("").astype(str)
        joined = frame.iloc[:, 0] if frame.shape[1] else pd.Series([""] * len(frame))
        for name in frame.columns[1:]:
            joined = joined + self.separator + frame[name]
        return np.asarray(joined.to_numpy(dtype=object))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = self.feature_names_in_ if input_features is None else input_features
        return np.asarray(["+".join(map(str, names))], dtype=object)
