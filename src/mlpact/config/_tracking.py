"""The `tracking:` section: also log runs to an MLflow tracking server.

Not part of the config hash: where a run is reported does not change the model it trains.
"""

from __future__ import annotations

from pydantic import Field

from mlpact.config._base import Section


class TrackingConfig(Section):
    """Mirror training and tuning runs to MLflow (params, metrics, plots, the model)."""

    mlflow_uri: str | None = Field(
        None,
        description="MLflow tracking URI (`http://host:5000`, `sqlite:///mlflow.db`; MLflow 3 wants "
        "MLFLOW_ALLOW_FILE_STORE=true for `file:`); none: no MLflow logging (mlflow is never "
        "imported). A failing server is a warning, never a lost version.",
    )
    experiment: str | None = Field(None, description="MLflow experiment name; none: the config's `name`.")
    log_model: bool = Field(
        True, description="Also log the version as an MLflow model (see `models export --format mlflow`)."
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags set on every MLflow run.")
