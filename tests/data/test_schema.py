"""Schema: inference, coercion and validation under the policy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import mixed_frame
from mlpact.config import SchemaConfig, ValidationPolicy
from mlpact.data.schema import Schema, coerce, infer_schema, infer_type
from mlpact.data.validation import check, validate
from mlpact.errors import InputValidationError

SETTINGS = SchemaConfig()


@pytest.mark.parametrize(
    "values, expected",
    [
        ([1, 2, 3], "int"),
        ([1.0, 2.0, np.nan], "int"),
        ([1.5, 2.0], "float"),
        ([True, False], "bool"),
        (["true", "false", "true"], "bool"),
        (["2024-01-01", "2024-02-03"], "datetime"),
        (["2024-01-01T10:00:00Z", "2024-02-03T11:30:00+01:00"], "datetime"),
        (["a", "b", "a"], "category"),
        ([f"id-{i}" for i in range(100)], "string"),
        ([f"the quick brown fox number {i}" for i in range(100)], "text"),
        ([None, None], "category"),
    ],
)
def test_infer_type(values: list[object], expected: str) -> None:
    assert infer_type(pd.Series(values), SETTINGS) == expected


def test_infer_schema_describes_columns_and_target() -> None:
    frame = mixed_frame(200)
    schema = infer_schema(frame, SETTINGS, target="label", task="classification")
    by_name = {c.name: c for c in schema.columns}
    assert "label" not in by_name
    assert by_name["x"].type == "float" and by_name["x"].nullable
    assert by_name["count"].type == "int" and not by_name["count"].nullable
    assert (by_name["count"].min, by_name["count"].max) == (0.0, 9.0)
    assert by_name["color"].categories == ("blue", "green", "red")
    assert by_name["flag"].type == "bool"
    assert by_name["note"].type == "text"
    assert by_name["day"].type == "datetime"
    assert by_name["id"].type == "string"
    assert schema.target is not None
    assert (schema.target.task, schema.target.classes) == ("classification", ("no", "yes"))


def test_declared_columns_win_over_inference() -> None:
    frame = pd.DataFrame({"size": [1, 2, 3, 2], "target": [0, 1, 0, 1]})
    settings = SchemaConfig.model_validate(
        {"columns": {"size": {"type": "category", "categories": [1, 2, 3, 4]}}}
    )
    col = infer_schema(frame, settings, target="target").column("size")
    assert col.type == "category"
    assert col.categories == ("1", "2", "3", "4")


def test_schema_round_trips_through_json() -> None:
    import json

    schema = infer_schema(mixed_frame(50), SETTINGS, target="label", task="classification")
    assert Schema.from_dict(json.loads(json.dumps(schema.to_dict()))) == schema


def _schema() -> Schema:
    frame = pd.DataFrame(
        {
            "n": [1.5, 2.0, 3.0],
            "c": ["a", "b", "a"],
            "b": [True, False, True],
            "d": ["2024-01-01", "2024-01-02", "2024-01-03"],
        }
    )
    return infer_schema(frame, SETTINGS)


def test_coerce_gives_training_dtypes_in_schema_order() -> None:
    raw = pd.DataFrame({"d": ["2024-05-01"], "b": ["yes"], "c": [3], "n": ["4.5"], "extra": [1]})
    out = coerce(raw, _schema())
    assert list(out.columns) == ["n", "c", "b", "d"]
    assert out["n"].dtype == "float64" and out["n"].iloc[0] == 4.5
    assert out["c"].iloc[0] == "3"
    assert out["b"].iloc[0] == 1.0
    assert out["d"].dtype == "datetime64[ns]"


def test_float_categories_from_csv_match_integer_training_categories() -> None:
    col = coerce(pd.DataFrame({"c": [1.0, np.nan]}), infer_schema(pd.DataFrame({"c": ["1", "2"]}), SETTINGS))
    assert col["c"].iloc[0] == "1" and pd.isna(col["c"].iloc[1])


def test_clean_input_has_no_problems() -> None:
    raw = pd.DataFrame({"n": [2.0], "c": ["a"], "b": [False], "d": ["2024-01-02"]})
    assert validate(raw, _schema(), ValidationPolicy()).problems == []


def test_every_check_is_reported_once_with_rows() -> None:
    raw = pd.DataFrame(
        {
            "n": ["1", "oops", "99", None],
            "c": ["a", "z", "z", "a"],
            "b": [True, False, True, True],
            "x": [0] * 4,
        }
    )
    report = validate(raw, _schema(), ValidationPolicy(extra_column="warn"))
    found = {(p.check, p.column): p for p in report.problems}
    assert set(found) == {
        ("missing_column", "d"),
        ("unconvertible", "n"),
        ("out_of_range", "n"),
        ("unexpected_null", "n"),
        ("unseen_category", "c"),
        ("extra_column", "x"),
    }
    assert found[("unconvertible", "n")].rows == [2]
    assert found[("unconvertible", "n")].examples == ["'oops'"]
    assert found[("unseen_category", "c")].count == 2
    assert {p.check for p in report.errors} == {"missing_column", "unconvertible"}
    with pytest.raises(InputValidationError, match="2 errors and 4 warnings") as info:
        report.raise_for_errors()
    assert "n: 1 value cannot be converted to float (row 2); e.g. 'oops'" in str(info.value)


@pytest.mark.parametrize("level, errors, warnings", [("error", 1, 0), ("warn", 0, 1), ("ignore", 0, 0)])
def test_policy_sets_severity(level: str, errors: int, warnings: int) -> None:
    raw = pd.DataFrame({"n": [2.0], "c": ["zzz"], "b": [True], "d": ["2024-01-01"]})
    report = validate(raw, _schema(), ValidationPolicy(unseen_category=level))  # type: ignore[arg-type]
    assert (len(report.errors), len(report.warnings)) == (errors, warnings)


def test_ignored_columns_are_not_extra() -> None:
    raw = pd.DataFrame({"n": [2.0], "c": ["a"], "b": [True], "d": ["2024-01-01"], "id": [7]})
    report = validate(raw, _schema(), ValidationPolicy(extra_column="error"), ignore=["id"])
    assert report.ok


def test_check_returns_coerced_frame_and_merges_chunks() -> None:
    schema = _schema()
    first, report = check(
        pd.DataFrame({"n": ["x"], "c": ["a"], "b": [1], "d": ["2024-01-01"]}), schema, ValidationPolicy()
    )
    assert pd.isna(first["n"].iloc[0])
    _, second = check(
        pd.DataFrame({"n": ["y", "z"], "c": ["a", "a"], "b": [1, 0], "d": ["2024-01-01"] * 2}),
        schema,
        ValidationPolicy(),
        row_offset=1,
    )
    report.merge(second)
    problem = report.errors[0]
    assert (problem.count, problem.rows, report.rows) == (3, [1, 2, 3], 3)
    assert problem.detail == "3 values cannot be converted to float"


@pytest.mark.parametrize("value", [float("inf"), "-inf", "Infinity"])
def test_infinite_numbers_are_unconvertible(value: object) -> None:
    raw = pd.DataFrame({"n": [2.0, value], "c": ["a", "a"], "b": [True, True], "d": ["2024-01-01"] * 2})
    coerced, report = check(raw, _schema(), ValidationPolicy())
    assert pd.isna(coerced["n"].iloc[1])
    assert [(p.check, p.rows) for p in report.errors] == [("unconvertible", [2])]
