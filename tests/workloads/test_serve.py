"""Serving over HTTP: every endpoint and error in-process, a real server process, the OpenAPI
contract under generated requests, alias following, and the records fast path it relies on."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

import mlpact
from conftest import free_port, mixed_frame, wait_until_answers, wine_config, write_config
from mlpact.config import ServeConfig
from mlpact.data.validation import check
from mlpact.errors import MissingDependencyError
from mlpact.serve import (
    ENV_VAR,
    ModelHolder,
    app_from_environment,
    build_app,
    create_app,
    environment_options,
)
from mlpact.version.model import as_frame

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient


def client_for(ref: str, store: Path, **kwargs: Any) -> TestClient:
    return TestClient(
        create_app(ref, store=store, settings=ServeConfig(**kwargs)), base_url="http://localhost"
    )


@pytest.fixture(scope="module")
def wine(trained_wine: dict[str, Any]) -> dict[str, Any]:
    model = mlpact.load(trained_wine["ref"], store=trained_wine["store"])
    X = trained_wine["frame"].drop(columns="target")
    return {
        "client": client_for(trained_wine["ref"], trained_wine["store"], max_rows=50, max_bytes=20_000),
        "model": model,
        "records": X.head(3).to_dict("records"),
        "X": X,
    }


@pytest.fixture(scope="module")
def mixed(trained_mixed: dict[str, Any]) -> dict[str, Any]:
    frame = trained_mixed["frame"].drop(columns=["label", "id"]).head(4)
    records = json.loads(frame.to_json(orient="records"))
    return {"client": client_for(trained_mixed["ref"], trained_mixed["store"]), "records": records}


@pytest.fixture(scope="module")
def strict_mixed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The mixed data under a policy where every check is an error (a fast model, no CV)."""
    folder = tmp_path_factory.mktemp("strict")
    mixed_frame(120).to_csv(folder / "mixed.csv", index=False)
    checks = (
        "missing_column",
        "extra_column",
        "unconvertible",
        "unexpected_null",
        "unseen_category",
        "out_of_range",
    )
    config = write_config(
        folder,
        {
            "name": "strict",
            "data": {"source": "mixed.csv", "target": "label", "drop": ["id"]},
            "model": {"type": "sklearn.linear_model.LogisticRegression", "params": {"max_iter": 500}},
            "evaluate": {"cv_folds": 0},
            "validation": dict.fromkeys(checks, "error"),
        },
    )
    result = mlpact.train(config, store=folder / "store")
    return {"client": client_for(result.ref, folder / "store"), "ref": result.ref, "store": folder / "store"}


