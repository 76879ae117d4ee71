"""What every config section shares: strict, frozen pydantic models, and common types."""

from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
SKLEARN_DATASETS = ("iris", "wine", "breast_cancer", "diabetes", "digits")

Policy = Literal["error", "warn", "ignore"]
ColumnType = Literal["int", "float", "bool", "category", "text", "string", "datetime"]
Scalar = Union[str, int, float, bool]


class Section(BaseModel):
    """A config section: unknown keys are errors, values are frozen once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
