"""Property-based fuzzing: generated configs, overrides, data frames and HTTP payloads.

Whatever the input, the Python API answers with a result or a typed MlpactError, the CLI with a
clean exit code and a message (never a traceback, never "Unexpected error"), and the server with
a non-5xx response. Example counts come from the hypothesis profile (tests/conftest.py): `ci` in
`make test`, `fuzz` (thousands) in `make fuzz`.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import mlpact
from conftest import write_config
from mlpact.config import load_config, validate_config
from mlpact.errors import ExitCode, MlpactError

SLOW_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

BASE: dict[str, Any] = {
    "name": "iris",
    "data": {"source": "sklearn:iris", "target": "target"},
    "model": {"type": "sklearn.dummy.DummyClassifier", "params": {}},
    "evaluate": {"cv_folds": 0, "plots": False},
}

# --------------------------------------------------------------------------- strategies
KEYS = st.sampled_from(
    ["name", "seed", "data", "source", "target", "split", "test_size", "model", "type", "params",
     "features", "custom", "evaluate", "cv_folds", "primary", "validation", "schema", "secrets",
     "tune", "check", "train", "description", "extends", "columns", "drop", "x", "", "a.b", "é"]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["sklearn:iris", "sklearn:nope", "missing.csv", "sklearn.dummy.DummyClassifier",
                     "os.system", "${env:HOME}", "${env:MLPACT_NOPE_UNSET}", "${env:", "***"]),
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_configs(draw: st.DrawFn) -> dict[str, Any]:
    """The valid base config with a few keys set, replaced or deleted at random paths."""
    cfg = json.loads(json.dumps(BASE))
    for _ in range(draw(st.integers(1, 4))):
        node = cfg
        path = draw(st.lists(KEYS, min_size=1, max_size=3))
        for key in path[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        if draw(st.booleans()) and path[-1] in node:
            del node[path[-1]]
        else:
            node[path[-1]] = draw(VALUES)
    return cfg


OVERRIDE_KEYS = st.one_of(
    st.sampled_from(["seed", "model.params.strategy", "data.split.test_size", "evaluate.cv_folds", "name",
                     "model.type", "data", "model.params", "nope.deep.key", "", ".", "a..b", "model.params.x"]),
    st.text(max_size=20),
)  # fmt: skip
OVERRIDE_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["[1, 2", "{a: 1}", "!!python/object/apply:os.system [ls]", "&a [*a]", "null", "1e999",
                     "-.inf", "0x10", "'", '"', "- a\n- b", "{", "*x", "!!binary aGk=", "2024-01-01"]),
)  # fmt: skip
OVERRIDES = st.builds(lambda k, sep, v: f"{k}{sep}{v}", OVERRIDE_KEYS, st.sampled_from(["=", "", "=="]),
                      OVERRIDE_VALUES)  # fmt: skip


def _config_outcome(call: Any) -> str:
    """Run a config call; a result or a ConfigError pass, anything else fails the property."""
    try:
        call()
    except MlpactError as exc:
        assert exc.message.strip(), "an error without a message"
        assert exc.exit_code in (ExitCode.CONFIG, ExitCode.INPUT, ExitCode.NOT_FOUND), exc
        return "error"
    return "ok"


# --------------------------------------------------------------------------- configs
@SLOW_OK
@given(raw=mutated_configs())
@example(raw={**BASE, "secrets": ["model.params"]})
@example(raw={**BASE, "seed": float("nan")})
@example(raw={**BASE, "name": "../../etc"})
def test_any_config_mapping_validates_or_is_a_config_error(raw: dict[str, Any]) -> None:
    _config_outcome(lambda: load_config(raw))
    _config_outcome(lambda: validate_config(raw))


@SLOW_OK
@given(text=st.one_of(st.text(max_size=200), VALUES.map(lambda v: yaml.safe_dump(v)),
                      mutated_configs().map(lambda c: yaml.safe_dump(c, allow_unicode=True))))  # fmt: skip
@example(text="a: &a [*a, *a]\n")
@example(text="[" * 2000)
@example(text="a: 1\na: 2\n")
@example(text="extends: config.yaml\n")
@example(text="extends: [../../../../etc/passwd]\n")
@example(text="\ufeffname: bom\n")
def test_any_yaml_text_loads_or_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    _config_outcome(lambda: load_config(path))


@SLOW_OK
@given(items=st.lists(OVERRIDES, min_size=1, max_size=3))
@example(items=["model.params=1", "model.params.x=2"])
@example(items=["data.split=[1"])
@example(items=["seed=1e999"])
@example(items=["name=!!python/object/apply:os.system [ls]"])
def test_any_override_applies_or_is_a_config_error(tmp_path: Path, items: list[str]) -> None:
    path = tmp_path / "config.yaml"
    if not path.exists():
        write_config(tmp_path, BASE)
    _config_outcome(lambda: load_config(path, items))


@SLOW_OK
@given(items=st.lists(OVERRIDES, max_size=2), text=st.one_of(st.just(None), st.text(max_size=80)))
def test_cli_config_show_exits_cleanly(tmp_path: Path, items: list[str], text: str | None) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    path = tmp_path / "config.yaml"
    if text is None:
        write_config(tmp_path, BASE)
    else:
        path.write_text(text, encoding="utf-8")
    args = ["config", "show", str(path), *[a for item in items for a in ("--set", item)]]
    result = CliRunner().invoke(app, args)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code in (ExitCode.OK, ExitCode.USAGE, ExitCode.CONFIG), output
    assert "Traceback" not in output and "Unexpected error" not in output, output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), output


# --------------------------------------------------------------------------- data frames
COLUMNS = ["x", "count", "color", "flag", "note", "day"]
CELL_KINDS = [
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=3000),
    st.sampled_from(["red", "green", "blue", "purple", "2024-02-30", "2024-01-01", "NaT", "nan", "inf", "1e400",
                     "", " ", "🦀", "\x00", "true", "yes", "-0"]),
    st.datetimes().map(str),
]  # fmt: skip
CELL = st.one_of(*CELL_KINDS)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    """Rows for the mixed model: columns missing or extra, any cell of any type."""
    columns = draw(
        st.lists(st.sampled_from([*COLUMNS, "extra", "label", "id", "🦀"]), unique=True, max_size=9)
    )
    rows = draw(st.integers(1, 5))
    uniform = draw(st.booleans())  # one type per column (the usual bad file) or anything per cell
    data: dict[str, list[Any]] = {}
    for column in columns:
        if uniform:
            cell = draw(st.sampled_from(CELL_KINDS))
            data[column] = draw(st.lists(cell, min_size=rows, max_size=rows))
        else:
            data[column] = draw(st.lists(CELL, min_size=rows, max_size=rows))
    return pd.DataFrame(data, index=range(rows)) if data else pd.DataFrame(index=range(rows))


@pytest.fixture(scope="module")
def mixed_model(trained_mixed: dict[str, Any]) -> mlpact.Model:
    return mlpact.load(trained_mixed["ref"], store=trained_mixed["store"])


def _valid_rows(trained: dict[str, Any]) -> pd.DataFrame:
    return trained["frame"].drop(columns=["label", "id"]).head(3).reset_index(drop=True)


@SLOW_OK
@given(frame=frames())
def test_any_frame_predicts_or_is_a_typed_error(mixed_model: mlpact.Model, frame: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = mixed_model.predict(frame)
        except MlpactError as exc:
            assert exc.message.strip()
            return
    assert len(out) == len(frame)


@SLOW_OK
@given(column=st.sampled_from(COLUMNS), value=CELL)
@example(column="x", value=1.7976931348623157e308)  # finite, but scaled to inf inside the pipeline
def test_one_bad_cell_in_valid_rows_predicts_or_is_a_typed_error(
    mixed_model: mlpact.Model, trained_mixed: dict[str, Any], column: str, value: Any
) -> None:
    frame = _valid_rows(trained_mixed).astype(object)
    frame.loc[1, column] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = mixed_model.predict_proba(frame)
        except MlpactError as exc:
            assert exc.message.strip()
            return
    assert len(out) == 3 and all(math.isfinite(v) for v in out.to_numpy().ravel())


CSV_TEXT = st.one_of(
    frames().map(lambda f: f.to_csv(index=False)),
    st.text(max_size=300),
    st.sampled_from(["", "\n", "x,count\n1", 'x,"unclosed\n1,2', "x,x,x\n1,2,3", "\ufeffx,count\n1,2",
                     "x;count\n1;2", "x,count\n" + "1,2\n" * 3 + "1,2,3,4,5\n"]),
)  # fmt: skip


@SLOW_OK
@given(text=CSV_TEXT)
@example(text="x\n1\n1,2\n")  # pandas parses lazily: the bad line fails while iterating chunks
def test_cli_predict_of_any_csv_exits_cleanly(
    trained_mixed: dict[str, Any], tmp_path: Path, text: str
) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    source = tmp_path / "input.csv"
    source.write_text(text, encoding="utf-8")
    args = ["predict", trained_mixed["ref"], str(source), "-o", str(tmp_path / "out.csv"),
            "--store", str(trained_mixed["store"])]  # fmt: skip
    result = CliRunner().invoke(app, args)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code in (ExitCode.OK, ExitCode.INPUT), output
    assert "Traceback" not in output and "Unexpected error" not in output, output


# --------------------------------------------------------------------------- HTTP payloads
@pytest.fixture(scope="module")
def client(trained_mixed: dict[str, Any]) -> Any:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mlpact.serve import create_app

    limits = {"max_rows": 20, "max_bytes": 50_000}
    return TestClient(
        create_app(trained_mixed["ref"], store=trained_mixed["store"], overrides=limits),
        base_url="http://localhost",
    )


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15,
)  # fmt: skip
JSON_CELL = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.sampled_from(["red", "purple", "2024-01-01", "2024-13-45", "nan", "inf", "🦀" * 50]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip
RECORD = st.dictionaries(
    st.sampled_from([*COLUMNS, "extra", "label"]) | st.text(max_size=6), JSON_CELL, max_size=8
)
RECORDS = st.lists(RECORD, max_size=4)


def _split(records: list[dict[str, Any]], columns: list[str]) -> dict[str, Any]:
    return {"columns": columns, "data": [[r.get(c) for c in columns] for r in records]}


PAYLOADS = st.one_of(
    RECORDS,
    RECORD,
    RECORDS.map(lambda r: {"dataframe_records": r}),
    st.builds(
        lambda r, c: {"dataframe_split": _split(r, c)},
        RECORDS,
        st.lists(st.sampled_from(COLUMNS) | st.text(max_size=4), max_size=8),
    ),
    st.builds(lambda d: {"dataframe_split": d}, JSON),
    RECORDS.map(lambda r: {"inputs": r}),
    st.dictionaries(
        st.sampled_from(COLUMNS) | st.text(max_size=4),
        st.lists(JSON_CELL, max_size=4) | JSON_CELL,
        max_size=7,
    ).map(lambda d: {"inputs": d}),
    st.builds(lambda k, v: {k: v}, st.sampled_from(["dataframe_records", "dataframe_split", "inputs"]), JSON),
    JSON,
)
RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    st.sampled_from([b"", b"[", b"{}", b"[]", b"NaN", b'{"inputs": NaN}', b'[{"x": Infinity}]', b"[" * 5000,
                     b'{"a": 1, "a": 2}', b"\xff\xfe", b'"just a string"', b"1e999", b"[[[]]]"]),
)  # fmt: skip


@SLOW_OK
@given(payload=PAYLOADS)
@example(payload=[{"x": 1e308, "count": 1e308}])
@example(payload={"dataframe_split": {"columns": ["x", "x"], "data": [[1, 2]]}})
@example(payload={"dataframe_split": {"columns": ["x"], "data": [[1, 2, 3]]}})
@example(payload={"inputs": {"x": [1, 2], "count": [1]}})
@example(payload=[{"day": "9999-99-99"}, {"day": 3}])
def test_any_json_payload_gets_a_non_5xx_answer(client: Any, payload: Any) -> None:
    response = client.post("/predict", json=payload)
    assert response.status_code < 500, (payload, response.text)
    body = response.json()
    assert ("predictions" in body) == (response.status_code == 200), body


@SLOW_OK
@given(body=RAW_BODIES)
def test_any_raw_body_gets_a_non_5xx_answer(client: Any, body: bytes) -> None:
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code < 500, (body[:200], response.text)
    assert "error" in response.json() or response.status_code == 200


def test_profiles_bound_the_example_counts() -> None:
    """`make test` stays quick: the active profile is bounded unless `make fuzz` asked for more."""
    import os

    current = settings.default
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":
        assert current.max_examples <= 50 and current.deadline is None
    else:
        assert current.max_examples >= 1000
