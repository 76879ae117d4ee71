"""The `tune:` section: a search space over config key paths, the budget, the metric, the sampler.

Search-space keys are config key paths (``model.params.C``), so a trial's config is the run config
with overrides applied: the one config model validates every trial like any other run.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from mlpact.config._base import Scalar, Section

# Only what the model is built and trained from may vary: the data, its split (and PyTorch's
# validation split) and the evaluation are the study's fixed ground, so every trial sees the same
# training rows and is scored the same way. `train.*` keys apply to PyTorch models only.
SEARCHABLE = ("model.", "features.", "train.")
_FIXED_FEATURE_KEYS = ("columns", "infer")
FIXED_TRAIN_KEYS = (
    "val_size", "engine", "workers", "device", "resume", "checkpoints", "num_workers", "pin_memory",
    "cache_images", "threads", "transforms", "callbacks",
)  # fmt: skip


class SearchParam(Section):
    """One searched config key: an int or float range (optionally log-scale or stepped), or choices."""

    type: Literal["int", "float", "categorical"] = Field(description="Kind of values searched.")
    low: float | None = Field(None, description="Smallest value (int and float).")
    high: float | None = Field(None, description="Largest value, included (int and float).")
    step: float | None = Field(None, gt=0, description="Grid step within [low, high]; default: continuous.")
    log: bool = Field(False, description="Sample on a log scale (low must be > 0).")
    choices: list[Scalar | None] | None = Field(None, description="The values of a categorical key.")
    when: dict[str, Scalar | list[Scalar]] = Field(
        default_factory=dict,
        description="Search this key only when other searched keys have these values "
        "(e.g. `{model.params.penalty: elasticnet}`); otherwise the config's own value is kept.",
    )

    @model_validator(mode="after")
    def _check_kind(self) -> SearchParam:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical key needs a non-empty `choices` list")
            if self.low is not None or self.high is not None or self.log or self.step is not None:
                raise ValueError("a categorical key takes `choices`, not low/high/log/step")
            return self
        if self.choices is not None:
            raise ValueError(f"an {self.type} key takes low/high, not `choices`")
        if self.low is None or self.high is None:
            raise ValueError(f"an {self.type} key needs both `low` and `high`")
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is greater than high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale key needs low > 0 (found low={self.low})")
        if self.log and self.step is not None:
            raise ValueError("`log` and `step` cannot be combined (Optuna samples one or the other)")
        if self.type == "int" and not all(float(v).is_integer() for v in (self.low, self.high)):
            raise ValueError(f"an int key needs whole low/high (found {self.low}, {self.high})")
        return self


class TuneConfig(Section):
    """Hyperparameter search (`mlpact tune`) on the training split only: cross-validated
    (scikit-learn), or scored on the validation split carved from it (PyTorch)."""

    space: dict[str, SearchParam] = Field(
        default_factory=dict,
        description="Searched keys by config key path, e.g. "
        "`model.params.C: {type: float, low: 0.001, high: 10, log: true}`. "
        "Only `model.*`, `features.*` and (PyTorch) `train.*` keys can be searched (not "
        "`train.val_size`, the device, data loading or checkpoint keys).",
    )
    trials: int | None = Field(
        20, ge=1, description="Trials per `mlpact tune` call (a re-run continues the study)."
    )
    timeout: float | None = Field(None, gt=0, description="Stop starting trials after this many seconds.")
    metric: str | None = Field(None, description="Metric to optimise; default: `evaluate.primary`.")
    direction: Literal["auto", "maximize", "minimize"] = Field(
        "auto", description="`auto` minimises losses (rmse, log_loss, ...) and maximises scores."
    )
    cv_folds: int | None = Field(
        None,
        ge=2,
        description="Folds per trial on the training split; default: `evaluate.cv_folds` (or 3). "
        "PyTorch trials use the validation split (`train.val_size`) instead.",
    )
    sampler: Literal["tpe", "random"] = Field("tpe", description="Optuna sampler.")
    pruner: Literal["median", "successive_halving", "hyperband", "none"] = Field(
        "median",
        description="Stop unpromising trials early, judged after each fold, or after each step of "
        "estimators that learn in steps (boosting stages, partial_fit epochs), or after each epoch "
        "of a PyTorch model (on its validation split).",
    )
    steps: int = Field(
        10,
        ge=1,
        description="Steps a step-wise trial reports: boosting stages are added in this many chunks; "
        "partial_fit estimators are trained this many epochs.",
    )
    jobs: int = Field(
        1,
        ge=1,
        description="Trials run in parallel, one process each (PyTorch: each with its share of the "
        "CPU threads, unless `train.threads` is set).",
    )
    seed: int | None = Field(None, description="Sampler seed; default: `seed`.")

    @field_validator("space")
    @classmethod
    def _check_space(cls, value: dict[str, SearchParam]) -> dict[str, SearchParam]:
        problems = [p for key in sorted(value) for p in [_check_key(key)] if p]
        for key, param in sorted(value.items()):
            problems += [
                f"{key}.when: {other!r} is not a searched key"
                for other in param.when
                if other not in value or other == key
            ]
        if problems:
            raise ValueError("; ".join(problems))
        ordered_keys(value)
        return value

    @model_validator(mode="after")
    def _check_budget(self) -> TuneConfig:
        if self.trials is None and self.timeout is None:
            raise ValueError("set `trials`, `timeout` or both: a study needs a budget")
        return self

    @field_validator("metric")
    @classmethod
    def _check_metric(cls, value: str | None) -> str | None:
        from mlpact.config._sections import _check_metric_names

        if value is not None:
            _check_metric_names([value])
        return value


def _check_key(key: str) -> str | None:
    """A problem with a searched key path, or None when the config has that key."""
    parts = key.split(".")
    fixed = parts[0] == "train" and len(parts) > 1 and parts[1] in FIXED_TRAIN_KEYS
    if not key.startswith(SEARCHABLE) or parts[-1] in _FIXED_FEATURE_KEYS or fixed:
        return (
            f"{key!r} cannot be searched: only model.*, features.* (not columns/infer) and train.* "
            f"keys (not {', '.join(FIXED_TRAIN_KEYS)}) vary between trials; data, split, validation "
            "split, seed and evaluate stay fixed for the study"
        )
    from mlpact.config._config import Config
    from mlpact.config._load import section_type

    model: Any = Config
    for i, part in enumerate(parts):
        if typing.get_origin(model) is dict:
            return None  # a free mapping such as model.params: any name is a key
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return f"{key!r} is not a config key: {'.'.join(parts[:i])} has no sub-keys"
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        if part not in fields:
            close = difflib.get_close_matches(part, list(fields), n=1, cutoff=0.5)
            hint = f"; did you mean `{'.'.join([*parts[:i], close[0]])}`?" if close else ""
            return f"{key!r} is not a config key: {'.'.join(parts[: i + 1])} is unknown{hint}"
        model = section_type(fields[part].annotation)
    if typing.get_origin(model) is dict or (isinstance(model, type) and issubclass(model, BaseModel)):
        return f"{key!r} is a whole section; search one of its keys, e.g. {key}.NAME"
    return None


def ordered_keys(space: dict[str, SearchParam]) -> list[str]:
    """Searched keys in an order where every `when` condition is decided before the keys it guards.

    Raises:
        ValueError: the conditions form a cycle.
    """
    done: list[str] = []
    pending = sorted(space)
    while pending:
        ready = [k for k in pending if all(other in done for other in space[k].when)]
        if not ready:
            raise ValueError(f"the `when` conditions of {pending!r} form a cycle")
        done += ready
        pending = [k for k in pending if k not in ready]
    return done
