"""The registry as pandas DataFrames, and HTML views, for notebooks.

`mlpact.models()` and `mlpact.runs()` return DataFrames a notebook can filter, sort and plot;
`mlpact.compare(...)` returns a comparison that renders as a table in Jupyter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlpact import registry
from mlpact.registry import StoreArg

if TYPE_CHECKING:
    import pandas as pd


def models(
    name: str | None = None, *, include_archived: bool = False, store: StoreArg = None
) -> pd.DataFrame:
    """Saved versions, one row each: model, version, created, status, aliases, headline metric,
    origin (mlpact, external or imported)."""
    import pandas as pd

    rows = [
        {
            "model": r.name,
            "version": r.version,
            "ref": r.ref,
            "created": pd.Timestamp(r.created),
            "status": r.status,
            "aliases": ", ".join(r.aliases),
            "metric": r.metric_name,
            "value": r.metric_value,
            "data": (r.data_fingerprint or "")[:12],
            "origin": r.made_by,
            "path": str(r.path),
        }
        for r in registry.versions(name, include_archived=include_archived, store=store)
    ]
    columns = ["model", "version", "ref", "created", "status", "aliases"]
    columns += ["metric", "value", "data", "origin", "path"]
    return pd.DataFrame(rows, columns=columns)


def runs(name: str | None = None, *, store: StoreArg = None) -> pd.DataFrame:
    """Training runs, newest first: status, version produced, error, params and metrics as columns."""
    import pandas as pd

    rows = []
    for r in registry.runs(name, store=store):
        row = {k: r[k] for k in ("id", "name", "kind", "status", "started", "ended", "version", "error")}
        row.update({f"param.{k}": v for k, v in r["params"].items()})
        row.update({f"metric.{k}": v for k, v in r["metrics"].items()})
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in ("started", "ended"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column])
    return frame


@dataclass
class RunComparison:
    """Runs side by side; shows as a table in Jupyter, `.to_frame()` for analysis."""

    data: dict[str, Any]

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        columns = [f"{r['id'][:8]} ({r['name']}:{r['version'] or '-'})" for r in self.data["runs"]]
        rows = {f"param.{k}": v for k, v in self.data["params"].items()}
        rows.update({f"metric.{k}": v for k, v in self.data["metrics"].items()})
        return pd.DataFrame.from_dict(rows, orient="index", columns=columns)

    def _repr_html_(self) -> str:
        frame = self.to_frame()
        differs = [i for i in frame.index if frame.loc[i].astype(str).nunique() > 1]
        styled = frame.style.apply(
            lambda row: ["font-weight: bold" if row.name in differs else "" for _ in row], axis=1
        )
        return "<p><b>Runs compared</b> (rows that differ in bold)</p>" + str(styled.to_html())


def compare(run_ids: Sequence[str], *, store: StoreArg = None) -> RunComparison:
    """Params and metrics of runs side by side (ids or unique prefixes)."""

    return RunComparison(registry.compare_runs(run_ids, store=store))
