"""Build the scikit-learn pipeline: a ColumnTransformer per kind of column, then the estimator."""

from __future__ import annotations

import difflib
import importlib
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlpact.errors import ConfigError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from mlpact.config import Config, FeaturesConfig, ModelConfig
    from mlpact.schema import Schema

KINDS = ("numeric", "categorical", "text", "datetime")
_KIND_OF_TYPE = {
    "int": "numeric",
    "float": "numeric",
    "bool": "numeric",
    "category": "categorical",
    "text": "text",
    "datetime": "datetime",
}
_TYPE_OF_KIND = {"categorical": "category", "text": "text", "datetime": "datetime"}


@dataclass(frozen=True)
class FeaturePlan:
    """Which columns go through which preprocessing, and which are not used (and why)."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    datetime: list[str] = field(default_factory=list)
    unused: dict[str, str] = field(default_factory=dict)

    @property
    def used(self) -> list[str]:
        return self.numeric + self.categorical + self.text + self.datetime

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (*KINDS, "unused")}


def plan_features(schema: Schema, features: FeaturesConfig, drop: list[str]) -> FeaturePlan:
    """Assign every schema column to a kind: listed columns first, then inferred ones.

    Raises:
        ConfigError: a listed column is not in the data, or is listed under two kinds.
    """
    available = set(schema.names)
    listed: dict[str, str] = {}
    problems = []
    for kind in KINDS:
        for name in getattr(features, kind).columns or []:
            if name not in available:
                problems.append(f"features.{kind}.columns: {name!r} is not an input column")
            elif name in listed:
                problems.append(f"features.{kind}.columns: {name!r} is also listed under {listed[name]}")
            else:
                listed[name] = kind
    if problems:
        raise ConfigError(problems)
    groups: dict[str, list[str]] = {k: [] for k in KINDS}
    unused = {}
    for col in schema.columns:
        if col.name in drop:
            unused[col.name] = "dropped by data.drop"
            continue
        chosen = listed.get(col.name)
        inferred = _KIND_OF_TYPE.get(col.type)
        if chosen is None and inferred and features.infer and getattr(features, inferred).columns is None:
            chosen = inferred
        if chosen is not None:
            groups[chosen].append(col.name)
        elif col.type == "string":
            unused[col.name] = "id-like strings (many distinct short values); declare it to use it"
        else:
            unused[col.name] = "not listed under features"
    return FeaturePlan(**groups, unused=unused)


def retype_for_plan(schema: Schema, plan: FeaturePlan) -> Schema:
    """The schema of the used columns, with types matching the kind each column was given."""
    from dataclasses import replace

    columns = []
    for col in schema.columns:
        if col.name not in plan.used:
            continue
        kind = next(k for k in KINDS if col.name in getattr(plan, k))
        if kind == "numeric" and col.type not in ("int", "float", "bool"):
            col = replace(col, type="float", categories=None)
        elif kind != "numeric" and col.type != _TYPE_OF_KIND[kind]:
            col = replace(col, type=_TYPE_OF_KIND[kind], min=None, max=None)
        columns.append(col)
    return replace(schema, columns=tuple(columns))


def build_preprocessor(plan: FeaturePlan, features: FeaturesConfig) -> Any:
    """A ColumnTransformer with one branch per kind of column present in the plan."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import (
        MinMaxScaler,
        OneHotEncoder,
        OrdinalEncoder,
        RobustScaler,
        StandardScaler,
    )

    from mlpact.transformers import DatetimeParts

    branches: list[tuple[str, Any, Any]] = []
    if plan.numeric:
        num = features.numeric
        imputer = (
            SimpleImputer(strategy="constant", fill_value=0.0)
            if num.impute == "zero"
            else SimpleImputer(strategy=num.impute)
        )
        scalers = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}
        steps = [imputer] + ([scalers[num.scale]()] if num.scale != "none" else [])
        branches.append(("numeric", make_pipeline(*steps), plan.numeric))
    if plan.categorical:
        cat = features.categorical
        imputer = (
            SimpleImputer(strategy="constant", fill_value="__missing__")
            if cat.impute == "constant"
            else SimpleImputer(strategy="most_frequent")
        )
        encoder = (
            OneHotEncoder(
                handle_unknown="infrequent_if_exist",
                max_categories=cat.max_categories,
                sparse_output=bool(plan.text),
            )
            if cat.encode == "onehot"
            else OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
        )
        branches.append(("categorical", make_pipeline(imputer, encoder), plan.categorical))
    for name in plan.text:
        txt = features.text
        vectorizer = TfidfVectorizer(
            max_features=txt.max_features,
            ngram_range=(1, txt.ngram_max),
            min_df=txt.min_df,
            lowercase=txt.lowercase,
            dtype=_float32(),
        )
        branches.append((f"text_{name}", vectorizer, name))
    if plan.datetime:
        dt = features.datetime
        steps = [DatetimeParts(parts=tuple(dt.parts)), SimpleImputer(strategy="median"), StandardScaler()]
        branches.append(("datetime", make_pipeline(*steps), plan.datetime))
    if not branches:
        raise ConfigError(["features: no column is used as a feature; list columns under features"])
    return ColumnTransformer(branches, remainder="drop", sparse_threshold=0.3 if plan.text else 0.0)


