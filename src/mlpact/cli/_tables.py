"""Rich tables more than one command prints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table


def metrics_table(metrics: Mapping[str, Any], *, title: str) -> Table:
    """metric | CV mean ± std | test | 95% CI | baseline: the model beside the dummy estimator.

    A test value that does not beat the baseline is red, so a useless model shows at a glance; the
    interval says how much a small test split can tell.
    """
    from rich.table import Table

    folds = (metrics.get("cv") or {}).get("folds", 0)
    baseline = metrics.get("baseline")
    caption = (
        f"CV: {folds} folds on the training split. " if folds else "CV: off. "
    ) + "Test: the test split, scored once."
    if baseline:
        caption += (
            f" Baseline: {str(baseline.get('estimator', 'dummy')).rsplit('.', 1)[-1]} on the test split."
        )
    from mlpact.report import interval_caption, metric_table

    extra = interval_caption(metrics)
    caption += f" {extra}" if extra else ""
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    table.add_column("metric")
    table.add_column("CV mean ± std", justify="right")
    table.add_column("test", justify="right")
    table.add_column("95% CI", justify="right")
    if baseline:
        table.add_column("baseline", justify="right")
    for row in metric_table(metrics):
        test = f"[red]{row.test}[/]" if row.beats_baseline is False else row.test
        cells = [row.name, row.cv, test, row.ci] + ([row.baseline_test] if metrics.get("baseline") else [])
        table.add_row(*cells, style="bold" if row.name == metrics.get("primary") else None)
    return table
