"""The HTML kit: how numbers read, escaping, tables, embedded plots and the self-contained page
every report (report.html, an evaluation's page, `mlpact check --format html`) is built on."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlpact._core.plots import TITLES
from mlpact._version import __version__


def fmt(value: Any, digits: int = 4, *, significant: bool = False) -> str:
    """A number for humans: `digits` decimals (or significant digits), '-' for missing.

    The one number formatter of reports, tables and pages: metrics read ``0.9123``; statistics
    that span magnitudes (p-values, PSI, parameters) read ``3.2e-05`` with `significant`.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}{'g' if significant else 'f'}}"
    return str(value)


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, numeric_from: int | None = None) -> str:
    def cell(tag: str, i: int, value: Any) -> str:
        klass = " class=n" if numeric_from is not None and i >= numeric_from else ""
        return f"<{tag}{klass}>{escape(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header)) if any(header) else ""
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def plots_html(
    names: Sequence[str], reports: Path, *, split: str = "test split", heading: str | None = "Plots"
) -> str:
    figures = []
    for name in names:
        path = reports / name
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            caption = f"{TITLES.get(name, name)} ({split})"
            figures.append(
                f"<figure><img alt='{escape(caption)}' src='data:image/png;base64,{data}'></figure>"
            )
    title = f"<h2>{heading}</h2>" if heading else ""
    return f"{title}<div class=plots>{''.join(figures)}</div>" if figures else ""


# --------------------------------------------------------------------------- pages
CSS = """
body{font:15px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2328;
background:#f6f8fa;margin:0}
main{max-width:1080px;margin:0 auto;padding:28px 32px 64px;background:#fff;min-height:100vh}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:36px 0 10px;padding-bottom:4px;
border-bottom:1px solid #d0d7de}h3{font-size:15px;margin:20px 0 8px}
.sub{color:#59636e;margin:0 0 18px}
.cards{display:flex;gap:14px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #d0d7de;border-radius:8px;padding:10px 16px;min-width:150px}
.card .k{color:#59636e;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;margin:6px 0 12px;font-size:14px}
th,td{padding:5px 12px;border-bottom:1px solid #e5e8eb;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.primary td{font-weight:600}td.worse{color:#b42318;font-weight:600}td.better{color:#1a7f37}
.warn{background:#fff8c5;border:1px solid #d4a72c;border-left:6px solid #bf8700;border-radius:6px;
padding:10px 16px;margin:16px 0}.warn h2{border:0;margin:0 0 6px;font-size:17px;color:#7d4e00}
.warn ul{margin:0;padding-left:20px}.warn li{margin:4px 0}
.ok{background:#dafbe1;border:1px solid #4ac26b;border-radius:6px;padding:8px 16px;margin:16px 0}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:16px}
figure{margin:0;border:1px solid #d0d7de;border-radius:8px;padding:8px;background:#fff}
figure img{width:100%;height:auto;display:block}figcaption{color:#59636e;font-size:13px;padding:4px}
code,pre{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:12px;overflow:auto}
footer{color:#59636e;font-size:12px;margin-top:40px}
"""


def page(title: str, body: list[str]) -> str:
    footer = f"<footer>Written by mlpact {escape(__version__)}. Self-contained: no network needed.</footer>"
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>\n<body><main>\n"
        + "\n".join(part for part in body if part)
        + f"\n{footer}\n</main></body></html>\n"
    )


class InlineHTML:
    """A self-contained HTML page shown inline in Jupyter (in an iframe, so its styles stay put)."""

    def __init__(self, page: str, *, height: int = 900) -> None:
        self.page = page
        self.height = height

    def _repr_html_(self) -> str:
        return (
            f'<iframe srcdoc="{html.escape(self.page, quote=True)}" '
            f'style="width: 100%; height: {self.height}px; border: 1px solid #ddd;"></iframe>'
        )
