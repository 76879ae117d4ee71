"""Config: YAML + overrides -> validated, frozen models; errors name the key and a fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import wine_config, write_config
from mlpact.config import Config, apply_override, json_schema, load_config, parse_override
from mlpact.docs import reference_markdown
from mlpact.errors import ConfigError, ConfigNotFoundError


def test_defaults_are_filled_and_name_comes_from_the_file(tmp_path: Path) -> None:
    data = wine_config()
    del data["name"]
    cfg = load_config(write_config(tmp_path, data, "my wine.yaml"))
    assert cfg.name == "my-wine"
    assert cfg.seed == 42
    assert cfg.data.split.test_size == 0.2
    assert cfg.features.numeric.impute == "median"
    assert cfg.validation.missing_column == "error"


def test_config_is_frozen(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, wine_config()))
    with pytest.raises(ValueError, match="frozen"):
        cfg.seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "override, path, expected",
    [
        ("seed=7", ("seed",), 7),
        ("model.params.C=0.5", ("model", "params", "C"), 0.5),
        ("data.drop=[a, b]", ("data", "drop"), ["a", "b"]),
        ("data.split.stratify=false", ("data", "split", "stratify"), False),
        ("description=hello world", ("description",), "hello world"),
        ("model.params.class_weight=", ("model", "params", "class_weight"), None),
    ],
)
def test_overrides_parse_values_as_yaml(override: str, path: tuple[str, ...], expected: object) -> None:
    raw = wine_config()
    apply_override(raw, override)
    node: object = raw
    for key in path:
        node = node[key]  # type: ignore[index]
    assert node == expected


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, wine_config()), ["seed=9", "evaluate.cv_folds=0"])
    assert (cfg.seed, cfg.evaluate.cv_folds) == (9, 0)


@pytest.mark.parametrize("bad", ["seed", "=3", "a..b=1", "model params=1"])
def test_malformed_override_is_an_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="not of the form key.path=value"):
        parse_override(bad)


def test_override_through_a_scalar_is_an_error() -> None:
    with pytest.raises(ConfigError, match="seed is 42, not a section"):
        apply_override({"seed": 42}, "seed.x=1")


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "model.parms.C=1",
            r"model\.parms: unknown key .*did you mean `model\.params`\? Allowed keys here: params, type",
        ),
        ("evaluate.cv_fold=3", r"did you mean `evaluate\.cv_folds`"),
        ("seed=abc", r"seed: Input should be a valid integer.*found 'abc'"),
        ("data.split.test_size=1.5", r"data\.split\.test_size: Input should be less than 1 \(found 1\.5\)"),
        ("evaluate.cv_folds=1", r"evaluate\.cv_folds: cross-validation needs at least 2 folds"),
        ("data.task=clustering", r"data\.task: Input should be 'auto', 'classification' or 'regression'"),
        (
            "validation.missing_column=explode",
            r"validation\.missing_column: Input should be 'error', 'warn' or 'ignore'",
        ),
        ("evaluate.metrics=[acuracy]", r"unknown metric 'acuracy' \(did you mean 'accuracy'\?\)"),
        ("data.source=sklearn:titanic", r"unknown scikit-learn dataset 'titanic'"),
        ("name=../evil", r"name: expected 1 to 64 characters: letters, digits, underscores"),
        ("model.type=not a path", r"model\.type: expected an import path"),
    ],
)
def test_invalid_values_name_the_key_the_value_and_what_is_allowed(
    tmp_path: Path, override: str, message: str
) -> None:
    path = write_config(tmp_path, wine_config())
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path, [override])
    assert str(path) in str(info.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, wine_config()), ["seed=x", "modle.type=a.B"])
    assert len(info.value.problems) == 2
    assert "2 problems" in str(info.value)


def test_missing_required_sections(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="data: required key is missing") as info:
        load_config(write_config(tmp_path, {"name": "x"}))
    assert "model: required key is missing" in str(info.value)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "a: [1, 2",
            r"not valid YAML at line 2, column 1: did not find expected ',' or '\]' .*end of the file",
        ),
        (
            "data:\n\tsource: x.csv\n",
            "not valid YAML at line 2, column 1: a tab character; YAML indents with spaces",
        ),
        ("- 1\n- 2\n", "expected a mapping of sections at the top level, found list"),
    ],
)
def test_unreadable_yaml(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_file_is_not_found_and_lists_the_yaml_files_beside_it(tmp_path: Path) -> None:
    write_config(tmp_path, wine_config())
    with pytest.raises(
        ConfigNotFoundError, match=r"Config file '.*nope.yaml' not found: .* YAML files there: config.yaml"
    ):
        load_config(tmp_path / "nope.yaml")


def test_yaml_is_read_with_the_safe_loader(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(
        ConfigError, match="not valid YAML at line 1, column 7: could not determine a constructor"
    ):
        load_config(path)


def test_relative_source_resolves_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    data = wine_config()
    data["data"]["source"] = "../data.csv"
    cfg = load_config(write_config(tmp_path / "sub", data))
    assert cfg.source_path() == (tmp_path / "data.csv").resolve()
    assert load_config(write_config(tmp_path, wine_config())).source_path() is None


def test_hash_is_stable_and_ignores_description(tmp_path: Path) -> None:
    path = write_config(tmp_path, wine_config())
    base = load_config(path).hash()
    assert base == load_config(path).hash()
    assert base == load_config(path, ["description=anything"]).hash()
    assert base != load_config(path, ["seed=1"]).hash()
    assert base != load_config(path, ["model.params.C=2"]).hash()


@pytest.mark.parametrize(
    "override",
    [
        "validation.unseen_category=error",
        "check.psi=0.3",
        "tune.trials=7",
        "serve.max_rows=5",
        "serve.cors.origins=[https://app.example]",
        "tracking.mlflow_uri=sqlite:///x.db",
        "record.golden_rows=0",
        "code.on_change=error",
    ],
)
def test_how_a_model_is_used_served_or_reported_is_not_hashed(tmp_path: Path, override: str) -> None:
    path = write_config(tmp_path, wine_config())
    assert load_config(path, [override]).hash() == load_config(path).hash()


@pytest.mark.parametrize(
    "override",
    ["decision.objective=balanced_accuracy", "features.numeric.scale=minmax", "train.batch_size=8"],
)
def test_what_shapes_the_trained_model_is_hashed(tmp_path: Path, override: str) -> None:
    path = write_config(tmp_path, wine_config())
    assert load_config(path, [override]).hash() != load_config(path).hash()


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, wine_config()), ["model.params.C=0.3"])
    again = load_config(cfg.to_dict(), base_dir=tmp_path)
    assert again.to_dict() == cfg.to_dict()
    assert again.hash() == cfg.hash()


def test_json_schema_describes_every_section() -> None:
    schema = json_schema()
    assert set(schema["properties"]) == {a.alias or n for n, a in Config.model_fields.items()}
    assert schema["additionalProperties"] is False
    json.dumps(schema)


def test_reference_documents_every_key_with_its_default() -> None:
    text = reference_markdown()
    for key in [
        "data.split.test_size",
        "features.text.max_features",
        "schema.columns.<column>.type",
        "validation.unseen_category",
        "model.params",
        "evaluate.cv_folds",
    ]:
        assert f"`{key}`" in text, key
    assert "| `seed` | int | `42` |" in text


def test_readme_and_docs_reference_are_up_to_date() -> None:
    from mlpact.docs import config_reference_page, with_reference

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert with_reference(readme) == readme, "run `make docs`"
    assert (root / "docs" / "config-reference.md").read_text(encoding="utf-8") == config_reference_page()


# --------------------------------------------------------------------------- composition
def test_extends_merges_layers_and_overrides_win(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        {
            "data": {"source": "sklearn:wine"},
            "model": {
                "type": "sklearn.linear_model.LogisticRegression",
                "params": {"C": 1.0, "max_iter": 200},
            },
            "seed": 1,
        },
        "base.yaml",
    )
    write_config(
        tmp_path,
        {"extends": "base.yaml", "model": {"params": {"C": 0.5}}, "evaluate": {"cv_folds": 2}},
        "dev.yaml",
    )
    cfg = load_config(tmp_path / "dev.yaml", ["seed=3"])
    assert cfg.model.params == {"C": 0.5, "max_iter": 200}
    assert (cfg.seed, cfg.evaluate.cv_folds, cfg.name) == (3, 2, "dev")


@pytest.mark.parametrize(
    "child, params, cv_folds",
    [
        ({"model": {"params": None}}, {}, 5),  # the whole inherited mapping
        ({"model": {"params": {"max_iter": None}}}, {"C": 1.0}, 5),  # one key, `~` in YAML
        ({"evaluate": {"cv_folds": None}}, {"C": 1.0, "max_iter": 200}, 5),  # back to the default
        ({"model": {"params": {"C": None, "tol": 0.01}}}, {"max_iter": 200, "tol": 0.01}, 5),
    ],
)
def test_extends_null_removes_an_inherited_key(
    tmp_path: Path, child: dict[str, Any], params: dict[str, Any], cv_folds: int
) -> None:
    base = {
        "data": {"source": "sklearn:wine"},
        "model": {"type": "sklearn.linear_model.LogisticRegression", "params": {"C": 1.0, "max_iter": 200}},
        "evaluate": {"cv_folds": 2},
    }
    write_config(tmp_path, base, "base.yaml")
    write_config(tmp_path, {"extends": "base.yaml", **child}, "child.yaml")
    cfg = load_config(tmp_path / "child.yaml")
    assert cfg.model.params == params
    assert cfg.evaluate.cv_folds == (cv_folds if "evaluate" in child else 2)


def test_null_without_an_inherited_key_is_the_value_itself(tmp_path: Path) -> None:
    write_config(tmp_path, {"data": {"source": "sklearn:wine"}, "model": {"type": "x.Y"}}, "base.yaml")
    write_config(tmp_path, {"extends": "base.yaml", "model": {"params": {"max_depth": None}}}, "c.yaml")
    assert load_config(tmp_path / "c.yaml").model.params == {"max_depth": None}


def test_a_typo_in_a_base_layer_names_that_file(tmp_path: Path) -> None:
    write_config(tmp_path, {"data": {"source": "sklearn:wine"}, "modle": {"type": "x.Y"}}, "base.yaml")
    write_config(
        tmp_path, {"extends": ["base.yaml"], "model": {"type": "sklearn.linear_model.Ridge"}}, "top.yaml"
    )
    with pytest.raises(
        ConfigError, match=r"modle: unknown key .*did you mean `model`.*\[set in .*base.yaml\]"
    ):
        load_config(tmp_path / "top.yaml")


@pytest.mark.parametrize(
    "files, message",
    [
        (
            {"a.yaml": {"extends": "b.yaml"}, "b.yaml": {"extends": "a.yaml"}},
            "cycle: a.yaml -> b.yaml -> a.yaml",
        ),
        ({"a.yaml": {"extends": "missing.yaml"}}, "'missing.yaml' not found"),
        ({"a.yaml": {"extends": 3}}, "expected a file name or a list of them"),
    ],
)
def test_bad_extends(tmp_path: Path, files: dict[str, dict[str, object]], message: str) -> None:
    for name, data in files.items():
        write_config(tmp_path, data, name)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "a.yaml")


def test_env_interpolation_with_defaults_types_and_redaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLPACT_TEST_C", "0.25")
    data = wine_config(description="run by ${env:MLPACT_TEST_USER:-nobody}")
    data["model"]["params"]["C"] = "${env:MLPACT_TEST_C}"
    cfg = load_config(write_config(tmp_path, data))
    assert cfg.model.params["C"] == 0.25  # a whole-value expression is parsed like YAML
    assert cfg.description == "run by nobody"
    saved = cfg.to_dict()
    assert saved["model"]["params"]["C"] == "${env:MLPACT_TEST_C}"
    assert "0.25" not in cfg.to_yaml()
    assert cfg.to_dict(reveal=True)["model"]["params"]["C"] == 0.25
    monkeypatch.setenv("MLPACT_TEST_C", "0.5")
    assert cfg.hash() == load_config(write_config(tmp_path, data)).hash()  # the hash sees the expression


def test_unset_env_variable_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLPACT_TEST_MISSING", raising=False)
    data = wine_config()
    data["data"]["source"] = "${env:MLPACT_TEST_MISSING}/wine.csv"
    with pytest.raises(
        ConfigError, match=r"data\.source: environment variable MLPACT_TEST_MISSING is not set"
    ):
        load_config(write_config(tmp_path, data))


def test_secrets_are_redacted_and_must_name_keys(tmp_path: Path) -> None:
    cfg = load_config(
        write_config(tmp_path, wine_config(description="token abc123", secrets=["description"]))
    )
    assert cfg.description == "token abc123"
    assert cfg.to_dict()["description"] == "***" and "abc123" not in cfg.to_yaml()
    with pytest.raises(ConfigError, match=r"secrets: 'model.params.token' is not a key of this config"):
        load_config(write_config(tmp_path, wine_config(secrets=["model.params.token"])))


def test_nothing_from_the_environment_reaches_the_saved_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.datasets import load_wine

    import mlpact

    secret_dir = tmp_path / "very-private-folder"
    secret_dir.mkdir()
    load_wine(as_frame=True).frame.to_csv(secret_dir / "wine.csv", index=False)
    monkeypatch.setenv("MLPACT_TEST_DATA", str(secret_dir))
    data = wine_config(evaluate={"cv_folds": 0}, description="key sk-SECRET", secrets=["description"])
    data["data"]["source"] = "${env:MLPACT_TEST_DATA}/wine.csv"
    result = mlpact.train(write_config(tmp_path, data), store=tmp_path / "store")
    for path in result.path.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".yaml", ".md", ".html"):
            text = path.read_text()
            assert "very-private-folder" not in text and "sk-SECRET" not in text, path.name
    assert (
        mlpact.load(result.ref, store=tmp_path / "store").lineage["data"]["source"]
        == "${env:MLPACT_TEST_DATA}/wine.csv"
    )


def test_changed_shows_what_differs_from_the_defaults_down_to_declared_columns() -> None:
    from mlpact.config import load_config

    cfg = load_config(
        {
            "name": "m",
            "data": {"source": "x.csv", "target": "y"},
            "model": {"type": "sklearn.linear_model.LogisticRegression"},
            "evaluate": {"cv_folds": 5, "primary": "f1_macro"},  # 5 is the default
            "schema": {"columns": {"a": {"type": "float", "min": 1}, "b": {"type": "category"}}},
        }
    )
    assert cfg.changed() == {
        "name": "m",
        "data": {"source": "x.csv", "target": "y"},
        "model": {"type": "sklearn.linear_model.LogisticRegression"},
        "evaluate": {"primary": "f1_macro"},
        "schema": {"columns": {"a": {"type": "float", "min": 1.0}, "b": {"type": "category"}}},
    }


def test_with_values_says_where_a_config_came_from(tmp_path: Path) -> None:
    cfg = load_config(wine_config())
    moved = cfg.with_values(base_dir=tmp_path, expressions={"data.source": "${env:DATA}"})
    assert moved.base_dir == tmp_path and cfg.base_dir != tmp_path  # a copy; the original is untouched
    assert moved.expressions == {"data.source": "${env:DATA}"} and cfg.expressions == {}
    assert moved.to_dict()["data"]["source"] == "${env:DATA}"
    assert moved.with_values(template={"name": "x"}).template() == {"name": "x"}
    assert moved.with_values().base_dir == tmp_path  # what is not given is kept
