"""What a server tells its operators: the X-Mlpact-Model header, Prometheus /metrics, the
prediction log (read back by `mlpact check`), and the `serve:` config section it starts from."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import mlpact
from conftest import wine_config, write_config
from mlpact.check import check_data
from mlpact.config import PredictionLogConfig, ServeConfig, load_config
from mlpact.errors import ConfigError
from mlpact.serve import ModelHolder, create_app, settings_for
from mlpact.serve._app import build_app
from mlpact.serve._predlog import PredictionLog

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")
from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def holder(trained_wine: dict[str, Any]) -> ModelHolder:
    return ModelHolder(trained_wine["ref"], store=trained_wine["store"])


def _shuffled(trained_wine: dict[str, Any]) -> pd.DataFrame:
    """Wine rows in random order (the file is sorted by class, and a log is a sample)."""
    return (
        trained_wine["frame"].drop(columns="target").sample(frac=1.0, random_state=0).reset_index(drop=True)
    )


@pytest.fixture(scope="module")
def rows(trained_wine: dict[str, Any]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = _shuffled(trained_wine).to_dict("records")
    return records


def _metric(text: str, metric: str, **labels: str) -> float:
    """One sample's value from the Prometheus text format (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == metric and ",".join(sorted((match[2] or "").split(","))) == want:
            return float(match[3])
    return 0.0


# --------------------------------------------------------------------------- header and metrics
def test_every_model_response_names_the_version(holder: ModelHolder, rows: list[dict[str, Any]]) -> None:
    client = TestClient(build_app(holder, ServeConfig(max_rows=5)), base_url="http://localhost")
    for response in (
        client.post("/predict", json=rows[:2]),
        client.post("/predict", json=[{**rows[0], "alcohol": "x"}]),  # 422
        client.post("/predict", json=rows[:6]),  # 413
        client.post("/predict", content=b"{"),  # not JSON
        client.get("/metadata"),
        client.get("/ready"),
        client.get("/openapi.json"),
        client.get("/metrics"),
        client.get("/nowhere"),  # 404
    ):
        assert response.headers["x-mlpact-model"] == "wine:1", response.request.url
    assert "x-mlpact-model" not in client.get("/health").headers


def test_metrics_count_requests_failures_rows_and_the_version(
    holder: ModelHolder, rows: list[dict[str, Any]]
) -> None:
    client = TestClient(build_app(holder, ServeConfig(max_rows=5)), base_url="http://localhost")
    client.post("/predict", json=rows[:3])
    client.post("/predict", json=rows[:2])
    client.post("/predict", json=[{**rows[0], "alcohol": "x", "hue": "y"}])
    client.post("/predict", json=rows[:6])
    client.post("/predict", content=b"[1]")
    client.get("/health")
    client.get("/wp-admin/setup.php")
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _metric(text, "mlpact_requests_total", endpoint="/predict", status="200") == 2
    assert _metric(text, "mlpact_requests_total", endpoint="/predict", status="422") == 2
    assert _metric(text, "mlpact_requests_total", endpoint="/predict", status="413") == 1
    assert _metric(text, "mlpact_requests_total", endpoint="/health", status="200") == 1
    assert _metric(text, "mlpact_requests_total", endpoint="other", status="404") == 1
    assert "wp-admin" not in text  # unknown paths share one label
    assert _metric(text, "mlpact_request_duration_seconds_count", endpoint="/predict") == 5
    assert _metric(text, "mlpact_validation_failures_total", kind="unconvertible") == 2  # two fields
    assert _metric(text, "mlpact_validation_failures_total", kind="too_large") == 1
    assert _metric(text, "mlpact_validation_failures_total", kind="payload") == 1
    assert _metric(text, "mlpact_rows_predicted_total") == 5
    assert _metric(text, "mlpact_model_info", name="wine", version="1", ref="wine:1") == 1
    assert _metric(text, "mlpact_model_version") == 1


