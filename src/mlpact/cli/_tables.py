"""Rich tables more than one command prints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    caption = f"CV: {folds} folds on the training split. " if folds else ""
    if metrics.get("validation"):
        epoch = (metrics.get("epochs") or {}).get("best")
        kept = f" (the weights of epoch {epoch})" if epoch else ""
        caption += f"Validation: the split carved from the training data{kept}. "
    elif not folds:
        caption += "CV: off. "
    caption += "Test: the test split, scored once."
    if baseline:
        caption += (
            f" Baseline: {str(baseline.get('estimator', 'dummy')).rsplit('.', 1)[-1]} on the test split."
        )
    if metrics.get("refit"):
        caption += (
            f" Then refit on all {metrics['refit']['rows']} rows: the test column is the pre-refit fit's."
        )
    from mlpact.report import interval_caption, metric_columns, metric_table

    extra = interval_caption(metrics)
    caption += f" {extra}" if extra else ""
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    columns = [(h, f) for h, f in metric_columns(metrics) if f != "baseline_cv"]
    for header, field in columns:
        table.add_column(
            {"baseline_test": "baseline", "ci": "95% CI"}.get(field, header),
            justify="left" if field == "name" else "right",
        )
    for row in metric_table(metrics):
        cells = [
            f"[red]{getattr(row, f)}[/]" if f == "test" and row.beats_baseline is False else getattr(row, f)
            for _, f in columns
        ]
        table.add_row(*cells, style="bold" if row.name == metrics.get("primary") else None)
    return table


def epochs_table(history: Sequence[Mapping[str, Any]], *, best: int | None, title: str) -> Table:
    """One row per epoch: training and validation loss and accuracy, learning rate, seconds; the
    epoch whose weights were kept is marked."""
    from rich.table import Table

    from mlpact.report import fmt

    keys = [k for k in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")
            if any(row.get(k) is not None for row in history)]  # fmt: skip
    table = Table(title=title, title_justify="left")
    for header in ("epoch", *(k.replace("val_", "val ") for k in keys)):
        table.add_column(header, justify="right")
    for row in history:
        kept = row.get("epoch") == best
        cells = [f"{row.get('epoch')}{' *' if kept else ''}"]
        cells += [
            fmt(row.get(k), 2 if k == "seconds" else 4) if k != "lr" else f"{row.get(k):.3g}" for k in keys
        ]
        table.add_row(*cells, style="bold" if kept else None)
    if best:
        table.caption = f"* epoch {best}: the weights kept (best on the validation split)."
        table.caption_justify = "left"
    return table