def _float32() -> Any:
    import numpy as np

    return np.float32


def build_pipeline(cfg: Config, plan: FeaturePlan) -> Pipeline:
    """Preprocessing + the configured estimator, as one scikit-learn Pipeline."""
    from sklearn.pipeline import Pipeline

    estimator = make_estimator(cfg.model, seed=cfg.seed)
    return Pipeline([("preprocess", build_preprocessor(plan, cfg.features)), ("model", estimator)])


# --------------------------------------------------------------------------- estimators
def import_object(path: str, *, key: str = "model.type") -> Any:
    """Import `pkg.module.Name` or `pkg.module:Name`; errors name the config key and a close match."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError([f"{key}: cannot import module {module_name!r} (found {path!r}): {exc}"]) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        public = [n for n in dir(module) if not n.startswith("_")]
        close = difflib.get_close_matches(attr, public, n=1)
        hint = f"; did you mean `{module_name}.{close[0]}`?" if close else ""
        raise ConfigError([f"{key}: module {module_name!r} has no attribute {attr!r}{hint}"]) from None


def make_estimator(spec: ModelConfig, *, seed: int) -> Any:
    """Instantiate the estimator named by `model.type` with `model.params`.

    Raises:
        ConfigError: the path does not import, is not an estimator, or a parameter is unknown.
    """
    cls = import_object(spec.type)
    if not isinstance(cls, type) or not (hasattr(cls, "fit") and hasattr(cls, "predict")):
        raise ConfigError(
            [
                f"model.type: {spec.type!r} is not an estimator: expected a class with fit() "
                f"and predict(), found {type(cls).__name__} {getattr(cls, '__name__', cls)!r}"
            ]
        )
    accepted = _init_params(cls)
    unknown = sorted(set(spec.params) - set(accepted))
    if unknown:
        problems = []
        for name in unknown:
            close = difflib.get_close_matches(name, accepted, n=1)
            hint = f"; did you mean `model.params.{close[0]}`?" if close else ""
            problems.append(f"model.params.{name}: not a parameter of {cls.__name__}{hint}")
        raise ConfigError(problems)
    params = dict(spec.params)
    if "random_state" in accepted and "random_state" not in params:
        params["random_state"] = seed
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError([f"model.params: {cls.__name__}({params}) failed: {exc}"]) from None


def _init_params(cls: type) -> list[str]:
    if hasattr(cls, "_get_param_names"):
        return list(cls._get_param_names())
    sig = inspect.signature(cls)
    return [n for n, p in sig.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
