"""The run config: one YAML file plus ``--set key=value`` overrides, validated into frozen models.

Every section and key lives here, with its default and a description; the config reference in
the README and the JSON Schema for editors are generated from these models, so they cannot drift.
A typo is an error that names the key path, the value found, what is allowed and the closest
valid key.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from mlpact.bundle import safe_yaml
from mlpact.errors import ConfigError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
SKLEARN_DATASETS = ("iris", "wine", "breast_cancer", "diabetes", "digits")

Policy = Literal["error", "warn", "ignore"]
ColumnType = Literal["int", "float", "bool", "category", "text", "string", "datetime"]
Scalar = Union[str, int, float, bool]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------- data
class SplitConfig(_Section):
    """How the data is split into a training and a test split (seeded by `seed`)."""

    test_size: float = Field(
        0.2, gt=0, lt=1, description="Fraction of rows held out as the test split, scored once."
    )
    stratify: bool = Field(
        True, description="Keep class proportions equal in both splits (classification only)."
    )
    group_column: str | None = Field(
        None,
        description="Rows sharing a value of this column stay in the same split "
        "(e.g. a patient or customer id). Also used for grouped cross-validation.",
    )
    time_column: str | None = Field(
        None,
        description="Order rows by this column and test on the most recent ones; "
        "cross-validation becomes time-series splits.",
    )


class DataConfig(_Section):
    """Where the data comes from and which column is the target."""

    source: str = Field(
        description="A CSV or Parquet file (relative to the config file) or "
        "`sklearn:NAME` for a dataset that ships with scikit-learn "
        f"({', '.join(SKLEARN_DATASETS)})."
    )
    target: str = Field(
        "target",
        description="The column to predict. `sklearn:` datasets call it `target`.",
    )
    format: Literal["auto", "csv", "parquet"] = Field(
        "auto", description="File format; `auto` decides by the file extension."
    )
    sep: str = Field(",", description="Field separator for CSV files.")
    columns: list[str] | None = Field(
        None, description="Use only these columns (plus the target). Default: all columns."
    )
    drop: list[str] = Field(default_factory=list, description="Columns never used as features (ids, leaks).")
    task: Literal["auto", "classification", "regression"] = Field(
        "auto",
        description="`auto` infers classification for text, bool or few-valued integer "
        "targets, regression otherwise.",
    )
    split: SplitConfig = Field(default_factory=SplitConfig)

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        if value.startswith("sklearn:") and value[8:] not in SKLEARN_DATASETS:
            raise ValueError(
                f"unknown scikit-learn dataset {value[8:]!r}; expected one of "
                f"{', '.join('sklearn:' + n for n in SKLEARN_DATASETS)}"
            )
        if not value.strip():
            raise ValueError("must name a file or sklearn:NAME")
        return value


# --------------------------------------------------------------------------- schema
class ColumnSpec(_Section):
    """A declared column: wins over what inference would say."""

    type: ColumnType | None = Field(
        None,
        description="Logical type. `category` is one-hot encoded, `text` goes through TF-IDF, "
        "`string` (ids, names) is not used as a feature.",
    )
    nullable: bool | None = Field(None, description="Whether missing values are expected.")
    categories: list[Scalar] | None = Field(None, description="Allowed values of a category.")
    min: float | None = Field(None, description="Smallest expected value.")
    max: float | None = Field(None, description="Largest expected value.")


class SchemaConfig(_Section):
    """How the input schema is inferred, and columns declared by hand."""

    columns: dict[str, ColumnSpec] = Field(
        default_factory=dict, description="Declared columns by name; they win over inference."
    )
    max_categories: int = Field(
        50,
        ge=2,
        description="A string column with at most this many distinct values is a category.",
    )
    text_min_words: float = Field(
        3.0,
        gt=0,
        description="A string column with more distinct values whose values average at least "
        "this many words is text; otherwise it is an id-like string and is not used.",
    )


# --------------------------------------------------------------------------- features
class NumericFeatures(_Section):
    """Numeric columns: impute, then scale."""

    columns: list[str] | None = Field(None, description="Columns; default: inferred.")
    impute: Literal["mean", "median", "most_frequent", "zero"] = Field(
        "median", description="How missing values are filled."
    )
    scale: Literal["standard", "minmax", "robust", "none"] = Field(
        "standard", description="How values are scaled."
    )


class CategoricalFeatures(_Section):
    """Category columns: impute, then encode; unseen categories are handled."""

    columns: list[str] | None = Field(None, description="Columns; default: inferred.")
    impute: Literal["most_frequent", "constant"] = Field(
        "constant",
        description="`constant` makes missing values a category of their own (`__missing__`).",
    )
    encode: Literal["onehot", "ordinal"] = Field(
        "onehot",
        description="`onehot` ignores unseen categories; `ordinal` maps them to -1.",
    )
    max_categories: int | None = Field(
        30,
        ge=2,
        description="One-hot at most this many categories per column; rarer ones share one column.",
    )


class TextFeatures(_Section):
    """Free-text columns: TF-IDF, one vectorizer per column."""

    columns: list[str] | None = Field(None, description="Columns; default: inferred.")
    max_features: int | None = Field(20000, ge=1, description="Vocabulary size per column.")
    ngram_max: int = Field(2, ge=1, le=5, description="Longest n-gram (1 = words only).")
    min_df: int = Field(1, ge=1, description="Ignore terms in fewer documents than this.")
    lowercase: bool = Field(True, description="Lowercase before tokenizing.")


DatePart = Literal["year", "month", "day", "dayofweek", "dayofyear", "hour", "minute"]


def _default_parts() -> list[DatePart]:
    return ["year", "month", "day", "dayofweek"]


class DatetimeFeatures(_Section):
    """Datetime columns: expanded into numeric parts."""

    columns: list[str] | None = Field(None, description="Columns; default: inferred.")
    parts: list[DatePart] = Field(
        default_factory=_default_parts,
        min_length=1,
        description="Parts extracted as numeric features.",
    )


class FeaturesConfig(_Section):
    """Preprocessing per kind of column. Columns not listed anywhere are inferred from the schema."""

    numeric: NumericFeatures = Field(default_factory=NumericFeatures)
    categorical: CategoricalFeatures = Field(default_factory=CategoricalFeatures)
    text: TextFeatures = Field(default_factory=TextFeatures)
    datetime: DatetimeFeatures = Field(default_factory=DatetimeFeatures)
    infer: bool = Field(
        True,
        description="Use inferred columns for every kind whose `columns` is not given; "
        "false uses only listed columns.",
    )


# --------------------------------------------------------------------------- model, evaluate
class ModelConfig(_Section):
    """The estimator: an import path and its parameters."""

    type: str = Field(
        description="Import path of a scikit-learn compatible estimator, "
        "e.g. `sklearn.ensemble.RandomForestClassifier` or `mypkg.models:MyModel`."
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments of the estimator; checked against its parameters.",
    )

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][\w.]*([.:][A-Za-z_]\w*)", value):
            raise ValueError("expected an import path such as sklearn.linear_model.LogisticRegression")
        return value


class EvaluateConfig(_Section):
    """How the model is scored: cross-validation on the training split, the test split once."""

    cv_folds: int = Field(
        5, ge=0, description="Cross-validation folds on the training split; 0 turns CV off."
    )
    metrics: list[str] | None = Field(
        None, description="Metrics to compute; default: every metric of the task."
    )
    primary: str | None = Field(
        None,
        description="The headline metric shown in listings; default: accuracy or rmse.",
    )
    baseline: bool = Field(
        True,
        description="Also score scikit-learn's dummy estimator (class priors, or the mean) by the "
        "same protocol and show it beside the model.",
    )
    slices: list[str] = Field(
        default_factory=list,
        description="Columns whose values each get their own test metrics (e.g. a region or a segment).",
    )
    slice_max_values: int = Field(
        20, ge=1, description="At most this many values per slice column (the most frequent)."
    )
    leakage: bool = Field(
        True,
        description="Look for leakage before it fools anyone: rows in both splits, a column that "
        "alone predicts the target, id-like features, groups in both splits, test rows older "
        "than training rows. Each finding is a warning.",
    )
    leakage_threshold: float = Field(
        0.98,
        gt=0,
        le=1,
        description="A column alone scoring at least this (balanced accuracy or R², cross-validated "
        "on the training split) is reported as a likely leak.",
    )
    plots: bool = Field(
        True,
        description="Write PNG plots into the version's `reports/` (confusion matrix, ROC, "
        "precision-recall, calibration, predicted vs actual, residuals, permutation importance).",
    )
    importance_repeats: int = Field(
        3, ge=0, description="Permutation-importance repeats per column on the test split; 0 turns it off."
    )
    importance_max_rows: int = Field(
        2000, ge=10, description="Permutation importance uses at most this many test rows (a seeded sample)."
    )

    @field_validator("cv_folds")
    @classmethod
    def _check_folds(cls, value: int) -> int:
        if value == 1:
            raise ValueError("cross-validation needs at least 2 folds; use 0 to turn it off")
        return value

    @field_validator("metrics")
    @classmethod
    def _check_metrics(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            _check_metric_names(value)
        return value

    @field_validator("primary")
    @classmethod
    def _check_primary(cls, value: str | None) -> str | None:
        if value is not None:
            _check_metric_names([value])
        return value


def _check_metric_names(names: Sequence[str]) -> None:
    from mlpact.metrics import METRIC_NAMES

    unknown = sorted(set(names) - set(METRIC_NAMES))
    if unknown:
        hints = {n: difflib.get_close_matches(n, METRIC_NAMES, n=1) for n in unknown}
        said = ", ".join(f"{n!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for n, h in hints.items())
        raise ValueError(f"unknown metric {said}; known: {', '.join(METRIC_NAMES)}")


class ValidationPolicy(_Section):
    """What happens when input to predict does not match the schema: error, warn or ignore.

    Saved with each version and applied the same way by `Model.predict` and batch predict.
    """

    missing_column: Policy = Field("error", description="A schema column is absent.")
    extra_column: Policy = Field("ignore", description="A column the model does not use.")
    unconvertible: Policy = Field("error", description="A value cannot be converted to the column's type.")
    unexpected_null: Policy = Field(
        "warn", description="A missing value in a column that had none in training."
    )
    unseen_category: Policy = Field("warn", description="A category value not seen in training.")
    out_of_range: Policy = Field("warn", description="A number outside the range seen in training.")


# --------------------------------------------------------------------------- the whole config
class Config(_Section):
    """A run: data, schema, features, model, evaluation and the input validation policy."""

    name: str = Field(
        description="Model name in the store: letters, digits, `_`, `-`, `.`.",
        pattern=NAME_PATTERN,
        json_schema_extra={"default_text": "the config file's name"},
    )
    description: str = Field("", description="Free text shown in listings (not hashed).")
    seed: int = Field(42, description="Seed for the split, cross-validation and the estimator.")
    data: DataConfig
    schema_: SchemaConfig = Field(default_factory=SchemaConfig, alias="schema")
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    model: ModelConfig
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    validation: ValidationPolicy = Field(default_factory=ValidationPolicy)

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in this config are resolved against."""
        return self._base_dir

    def source_path(self) -> Path | None:
        """The data file, resolved against the config's folder; None for `sklearn:` sources."""
        if self.data.source.startswith("sklearn:"):
            return None
        path = Path(self.data.source).expanduser()
        return path if path.is_absolute() else (self._base_dir / path).resolve()

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain data (what `config show` prints and versions save)."""
        return self.model_dump(mode="json", by_alias=True)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def hash(self) -> str:
        """A stable sha256 of everything that affects training (not `description`)."""
        data = self.to_dict()
        data.pop("description", None)
        data.pop("validation", None)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


# --------------------------------------------------------------------------- loading
def load_config(
    source: str | Path | Mapping[str, Any],
    overrides: Iterable[str] = (),
    *,
    base_dir: str | Path | None = None,
) -> Config:
    """Read, override and validate a config.

    Args:
        source: a YAML file, or a mapping with the same content.
        overrides: ``key.path=value`` strings; values are parsed as YAML scalars or lists.
        base_dir: folder for relative paths; default: the file's folder (or the cwd).

    Returns:
        The validated, frozen config.

    Raises:
        ConfigError: the file cannot be read, an override is malformed or a value is invalid.
    """
    if isinstance(source, Mapping):
        raw, label, default_name = dict(source), "config", None
        folder = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        path = Path(source)
        raw, label, default_name = _read_yaml(path), str(path), path.stem
        folder = Path(base_dir) if base_dir is not None else path.resolve().parent
    for item in overrides:
        apply_override(raw, item)
    if default_name is not None and "name" not in raw:
        raw["name"] = _slug(default_name)
    cfg = validate_config(raw, label=label)
    cfg._base_dir = folder.resolve()
    return cfg


def validate_config(raw: Mapping[str, Any], *, label: str = "config") -> Config:
    """Validate plain data into a :class:`Config`, turning pydantic errors into a ConfigError."""
    try:
        return Config.model_validate(dict(raw))
    except ValidationError as exc:
        raise ConfigError(_describe_errors(exc), source=label) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"config file {str(path)!r} does not exist"]) from None
    except OSError as exc:
        raise ConfigError([f"cannot read {str(path)!r}: {exc.strerror}"]) from None
    try:
        data = safe_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}"], source=str(path)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            [f"expected a mapping of sections at the top level, found {type(data).__name__}"],
            source=str(path),
        )
    return data


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "model"
    return slug[:64]


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into a key path and a YAML-parsed value."""
    key, sep, value = item.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in parts):
        raise ConfigError([f"override {item!r} is not of the form key.path=value (e.g. model.params.C=0.5)"])
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return parts, parsed


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set one ``key.path=value`` override in a raw config mapping, in place."""
    parts, value = parse_override(item)
    node = raw
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError([f"override {item!r}: {where} is {child!r}, not a section with keys"])
        node = child
    node[parts[-1]] = value


def _describe_errors(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        path = ".".join(loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            problems.append(_describe_unknown_key(loc, err.get("input")))
        elif err["type"] == "missing":
            problems.append(f"{path}: required key is missing")
        else:
            found = _short(err.get("input"))
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{path}: {msg} (found {found})")
    return sorted(problems)


def _describe_unknown_key(loc: list[str], value: Any) -> str:
    path = ".".join(loc)
    allowed = _keys_at(loc[:-1])
    text = f"{path}: unknown key (found {_short(value)})"
    if allowed:
        match = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.5)
        if match:
            text += f"; did you mean `{'.'.join([*loc[:-1], match[0]])}`?"
        text += f" Allowed keys here: {', '.join(sorted(allowed))}."
    return text


def _keys_at(loc: Sequence[str]) -> list[str]:
    """The valid keys of the config section at a key path (empty if it is not a section)."""
    model: Any = Config
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return []
        model = section_type(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


def section_type(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return annotation


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a config file, for editor completion."""
    schema = Config.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlpact run config"
    return schema