# --------------------------------------------------------------------------- /predict
def test_predict_records_returns_predictions_and_probabilities(wine: dict[str, Any]) -> None:
    response = wine["client"].post("/predict", json=wine["records"], headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "wine:1"
    assert body["predictions"] == wine["model"].predict(wine["records"]).tolist()
    proba = wine["model"].predict_proba(wine["records"])
    assert [list(p) for p in body["probabilities"]] == [["0", "1", "2"]] * 3
    assert np.allclose([[p[k] for k in ("0", "1", "2")] for p in body["probabilities"]], proba.to_numpy())
    assert body["warnings"] == []
    assert response.headers["x-request-id"] == "abc-123"


def _shapes(records: list[dict[str, Any]]) -> list[Any]:
    frame = pd.DataFrame(records)
    split = json.loads(frame.to_json(orient="split", index=False))
    return [
        records,
        {"dataframe_records": records},
        {"dataframe_split": split},
        {"inputs": records},
        {"inputs": {c: frame[c].tolist() for c in frame.columns}},
    ]


@pytest.mark.parametrize(
    "shape", range(5), ids=["list", "dataframe_records", "dataframe_split", "inputs", "inputs_columns"]
)
def test_every_payload_shape_gives_the_same_predictions(wine: dict[str, Any], shape: int) -> None:
    response = wine["client"].post("/predict", json=_shapes(wine["records"])[shape])
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == wine["model"].predict(wine["records"]).tolist()


def test_one_record_and_an_empty_list(wine: dict[str, Any]) -> None:
    one = wine["client"].post("/predict", json=wine["records"][0]).json()
    assert one["predictions"] == wine["model"].predict(wine["records"][:1]).tolist()
    empty = wine["client"].post("/predict", json=[])
    assert empty.status_code == 200 and empty.json()["predictions"] == []


def test_mixed_model_with_category_text_date_and_bool(
    mixed: dict[str, Any], trained_mixed: dict[str, Any]
) -> None:
    response = mixed["client"].post("/predict", json=mixed["records"])
    assert response.status_code == 200, response.text
    model = mlpact.load(trained_mixed["ref"], store=trained_mixed["store"])
    assert response.json()["predictions"] == model.predict(mixed["records"]).tolist()


def test_warnings_come_back_beside_the_predictions_without_values(mixed: dict[str, Any]) -> None:
    record = {**mixed["records"][0], "color": "SECRET-purple"}
    response = mixed["client"].post("/predict", json=[record])
    assert response.status_code == 200, response.text
    (warning,) = response.json()["warnings"]
    assert warning == {
        "field": "color",
        "check": "unseen_category",
        "severity": "warn",
        "count": 1,
        "rows": [1],
        "message": "color: 1 value not among the categories seen in training (row 1)",
    }
    assert "SECRET" not in response.text


BAD_BODIES = [
    (b"{not json", 422, "Request body is not valid JSON at line 1, column 2."),
    (b'[{"alcohol": NaN}]', 422, "Request body is not valid JSON"),
    (b'"text"', 422, "Expected a list of records, one record, or an object with one of"),
    (
        b'{"inputs": [], "dataframe_records": []}',
        422,
        "Request body has more than one of ['dataframe_records', 'inputs']",
    ),
    (
        b'{"dataframe_records": {"a": 1}}',
        422,
        "dataframe_records: expected a list of records, got a JSON object.",
    ),
    (
        b'{"dataframe_split": [1]}',
        422,
        "dataframe_split: expected an object with `columns` (a list) and `data`.",
    ),
    (
        b'{"dataframe_split": {"columns": [1], "data": []}}',
        422,
        "dataframe_split.columns: expected a list of column names",
    ),
    (
        b'{"dataframe_split": {"columns": ["a"], "data": [1]}}',
        422,
        "dataframe_split.data: expected a list of rows",
    ),
    (
        b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [1]]}}',
        422,
        "1 row does not have 2 values, one per column (rows 2)",
    ),
    (
        b'{"inputs": {"a": [1, 2], "b": [1]}}',
        422,
        "inputs: every column needs the same number of values; got lengths [1, 2].",
    ),
    (b'{"inputs": {"a": 1}}', 422, "inputs: expected a mapping of column name to a list of values."),
    (b"[1, 2]", 422, "records[0]: expected a record (an object of column: value), got a JSON number."),
    (
        b'[{"alcohol": [1, 2]}]',
        422,
        "records[0].alcohol: expected a single value (number, string, boolean or null), got a JSON array.",
    ),
    (
        json.dumps([{}] * 51).encode(),
        413,
        "Too many rows: 51; this server accepts at most 50 per request (mlpact serve --max-rows).",
    ),
    (
        b"[" + b" " * 20_001 + b"]",
        413,
        "Request body too large: 20,003 bytes; this server accepts at most 20,000 bytes",
    ),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_BODIES)
def test_bad_requests_are_client_errors_with_a_clear_message(
    wine: dict[str, Any], body: bytes, status: int, message: str
) -> None:
    response = wine["client"].post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert message in response.json()["error"]
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_a_chunked_body_over_the_limit_is_413(wine: dict[str, Any]) -> None:
    chunks = iter([b"[" + b" " * 15_000, b" " * 15_000 + b"]"])
    response = wine["client"].post("/predict", content=chunks)
    assert response.status_code == 413
    assert "more than 20,000 bytes" in response.json()["error"]


