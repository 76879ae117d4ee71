"""The sections of a training run: data, schema, features, model, evaluate, validation."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mlpact.config._base import SKLEARN_DATASETS, ColumnType, Policy, Scalar, Section


# --------------------------------------------------------------------------- data
class SplitConfig(Section):
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


class DataConfig(Section):
    """Where the data comes from and which column is the target."""

    source: str = Field(
        description="A CSV or Parquet file (relative to the config file), a URL read through fsspec "
        "(`s3://bucket/key.parquet`; needs the `remote` extra) or "
        "`sklearn:NAME` for a dataset that ships with scikit-learn "
        f"({', '.join(SKLEARN_DATASETS)})."
    )
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="fsspec options for a URL source, e.g. "
        "`{endpoint_url: ..., key: ${env:AWS_ACCESS_KEY_ID}}` "
        "(use `${env:VAR}` for credentials: saved as the expression, never the value). Without them s3fs "
        "reads the standard AWS environment (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`, ...). Not hashed.",
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
class ColumnSpec(Section):
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


class SchemaConfig(Section):
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
class NumericFeatures(Section):
    """Numeric columns: impute, then scale."""

    columns: list[str] | None = Field(None, description="Columns; default: inferred.")
    impute: Literal["mean", "median", "most_frequent", "zero"] = Field(
        "median", description="How missing values are filled."
    )
    scale: Literal["standard", "minmax", "robust", "none"] = Field(
        "standard", description="How values are scaled."
    )


class CategoricalFeatures(Section):
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


class TextFeatures(Section):
    """Free-text columns: TF-IDF, one vocabulary for all of them or one per column or group."""

    columns: list[str] | None = Field(None, description="Columns; default: inferred.")
    combine: bool | dict[str, list[str]] = Field(
        True,
        description="`true`: join every text column (separated by `separator`) into one TF-IDF, so a "
        "word weighs the same whichever field it came from; `false`: one TF-IDF per column; or named "
        "groups, e.g. `{title_desc: [title, description]}` (each group shares one vocabulary; text "
        "columns in no group get their own). Default `true`: on a real title + description table, "
        "one vocabulary scored better than one per column (docs/real-data.md).",
    )
    separator: str = Field("\n", description="Put between the columns a combined TF-IDF joins.")
    max_features: int | None = Field(
        20000, ge=1, description="Vocabulary size per TF-IDF (the most frequent terms); none: all."
    )
    analyzer: Literal["word", "char_wb", "char"] = Field(
        "word",
        description="Terms are words (`word`), or character n-grams inside word boundaries "
        "(`char_wb`, robust to typos and inflections) or across them (`char`).",
    )
    ngram_min: int = Field(
        1, ge=1, le=10, description="Shortest n-gram (words, or characters for char_wb/char)."
    )
    ngram_max: int = Field(
        2, ge=1, le=10, description="Longest n-gram (1 = single words; e.g. 5 with `analyzer: char_wb`)."
    )
    min_df: int = Field(1, ge=1, description="Ignore terms in fewer documents than this.")
    max_df: float = Field(
        1.0, gt=0, le=1, description="Ignore terms in more than this fraction of documents (e.g. 0.9)."
    )
    stop_words: Literal["english"] | list[str] | None = Field(
        None,
        description="Words left out: `english` (scikit-learn's list) or your own list; word analyzer only.",
    )
    sublinear_tf: bool = Field(False, description="Use 1 + log(tf) instead of the raw term count.")
    binary: bool = Field(False, description="Count a term once per document (presence, not frequency).")
    lowercase: bool = Field(True, description="Lowercase before tokenizing.")

    @model_validator(mode="after")
    def _check(self) -> TextFeatures:
        if self.ngram_min > self.ngram_max:
            raise ValueError(f"ngram_min ({self.ngram_min}) is greater than ngram_max ({self.ngram_max})")
        if self.stop_words is not None and self.analyzer != "word":
            raise ValueError(f"stop_words apply to the word analyzer only (found analyzer: {self.analyzer})")
        if isinstance(self.combine, dict):
            problems = [
                f"combine.{g}: a group needs at least one column" for g, c in self.combine.items() if not c
            ]
            seen: dict[str, str] = {}
            for group, cols in sorted(self.combine.items()):
                for col in cols:
                    if col in seen:
                        problems.append(f"combine.{group}: {col!r} is also in group {seen[col]!r}")
                    seen[col] = group
            if problems:
                raise ValueError("; ".join(problems))
        return self


DatePart = Literal["year", "month", "day", "dayofweek", "dayofyear", "hour", "minute"]


def _default_parts() -> list[DatePart]:
    return ["year", "month", "day", "dayofweek"]


class DatetimeFeatures(Section):
    """Datetime columns: expanded into numeric parts."""

    columns: list[str] | None = Field(None, description="Columns; default: inferred.")
    parts: list[DatePart] = Field(
        default_factory=_default_parts,
        min_length=1,
        description="Parts extracted as numeric features.",
    )


class CustomStep(Section):
    """A transformer from your own code (e.g. exported from a notebook), run before preprocessing."""

    type: str = Field(
        description="Import path of a scikit-learn transformer that takes and returns a DataFrame, "
        "e.g. `mypkg.features:AddRatios`. Columns it adds become features (kind inferred)."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the transformer.")

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        return _import_path(value)


def _import_path(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][\w.]*([.:][A-Za-z_]\w*)", value):
        raise ValueError("expected an import path such as mypkg.features:AddRatios")
    return value


class FeaturesConfig(Section):
    """Preprocessing per kind of column. Columns not listed anywhere are inferred from the schema."""

    custom: list[CustomStep] = Field(
        default_factory=list,
        description="Your own transformers, applied in order to the input before the preprocessing; "
        "the version records their module, package version and source hash.",
    )
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
class ModelConfig(Section):
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


class EvaluateConfig(Section):
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
    profile: Literal["full", "quick"] = Field(
        "full",
        description="`quick` (`mlpact train --quick`) is for fast iteration: no plots, no permutation "
        "importance, no training-data profile, no baseline, whatever the other keys say. `full`: "
        "as the other keys say.",
    )
    plots: bool = Field(
        True,
        description="Write PNG plots into the version's `reports/` (confusion matrix, ROC, "
        "precision-recall, calibration, predicted vs actual, residuals, permutation importance).",
    )
    importance_repeats: int = Field(
        3,
        ge=0,
        description="Permutation-importance repeats per column on the test split; 0 turns it off "
        "(`plots: false` does not).",
    )
    importance_max_rows: int = Field(
        2000, ge=10, description="Permutation importance uses at most this many test rows (a seeded sample)."
    )
    importance_max_columns: int = Field(
        100,
        ge=1,
        description="Permutation importance scores every input column up to this many; beyond, it "
        "shuffles this many groups of neighbouring columns as blocks and scores one by one the "
        "columns of the groups that cost most, this many in all (said in the output and report).",
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


class ValidationPolicy(Section):
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
    unreadable_image: Policy = Field(
        "warn",
        description="Image models: a file that does not exist or is not an image. `warn` and `ignore` "
        "predict the other images (its row is empty, with an `error`); `error` refuses the input.",
    )
