"""Build the scikit-learn pipeline: a ColumnTransformer per kind of column, then the estimator."""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from mlpact.config import Config, FeaturesConfig, ModelConfig, TextFeatures
    from mlpact.data.schema import Schema

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


def plan_features(
    schema: Schema, features: FeaturesConfig, drop: list[str], *, ids: Mapping[str, str] | None = None
) -> FeaturePlan:
    """Assign every schema column to a kind: listed columns first, then inferred ones.

    `ids` names columns that look like row identifiers (see `schema.id_like`) and why: inference
    leaves them out, saying so; listing one under a kind's `columns` uses it.

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
        if chosen is None and inferred and col.name in (ids or {}):
            unused[col.name] = (
                f"it looks like a row id ({ids[col.name]}); list it under "  # type: ignore[index]
                f"features.{inferred}.columns to use it, or add it to data.drop"
            )
            continue
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

    kind_of = {name: kind for kind in KINDS for name in getattr(plan, kind)}  # not a list scan per column
    columns = []
    for col in schema.columns:
        kind = kind_of.get(col.name)
        if kind is None:
            continue
        if kind == "numeric" and col.type not in ("int", "float", "bool"):
            col = replace(col, type="float", categories=None)
        elif kind != "numeric" and col.type != _TYPE_OF_KIND[kind]:
            col = replace(col, type=_TYPE_OF_KIND[kind], min=None, max=None)
        columns.append(col)
    return replace(schema, columns=tuple(columns))


def build_preprocessor(plan: FeaturePlan, features: FeaturesConfig) -> Any:
    """A ColumnTransformer with one branch per kind of column present in the plan."""
    from sklearn.compose import ColumnTransformer
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
    branches += text_branches(plan.text, features.text)
    if plan.datetime:
        dt = features.datetime
        steps = [DatetimeParts(parts=tuple(dt.parts)), SimpleImputer(strategy="median"), StandardScaler()]
        branches.append(("datetime", make_pipeline(*steps), plan.datetime))
    if not branches:
        raise ConfigError(["features: no column is used as a feature; list columns under features"])
    return ColumnTransformer(branches, remainder="drop", sparse_threshold=0.3 if plan.text else 0.0)


def text_groups(columns: list[str], text: TextFeatures) -> dict[str, list[str]]:
    """Which text columns share a TF-IDF, by branch name: `text` for all of them (`combine: true`),
    `text_GROUP` per named group, `text_COLUMN` for a column on its own."""
    if text.combine is True and len(columns) > 1:
        return {"text": list(columns)}
    groups = text.combine if isinstance(text.combine, dict) else {}
    out: dict[str, list[str]] = {}
    for group, members in groups.items():
        used = [c for c in members if c in columns]
        if used:
            out[f"text_{group}"] = used
    grouped = {c for members in out.values() for c in members}
    out.update({f"text_{c}": [c] for c in columns if c not in grouped})
    return out


def text_branches(columns: list[str], text: TextFeatures) -> list[tuple[str, Any, Any]]:
    """One ColumnTransformer branch per TF-IDF: a column alone, or columns joined by `separator`."""
    from sklearn.pipeline import make_pipeline

    from mlpact.transformers import JoinText

    branches: list[tuple[str, Any, Any]] = []
    for name, cols in text_groups(columns, text).items():
        if len(cols) == 1:
            branches.append((name, make_vectorizer(text), cols[0]))
        else:
            branches.append(
                (name, make_pipeline(JoinText(separator=text.separator), make_vectorizer(text)), cols)
            )
    return branches


def make_vectorizer(text: TextFeatures) -> Any:
    """The TF-IDF vectorizer the `features.text` options describe (float32, like every branch)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    stop_words = (
        text.stop_words
        if text.stop_words is None or isinstance(text.stop_words, str)
        else list(text.stop_words)
    )
    return TfidfVectorizer(
        analyzer=text.analyzer,
        ngram_range=(text.ngram_min, text.ngram_max),
        max_features=text.max_features,
        min_df=text.min_df,
        max_df=text.max_df,
        stop_words=stop_words,
        sublinear_tf=text.sublinear_tf,
        binary=text.binary,
        lowercase=text.lowercase,
        dtype=_float32(),
    )


def _float32() -> Any:
    import numpy as np

    return np.float32


def build_pipeline(cfg: Config, plan: FeaturePlan) -> Pipeline:
    """Custom steps (if any), preprocessing and the configured estimator, as one scikit-learn Pipeline."""
    from sklearn.pipeline import Pipeline

    estimator = make_estimator(cfg.model, seed=cfg.seed)
    steps = custom_steps(cfg.features, seed=cfg.seed)
    for i, path in enumerate(cfg.code.trust):  # named for the saved pipeline: must exist before fitting
        if not callable(import_object(path, key=f"code.trust.{i}")):
            raise ConfigError(
                [f"code.trust.{i}: {path!r} is not a class or function; name each exactly (never a module)"]
            )
    return Pipeline([*steps, ("preprocess", build_preprocessor(plan, cfg.features)), ("model", estimator)])


