"""An evaluation of a version as the store records it: its metrics.json and report.html in the
evaluation's folder, and its row in the index (`mlpact evaluate`, tables and images alike)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact._core import files
from mlpact._core.metrics import finite_json
from mlpact.store import now
from mlpact.version.report import render_evaluation_html

if TYPE_CHECKING:
    from mlpact.store import Store
    from mlpact.version.model import Model


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a saved version on new labelled data, as recorded in the store."""

    id: str
    ref: str
    metrics: dict[str, Any]
    path: Path
    warnings: list[str]

    @property
    def report(self) -> Path:
        return self.path / "report.html"


def record_evaluation(
    model: Model,
    store: Store,
    folder: Path,
    metrics: dict[str, Any],
    *,
    label: str,
    fingerprint: str,
    rows: int,
    notes: list[str],
) -> Evaluation:
    """Record an evaluation in the store and write its metrics.json and report.html into `folder`
    (from `store.evaluation_dir()`, where its plots already are)."""
    eval_id = store.add_evaluation(
        model.name,
        model.version,
        data=label,
        metrics=finite_json(metrics),
        data_fingerprint=fingerprint,
        rows=rows,
        path=folder,
    )
    write_evaluation_files(model, folder, metrics, label=label, fingerprint=fingerprint, rows=rows)
    return Evaluation(eval_id, model.ref, metrics, folder, notes)


def write_evaluation_files(
    model: Model, folder: Path, metrics: dict[str, Any], *, label: str, fingerprint: str, rows: int
) -> None:

    files.write_json(folder / "metrics.json", finite_json(metrics))
    record = {
        "data": label,
        "rows": rows,
        "data_fingerprint": fingerprint,
        "created": now(),
        "metrics": metrics,
    }
    page = render_evaluation_html(
        {"ref": model.ref, "test": model.metrics.get("test")}, record, reports=folder / "reports"
    )
    files.write_bytes(folder / "report.html", page.encode())
