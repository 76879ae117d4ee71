"""Screenshots of the main pages of `mlpact ui` for the docs (`make screenshots`): a store made
by the commands (tests/ui_store.py), a real `mlpact ui`, headless Chromium.

usage: python tests/ui_screenshots.py [OUT_DIR]   (default: docs/img)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ui_browser import HOW_TO_INSTALL, browser, chromium, ui_process
from ui_store import build

PAGES = {
    "ui-models.png": "/models",
    "ui-version.png": "/models/wine/1",
    "ui-runs.png": "/runs?col=param:model.params.C&col=metric:f1_macro&col=metric:accuracy&sort=metric:f1_macro",
    "ui-compare.png": "/compare?versions=wine:1,wine:2,{tuned}",
    "ui-study.png": "/studies/{study}",
}


def main(out: Path) -> None:
    executable = chromium()
    if executable is None:
        raise SystemExit(HOW_TO_INSTALL)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root, data = Path(tmp) / "store", Path(tmp) / "data"
        data.mkdir()
        info = build(root, data)
        with ui_process(root) as base, browser(executable) as b:
            page = b.new_page(viewport={"width": 1280, "height": 860})
            for name, path in PAGES.items():
                page.goto(base + path.format(**info))
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(out / name))
                print(f"wrote {out / name}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/img"))
