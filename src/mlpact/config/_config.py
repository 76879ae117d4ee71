"""The whole config: one model owning every section.

A feature that needs settings adds its own section module (like _sections.py) and one field here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, PrivateAttr

from mlpact.config._base import NAME_PATTERN, Section
from mlpact.config._sections import (
    DataConfig,
    EvaluateConfig,
    FeaturesConfig,
    ModelConfig,
    SchemaConfig,
    ValidationPolicy,
)


# --------------------------------------------------------------------------- the whole config
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
