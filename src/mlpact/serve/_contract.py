"""The HTTP contract of a version: pydantic models generated from its schema and policy.

The generated models document the API (`/docs`, `/openapi.json`) and never contradict what
the server accepts. Validation itself is done by `Model.check` (the one validation policy), so
the models are strict only where the policy is: a category is an enum only when unseen
categories are errors, a number has bounds only when out-of-range values are errors, a field is
required only when a missing column is an error, and so on. Otherwise the rule is written in the
field's description.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mlpact.model import Model
    from mlpact.schema import ColumnSchema

_TYPE_WORDS = {
    "int": "a number (integer in training)",
    "float": "a number",
    "bool": "a boolean (true/false, or one of 'yes', 'no', '1', '0')",
    "category": "a category (string)",
    "text": "free text",
    "string": "a string (not used as a feature)",
    "datetime": "an ISO 8601 date or date-time string",
}
_SHOWN_CATEGORIES = 30


class Problem(BaseModel):
    """One finding about one input column (values are never echoed)."""

    field: str = Field(description="The input column.")
    check: str = Field(description="Which check: missing_column, unconvertible, unseen_category, ...")
    severity: str = Field(description="error or warn, from the version's validation policy.")
    count: int = Field(description="How many rows have the problem.")
    rows: list[int] = Field(description="The first rows with the problem, counting from 1.")
    message: str = Field(description="What is wrong, in words.")


class PredictResponse(BaseModel):
    """Predictions for every input row, in order."""

    model: str = Field(description="The version that answered, e.g. wine:3.")
    predictions: list[Any] = Field(description="One predicted label or value per row.")
    probabilities: Optional[list[dict[str, float]]] = Field(
        None, description="Classifiers: one mapping of class to probability per row."
    )
    warnings: list[Problem] = Field(description="Problems the validation policy lets through.")


class ImagePredictResponse(BaseModel):
    """Predictions for every uploaded image, in upload order (image models, `/predict/image`)."""

    model: str = Field(description="The version that answered, e.g. shapes:3.")
    files: list[str] = Field(description="The uploaded file names, in order.")
    predictions: list[Optional[str]] = Field(
        description="One predicted class per file; null for a file that is not an image (see warnings)."
    )
    probabilities: list[Optional[dict[str, float]]] = Field(
        description="One mapping of class to probability per file; null for a file that is not an image."
    )
    warnings: list[Problem] = Field(description="Problems the validation policy lets through.")


class ErrorResponse(BaseModel):
    """A request the server refused, and why."""

    error: str = Field(description="What went wrong, in words.")
    request_id: str = Field(description="Quote it when reporting a problem; the server log has it.")
    problems: list[Problem] = Field(default_factory=list, description="Each field and its problem.")


def request_models(model: Model, *, max_rows: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request body's JSON Schema and the component schemas it refers to.

    Returns:
        (schema, components): `schema` refers to `#/components/schemas/...` entries in `components`.
    """
    record = record_model(model.schema.columns, model.policy, name=_model_name(model.name))
    rows: Any = list[record]  # type: ignore[valid-type]
    body: Any = Union[(rows, *_wrappers(record, max_rows))]
    schema = TypeAdapter(body).json_schema(ref_template="#/components/schemas/{model}")
    components = schema.pop("$defs", {})
    for option in schema["anyOf"]:
        if option.get("type") == "array":
            option.update(maxItems=max_rows, title="Records", description="A list of records.")
    return schema, components


def record_model(
    columns: tuple[ColumnSchema, ...], policy: Mapping[str, str], *, name: str
) -> type[BaseModel]:
    """A pydantic model of one input row: one field per schema column, shaped by the policy."""
    fields: dict[str, Any] = {}
    for i, col in enumerate(columns):
        fields[f"f{i}"] = (_annotation(col, policy), _field(col, policy))
    extra: Literal["allow", "forbid"] = "forbid" if policy["extra_column"] == "error" else "allow"
    config = ConfigDict(extra=extra, title=name, populate_by_name=True)
    return create_model(name, __config__=config, **fields)


def _annotation(col: ColumnSchema, policy: Mapping[str, str]) -> Any:
    strict = policy["unconvertible"] == "error"
    kind: Any = Any
    if strict and col.type in ("int", "float"):
        kind = float
    elif strict and col.type == "bool":
        kind = bool
    elif col.type in ("category", "text", "string", "datetime") and strict:
        kind = str
    if col.type in ("category", "string") and col.categories and policy["unseen_category"] == "error":
        kind = Literal[tuple(col.categories)]
    nullable = col.nullable or policy["unexpected_null"] != "error"
    return Optional[kind] if nullable and kind is not Any else kind


def _field(col: ColumnSchema, policy: Mapping[str, str]) -> Any:
    extra: dict[str, Any] = {}
    if (
        col.type in ("int", "float")
        and policy["out_of_range"] == "error"
        and policy["unconvertible"] == "error"
    ):
        extra.update(ge=col.min, le=col.max)
    required = policy["missing_column"] == "error"
    return Field(... if required else None, alias=col.name, description=_description(col, policy), **extra)


def _description(col: ColumnSchema, policy: Mapping[str, str]) -> str:
    parts = [f"{_TYPE_WORDS.get(col.type, col.type)}."]
    if col.categories:
        shown = ", ".join(map(repr, col.categories[:_SHOWN_CATEGORIES]))
        more = (
            f" and {len(col.categories) - _SHOWN_CATEGORIES} more"
            if len(col.categories) > _SHOWN_CATEGORIES
            else ""
        )
        parts.append(
            f"Categories seen in training: {shown}{more}; others: {_says(policy['unseen_category'])}."
        )
    if col.min is not None and col.max is not None and col.type in ("int", "float", "bool"):
        parts.append(f"Training range [{col.min:g}, {col.max:g}]; outside: {_says(policy['out_of_range'])}.")
    if not col.nullable:
        parts.append(f"Training data had no missing values; null: {_says(policy['unexpected_null'])}.")
    if policy["unconvertible"] != "error":
        parts.append(f"A value that cannot be converted: {_says(policy['unconvertible'])}.")
    return " ".join(parts)


def _says(level: str) -> str:
    return {"error": "422 error", "warn": "accepted with a warning", "ignore": "accepted"}[level]


def _wrappers(record: type[BaseModel], max_rows: int) -> tuple[type[BaseModel], ...]:
    rows = Field(max_length=max_rows, description="A list of records.")
    records = create_model("DataframeRecords", dataframe_records=(list[record], rows))  # type: ignore[valid-type]
    split = create_model(
        "DataframeSplit",
        dataframe_split=(Split, Field(description="pandas `to_dict(orient='split')`: columns and rows.")),
    )
    either: Any = list[record] | dict[str, list[Any]]  # type: ignore[valid-type]
    inputs = create_model(
        "Inputs",
        inputs=(
            either,
            Field(description="Records, or a mapping of column name to a list of values."),
        ),
    )
    return records, split, inputs


class Split(BaseModel):
    """Column names, and rows as lists of values in that order (pandas' `split` orientation)."""

    model_config = ConfigDict(title="Split")
    columns: list[str]
    data: list[list[Any]]
    index: Optional[list[Any]] = None


def _model_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in name)
    return f"{cleaned[:1].upper()}{cleaned[1:]}Record"
