"""The run config: one YAML file plus ``--set key=value`` overrides, validated into frozen models.

Every section and key lives here, with its default and a description; the config reference in
the README and the JSON Schema for editors are generated from these models, so they cannot drift.
A typo is an error that names the key path, the value found, what is allowed and the closest
valid key.
"""

from __future__ import annotations

from mlpact.config._base import (
    NAME_PATTERN,
    SKLEARN_DATASETS,
    ColumnType,
    Policy,
    Scalar,
    Section,
    section_type,
)
from mlpact.config._check import CheckConfig
from mlpact.config._code import CodeConfig, import_paths, training_only
from mlpact.config._config import NOT_HASHED, Config
from mlpact.config._decision import DecisionConfig
from mlpact.config._load import (
    apply_override,
    interpolate,
    json_schema,
    key_paths,
    load_config,
    parse_override,
    thresholds_for,
    validate_config,
)
from mlpact.config._predict import PredictConfig
from mlpact.config._record import RecordConfig
from mlpact.config._sections import (
    CategoricalFeatures,
    ColumnSpec,
    DataConfig,
    DatetimeFeatures,
    EvaluateConfig,
    FeaturesConfig,
    ModelConfig,
    NumericFeatures,
    SchemaConfig,
    SplitConfig,
    TextFeatures,
    ValidationPolicy,
)
from mlpact.config._serve import AuthConfig, CorsConfig, PredictionLogConfig, ServeConfig
from mlpact.config._tracking import TrackingConfig
from mlpact.config._train import CallbackStep, TrainConfig, TransformStep, is_import_path
from mlpact.config._tune import SearchParam, TuneConfig, ordered_keys

__all__ = [
    "NAME_PATTERN",
    "NOT_HASHED",
    "SKLEARN_DATASETS",
    "AuthConfig",
    "CallbackStep",
    "CategoricalFeatures",
    "CheckConfig",
    "CodeConfig",
    "ColumnSpec",
    "ColumnType",
    "Config",
    "CorsConfig",
    "DataConfig",
    "DatetimeFeatures",
    "DecisionConfig",
    "EvaluateConfig",
    "FeaturesConfig",
    "ModelConfig",
    "NumericFeatures",
    "Policy",
    "PredictConfig",
    "PredictionLogConfig",
    "RecordConfig",
    "Scalar",
    "SchemaConfig",
    "SearchParam",
    "Section",
    "ServeConfig",
    "SplitConfig",
    "TextFeatures",
    "TrackingConfig",
    "TrainConfig",
    "TransformStep",
    "TuneConfig",
    "ValidationPolicy",
    "apply_override",
    "import_paths",
    "interpolate",
    "is_import_path",
    "json_schema",
    "key_paths",
    "load_config",
    "ordered_keys",
    "parse_override",
    "section_type",
    "thresholds_for",
    "training_only",
    "validate_config",
]  # fmt: skip
