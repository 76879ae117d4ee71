"""Pipeline: feature plans, preprocessing per kind of column, estimators by import path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import mixed_frame
from mlpact.config import FeaturesConfig, ModelConfig, SchemaConfig
from mlpact.errors import ConfigError
from mlpact.pipeline import build_preprocessor, import_object, make_estimator, plan_features, retype_for_plan
from mlpact.schema import coerce, infer_schema


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


# --------------------------------------------------------------------------- text columns
def _two_texts(rows: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    topics = {"a": "engine wheel road", "b": "recipe oven flour"}
    labels = rng.choice(["a", "b"], rows)
    return pd.DataFrame(
        {
            "title": [f"{topics[y].split()[i % 3]} notes {i}" for i, y in enumerate(labels)],
            "body": [f"about the {topics[y]} and more {i}" for i, y in enumerate(labels)],
            "label": labels,
        }
    )


def _text_branches(text: dict[str, object]) -> dict[str, object]:
    frame = _two_texts()
    features = FeaturesConfig.model_validate({"text": text})
    plan = plan_features(_schema(frame), features, drop=[])
    pre = build_preprocessor(plan, features).fit(coerce(frame, retype_for_plan(_schema(frame), plan)))
    return {name: (step, cols) for name, step, cols in pre.transformers_ if name != "remainder"}


@pytest.mark.parametrize(
    "combine, branches",
    [
        (True, {"text": ["title", "body"]}),
        (False, {"text_title": "title", "text_body": "body"}),
        ({"both": ["title", "body"]}, {"text_both": ["title", "body"]}),
        ({"t": ["title"]}, {"text_t": "title", "text_body": "body"}),
    ],
)
def test_text_columns_share_one_vocabulary_or_not(combine: object, branches: dict[str, object]) -> None:
    found = _text_branches({"combine": combine})
    assert {k: v[1] for k, v in found.items()} == branches


def test_a_combined_vocabulary_weighs_a_word_the_same_in_every_field() -> None:
    step = _text_branches({"combine": True})["text"][0]
    vectorizer = step[-1]
    assert "engine" in vectorizer.vocabulary_ and "about" in vectorizer.vocabulary_
    one = step.transform(pd.DataFrame({"title": ["engine"], "body": [""]}))
    other = step.transform(pd.DataFrame({"title": [""], "body": ["engine"]}))
    assert (one != other).nnz == 0


@pytest.mark.parametrize(
    "options, check",
    [
        ({"sublinear_tf": True, "binary": True}, lambda v: v.sublinear_tf and v.binary),
        ({"max_df": 0.5}, lambda v: "notes" not in v.vocabulary_),  # in every title: too common
        ({"stop_words": "english"}, lambda v: "the" not in v.vocabulary_ and "about" not in v.vocabulary_),
        ({"stop_words": ["notes"]}, lambda v: "notes" not in v.vocabulary_ and "engine" in v.vocabulary_),
        ({"analyzer": "char_wb", "ngram_min": 2, "ngram_max": 3},
         lambda v: " e" in v.vocabulary_ and all(2 <= len(t) <= 3 for t in v.vocabulary_)),
        ({"ngram_min": 2, "ngram_max": 2}, lambda v: all(len(t.split()) == 2 for t in v.vocabulary_)),
    ],
)  # fmt: skip
def test_tfidf_options_reach_the_vectorizer(options: dict[str, object], check: object) -> None:
    vectorizer = _text_branches({"combine": False, **options})["text_title"][0]
    assert check(vectorizer)  # type: ignore[operator]


@pytest.mark.parametrize(
    "text, message",
    [
        ({"ngram_min": 3, "ngram_max": 2}, "ngram_min \\(3\\) is greater than ngram_max \\(2\\)"),
        ({"analyzer": "char_wb", "stop_words": "english"}, "stop_words apply to the word analyzer only"),
        ({"combine": {"g": []}}, "combine.g: a group needs at least one column"),
        ({"combine": {"g": ["a"], "h": ["a"]}}, "combine.h: 'a' is also in group 'g'"),
        ({"max_df": 0}, "greater than 0"),
    ],
)
def test_bad_text_options(text: dict[str, object], message: str) -> None:
    from conftest import wine_config
    from mlpact.config import load_config

    with pytest.raises(ConfigError, match=message):
        load_config(wine_config(features={"text": text}))


def test_inference_leaves_out_id_like_numbers_and_says_why() -> None:
    frame = mixed_frame()
    frame.insert(0, "customer", range(5000, 5000 + len(frame)))
    schema = _schema(frame)
    plan = plan_features(schema, FeaturesConfig(), drop=[], ids={"customer": "a counter"})
    assert "customer" not in plan.numeric and "looks like a row id (a counter)" in plan.unused["customer"]
    listed = FeaturesConfig.model_validate({"numeric": {"columns": ["customer", "x"]}, "infer": False})
    assert plan_features(schema, listed, drop=[], ids={"customer": "a counter"}).numeric == ["customer", "x"]
