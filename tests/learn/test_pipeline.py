"""Pipeline: feature plans, preprocessing per kind of column, estimators by import path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import mixed_frame
from mlpact.config import FeaturesConfig, ModelConfig, SchemaConfig
from mlpact.data.schema import coerce, infer_schema
from mlpact.errors import ConfigError
from mlpact.learn.pipeline import (
    build_preprocessor,
    import_object,
    make_estimator,
    plan_features,
    retype_for_plan,
)


def _schema(frame: pd.DataFrame):  # type: ignore[no-untyped-def]
    return infer_schema(frame, SchemaConfig(), target="label", task="classification")


def test_inferred_plan_uses_every_kind_and_skips_ids() -> None:
    plan = plan_features(_schema(mixed_frame()), FeaturesConfig(), drop=[])
    assert plan.numeric == ["x", "count", "flag"]
    assert plan.categorical == ["color"]
    assert plan.text == ["note"]
    assert plan.datetime == ["day"]
    assert "id-like" in plan.unused["id"]


def test_listed_columns_override_inferred_kinds() -> None:
    features = FeaturesConfig.model_validate({"categorical": {"columns": ["count", "color"]}})
    plan = plan_features(_schema(mixed_frame()), features, drop=[])
    assert plan.categorical == ["count", "color"]
    assert "count" not in plan.numeric
    schema = retype_for_plan(_schema(mixed_frame()), plan)
    assert schema.column("count").type == "category"
    assert "id" not in schema.names


def test_infer_false_uses_only_listed_columns() -> None:
    features = FeaturesConfig.model_validate({"infer": False, "numeric": {"columns": ["x"]}})
    plan = plan_features(_schema(mixed_frame()), features, drop=[])
    assert plan.used == ["x"]


@pytest.mark.parametrize(
    "features, message",
    [
        ({"numeric": {"columns": ["nope"]}}, r"features\.numeric\.columns: 'nope' is not an input column"),
        ({"numeric": {"columns": ["x"]}, "categorical": {"columns": ["x"]}}, "is also listed under numeric"),
    ],
)
def test_bad_feature_lists(features: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_features(_schema(mixed_frame()), FeaturesConfig.model_validate(features), drop=[])


def test_preprocessor_handles_missing_values_and_unseen_categories() -> None:
    frame = mixed_frame()
    schema = _schema(frame)
    plan = plan_features(schema, FeaturesConfig(), drop=[])
    schema = retype_for_plan(schema, plan)
    pre = build_preprocessor(plan, FeaturesConfig()).fit(coerce(frame, schema))
    new = frame.head(3).copy()
    new.loc[0, "color"] = "purple"
    new.loc[1, "x"] = np.nan
    new.loc[2, "note"] = np.nan
    out = pre.transform(coerce(new, schema))
    dense = out.toarray() if hasattr(out, "toarray") else out
    assert dense.shape[0] == 3
    assert np.isfinite(dense).all()


@pytest.mark.parametrize(
    "path, message",
    [
        (
            "sklearn.ensemble.RandomForestClasifier",
            r"has no attribute 'RandomForestClasifier'; did you mean `sklearn\.ensemble\.RandomForestClassifier`",
        ),
        ("no_such_pkg.Model", r"cannot import module 'no_such_pkg'"),
        (
            "sklearn.metrics.accuracy_score",
            r"is not an estimator: expected a class with fit\(\) and predict\(\), found function",
        ),
        ("sklearn.preprocessing.StandardScaler", r"is not an estimator"),
    ],
)
def test_estimator_path_errors(path: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_estimator(ModelConfig(type=path), seed=0)


def test_unknown_estimator_parameter_suggests_the_right_one() -> None:
    spec = ModelConfig(type="sklearn.ensemble.RandomForestClassifier", params={"n_estimatrs": 5})
    with pytest.raises(
        ConfigError,
        match=r"model\.params\.n_estimatrs: not a parameter of RandomForestClassifier; did you mean `model\.params\.n_estimators`",
    ):
        make_estimator(spec, seed=0)


def test_seed_becomes_random_state_unless_given() -> None:
    est = make_estimator(ModelConfig(type="sklearn.ensemble.RandomForestClassifier"), seed=5)
    assert est.random_state == 5
    est = make_estimator(
        ModelConfig(type="sklearn.ensemble.RandomForestClassifier", params={"random_state": 1}), seed=5
    )
    assert est.random_state == 1
    assert (
        "random_state"
        not in make_estimator(ModelConfig(type="sklearn.linear_model.LinearRegression"), seed=5).get_params()
    )


def test_colon_import_path() -> None:
    assert import_object("sklearn.linear_model:Ridge").__name__ == "Ridge"