def test_schema_errors_name_each_field_and_never_echo_values(
    wine: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    record = {**wine["records"][0], "alcohol": "SECRET-abc"}
    del record["magnesium"]
    with caplog.at_level(logging.WARNING, logger="mlpact.serve"):
        response = wine["client"].post("/predict", json=[record])
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "Input does not match the model's schema: 2 errors."
    assert [(p["field"], p["check"], p["message"]) for p in body["problems"]] == [
        ("alcohol", "unconvertible", "alcohol: 1 value cannot be converted to float (row 1)"),
        ("magnesium", "missing_column", "magnesium: column is missing"),
    ]
    assert "SECRET" not in response.text and "SECRET" not in caplog.text
    assert body["request_id"] in caplog.text and "alcohol: 1 value cannot be converted" in caplog.text


STRICT_CASES = [
    (
        {"color": "purple"},
        "color",
        "unseen_category",
        "color: 1 value not among the categories seen in training (row 1)",
    ),
    ({"flag": "maybe"}, "flag", "unconvertible", "flag: 1 value cannot be converted to bool (row 1)"),
    ({"x": 1e6}, "x", "out_of_range", "x: 1 value outside the training range"),
    ({"count": None}, "count", "unexpected_null", "count: 1 missing value; training data had none (row 1)"),
    ({"extra": 1}, "extra", "extra_column", "extra: column is not used by the model"),
]


@pytest.mark.parametrize(("change", "field", "check_name", "message"), STRICT_CASES)
def test_every_check_is_a_422_when_the_policy_says_error(
    strict_mixed: dict[str, Any],
    mixed: dict[str, Any],
    change: dict[str, Any],
    field: str,
    check_name: str,
    message: str,
) -> None:
    response = strict_mixed["client"].post("/predict", json=[{**mixed["records"][0], **change}])
    assert response.status_code == 422, response.text
    (problem,) = response.json()["problems"]
    assert (problem["field"], problem["check"], problem["severity"]) == (field, check_name, "error")
    assert problem["message"].startswith(message)


def test_infinite_numbers_are_unconvertible_like_everywhere_else(wine: dict[str, Any]) -> None:
    response = wine["client"].post("/predict", json=[{**wine["records"][0], "alcohol": "inf"}])
    assert response.status_code == 422
    assert "alcohol" in response.text and "cannot be converted" in response.text


def test_input_the_pipeline_cannot_score_is_422_not_500(
    trained_wine: dict[str, Any], wine: dict[str, Any]
) -> None:
    holder = ModelHolder(trained_wine["ref"], store=trained_wine["store"])

    class Picky:
        classes_ = np.array([0, 1, 2])

        def predict_proba(self, X: Any) -> Any:
            raise ValueError("Input X contains something this estimator rejects")

    holder.model.pipeline = Picky()
    response = TestClient(build_app(holder, ServeConfig()), base_url="http://localhost").post(
        "/predict", json=wine["records"][:1]
    )
    assert response.status_code == 422
    assert response.json()["error"].startswith(
        "The model could not score this input (ValueError in the pipeline), although it passed the schema checks"
    )


def test_an_unexpected_failure_is_500_logged_with_the_request_id_only(
    trained_wine: dict[str, Any], wine: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    holder = ModelHolder(trained_wine["ref"], store=trained_wine["store"])

    class Broken:
        classes_ = np.array([0, 1, 2])

        def predict_proba(self, X: Any) -> Any:
            raise RuntimeError("SECRET internal detail")

    holder.model.pipeline = Broken()
    client = TestClient(build_app(holder, ServeConfig()), base_url="http://localhost")
    with caplog.at_level(logging.ERROR, logger="mlpact.serve"):
        response = client.post("/predict", json=wine["records"][:1], headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.json() == {
        "error": "Internal error; the server log has this request id.",
        "request_id": "req-500",
        "problems": [],
    }
    assert "request req-500: 500 unexpected RuntimeError while predicting with wine:1" in caplog.text
    assert "SECRET" not in caplog.text


def test_a_request_id_that_is_not_a_plain_token_is_replaced(wine: dict[str, Any]) -> None:
    response = wine["client"].post("/predict", json=[], headers={"X-Request-ID": "bad id\x7f"})
    assert response.headers["x-request-id"] != "bad id\x7f" and len(response.headers["x-request-id"]) == 32
    from mlpact.serve._answer import request_id

    assert request_id("req-1") == "req-1" and len(request_id("req-1\n")) == 32  # whole token only


# --------------------------------------------------------------------------- other endpoints
def test_health_ready_and_metadata(wine: dict[str, Any]) -> None:
    client = wine["client"]
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"ready": True, "model": "wine:1", "follow_error": None}
    meta = client.get("/metadata").json()
    assert (meta["name"], meta["version"], meta["ref"], meta["task"]) == (
        "wine",
        1,
        "wine:1",
        "classification",
    )
    assert [c["name"] for c in meta["schema"]["columns"]] == list(wine["X"].columns)
    assert meta["validation"]["missing_column"] == "error"
    assert meta["metrics"]["test"]["accuracy"] > 0.9
    assert meta["limits"] == {"max_rows": 50, "max_bytes": 20_000}
    assert meta["aliases"] == [] and meta["follows_alias"] is False


def test_openapi_request_schema_has_real_fields_shaped_by_the_policy(
    mixed: dict[str, Any], strict_mixed: dict[str, Any]
) -> None:
    loose = mixed["client"].get("/openapi.json").json()["components"]["schemas"]["MixedRecord"]
    strict = strict_mixed["client"].get("/openapi.json").json()["components"]["schemas"]["StrictRecord"]
    assert set(loose["properties"]) == {"x", "count", "color", "flag", "note", "day"}
    # unseen categories warn by default: no enum, the categories are in the description
    assert "enum" not in json.dumps(loose["properties"]["color"])
    assert (
        "Categories seen in training: 'blue', 'green', 'red'; others: accepted with a warning."
        in (loose["properties"]["color"]["description"])
    )
    assert loose["additionalProperties"] is True and sorted(loose["required"]) == sorted(loose["properties"])
    # every check an error: enum, bounds, no null where training had none, no extra fields
    assert strict["properties"]["color"]["anyOf"][0]["enum"] == ["blue", "green", "red"]
    assert "minimum" in strict["properties"]["count"] and strict["properties"]["count"]["type"] == "number"
    assert strict["additionalProperties"] is False
    doc = mixed["client"].get("/openapi.json").json()
    assert set(doc["paths"]) == {"/predict", "/health", "/ready", "/metadata"}
    options = doc["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "anyOf"
    ]
    assert len(options) == 4
    assert mixed["client"].get("/docs").status_code == 200


def test_cors_is_off_by_default_and_on_for_named_origins(
    trained_wine: dict[str, Any], wine: dict[str, Any]
) -> None:
    headers = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in wine["client"].options("/predict", headers=headers).headers
    on = client_for(trained_wine["ref"], trained_wine["store"], cors={"origins": ["https://app.example"]})
    response = on.options("/predict", headers=headers)
    assert response.headers["access-control-allow-origin"] == "https://app.example"


# --------------------------------------------------------------------------- aliases
@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("alias")
    config = write_config(folder, wine_config(evaluate={"cv_folds": 0}))
    store = folder / "store"
    mlpact.train(config, store=store)
    mlpact.train(config, overrides=["model.params.C=0.01"], store=store)
    return {"store": store}


def test_serving_an_alias_follows_it_when_it_moves(
    two_versions: dict[str, Any], wine: dict[str, Any]
) -> None:
    store = mlpact.Store.open(two_versions["store"])
    store.set_alias("wine", "prod", 1)
    holder = ModelHolder("wine@prod", store=two_versions["store"])
    client = TestClient(build_app(holder, ServeConfig()), base_url="http://localhost")
    assert client.post("/predict", json=wine["records"]).json()["model"] == "wine:1"
    in_flight = holder.model
    store.set_alias("wine", "prod", 2)
    assert holder.refresh() is True and holder.refresh() is False
    assert client.post("/predict", json=wine["records"]).json()["model"] == "wine:2"
    assert client.get("/metadata").json()["aliases"] == ["prod"]
    assert in_flight.predict(wine["records"]).shape == (3,)  # the old version still answers its request


def test_polling_switches_versions_and_a_failed_load_keeps_the_old_one(
    two_versions: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    store = mlpact.Store.open(two_versions["store"])
    store.set_alias("wine", "poll", 1)
    holder = ModelHolder("wine@poll", store=two_versions["store"])
    stop = holder.start_polling(0.05)
    try:
        store.set_alias("wine", "poll", 2)
        deadline = time.monotonic() + 5
        while holder.model.version != 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert holder.model.version == 2
    finally:
        stop.set()
    holder.store = mlpact.Store.open(two_versions["store"].parent / "elsewhere")
    with caplog.at_level(logging.ERROR, logger="mlpact.serve"):
        assert holder.refresh() is False
    assert holder.model.version == 2 and "still serving wine:2" in caplog.text
    assert holder.last_error is not None and holder.last_error.startswith("NotFoundError")


def test_pinned_versions_are_not_followed(two_versions: dict[str, Any]) -> None:
    holder = ModelHolder("wine:1", store=two_versions["store"])
    assert holder.follows is False and holder.refresh() is False


# --------------------------------------------------------------------------- processes and extras
def test_a_real_server_process_answers_and_follows_its_alias(
    two_versions: dict[str, Any], wine: dict[str, Any]
) -> None:
    import httpx

    store = mlpact.Store.open(two_versions["store"])
    store.set_alias("wine", "live", 1)
    port = free_port()
    mlpact_bin = str(Path(sys.executable).with_name("mlpact"))
    cmd = [mlpact_bin, "serve", "wine@live", "--port", str(port), "--poll-interval", "0.1"]
    proc = subprocess.Popen(
        [*cmd, "--store", str(two_versions["store"])], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{url}/ready", proc, timeout=30)
        assert httpx.post(f"{url}/predict", json=wine["records"], timeout=10).json()["model"] == "wine:1"
        store.set_alias("wine", "live", 2)
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/metadata", timeout=5).json()["version"] != 2:
            assert time.monotonic() < deadline, "the server did not follow the alias"
            time.sleep(0.05)
        assert httpx.post(f"{url}/predict", json=wine["records"], timeout=10).json()["model"] == "wine:2"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_several_workers_build_the_app_from_the_environment(
    trained_wine: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    options = environment_options(
        trained_wine["ref"], str(trained_wine["store"]), [], ServeConfig(max_rows=7)
    )
    monkeypatch.setenv(ENV_VAR, options)
    client = TestClient(app_from_environment(), base_url="http://localhost")
    assert client.get("/metadata").json()["limits"]["max_rows"] == 7


def test_missing_serve_extra_is_a_clear_error(
    trained_wine: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    monkeypatch.setitem(sys.modules, "fastapi", None)
    with pytest.raises(
        MissingDependencyError, match="mlpact serve needs the 'fastapi' package, which is not installed."
    ) as info:
        create_app(trained_wine["ref"], store=trained_wine["store"])
    assert info.value.hint == "pip install 'mlpact[serve]'"
    result = CliRunner().invoke(app, ["serve", trained_wine["ref"], "--store", str(trained_wine["store"])])
    assert result.exit_code == 7
    assert "pip install 'mlpact[serve]'" in result.output


def test_serve_help_says_how_aliases_are_followed() -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    said = " ".join(result.output.split())  # help paragraphs are reflowed: a phrase may wrap
    for words in (
        "polls the store every --poll-interval",
        "enum only when unseen categories are errors",
        "127.0.0.1",
    ):
        assert words in said


def test_the_cli_does_not_import_fastapi_or_uvicorn() -> None:
    code = "import sys, mlpact.cli\nprint(','.join(m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ}
    )
    assert out.stdout.strip() == ""


# --------------------------------------------------------------------------- property-based
@pytest.mark.parametrize(("path", "method"), [("/predict", "POST"), ("/metadata", "GET"), ("/ready", "GET")])
def test_openapi_contract_never_gives_a_server_error(
    trained_mixed: dict[str, Any], path: str, method: str
) -> None:
    app = create_app(
        trained_mixed["ref"],
        store=trained_mixed["store"],
        settings=ServeConfig(max_rows=20, allowed_hosts=["testserver"]),
    )
    operation = schemathesis.openapi.from_asgi("/openapi.json", app)[path][method]

    @given(operation.as_strategy())
    @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
    def call(case: Any) -> None:
        case.call_and_validate(checks=[not_a_server_error])

    call()


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 15),
    st.floats(allow_nan=True, allow_infinity=False, width=32),
    st.sampled_from(["red", "green", "blue", "purple", "yes", "no", "1", "0", "2024-03-01", "x", " 3 ", ""]),
)
_COLUMNS = ["x", "count", "color", "flag", "note", "day", "other"]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.dictionaries(st.sampled_from(_COLUMNS), _VALUES), min_size=1, max_size=4), st.data())
def test_records_fast_path_matches_the_dataframe_path(
    trained_mixed: dict[str, Any], records: list[dict[str, Any]], data: st.DataObject
) -> None:
    model = _mixed_model(trained_mixed)
    for record in records:  # mostly complete rows, so the fast path is exercised too
        if data.draw(st.booleans()):
            record.update({k: v for k, v in _CLEAN.items() if k not in record})
    skip = {"label"}
    try:
        expected = check(as_frame(records), model.schema, model.policy, ignore=skip)
    except (TypeError, ValueError):
        return
    got = model.check(records)
    pd.testing.assert_frame_equal(got[0], expected[0])
    assert got[1].to_dict() == expected[1].to_dict()


_CLEAN = {
    "x": 0.5,
    "count": 3,
    "color": "red",
    "flag": True,
    "note": "great fast service item 1",
    "day": "2024-02-01",
}
_MODELS: dict[str, Any] = {}


def _mixed_model(trained: dict[str, Any]) -> Any:
    if "mixed" not in _MODELS:
        _MODELS["mixed"] = mlpact.load(trained["ref"], store=trained["store"])
    return _MODELS["mixed"]


def test_clean_records_take_the_fast_path(
    trained_mixed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlpact.version.model

    model = _mixed_model(trained_mixed)
    calls: list[int] = []
    monkeypatch.setattr(mlpact.version.model, "check", lambda *a, **k: calls.append(1))
    X, report = model.check([_CLEAN, {**_CLEAN, "extra": 1}])
    assert calls == [] and report.problems == [] and list(X.columns) == model.schema.names
    assert X["day"].dtype == "datetime64[ns]" and X["flag"].tolist() == [1.0, 1.0]


def test_start_up_runs_without_the_collector_and_then_sets_aside_what_it_made() -> None:
    import gc

    from mlpact._core.startup import starting_up

    gc.unfreeze()
    try:
        with starting_up():
            assert not gc.isenabled()
            made = [{"row": i} for i in range(1000)]
        assert gc.isenabled()
        assert gc.get_freeze_count() >= len(made)
    finally:
        gc.unfreeze()


def test_start_up_without_freezing_sets_nothing_aside() -> None:
    import gc

    from mlpact._core.startup import starting_up

    gc.unfreeze()
    with starting_up(freeze=False):
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_a_failed_start_up_turns_the_collector_back_on_and_sets_nothing_aside() -> None:
    import gc

    from mlpact._core.startup import starting_up

    gc.unfreeze()
    with pytest.raises(KeyError, match="no such model"), starting_up():
        raise KeyError("no such model")
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
