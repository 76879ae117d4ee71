"""Baseline for `ui_page_1k_runs`: what a hand-written page of the run table costs, a raw SQLite
query of the runs, their JSON params and metrics decoded, sorted and the newest 100 rendered as
an HTML table with escaping (no framework)."""

from __future__ import annotations

import html
import json
import sqlite3
from pathlib import Path


def render(db_path: Path) -> str:
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT id, name, kind, status, started, params, metrics, version FROM runs"
        ).fetchall()
    runs = [
        (r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "{}"), json.loads(r[6] or "{}"), r[7]) for r in rows
    ]
    runs.sort(key=lambda r: r[4], reverse=True)
    cells = []
    for rid, name, kind, status, started, params, metrics, version in runs[:100]:
        values = [rid, name, kind, status, started, version, *params.values(), *metrics.values()]
        cells.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in values) + "</tr>")
    return "<table>" + "".join(cells) + "</table>"
