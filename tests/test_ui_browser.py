"""`mlpact ui` in a real browser: headless Chromium (Debian's package) driven by Playwright against
a real `mlpact ui` process over a store made by train, tune, evaluate, check, reproduce and
mlpact.save. Each test asserts what a user sees on the page. Without a browser every test here
is skipped with a message saying how to install one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("jinja2")
pytest.importorskip(
    "playwright.sync_api",
    reason="playwright is not installed: pip install 'mlpact[dev]' (browser tests skipped)",
)

from playwright.sync_api import expect

from ui_browser import HOW_TO_INSTALL, browser, chromium, sign_in, ui_process
from ui_store import copy_store, shared_store

TOKEN = "browser-test-token"
EXECUTABLE = chromium()
pytestmark = pytest.mark.skipif(EXECUTABLE is None, reason=HOW_TO_INSTALL)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root, info = shared_store(tmp_path_factory)
    copy = copy_store(root, tmp_path_factory.mktemp("browser") / "store")  # this module promotes
    return copy, info


@pytest.fixture(scope="module")
def base(made: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tokens = tmp_path_factory.mktemp("tokens") / "tokens"
    tokens.write_text(f"# people who may change aliases\n{TOKEN}\n")
    with ui_process(made[0], token_file=tokens, writes=True) as url:
        yield url


@pytest.fixture(scope="module")
def page(base: str) -> Iterator[Any]:
    assert EXECUTABLE is not None
    with browser(EXECUTABLE) as b:
        context = b.new_context(viewport={"width": 1280, "height": 900})
        p = context.new_page()
        p.set_default_timeout(60_000)  # a shared CI machine can be slow; Optuna plots are drawn on first view
        p.set_default_navigation_timeout(90_000)
        sign_in(p, base, user="tester", token=TOKEN)
        yield p
        context.close()


def cells(page: Any, selector: str, column: int) -> list[str]:
    return [t.strip() for t in page.locator(f"{selector} tbody tr td:nth-child({column})").all_inner_texts()]


def test_signing_in_leads_to_the_models_page(page: Any, base: str) -> None:
    expect(page.locator("main > h1")).to_have_text("Models")
    assert cells(page, "#models", 1) == ["diabetes", "iris-mlp", "wine", "wine-own"]
    row = page.locator("#models tbody tr", has_text="iris-mlp")
    expect(row).to_contain_text("torch")
    expect(page.locator("#models tbody tr", has_text="wine-own")).to_contain_text("external")
    expect(page.locator("#models tbody tr").nth(2)).to_contain_text("production → 1")
    expect(page.locator("header .who")).to_have_text("tester")


def test_models_sort_and_filter(page: Any, base: str) -> None:
    page.goto(base + "/models")
    page.click("#models th >> text=versions")
    page.click("#models th >> text=versions")  # second click: descending
    counts = [int(c) for c in cells(page, "#models", 2)]
    assert counts == sorted(counts, reverse=True) and counts[0] >= 4
    page.fill("input[name=q]", "dia")
    page.click("text=Filter")
    assert cells(page, "#models", 1) == ["diabetes"]
    assert "q=dia" in page.url  # the view is a link


def test_a_version_page_shows_everything_and_script_stays_text(page: Any, base: str) -> None:
    page.goto(base + "/models/wine/1")
    expect(page.locator("main > h1")).to_contain_text("wine:1")
    expect(page.locator("#description")).to_contain_text("<script>window.__pwned = 1</script>")
    assert page.evaluate("window.__pwned") is None
    report = page.frame_locator("iframe.report")
    expect(report.locator("h1")).to_have_text("wine version 1")
    expect(report.locator("body")).to_contain_text("Evaluations on new data")
    expect(page.locator("#card-body h1")).to_have_text("wine version 1")
    expect(page.locator("#config-table")).to_contain_text("tracking.tags.note")
    assert page.locator("#golden-table tbody tr").count() == 5
    expect(page.locator("#evaluations-table")).to_contain_text("wine_new.csv")
    expect(page.locator("#checks-table")).to_contain_text("check")
    expect(page.locator("#checks-table")).to_contain_text("retrained as wine:")
    expect(page.locator("#timeline")).to_contain_text("wine@production rollback → wine:1 (was 2)")
    assert page.evaluate("document.querySelector('#card-body img').naturalWidth") > 0


@pytest.mark.parametrize("key", ["torch", "external", "tuned", "reg1"])
def test_other_kinds_of_version_open(
    page: Any, base: str, made: tuple[Path, dict[str, Any]], key: str
) -> None:
    name, number = made[1][key].split(":")
    page.goto(f"{base}/models/{name}/{number}")
    expect(page.locator("main > h1")).to_contain_text(made[1][key])
    expect(page.frame_locator("iframe.report").locator("h1")).to_have_text(f"{name} version {number}")


def test_runs_choose_columns_sort_and_filter(page: Any, base: str) -> None:
    page.goto(base + "/runs")
    kinds = set(cells(page, "#runs", 4))
    assert {"train", "tune", "evaluate", "check", "reproduce", "external"} <= kinds
    page.click("#column-picker summary")
    page.check("#column-picker input[value='metric:f1_macro']")
    page.check("#column-picker input[value='param:model.params.C']")
    page.click("#column-picker >> text=Show these columns")
    page.click("#runs th a[data-sort='metric:f1_macro']")  # sort by the chosen metric, descending
    header = page.locator("#runs thead th").all_inner_texts()
    column = next(i for i, h in enumerate(header) if h.startswith("f1_macro")) + 1
    values = [float(v) for v in cells(page, "#runs", column) if re.fullmatch(r"[0-9.]+", v)]
    assert len(values) >= 3 and values == sorted(values, reverse=True)
    page.fill("input[aria-label='config filter']", "model.params.C=0.05")
    page.select_option("select[name=kind]", "train")
    page.click("#run-filter button[type=submit]")
    expect(page.locator("#run-count")).to_have_text("1 run")


def test_compare_two_runs(page: Any, base: str) -> None:
    page.goto(base + "/runs?kind=train&model=wine")
    boxes = page.locator("#runs input[name=runs]")
    assert boxes.count() >= 2
    button = page.locator(".compare-button")
    expect(button).to_be_disabled()
    boxes.nth(0).check()
    boxes.nth(1).check()
    expect(button).to_have_text("Compare 2 selected")
    button.click()
    page.wait_for_url(re.compile(r".*/compare\?runs=.*"))
    expect(page.locator("#compare-versions")).to_contain_text("model.params.C")
    assert page.locator("#compare-runs td.best").count() >= 1
    for kind in ("roc", "pr", "calibration"):
        img = page.locator(f"img[data-plot={kind}]")
        assert img.evaluate("i => i.naturalWidth") > 0
    expect(page.locator("#differences")).to_contain_text("against wine:")


def test_study_page(page: Any, base: str, made: tuple[Path, dict[str, Any]]) -> None:
    page.goto(base + "/studies")
    page.click(f"text={made[1]['study']}")
    expect(page.locator("#trials tbody tr")).to_have_count(3)
    for kind in ("history", "parallel"):
        assert page.locator(f"img[data-plot={kind}]").evaluate("i => i.naturalWidth") > 0


def test_promote_with_a_token_lands_in_the_history(page: Any, base: str) -> None:
    page.goto(base + "/models/wine/2")
    page.fill("#actions input[name=alias]", "production")
    page.fill("#actions input[aria-label=reason]", "better on March data")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#actions button:text('Promote')")
    page.wait_for_url(re.compile(r".*/models/wine/2(#aliases)?$"))
    first = page.locator("#timeline li").first
    expect(first).to_contain_text("wine@production promote → wine:2 (was 1)")
    expect(first).to_contain_text("by tester (mlpact ui, token ")
    expect(first).to_contain_text("better on March data")
    expect(page.locator("main > h1")).to_contain_text("production")
