"""Serving securely: bearer-token auth (file and environment, constant-time, /health open),
CORS, the warning for an exposed server without auth, and no payload value in any response
or log record, whatever goes wrong."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlpact
from mlpact.access import Tokens
from mlpact.config import AuthConfig, ServeConfig
from mlpact.errors import ConfigError, ExitCode
from mlpact.serve import ModelHolder, is_loopback
from mlpact.serve._app import build_app

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

SECRET = "SECRET-4f9c2e"
GOOD, OTHER = "tok-alpha-0123456789", "tok-beta-9876543210"
PROTECTED = [
    ("POST", "/predict"),
    ("GET", "/ready"),
    ("GET", "/metadata"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/metrics"),
]


@pytest.fixture(scope="module")
def holder(trained_wine: dict[str, Any]) -> ModelHolder:
    return ModelHolder(trained_wine["ref"], store=trained_wine["store"])


@pytest.fixture(scope="module")
def record(trained_wine: dict[str, Any]) -> dict[str, Any]:
    return dict(trained_wine["frame"].drop(columns="target").iloc[0].to_dict())


def _app(holder: ModelHolder, **settings: Any) -> TestClient:
    return TestClient(build_app(holder, ServeConfig.model_validate(settings)))


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text(f"# serving tokens\n\n{GOOD}\n  {OTHER}  \n")
    return path


@pytest.fixture
def secured(holder: ModelHolder, token_file: Path) -> TestClient:
    return _app(holder, auth={"token_file": str(token_file)})


# --------------------------------------------------------------------------- authentication
@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_endpoint_but_health_needs_a_token(
    secured: TestClient, record: dict[str, Any], method: str, path: str
) -> None:
    body = {"json": [record]} if method == "POST" else {}
    missing = secured.request(method, path, **body)  # type: ignore[arg-type]
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="mlpact"'
    assert missing.json() == {"error": "Authentication required: send Authorization: Bearer TOKEN."}
    assert "x-mlpact-model" not in missing.headers  # nothing about the model before auth
    wrong = secured.request(method, path, headers={"Authorization": f"Bearer {SECRET}"}, **body)  # type: ignore[arg-type]
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == 'Bearer realm="mlpact", error="invalid_token"'
    for token in (GOOD, OTHER):  # every line of the file is a token; blank lines and comments are not
        ok = secured.request(method, path, headers={"Authorization": f"bearer {token}"}, **body)  # type: ignore[arg-type]
        assert ok.status_code == 200, ok.text
    assert secured.get("/health").json() == {"status": "ok"}


@pytest.mark.parametrize(
    "header",
    [
        f"Basic {GOOD}",
        GOOD,
        f"Bearer {GOOD}x",
        f"Bearer {GOOD[:-1]}",
        "Bearer",
        "Bearer ",
        "Bearer # serving tokens",
    ],
)
def test_anything_but_an_exact_bearer_token_is_refused(secured: TestClient, header: str) -> None:
    assert secured.get("/metadata", headers={"Authorization": header}).status_code == 401


def test_tokens_from_the_environment_variable(holder: ModelHolder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPACT_SERVE_TOKENS", f"{GOOD}, {OTHER}")
    client = _app(holder)
    assert client.get("/metadata").status_code == 401
    assert client.get("/metadata", headers={"Authorization": f"Bearer {OTHER}"}).status_code == 200
    monkeypatch.setenv("TEAM_TOKENS", GOOD)
    named = _app(holder, auth={"token_env": "TEAM_TOKENS"})
    assert named.get("/metadata", headers={"Authorization": f"Bearer {OTHER}"}).status_code == 401
    assert named.get("/metadata", headers={"Authorization": f"Bearer {GOOD}"}).status_code == 200


def test_auth_is_off_without_tokens(holder: ModelHolder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLPACT_SERVE_TOKENS", raising=False)
    assert Tokens.from_config(AuthConfig()) is None
    assert _app(holder).get("/metadata").status_code == 200


def test_every_token_is_compared_without_an_early_exit(
    token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hmac

    import mlpact.access as access

    calls: list[bytes] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(b)
        return real(a, b)

    monkeypatch.setattr(access.hmac, "compare_digest", counting)
    tokens = Tokens.from_config(
        AuthConfig(token_file=str(token_file)), environ={"MLPACT_SERVE_TOKENS": "t-env"}
    )
    assert tokens is not None
    assert tokens.allows(b"Bearer t-env") is True  # the first token matches ...
    assert calls == [b"t-env", GOOD.encode(), OTHER.encode()]  # ... and every other one is still compared


def test_the_token_file_is_reread_when_it_changes(
    token_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(Tokens, "RECHECK_S", 0.0)
    tokens = Tokens.from_config(AuthConfig(token_file=str(token_file)), environ={})
    assert tokens is not None and tokens.allows(f"Bearer {GOOD}".encode())
    token_file.write_text("tok-rotated-000000000\n")
    os.utime(token_file, ns=(1, 1))  # a different mtime, even within the clock's resolution
    with caplog.at_level(logging.INFO, logger="mlpact.serve"):
        assert not tokens.allows(f"Bearer {GOOD}".encode())
        assert tokens.allows(b"Bearer tok-rotated-000000000")
        token_file.unlink()  # fail closed: a token file that cannot be read accepts nothing
        assert not tokens.allows(b"Bearer tok-rotated-000000000")
    assert "1 token(s) now accepted" in caplog.text and "its tokens are refused" in caplog.text
    assert "rotated" not in caplog.text and GOOD not in caplog.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read it: FileNotFoundError"),
        ("# only a comment\n\n", "has no token (one per line)"),
        ("a token with spaces\n", "token(s) [1] are not printable ASCII without spaces"),
    ],
)
def test_a_bad_token_file_stops_the_server_from_starting(
    holder: ModelHolder, tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "tokens"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=r"serve\.auth\.token_file: .*" + re.escape(message)):
        build_app(holder, ServeConfig(auth=AuthConfig(token_file=str(path))))


def test_tokens_are_never_logged(
    secured: TestClient, record: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        secured.post("/predict", json=[record], headers={"Authorization": f"Bearer {SECRET}"})
        secured.post("/predict", json=[record], headers={"Authorization": f"Bearer {GOOD}"})
    assert "bearer token not accepted" in caplog.text
    assert SECRET not in caplog.text and GOOD not in caplog.text


def test_the_cli_takes_a_token_file(
    trained_wine: dict[str, Any], token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from mlpact.cli import app

    apps: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: apps.append(app))
    monkeypatch.setattr(logging.getLogger("mlpact.serve"), "handlers", [])  # the runner's stream closes
    args = ["serve", trained_wine["ref"], "--store", str(trained_wine["store"])]
    result = CliRunner().invoke(app, [*args, "--auth-token-file", str(token_file)])
    assert result.exit_code == 0, result.output
    client = TestClient(apps[0])
    assert client.get("/metadata").status_code == 401
    assert client.get("/metadata", headers={"Authorization": f"Bearer {GOOD}"}).status_code == 200
    missing = CliRunner().invoke(app, [*args, "--auth-token-file", str(token_file) + ".gone"])
    assert missing.exit_code == ExitCode.CONFIG and "serve.auth.token_file" in missing.output


# --------------------------------------------------------------------------- exposure and CORS
@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("example.com", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("host", "tokens", "warned"), [("0.0.0.0", "", True), ("0.0.0.0", GOOD, False), ("127.0.0.1", "", False)]
)
def test_an_exposed_server_without_auth_is_warned_about(
    trained_wine: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    host: str,
    tokens: str,
    warned: bool,
) -> None:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    monkeypatch.setenv("MLPACT_SERVE_TOKENS", tokens)
    monkeypatch.setattr(logging.getLogger("mlpact.serve"), "handlers", [])  # no stderr handler of ours
    with caplog.at_level(logging.WARNING, logger="mlpact.serve"):
        mlpact.serve.serve(trained_wine["ref"], host=host, store=trained_wine["store"])
    expected = f"serving on {host}, which other machines can reach, WITHOUT authentication"
    assert (expected in capsys.readouterr().err) is warned
    assert (expected in caplog.text) is warned


def test_cors_answers_preflight_without_a_token_and_follows_the_section(
    holder: ModelHolder, token_file: Path
) -> None:
    client = _app(
        holder,
        auth={"token_file": str(token_file)},
        cors={"origins": ["https://app.example"], "credentials": True},
    )
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    response = client.options("/predict", headers=preflight)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert response.headers["access-control-allow-credentials"] == "true"
    other = client.options("/predict", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    actual = client.get("/metadata", headers={"Origin": "https://app.example"})
    assert actual.status_code == 401  # CORS does not replace the token


# --------------------------------------------------------------------------- nothing leaks
class _Leaky:
    classes_ = np.array([0, 1, 2])

    def predict_proba(self, X: Any) -> Any:
        raise RuntimeError(f"failed on {SECRET}")


def _leak_cases(record: dict[str, Any]) -> list[tuple[str, bytes, str, int]]:
    secret_row = {**record, "alcohol": SECRET, "magnesium": SECRET}
    return [
        ("schema_422", json.dumps([secret_row]).encode(), "application/json", 422),
        ("nested_422", json.dumps([{**record, "hue": [SECRET]}]).encode(), "application/json", 422),
        ("rows_413", json.dumps([{"alcohol": SECRET}] * 51).encode(), "application/json", 413),
        ("bytes_413", json.dumps([{"alcohol": SECRET * 2000}]).encode(), "application/json", 413),
        ("malformed_json", f'[{{"alcohol": "{SECRET}", '.encode(), "application/json", 422),
        ("bad_constant", f'[{{"{SECRET}": NaN}}]'.encode(), "application/json", 422),
        ("wrong_content_type", f"alcohol={SECRET}".encode(), "application/x-www-form-urlencoded", 422),
        ("text_plain", SECRET.encode(), "text/plain", 422),
        ("model_raises", json.dumps([record]).encode(), "application/json", 500),
    ]


@pytest.mark.parametrize("case", range(9), ids=lambda i: _leak_cases({})[i][0])
def test_no_payload_value_reaches_a_response_or_a_log_record(
    trained_wine: dict[str, Any], record: dict[str, Any], caplog: pytest.LogCaptureFixture, case: int
) -> None:
    name, body, content_type, status = _leak_cases(record)[case]
    holder = ModelHolder(trained_wine["ref"], store=trained_wine["store"])
    if name == "model_raises":
        holder.model.pipeline = _Leaky()
    client = TestClient(build_app(holder, ServeConfig(max_rows=50, max_bytes=10_000)))
    with caplog.at_level(logging.DEBUG):
        response = client.post("/predict", content=body, headers={"content-type": content_type})
        metrics = client.get("/metrics").text
    assert response.status_code == status, response.text
    assert response.json()["request_id"] in caplog.text  # the failure is logged, by request id
    records = [f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records]
    assert SECRET not in response.text and SECRET not in str(response.headers)
    assert not [r for r in records if SECRET in r] and SECRET not in caplog.text
    assert SECRET not in metrics
