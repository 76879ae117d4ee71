"""Serving securely: bearer-token auth (file and environment, constant-time, /health open),
the Host check against DNS rebinding, no credentials in URLs, CORS, the warning for an exposed
server without auth, a client that disconnects mid-body, and no payload value in any response
or log record, whatever goes wrong."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlpact
from conftest import free_port, wait_until_answers
from mlpact.access import Tokens
from mlpact.config import AuthConfig, ServeConfig
from mlpact.errors import ConfigError, ExitCode
from mlpact.serve import ModelHolder, is_loopback
from mlpact.serve._access import Hosts
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


def _app(holder: ModelHolder, base_url: str = "http://localhost", **settings: Any) -> TestClient:
    return TestClient(build_app(holder, ServeConfig.model_validate(settings)), base_url=base_url)


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
    client = TestClient(apps[0], base_url="http://localhost")
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
    client = TestClient(
        build_app(holder, ServeConfig(max_rows=50, max_bytes=10_000)), base_url="http://localhost"
    )
    with caplog.at_level(logging.DEBUG):
        response = client.post("/predict", content=body, headers={"content-type": content_type})
        metrics = client.get("/metrics").text
    assert response.status_code == status, response.text
    assert response.json()["request_id"] in caplog.text  # the failure is logged, by request id
    records = [f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records]
    assert SECRET not in response.text and SECRET not in str(response.headers)
    assert not [r for r in records if SECRET in r] and SECRET not in caplog.text
    assert SECRET not in metrics


# --------------------------------------------------------------------------- Host (DNS rebinding)
LOOPBACK, LAN, UNIX = ("127.0.0.1", 8000), ("192.168.1.5", 8000), ("/run/mlpact.sock", None)


@pytest.mark.parametrize(
    ("host", "server", "allowed", "accepted"),
    [
        ("localhost", LOOPBACK, [], True),
        ("LOCALHOST:8000", LOOPBACK, [], True),
        ("localhost.:8000", LOOPBACK, [], True),
        ("127.0.0.1:8000", LOOPBACK, [], True),
        ("127.0.0.2", LOOPBACK, [], True),
        ("[::1]:8000", LOOPBACK, [], True),
        ("[::1]", UNIX, [], True),
        ("evil.example", LOOPBACK, [], False),  # a rebound name: the attack
        ("evil.example:8000", LAN, [], False),
        ("localhost.evil.example", LOOPBACK, [], False),
        ("192.168.1.5:8000", LOOPBACK, [], False),  # only loopback names on a loopback connection
        ("192.168.1.5:8000", LAN, [], True),  # an address: rebinding needs a name
        ("[fd00::1]:8000", LAN, [], True),
        ("192.168.1.5", UNIX, [], False),
        ("api.example", LAN, ["api.example"], True),
        ("API.Example:443", LOOPBACK, ["api.example"], True),  # a proxy on this machine
        ("other.example", LAN, ["api.example"], False),
        ("a.b.example", LAN, ["*.b.example"], True),
        ("b.example", LAN, ["*.b.example"], False),
        ("evilb.example", LAN, ["*.b.example"], False),
        ("localhost:80:80", LOOPBACK, [], False),
        ("localhost:http", LOOPBACK, [], False),
        ("[::1", LOOPBACK, [], False),
        (":8000", LOOPBACK, [], False),
        ("", LOOPBACK, [], False),
        (None, LOOPBACK, [], False),
    ],
)
def test_the_host_check(host: str | None, server: Any, allowed: list[str], accepted: bool) -> None:
    hosts = Hosts.from_settings(ServeConfig(allowed_hosts=allowed).allowed_hosts, authenticated=False)
    assert hosts is not None
    assert hosts.allows(host.encode() if host is not None else None, server) is accepted


@pytest.mark.parametrize(
    ("allowed", "authenticated", "checked"),
    [([], False, True), (["*"], False, False), ([], True, False), (["api.example"], True, True)],
)
def test_when_the_host_is_checked(allowed: list[str], authenticated: bool, checked: bool) -> None:
    assert (Hosts.from_settings(allowed, authenticated=authenticated) is not None) is checked


def test_a_rebound_host_name_gets_a_421_that_echoes_nothing(
    holder: ModelHolder, caplog: pytest.LogCaptureFixture
) -> None:
    client = _app(holder)
    with caplog.at_level(logging.WARNING, logger="mlpact.serve"):
        response = client.get("/metadata", headers={"Host": f"{SECRET}.example:8000"})
    assert response.status_code == 421
    assert response.json() == {
        "error": "This server does not answer to the host name this request was sent to. Address it "
        "by a loopback name or an allowed host (mlpact serve --allowed-host)."
    }
    assert SECRET not in response.text and "x-mlpact-model" not in response.headers
    assert "add it with --allowed-host" in caplog.text  # the operator learns which name to allow
    assert 'mlpact_requests_total{endpoint="/metadata",status="421"} 1.0' in client.get("/metrics").text
    assert client.post("/predict", json=[{}], headers={"Host": "evil.example"}).status_code == 421
    assert client.get("/metadata", headers={"Host": "localhost:8000"}).status_code == 200


def test_allowed_hosts_and_ip_addresses_on_other_interfaces(holder: ModelHolder) -> None:
    lan = _app(holder, base_url="http://192.168.1.5:8000", allowed_hosts=["models.internal"])
    assert lan.get("/metadata").status_code == 200  # addressed by IP on a LAN interface
    assert lan.get("/metadata", headers={"Host": "models.internal:8000"}).status_code == 200
    assert lan.get("/metadata", headers={"Host": "evil.example"}).status_code == 421
    anything = _app(holder, base_url="http://anything.example", allowed_hosts=["*"])
    assert anything.get("/metadata").status_code == 200


def test_with_tokens_the_host_is_checked_only_when_names_are_listed(
    holder: ModelHolder, token_file: Path
) -> None:
    auth = {"Authorization": f"Bearer {GOOD}"}
    named = _app(holder, base_url="http://server.example", auth={"token_file": str(token_file)})
    assert named.get("/metadata", headers=auth).status_code == 200  # a rebinding page has no token
    listed = _app(
        holder,
        base_url="http://server.example",
        auth={"token_file": str(token_file)},
        allowed_hosts=["a.example"],
    )
    assert listed.get("/metadata", headers=auth).status_code == 421


def test_the_cli_takes_allowed_hosts(trained_wine: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from mlpact.cli import app

    apps: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: apps.append(app))
    monkeypatch.setattr(logging.getLogger("mlpact.serve"), "handlers", [])
    args = ["serve", trained_wine["ref"], "--store", str(trained_wine["store"])]
    result = CliRunner().invoke(app, [*args, "--allowed-host", "models.internal"])
    assert result.exit_code == 0, result.output
    client = TestClient(apps[0], base_url="http://models.internal")
    assert client.get("/metadata").status_code == 200
    assert client.get("/metadata", headers={"Host": "other.internal"}).status_code == 421
    bad = CliRunner().invoke(app, [*args, "--allowed-host", "http://models.internal:80"])
    assert bad.exit_code == ExitCode.CONFIG
    assert "expected host names without scheme or port" in bad.output


# --------------------------------------------------------------------------- credentials in URLs
IN_URL = (
    "Credentials are accepted only in the Authorization header (Authorization: Bearer TOKEN), never in "
    "the URL, which access logs and proxies write down. The request was refused; rotate a real token "
    "that was sent this way."
)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        (f"access_token={GOOD}", 400),
        (f"token={SECRET}", 400),
        (f"api_key={SECRET}", 400),
        (f"X-API-KEY={SECRET}", 400),
        (f"auth=Bearer%20{GOOD}", 400),
        (f"t=Bearer+{SECRET}", 400),
        (f"t={GOOD}", 400),  # an accepted token under any name
        (f"{GOOD}=", 400),
        (f"page=2&password={SECRET}", 400),
        (f"v={SECRET}", 401),  # not a credential: the header is still needed
        ("", 401),
    ],
)
def test_a_credential_in_the_query_string_is_refused(
    secured: TestClient, caplog: pytest.LogCaptureFixture, query: str, status: int
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = secured.get(f"/metadata?{query}")
    assert response.status_code == status
    if status == 400:
        assert response.json() == {"error": IN_URL}
    server_log = " ".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert GOOD not in server_log and SECRET not in server_log and SECRET not in response.text


def test_a_credential_in_the_query_string_is_refused_without_auth_too(holder: ModelHolder) -> None:
    client = _app(holder)
    assert client.get(f"/metadata?access_token={SECRET}").json() == {"error": IN_URL}
    assert client.get("/metadata?verbose=1").status_code == 200


# --------------------------------------------------------------------------- a real server
@pytest.fixture(scope="module")
def real_server(
    trained_wine: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """`mlpact serve` in its own process (auth off, access log on); its stderr goes to a file."""
    port, log_file = free_port(), tmp_path_factory.mktemp("server") / "stderr.log"
    mlpact_bin = str(Path(sys.executable).with_name("mlpact"))
    cmd = [mlpact_bin, "serve", trained_wine["ref"], "--store", str(trained_wine["store"])]
    with log_file.open("wb") as err:
        proc = subprocess.Popen([*cmd, "--port", str(port), "--access-log"], stdout=err, stderr=err)
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/health", proc, timeout=60)
        yield {"port": port, "log": log_file}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _raw(port: int, request: bytes, *, close_early: bool = False) -> bytes:
    """Send raw bytes; read the answer, or close without reading when `close_early`."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        if close_early:
            return b""
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def _metrics(port: int) -> str:
    request = f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    return _raw(port, request.encode()).decode()