def test_each_app_has_its_own_registry(holder: ModelHolder, rows: list[dict[str, Any]]) -> None:
    first, second = (
        TestClient(build_app(holder, ServeConfig()), base_url="http://localhost") for _ in range(2)
    )
    first.post("/predict", json=rows[:1])
    assert _metric(second.get("/metrics").text, "mlpact_rows_predicted_total") == 0


# --------------------------------------------------------------------------- prediction log
def test_the_prediction_log_is_what_check_reads(
    trained_wine: dict[str, Any], rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    folder = tmp_path / "log"
    app = create_app(
        trained_wine["ref"],
        store=trained_wine["store"],
        overrides={"prediction_log": {"path": str(folder), "flush_rows": 50}},
    )
    with TestClient(
        app, base_url="http://localhost"
    ) as client:  # the lifespan starts the writer and, at exit, finishes the file
        for start in range(0, 160, 20):
            response = client.post(
                "/predict", json=rows[start : start + 20], headers={"X-Request-ID": f"r{start}"}
            )
            assert response.status_code == 200
        client.post("/predict", json=[{**rows[0], "alcohol": "x"}])  # refused: not logged
    files = sorted(folder.glob("*.parquet"))
    assert len(files) == 1 and not list(folder.glob(".*.part"))
    log = pd.read_parquet(files[0])
    assert len(log) == 160
    X = _shuffled(trained_wine)
    assert list(log.columns) == [
        *X.columns,
        "mlpact_prediction",
        "mlpact_request_id",
        "mlpact_time",
        "mlpact_model",
    ]
    pd.testing.assert_frame_equal(log[X.columns], X.head(160), check_dtype=False)
    model = mlpact.load(trained_wine["ref"], store=trained_wine["store"])
    assert log["mlpact_prediction"].tolist() == model.predict(X.head(160)).tolist()
    assert log["mlpact_request_id"].tolist()[::20] == [f"r{i}" for i in range(0, 160, 20)]
    assert set(log["mlpact_model"]) == {"wine:1"} and str(log["mlpact_time"].dtype).startswith("datetime64")
    result = check_data(trained_wine["ref"], folder, store=trained_wine["store"])
    # 160 rows cannot rule out a half-sd shift against wine's 142-row training split
    assert (result.verdict, result.rows) == ("inconclusive", 160), result.reasons
    assert result.rows_needed is not None and result.rows_needed > 160
    sized_by_min_rows = check_data(
        trained_wine["ref"], folder, store=trained_wine["store"], thresholds={"shift": None}
    )
    assert sized_by_min_rows.verdict == "reload", sized_by_min_rows.reasons
    named = {p.column for p in result.validation.problems}
    assert named <= set(X.columns)  # the log's own columns are not the model's concern


def test_check_on_a_log_from_the_cli(
    trained_wine: dict[str, Any], rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    folder = tmp_path / "log"
    served = create_app(
        trained_wine["ref"], store=trained_wine["store"], overrides={"prediction_log": {"path": str(folder)}}
    )
    with TestClient(served, base_url="http://localhost") as client:
        client.post("/predict", json=rows[:160])
    args = ["check", trained_wine["ref"], str(folder), "--store", str(trained_wine["store"]), "--json"]
    result = CliRunner().invoke(app, args)
    # inconclusive, as in test_the_prediction_log_is_what_check_reads
    assert result.exit_code == 15, result.output
    assert json.loads(result.output)["verdict"] == "inconclusive"
    empty = CliRunner().invoke(app, [*args[:2], str(tmp_path), *args[3:]])
    assert empty.exit_code != 0 and "has no .parquet files" in empty.output


def _log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> PredictionLog:
    monkeypatch.setenv("MLPACT_LOG_HASH_KEY", "k1")
    return PredictionLog(PredictionLogConfig(path=str(tmp_path / "log"), **settings))


def test_redacted_columns_are_keyed_hashes_and_dropped_columns_are_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _log(tmp_path, monkeypatch, redact=["email"], drop=["ssn"])
    frame = pd.DataFrame(
        {"email": ["a@x.org", "SECRET@x.org", "a@x.org", None], "ssn": ["SECRET-1"] * 4, "x": [1.0, 2, 3, 4]}
    )
    log.add("m:1", frame, [0, 1, 0, 1], "rid")
    log.flush(close=True)
    (path,) = (tmp_path / "log").glob("*.parquet")
    assert b"SECRET" not in path.read_bytes()
    written = pd.read_parquet(path)
    assert "ssn" not in written.columns and written["x"].tolist() == [1.0, 2, 3, 4]
    hashes = written["email"].tolist()
    assert hashes[0] == hashes[2] != hashes[1] and pd.isna(hashes[3]) and len(hashes[0]) == 32
    monkeypatch.setenv("MLPACT_LOG_HASH_KEY", "k2")  # another key, other hashes
    assert PredictionLog(log.settings)._hash("a@x.org") != hashes[0]


def test_files_rotate_by_size_and_by_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _log(tmp_path, monkeypatch, rotate_bytes=1024)
    frame = pd.DataFrame({"x": list(range(200)), "note": [f"row {i}" for i in range(200)]})
    for i in range(3):
        log.add("m:1", frame, [0] * 200, f"r{i}")
        log.flush()
    log.add("m:2", frame.head(5), [1] * 5, "r9")
    log.flush(close=True)
    files = sorted((tmp_path / "log").glob("*.parquet"))
    assert len(files) == 4 and [f.name.endswith("-m-2.parquet") for f in files] == [False] * 3 + [True]
    assert len(pd.concat([pd.read_parquet(f) for f in files])) == 605


def test_a_full_queue_drops_rows_instead_of_slowing_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped: list[int] = []
    log = PredictionLog(PredictionLogConfig(path=str(tmp_path), max_queue_rows=10), on_drop=dropped.append)
    frame = pd.DataFrame({"x": range(6)})
    log.add("m:1", frame, [0] * 6, "a")
    log.add("m:1", frame, [0] * 6, "b")  # 12 > 10 waiting: dropped, counted
    assert dropped == [6]
    log.flush(close=True)
    assert len(pd.read_parquet(next(tmp_path.glob("*.parquet")))) == 6


# --------------------------------------------------------------------------- the serve: section
def test_the_serve_section_is_saved_but_not_hashed(tmp_path: Path) -> None:
    path = write_config(tmp_path, wine_config())
    base = load_config(path)
    changed = load_config(path, ["serve.max_rows=5", "serve.cors.origins=[https://a.example]"])
    assert changed.serve.max_rows == 5 and changed.serve.cors.origins == ["https://a.example"]
    assert changed.hash() == base.hash()
    assert changed.to_dict()["serve"]["max_rows"] == 5
    with pytest.raises(ConfigError, match="serve.max_rowz"):
        load_config(path, ["serve.max_rowz=5"])


def test_a_server_starts_from_the_versions_serve_section_and_flags_override_it(
    tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    serve = {"max_rows": 3, "poll_interval": 0.5, "cors": {"origins": ["https://a.example"]}}
    config = write_config(tmp_path, wine_config(evaluate={"cv_folds": 0}, serve=serve))
    result = mlpact.train(config, store=tmp_path / "store")
    model = mlpact.load(result.ref, store=tmp_path / "store")
    assert settings_for(model).max_rows == 3
    merged = settings_for(model, {"max_rows": 7, "max_bytes": None, "cors": {"origins": None}})
    assert (merged.max_rows, merged.poll_interval, merged.cors.origins) == (7, 0.5, ["https://a.example"])
    client = TestClient(create_app(result.ref, store=tmp_path / "store"), base_url="http://localhost")
    assert client.post("/predict", json=rows[:4]).status_code == 413
    assert client.get("/metadata").json()["limits"]["max_rows"] == 3
    with pytest.raises(ConfigError, match="serve.max_rows"):
        settings_for(model, {"max_rows": 0})


def test_serve_help_documents_the_section_and_access() -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for words in (
        "--auth-token-file",
        "--prediction-log",
        "MLPACT_SERVE_TOKENS",
        "version's serve: section",
        "X-Mlpact-Model",
        "/metrics",
        "constant time",
    ):
        assert words in result.output, words
