"""mlpact.ui: every page over a store made by train, tune, evaluate, check, reproduce and save
(sklearn and torch), escaping, validated names, no path outside the store, tokens, CSRF, and
writes recorded with who and why. In-process (FastAPI's TestClient); tests/workloads/test_ui_browser.py
drives a real browser against a real `mlpact ui` process."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("jinja2")

from fastapi.testclient import TestClient

from mlpact import registry
from mlpact._core.access import Tokens
from mlpact.errors import ConfigError
from mlpact.ui import _catalog as catalog
from mlpact.ui import create_app, tokens_from
from ui_store import SCRIPT, copy_store, shared_store

TOKEN = "t0ken-for-tests"


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return shared_store(tmp_path_factory)


@pytest.fixture(scope="module")
def client(made: tuple[Path, dict[str, Any]]) -> TestClient:
    return TestClient(create_app(made[0]), base_url="http://127.0.0.1")


@pytest.fixture
def writable(made: tuple[Path, dict[str, Any]], tmp_path: Path) -> tuple[TestClient, Path]:
    """A copy of the store, served with writes on and a token."""
    root = copy_store(made[0], tmp_path / "store")
    app = create_app(root, tokens=Tokens(None, (TOKEN.encode(),)), allow_writes=True)
    return TestClient(app, base_url="http://127.0.0.1"), root


def text(html: str) -> str:
    """What a reader sees: tags dropped, whitespace collapsed (entities left as they are)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# --------------------------------------------------------------------------- pages
def test_models_page_lists_every_model_with_aliases_and_headline_metric(client: TestClient) -> None:
    page = client.get("/models")
    assert page.status_code == 200
    seen = text(page.text)
    for name in ("wine", "diabetes", "wine-own", "iris-mlp"):
        assert f'/models/{name}"' in page.text
    assert "production → 1" in seen and "staging → 2" in seen
    assert "accuracy" in seen and "torch" in seen and "external" in seen


@pytest.mark.parametrize(
    "query, first, absent",
    [("?sort=name&order=desc", "wine-own", None), ("?q=wine", "wine", "diabetes"), ("?q=zzz", None, "wine")],
)
def test_models_page_filters_and_sorts(
    client: TestClient, query: str, first: str | None, absent: str | None
) -> None:
    body = client.get("/models" + query).text
    names = re.findall(r'<td><a href="/models/([^"/]+)">', body)
    if first is None:
        assert names == [] and "No models matching" in body
    else:
        assert names[0] == first
    if absent:
        assert absent not in names


@pytest.mark.parametrize("key", ["wine1", "tuned", "reproduced", "reg1", "external", "torch"])
def test_every_kind_of_version_has_a_page(
    client: TestClient, made: tuple[Path, dict[str, Any]], key: str
) -> None:
    name, number = made[1][key].split(":")
    page = client.get(f"/models/{name}/{number}")
    assert page.status_code == 200, page.text
    seen = text(page.text)
    for section in ("Report", "Card", "Input schema", "Config", "Lineage", "Golden rows", "Alias history"):
        assert section in seen
    report = client.get(f"/models/{name}/{number}/report")
    assert report.status_code == 200 and f"{name} version {number}" in report.text
    assert "sandbox" in report.headers["content-security-policy"]


def test_version_page_shows_evaluations_checks_reproductions_and_the_timeline(
    client: TestClient, made: tuple[Path, dict[str, Any]]
) -> None:
    seen = text(client.get("/models/wine/1").text)
    assert "wine_new.csv" in seen  # the evaluation and the check
    assert re.search(r"check (reload|retrain|inconclusive) \S+/wine_new.csv: 60 rows", seen)
    assert f"retrained as {made[1]['reproduced']}" in seen
    assert "wine@production rollback → wine:1 (was 2)" in seen
    assert "regularised one is worse" in seen


def test_the_report_of_an_evaluated_version_lists_its_evaluations(client: TestClient) -> None:
    report = client.get("/models/wine/1/report").text
    assert "Evaluations on new data" in report and "wine_new.csv" in report