# --------------------------------------------------------------------------- estimators
def import_object(path: str, *, key: str = "model.type", near: Path | None = None) -> Any:
    """Import `pkg.module.Name` or `pkg.module:Name`; errors name the config key and a close match.

    Args:
        near: the config's folder: when the module is a file or package there that Python cannot
            find, the error's hint says how to make it importable.
    """
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        error = ConfigError([f"{key}: cannot import module {module_name!r} (found {path!r}): {exc}"])
        error.hint = _not_on_path_hint(module_name, exc, near) or (
            "Check the import path's spelling; a module of your own must be importable here "
            "(`pip install -e .` in its project, or [tool.mlpact] source-dirs in pyproject.toml)."
        )
        raise error from None
    try:
        return getattr(module, attr)
    except AttributeError:
        public = [n for n in dir(module) if not n.startswith("_")]
        close = difflib.get_close_matches(attr, public, n=1)
        hint = f"; did you mean `{module_name}.{close[0]}`?" if close else ""
        raise ConfigError([f"{key}: module {module_name!r} has no attribute {attr!r}{hint}"]) from None


def _not_on_path_hint(module_name: str, exc: ImportError, near: Path | None) -> str | None:
    """A hint when the missing module is a file or package beside the config (not on sys.path)."""
    top = module_name.split(".")[0]
    if near is None or getattr(exc, "name", None) != top:
        return None
    if not ((near / f"{top}.py").is_file() or (near / top / "__init__.py").is_file()):
        return None
    root = next((d for d in [near, *near.parents] if (d / "pyproject.toml").is_file()), None)
    where = (near.relative_to(root).as_posix() or ".") if root is not None else "."
    pyproject = str(root / "pyproject.toml") if root is not None else f"a pyproject.toml in {near}"
    return (
        f"{top} is in {near}, which is not on Python's import path. Add the folder to {pyproject}: "
        f'[tool.mlpact] source-dirs = ["{where}"]; or run with PYTHONPATH={near}; or install your '
        "project (pip install -e .)."
    )


def make_estimator(spec: ModelConfig, *, seed: int) -> Any:
    """Instantiate the estimator named by `model.type` with `model.params`.

    Raises:
        ConfigError: the path does not import, is not an estimator, or a parameter is unknown.
    """
    return instantiate(spec.type, spec.params, key="model", needs=("fit", "predict"), seed=seed)


def instantiate(
    path: str, params: Mapping[str, Any], *, key: str, needs: tuple[str, ...], seed: int | None = None
) -> Any:
    """Import a class by path and build it with checked keyword arguments.

    Args:
        path: the import path.
        params: keyword arguments; each must be a parameter of the class.
        key: the config key of this entry (`model`, `features.custom.0`), named in every error.
        needs: methods the class must have (e.g. fit and predict for an estimator).
        seed: passed as `random_state` when the class takes one and it is not given.
    """
    cls = import_object(path, key=f"{key}.type")
    if not isinstance(cls, type) or not all(hasattr(cls, m) for m in needs):
        what = "an estimator" if "predict" in needs else "a transformer"
        methods = " and ".join(f"{m}()" for m in needs)
        raise ConfigError(
            [
                f"{key}.type: {path!r} is not {what}: expected a class with {methods}, "
                f"found {type(cls).__name__} {getattr(cls, '__name__', cls)!r}"
            ]
        )
    accepted = _init_params(cls)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        problems = []
        for name in unknown:
            close = difflib.get_close_matches(name, accepted, n=1)
            hint = f"; did you mean `{key}.params.{close[0]}`?" if close else ""
            problems.append(f"{key}.params.{name}: not a parameter of {cls.__name__}{hint}")
        raise ConfigError(problems)
    kwargs = dict(params)
    if seed is not None and "random_state" in accepted and "random_state" not in kwargs:
        kwargs["random_state"] = seed
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError([f"{key}.params: {cls.__name__}({kwargs}) failed: {exc}"]) from None


# --------------------------------------------------------------------------- custom steps
def custom_steps(features: FeaturesConfig, *, seed: int) -> list[tuple[str, Any]]:
    """The configured custom transformers, named `custom_0`, `custom_1`, ... in order."""
    return [
        (
            f"custom_{i}",
            instantiate(
                step.type, step.params, key=f"features.custom.{i}", needs=("fit", "transform"), seed=seed
            ),
        )
        for i, step in enumerate(features.custom)
    ]


def extend_plan(plan: FeaturePlan, cfg: Config, X_train: pd.DataFrame) -> tuple[FeaturePlan, list[str]]:
    """Add the columns the custom steps create (fitted on training rows) to the feature plan.

    Returns:
        The plan including the new columns, and the names of the new columns.

    Raises:
        ConfigError: a custom step does not return a DataFrame.
    """
    import pandas as pd

    from mlpact.data.schema import infer_type

    frame = X_train
    for name, step in custom_steps(cfg.features, seed=cfg.seed):
        frame = step.fit(frame).transform(frame)
        if not isinstance(frame, pd.DataFrame):
            index = int(name.rsplit("_", 1)[1])
            raise ConfigError(
                [
                    f"features.custom.{index}.type: {cfg.features.custom[index].type} returned "
                    f"{type(frame).__name__}; expected a DataFrame (the input columns plus new ones)"
                ]
            )
    added = [str(c) for c in frame.columns if c not in X_train.columns]
    groups = {k: list(getattr(plan, k)) for k in KINDS}
    for column in added:
        kind = _KIND_OF_TYPE.get(infer_type(frame[column], cfg.schema_), "numeric")
        groups[kind].append(column)
    return FeaturePlan(**groups, unused=dict(plan.unused)), added


def _init_params(cls: type) -> list[str]:
    if hasattr(cls, "_get_param_names"):
        return list(cls._get_param_names())
    sig = inspect.signature(cls)
    return [n for n, p in sig.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