def test_a_client_that_disconnects_mid_body_is_no_server_error(
    real_server: dict[str, Any], record: dict[str, Any]
) -> None:
    port = real_server["port"]
    body = json.dumps([record]).encode()
    head = f"POST /predict HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Type: application/json\r\n"
    for _ in range(3):  # headers promise the whole body; a third of it arrives, then the client is gone
        partial = f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body[: len(body) // 3]
        _raw(port, partial, close_early=True)
    complete = _raw(port, f"{head}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    assert complete.startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + 10
    while 'endpoint="/predict",status="499"} 3.0' not in (metrics := _metrics(port)):
        assert time.monotonic() < deadline, metrics
        time.sleep(0.1)
    assert 'status="500"' not in metrics
    log = real_server["log"].read_text()
    assert "disconnected before sending the whole body" in log
    assert " 500" not in log and "Traceback" not in log and "Exception" not in log


def test_a_real_server_refuses_rebound_hosts_and_logs_no_query_string(real_server: dict[str, Any]) -> None:
    port = real_server["port"]

    def get(target: str, host: str) -> bytes:
        return _raw(port, f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())

    assert get("/metadata", "evil.example").startswith(b"HTTP/1.1 421")
    assert get("/metadata", "evil.example").count(b"evil") == 0
    assert get("/metadata", f"127.0.0.1:{port}").startswith(b"HTTP/1.1 200")
    assert get(f"/metadata?access_token={SECRET}", "localhost").startswith(b"HTTP/1.1 400")
    assert get(f"/metadata?note={SECRET}", "localhost").startswith(b"HTTP/1.1 200")
    time.sleep(0.5)  # let the access log flush
    log = real_server["log"].read_text()
    assert '"GET /metadata HTTP/1.1" 400' in log and '"GET /metadata HTTP/1.1" 421' in log
    assert SECRET not in log