def test_card_plots_are_served_only_when_the_manifest_lists_them(client: TestClient) -> None:
    ok = client.get("/models/wine/1/reports/confusion_matrix.png")
    assert ok.status_code == 200 and ok.content[:4] == b"\x89PNG"
    assert client.get("/models/wine/1/reports/nothere.png").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/models/wine/1/reports/..%2Fmanifest.json",
        "/models/wine/1/reports/%2E%2E%2F%2E%2E%2Fmlpact.db",
        "/models/..%2F..%2Fetc/1",
        "/models/wine/1/reports/../../../mlpact.db",
        "/static/..%2F_app.py",
        "/static/ui.css%00.png",
        "/studies/..%2F..%2Fmlpact.db",
        "/models/wine/-1",
        "/models/wine/01x",
        "/runs/zzzz",
    ],
)
def test_nothing_outside_the_store_is_served(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 404
    assert "SQLite format" not in page.text and "import" not in page.text


@pytest.mark.parametrize(
    "path, message",
    [
        ("/models/bad$name", "Invalid model name 'bad$name'"),
        ("/models/wine/99", "Model 'wine' has no version 99"),
        ("/models/nope", "No model named 'nope'"),
        ("/runs/abcd0123", "No run 'abcd0123'"),
        ("/runs/ABC", "Invalid run id 'ABC'"),
        ("/compare?runs=abcd", "Compare needs 2 to 6 runs; got 1"),
        ("/compare?versions=wine:1,wine:x", "Invalid version 'x'"),
        ("/compare", "Nothing to compare"),
        ("/studies/nope", "No tuning study 'nope'"),
        ("/studies/a%20b", "Invalid study name 'a b'"),
        ("/static/other.js", "No static file 'other.js'"),
        ("/models/wine/1/reports/x.svg", "Invalid plot file name 'x.svg'"),
    ],
)
def test_bad_names_and_refs_are_a_404_that_says_why(client: TestClient, path: str, message: str) -> None:
    page = client.get(path)
    assert page.status_code == 404
    assert message in page.text.replace("&#39;", "'")


def test_script_in_a_description_and_a_config_value_is_text(client: TestClient) -> None:
    for path in ("/models/wine/1", "/compare?versions=wine:1,wine:2", "/models/wine/1/report"):
        body = client.get(path).text
        assert SCRIPT not in body, path
    page = client.get("/models/wine/1").text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page  # description and tracking.tags.note
    assert page.count("&lt;script&gt;") >= 2
    assert "default-src 'none'" in client.get("/models/wine/1").headers["content-security-policy"]


def test_runs_page_shows_every_kind(client: TestClient) -> None:
    page = client.get("/runs")
    kinds = set(re.findall(r"<td>(train|tune|evaluate|check|reproduce|external)</td>", page.text))
    assert kinds == {"train", "tune", "evaluate", "check", "reproduce", "external"}


def test_runs_page_filters_by_config_key_and_sorts_by_a_metric(client: TestClient) -> None:
    page = client.get("/runs?kind=train&model=wine&where=model.params.C=0.05&col=metric:f1_macro")
    ids = re.findall(r'<a href="/runs/([0-9a-f]+)">', page.text)
    assert len(ids) == 1
    assert "1 run" in text(page.text)
    # a key that is not a run param: the config of the version the run produced
    assert "1 run" in text(
        client.get("/runs?kind=train&where=evaluate.cv_folds=0&where=model.params.alpha=10").text
    )
    asc = client.get("/runs?kind=train&model=diabetes&sort=metric:rmse&order=asc&col=metric:rmse").text
    values = [float(v) for v in re.findall(r'<td class="n">([0-9.]+)</td>', asc)]
    assert values == sorted(values) and len(values) == 2


def test_compare_two_runs_marks_the_best_and_overlays_plots(
    client: TestClient, made: tuple[Path, dict[str, Any]]
) -> None:
    runs = made[1]["runs"]
    page = client.get(f"/compare?runs={runs['train1']},{runs['train2']}")
    assert page.status_code == 200
    seen = text(page.text)
    assert "model.params.C" in seen and "config that differs" in seen
    assert page.text.count("★") >= 2  # best per metric row, in the run and version tables
    assert set(re.findall(r'data-plot="(\w+)"', page.text)) == {"roc", "pr", "calibration"}
    regression = client.get("/compare?versions=diabetes:1,diabetes:2").text
    assert re.findall(r'data-plot="(\w+)"', regression) == ["residuals"]


def test_compare_versions_names_schema_data_and_package_differences(client: TestClient) -> None:
    seen = text(client.get("/compare?versions=wine:1,wine-own:1").text)
    assert "wine:1 → wine-own:1" in seen
    assert "same packages" in seen or "added" in seen


def test_study_page_has_trials_and_optuna_plots(
    client: TestClient, made: tuple[Path, dict[str, Any]]
) -> None:
    pytest.importorskip("optuna")
    listing = client.get("/studies").text
    assert made[1]["study"] in listing
    page = client.get(f"/studies/{made[1]['study']}")
    assert page.status_code == 200
    assert len(re.findall(r"<tr class=\"(?:best)?\"><td>\d+</td><td>complete</td>", page.text)) == 3
    assert {"history", "parallel"} <= set(re.findall(r'data-plot="(\w+)"', page.text))


# --------------------------------------------------------------------------- access
def test_reads_need_a_token_when_tokens_are_set(made: tuple[Path, dict[str, Any]]) -> None:
    app = create_app(made[0], tokens=Tokens(None, (TOKEN.encode(),)))
    c = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    assert c.get("/health").status_code == 200
    redirect = c.get("/models")
    assert redirect.status_code == 303 and redirect.headers["location"] == "/login?next=%2Fmodels"
    assert c.get("/models", headers={"authorization": "Bearer nope"}).status_code == 401
    assert c.get("/models", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    bad = c.post("/login", data={"user": "ann", "token": "nope", "next": "/models"})
    assert bad.status_code == 401 and "That token is not accepted" in bad.text
    good = c.post("/login", data={"user": "ann", "token": TOKEN, "next": "https://evil.example/"})
    assert good.status_code == 303 and good.headers["location"] == "/"
    assert (
        "httponly" in good.headers["set-cookie"].lower()
        and "samesite=strict" in good.headers["set-cookie"].lower()
    )
    assert c.get("/models").status_code == 200  # the session cookie


def test_loopback_server_refuses_other_host_names(made: tuple[Path, dict[str, Any]]) -> None:
    c = TestClient(create_app(made[0]), base_url="http://evil.example")
    refused = c.get("/models")
    assert refused.status_code == 421 and "Host not allowed" in refused.text
    assert TestClient(create_app(made[0]), base_url="http://localhost:8765").get("/models").status_code == 200


def test_writes_need_allow_writes_and_a_token(made: tuple[Path, dict[str, Any]]) -> None:
    with pytest.raises(ConfigError, match="--allow-writes needs a token"):
        create_app(made[0], allow_writes=True)
    c = TestClient(create_app(made[0]), base_url="http://127.0.0.1")
    page = c.post("/models/wine/2/promote", data={"alias": "production", "reason": "x"})
    assert page.status_code == 405 and "This UI is read-only" in page.text
    assert "Promote" not in text(c.get("/models/wine/1").text).split("Report")[0]


def _signed_in(c: TestClient, user: str = "ann") -> str:
    c.post("/login", data={"user": user, "token": TOKEN, "next": "/"})
    page = c.get("/models/wine/2").text
    return re.search(r'name="csrf" value="([^"]+)"', page)[1]  # type: ignore[index]


def test_promote_from_a_browser_session_is_recorded_with_who_and_why(
    writable: tuple[TestClient, Path],
) -> None:
    c, root = writable
    csrf = _signed_in(c)
    done = c.post("/models/wine/2/promote", data={"alias": "production", "reason": "better on March", "csrf": csrf},
                  follow_redirects=False)  # fmt: skip
    assert done.status_code == 303, done.text
    last = registry.history("wine", store=root)[-1]
    assert (last["alias"], last["version"], last["previous"], last["reason"]) == (
        "production",
        2,
        1,
        "better on March",
    )
    assert last["user"].startswith("ann (mlpact ui, token ") and TOKEN not in last["user"]
    assert "better on March" in text(c.get("/models/wine/2").text)


@pytest.mark.parametrize(
    "data, headers, status, message",
    [
        ({"alias": "production", "reason": "r"}, {}, 403, "Missing or wrong CSRF token"),
        ({"alias": "production", "reason": "r", "csrf": "forged"}, {}, 403, "Missing or wrong CSRF token"),
        (
            {"alias": "production", "reason": "r", "csrf": "OK"},
            {"origin": "https://evil.example"},
            403,
            "Cross-site request refused",
        ),
        ({"alias": "production", "reason": " ", "csrf": "OK"}, {}, 400, "Say why"),
        ({"alias": "../x", "reason": "r", "csrf": "OK"}, {}, 409, "Invalid alias '../x'"),
    ],
)
def test_bad_writes_are_refused_and_change_nothing(
    writable: tuple[TestClient, Path],
    data: dict[str, str],
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    c, root = writable
    csrf = _signed_in(c)
    before = registry.history("wine", store=root)
    form = {k: (csrf if v == "OK" else v) for k, v in data.items()}
    page = c.post("/models/wine/2/promote", data=form, headers=headers)
    assert page.status_code == status
    assert message in page.text.replace("&#39;", "'")
    assert registry.history("wine", store=root) == before


def test_scripts_write_with_a_bearer_token_and_rollback_and_archive_are_recorded(
    writable: tuple[TestClient, Path],
) -> None:
    c, root = writable
    auth = {"authorization": f"Bearer {TOKEN}"}
    back = c.post("/models/wine/aliases/staging/rollback", data={"reason": "r"}, headers=auth)
    assert back.status_code == 404 and "has had only one holder" in back.text
    c.post(
        "/models/wine/2/promote", data={"alias": "production", "reason": "ci", "user": "bot"}, headers=auth
    )
    c.post("/models/wine/aliases/production/rollback", data={"reason": "revert"}, headers=auth)
    archived = c.post(
        "/models/diabetes/1/archive", data={"reason": "superseded"}, headers=auth, follow_redirects=False
    )
    assert archived.status_code == 303
    assert registry.versions("diabetes", include_archived=True, store=root)[0].status == "archived"
    events = registry.history("wine", store=root)[-2:]
    assert [(e["action"], e["version"], e["reason"]) for e in events] == [
        ("promote", 2, "ci"),
        ("rollback", 1, "revert"),
    ]
    assert events[0]["user"].startswith("bot (mlpact ui, token ")
    archive = registry.history("diabetes", store=root)[-1]
    assert (archive["action"], archive["version"], archive["reason"]) == ("archived", 1, "superseded")
    held = c.post("/models/wine/1/archive", data={"reason": "x"}, headers=auth)
    assert held.status_code == 409 and "holds wine@production" in held.text


def test_tokens_come_from_the_ui_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLPACT_UI_TOKENS", raising=False)
    assert tokens_from(None) is None
    monkeypatch.setenv("MLPACT_UI_TOKENS", "a,b")
    tokens = tokens_from(None)
    assert tokens is not None and tokens.allows(b"Bearer b") and not tokens.allows(b"Bearer c")
    empty = tmp_path / "tokens"
    empty.write_text("# none\n")
    with pytest.raises(ConfigError, match=r"--auth-token-file: '.*tokens' has no token \(one per line\)"):
        tokens_from(empty)
    with pytest.raises(ConfigError, match="Invalid config in the UI's token settings: 1 problem"):
        tokens_from(tmp_path / "missing")


# --------------------------------------------------------------------------- pure helpers
@pytest.mark.parametrize(
    "values, metric, best",
    [([0.5, 0.9, 0.7], "f1_macro", [1]), ([3.0, 2.0, None], "rmse", [1]), ([0.5, 0.5], "accuracy", []),
     ([None, 0.4], "accuracy", []), ([0.2, float("nan"), 0.1], "log_loss", [2]),
     ([1.0, 0.9, 1.0], "accuracy", [0, 2])],
)  # fmt: skip
def test_best_of(values: list[Any], metric: str, best: list[int]) -> None:
    assert catalog.best_of(values, metric) == best


@pytest.mark.parametrize(
    "metrics, bounds",
    [({"ci": {"test": {"f1": {"low": 0.8, "high": 0.9}}}}, (0.8, 0.9)),
     ({"ci": {"f1": [0.7, 0.95]}}, (0.7, 0.95)),
     ({"ci": {"f1": {"lower": 0.1, "upper": 0.2}}}, (0.1, 0.2)),
     ({"test": {"f1": 0.9}}, None), ({"ci": {"f1": "wide"}}, None)],
)  # fmt: skip
def test_interval_is_read_when_recorded(metrics: dict[str, Any], bounds: tuple[float, float] | None) -> None:
    assert catalog.interval(metrics, "f1") == bounds


@pytest.mark.parametrize(
    "found, wanted, same",
    [(8, "8", True), (True, "true", True), (0.5, "0.5", True), ("rbf", "rbf", True), (8, "9", False),
     ([1, 2], "[1, 2]", True), ("a", "[unclosed", False)],
)  # fmt: skip
def test_filter_values_compare_as_text_and_yaml(found: Any, wanted: str, same: bool) -> None:
    assert catalog.same(found, wanted) is same


def test_sort_puts_runs_without_the_value_last() -> None:
    runs = [{"id": i, "metrics": m, "params": {}} for i, m in enumerate([{"a": 0.2}, {}, {"a": 0.9}])]
    assert [r["id"] for r in catalog.sort_runs(runs, "metric:a", descending=True)] == [2, 0, 1]
    assert [r["id"] for r in catalog.sort_runs(runs, "metric:a", descending=False)] == [0, 2, 1]


def test_check_and_tune_are_recorded_as_runs(made: tuple[Path, dict[str, Any]]) -> None:
    runs = registry.runs(store=made[0])
    check = next(r for r in runs if r["kind"] == "check")
    assert check["params"]["checks"] == made[1]["wine1"] and check["metrics"]["verdict"] in (
        "reload",
        "retrain",
        "inconclusive",  # 60 rows against wine's 142-row training split
    )
    assert check["params"]["data"].endswith("wine_new.csv") and check["metrics"]["rows"] == 60
    tune = next(r for r in runs if r["kind"] == "tune")
    assert tune["params"]["study"] == made[1]["study"] and "best.model.params.C" in tune["params"]
    assert (
        tune["metrics"]["trials"] == 3
        and 0.5 < tune["metrics"]["cv_accuracy"] <= 1
        and tune["version"] == int(made[1]["tuned"].split(":")[1])
    )


# --------------------------------------------------------------------------- the command
def test_cli_refuses_writes_without_a_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mlpact.cli import app

    monkeypatch.delenv("MLPACT_UI_TOKENS", raising=False)
    result = CliRunner().invoke(app, ["ui", "--store", str(tmp_path), "--allow-writes"])
    assert result.exit_code == 2
    assert "writes need a token" in " ".join(result.output.split())


@pytest.mark.parametrize("host, warned", [("0.0.0.0", True), ("127.0.0.1", False), ("::1", False)])
def test_an_exposed_ui_without_a_token_warns(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    host: str,
    warned: bool,
) -> None:
    import uvicorn

    from mlpact.ui import run_ui

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(kw))
    monkeypatch.delenv("MLPACT_UI_TOKENS", raising=False)
    run_ui(tmp_path, host=host, port=9999)
    err = capsys.readouterr().err
    assert served["host"] == host and served["port"] == 9999
    assert ("WITHOUT a token" in err) is warned
    assert "mlpact ui: http://" in err


def test_a_recorded_confidence_interval_is_shown(writable: tuple[TestClient, Path]) -> None:
    import hashlib
    import json

    c, root = writable
    folder = root / "models" / "wine" / "1"
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["ci"] = {"test": {"accuracy": {"low": 0.91, "high": 0.99, "level": 0.95}}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["metrics.json"] = hashlib.sha256((folder / "metrics.json").read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    c.headers["authorization"] = f"Bearer {TOKEN}"
    assert "[0.9100, 0.9900]" in text(c.get("/models").text)  # wine's headline: wine@production = wine:1
    assert "[0.9100, 0.9900]" in text(c.get("/models/wine/1").text)
    assert re.search(r"\d\.\d{4} \[0\.9100, 0\.9900\]", text(c.get("/compare?versions=wine:1,wine:2").text))


def test_signing_out_ends_the_session(made: tuple[Path, dict[str, Any]]) -> None:
    c = TestClient(create_app(made[0], tokens=Tokens(None, (TOKEN.encode(),))), base_url="http://127.0.0.1")
    c.post("/login", data={"user": "ann", "token": TOKEN, "next": "/models"})
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/models").text)[1]  # type: ignore[index]
    assert "ann" in text(c.get("/models").text)
    c.post("/logout", data={"csrf": csrf})
    assert c.get("/models", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    "given, kept",
    [("/runs?kind=train", "/runs?kind=train"), ("https://evil.example/", "/"), ("//evil.example", "/"),
     ("/\\evil.example", "/"), ("", "/"), (None, "/")],
)  # fmt: skip
def test_sign_in_returns_only_to_a_local_page(given: str | None, kept: str) -> None:
    from mlpact.ui._security import safe_next

    assert safe_next(given) == kept


@pytest.mark.parametrize(
    "host, bound, allowed",
    [("127.0.0.1:8765", "127.0.0.1", True), ("localhost:8765", "127.0.0.1", True), ("[::1]:8765", "::1", True),
     ("evil.example:8765", "127.0.0.1", False), ("127.0.0.1.evil.example", "127.0.0.1", False), (None, "127.0.0.1", False),
     ("ui.example.com", "0.0.0.0", True)],
)  # fmt: skip
def test_host_header_rule(host: str | None, bound: str, allowed: bool) -> None:
    from mlpact.ui._security import host_allowed

    assert host_allowed(host, bound) is allowed


def test_a_check_on_a_store_that_cannot_be_written_still_answers(
    made: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from sklearn.datasets import load_wine

    from mlpact.check import check_data
    from mlpact.store import Store

    def read_only(*args: Any, **kwargs: Any) -> str:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    root = copy_store(made[0], tmp_path / "store")
    monkeypatch.setattr(Store, "start_run", read_only)
    result = check_data(made[1]["wine1"], load_wine(as_frame=True).frame.head(60), store=root)
    assert result.verdict in ("reload", "retrain")
    assert (
        "This check was not recorded in the store's run history: attempt to write a readonly database"
        in result.notes
    )


def test_a_tampered_version_is_refused_not_shown(writable: tuple[TestClient, Path]) -> None:
    c, root = writable
    card = root / "models" / "wine" / "2" / "card.md"
    card.write_text(card.read_text() + "\nInjected.\n")
    c.headers["authorization"] = f"Bearer {TOKEN}"
    for path in ("/models/wine/2", "/models/wine/2/report", "/models/wine/2/reports/roc_curve.png"):
        page = c.get(path)
        assert page.status_code in (404, 409), path
        assert "Injected." not in page.text
    assert "does not match its manifest (changed: card.md)" in c.get("/models/wine/2").text
