"""Driving `mlpact ui` in a real browser: find Debian's Chromium, start a real `mlpact ui` process,
and open Playwright on it. Shared by tests/test_ui_browser.py and tests/ui_screenshots.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from conftest import free_port, wait_until_answers

HOW_TO_INSTALL = (
    "no Chromium found, so the browser tests of `mlpact ui` are skipped. Install one with "
    "`apt-get install -y chromium` (Debian/Ubuntu, as root; .ci/run does it), or point "
    "MLPACT_CHROMIUM at a Chromium or Chrome executable."
)
# Headless, and nothing that calls out to the internet.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def chromium() -> str | None:
    """The browser executable: $MLPACT_CHROMIUM, else chromium on the PATH."""
    given = os.environ.get("MLPACT_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def ui_process(store: Path, *, token_file: Path | None = None, writes: bool = False) -> Iterator[str]:
    """A real `mlpact ui` on a free loopback port; yields its base URL."""
    port = free_port()
    script = Path(sys.executable).with_name("mlpact")
    cmd = [str(script), "ui", "--store", str(store), "--port", str(port)]
    if token_file is not None:
        cmd += ["--auth-token-file", str(token_file)]
    if writes:
        cmd += ["--allow-writes"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("MLPACT_UI_TOKENS", None)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_answers(url + "/health", proc, timeout=60)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


@contextmanager
def browser(executable: str) -> Iterator[Any]:
    """A headless Chromium through Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def sign_in(page: Any, base: str, *, user: str, token: str) -> None:
    """Open the UI and sign in through its form, as a person would."""
    page.goto(base + "/models")
    page.fill("input[name=user]", user)
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/models")
