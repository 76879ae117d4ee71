"""What every config section shares: strict, frozen pydantic models, and common types."""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
SKLEARN_DATASETS = ("iris", "wine", "breast_cancer", "diabetes", "digits")

Policy = Literal["error", "warn", "ignore"]
ColumnType = Literal["int", "float", "bool", "category", "text", "string", "datetime"]
Scalar = Union[str, int, float, bool]


class Section(BaseModel):
    """A config section: unknown keys are errors, values are frozen once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def section_type(annotation: Any) -> Any:
    """The section model a field holds (the model inside `X | None`), else the annotation itself."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return arg
    return annotation
