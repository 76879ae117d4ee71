"""The `decision:` section: how a classifier turns probabilities into a label.

A score is not yet a decision. By default the most probable class wins (argmax). With an
`objective`, a threshold (binary) or a cost matrix (binary or multiclass) is chosen on
validation predictions carved from the training split (out-of-fold, never the test split),
saved with the version in `decision.json`, and applied by every prediction path. Optional
probability calibration (scikit-learn's `CalibratedClassifierCV`) is fitted on the training
split. This section changes predictions, so it is part of the config hash.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mlpact.config._base import Scalar, Section

OBJECTIVE_PATTERN = re.compile(
    r"f1|balanced_accuracy|cost|(precision|recall)>=(0?\.[0-9]+|1(\.0*)?)"
)  # fullmatch


class DecisionConfig(Section):
    """How a classifier's probabilities become a label (chosen on validation data, never on test)."""

    objective: str | None = Field(
        None,
        description="What the decision optimises on out-of-fold predictions of the training split: "
        "`f1` or `balanced_accuracy` (binary: the threshold that maximises it), `precision>=0.9` "
        "(binary: the threshold with the best recall at that precision or more), `recall>=0.8` "
        "(the best precision at that recall or more), `cost` (needs `costs`; binary: the "
        "threshold with the lowest total cost; multiclass: the class with the lowest expected "
        "cost). Default: none, the most probable class wins.",
    )
    costs: list[list[float]] | None = Field(
        None,
        description="Cost matrix for `objective: cost`, one row per TRUE class and one column per "
        "PREDICTED class, classes in sorted order (as `models show` lists them); 0 on the diagonal "
        "for free correct answers.",
    )
    positive: Scalar | None = Field(
        None,
        description="Binary: the positive class (its probability is thresholded); default: "
        "the second class in sorted order.",
    )
    folds: int = Field(
        5,
        ge=2,
        description="Folds of the out-of-fold validation predictions on the training split "
        "(the evaluate.cv_folds folds are reused when CV is on).",
    )
    calibration: Literal["none", "sigmoid", "isotonic"] = Field(
        "none",
        description="Calibrate probabilities with scikit-learn's CalibratedClassifierCV fitted on the "
        "training split (`sigmoid`: Platt scaling; `isotonic`: needs more rows).",
    )
    calibration_folds: int = Field(3, ge=2, description="Folds CalibratedClassifierCV uses.")

    @field_validator("objective")
    @classmethod
    def _check_objective(cls, value: str | None) -> str | None:
        if value is not None and not OBJECTIVE_PATTERN.fullmatch(value.replace(" ", "")):
            raise ValueError(
                f"unknown objective {value!r}; expected f1, balanced_accuracy, cost, "
                "precision>=P or recall>=R with P, R in (0, 1]"
            )
        return value.replace(" ", "") if value is not None else None

    @model_validator(mode="after")
    def _check_costs(self) -> DecisionConfig:
        if self.objective == "cost":
            rows = self.costs or []
            if len(rows) < 2 or any(len(r) != len(rows) for r in rows):
                raise ValueError("objective cost needs costs: a square matrix, one row per class")
        elif self.costs is not None:
            raise ValueError("costs is only used with objective: cost")
        return self

    @property
    def active(self) -> bool:
        """Whether predictions differ from argmax of the (possibly calibrated) probabilities."""
        return self.objective is not None
