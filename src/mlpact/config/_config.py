"""The whole config: one model owning every section.

A feature that needs settings adds its own section module (like _sections.py) and one field here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, PrivateAttr

from mlpact._core.remote import is_url
from mlpact.config._base import NAME_PATTERN, Section
from mlpact.config._check import CheckConfig
from mlpact.config._code import CodeConfig
from mlpact.config._decision import DecisionConfig
from mlpact.config._predict import PredictConfig
from mlpact.config._record import RecordConfig
from mlpact.config._sections import (
    DataConfig,
    EvaluateConfig,
    FeaturesConfig,
    ModelConfig,
    SchemaConfig,
    ValidationPolicy,
)
from mlpact.config._serve import ServeConfig
from mlpact.config._tracking import TrackingConfig
from mlpact.config._train import TrainConfig
from mlpact.config._tune import TuneConfig

# --------------------------------------------------------------------------- the whole config
# Sections that do not change a trained model, so not part of Config.hash.
NOT_HASHED = (
    "description", "validation", "check", "tune", "serve", "tracking", "record", "code", "predict",
)  # fmt: skip


class Config(Section):
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
    tune: TuneConfig = Field(default_factory=TuneConfig)
    check: CheckConfig = Field(default_factory=CheckConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    predict: PredictConfig = Field(default_factory=PredictConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    decision: DecisionConfig = Field(default_factory=DecisionConfig)
    record: RecordConfig = Field(default_factory=RecordConfig)
    code: CodeConfig = Field(default_factory=CodeConfig)

    secrets: list[str] = Field(
        default_factory=list,
        description="Key paths whose values are secret: shown and saved as `***`. Values from "
        "`${env:VAR}` are always saved as the expression, never the value.",
    )

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _template: dict[str, Any] | None = PrivateAttr(default=None)
    _expressions: dict[str, str] = PrivateAttr(default_factory=dict)

    def with_values(
        self,
        *,
        base_dir: Path | None = None,
        template: Mapping[str, Any] | None = None,
        expressions: Mapping[str, str] | None = None,
    ) -> Config:
        """A copy that knows where it came from: the folder its relative paths are resolved
        against, the config as written (`template`), and the key paths whose values came from
        ``${env:...}`` (`expressions`, written as the expression, never the value). What is not
        given is kept."""
        new = self.model_copy()
        if base_dir is not None:
            new._base_dir = base_dir
        if template is not None:
            new._template = dict(template)
        if expressions is not None:
            new._expressions = dict(expressions)
        return new

    @property
    def expressions(self) -> dict[str, str]:
        """Key paths whose values came from ``${env:VAR}``, with that expression."""
        return dict(self._expressions)

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in this config are resolved against."""
        return self._base_dir

    def source_path(self) -> Path | None:
        """The data file, resolved against the config's folder; None for `sklearn:` and URL sources."""
        if self.data.source.startswith("sklearn:") or self.source_url():
            return None
        path = Path(self.data.source).expanduser()
        return path if path.is_absolute() else (self._base_dir / path).resolve()

    def source_url(self) -> str | None:
        """The data source when it is a URL (``s3://bucket/key``), read through fsspec; else None."""

        return self.data.source if is_url(self.data.source) else None

    def to_dict(self, *, reveal: bool = False) -> dict[str, Any]:
        """The resolved config as plain data: what `config show` prints and versions save.

        Values that came from ``${env:VAR}`` show as that expression and `secrets` as ``***``,
        unless `reveal` (for code that needs the values, never for anything written).
        """
        data = self.model_dump(mode="json", by_alias=True)
        if reveal:
            return data
        for path, expression in self._expressions.items():
            _set_path(data, path, expression)
        for path in self.secrets:
            _set_path(data, path, "***")
        return data

    def public(self, path: str) -> Any:
        """One value as it may be written down (see `to_dict`), by key path like `data.source`."""
        node: Any = self.to_dict()
        for part in path.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def template(self) -> dict[str, Any]:
        """The config as written (files merged, overrides applied, ``${env:...}`` not yet
        substituted): what to re-load with more overrides."""
        return dict(self._template) if self._template is not None else self.to_dict(reveal=True)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def changed(self) -> dict[str, Any]:
        """What this config sets: the required keys and every value that differs from its
        default, nested as in a config file (values as `to_dict` shows them). An entry of a
        mapping of sections (a declared `schema.columns` column) shows what differs from that
        section's own defaults."""
        required = _required_paths(type(self))
        minimal: dict[str, Any] = {}
        for path in required:
            _put(minimal, path, _get_path(self.to_dict(reveal=True), path))
        defaults = type(self).model_validate(minimal).to_dict()
        return _changes(self, self.to_dict(), defaults, required)

    def hash(self) -> str:
        """A stable sha256 of everything that affects training: not the sections in NOT_HASHED,
        which say how a trained model is described, used, judged, served, tuned, reported,
        checked against its code or what is kept beside it, nor `data.storage_options` (how to
        reach the data; its fingerprint says what was read)."""
        data = self.to_dict()
        for key in NOT_HASHED:
            data.pop(key, None)
        data["data"].pop("storage_options", None)  # how to reach the data, not what it is
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _required_paths(model: type[Section], prefix: str = "") -> set[str]:
    """Key paths (by alias) of the values a config must give: no default to compare with."""
    out: set[str] = set()
    for name, field in model.model_fields.items():
        if not field.is_required():
            continue
        path = f"{prefix}{field.alias or name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Section):
            out |= _required_paths(annotation, path + ".")
        else:
            out.add(path)
    return out


def _put(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[last] = value


def _changes(
    obj: Section, shown: dict[str, Any], defaults: dict[str, Any], required: set[str], prefix: str = ""
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in type(obj).model_fields.items():
        key = field.alias or name
        if key not in shown:
            continue
        value, here, default = getattr(obj, name), shown[key], defaults.get(key, _ABSENT)
        if isinstance(value, Section):
            inner_defaults = default if isinstance(default, dict) else {}
            if inner := _changes(value, here, inner_defaults, required, f"{prefix}{key}."):
                out[key] = inner
        elif isinstance(value, dict) and value and all(isinstance(v, Section) for v in value.values()):
            out[key] = {
                k: _changes(v, here[k], _section_defaults(v), _required_paths(type(v)))
                for k, v in value.items()
            }
        elif f"{prefix}{key}" in required or here != default:
            out[key] = here
    return out


_ABSENT = object()


def _section_defaults(section: Section) -> dict[str, Any]:
    """A section's values when only its required ones are given (those of `section`)."""
    given = section.model_dump(mode="json", by_alias=True)
    minimal: dict[str, Any] = {}
    for path in _required_paths(type(section)):
        _put(minimal, path, _get_path(given, path))
    return type(section).model_validate(minimal).model_dump(mode="json", by_alias=True)


def _get_path(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        node = node[part]
    return node


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node: Any = data
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.get(part)
        if node is None:
            return
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    elif isinstance(node, dict) and last in node:
        node[last] = value
