"""The learning curves plot: loss and accuracy per epoch, training and validation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

LEARNING_CURVES = "learning_curves.png"


def write_learning_curves(history: Sequence[dict[str, Any]], directory: Path) -> str:
    """Write reports/learning_curves.png (loss, and accuracy for classifiers); returns its name."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    directory.mkdir(parents=True, exist_ok=True)
    epochs = [row["epoch"] for row in history]
    has_acc = any(row.get("accuracy") is not None for row in history)
    fig = Figure(figsize=(9 if has_acc else 5, 3.6), dpi=100)
    panels = [("loss", "Loss")] + ([("accuracy", "Accuracy")] if has_acc else [])
    for i, (key, title) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.plot(epochs, [_num(row.get(key)) for row in history], marker="o", label="train")
        if any(f"val_{key}" in row for row in history):
            ax.plot(epochs, [_num(row.get(f"val_{key}")) for row in history], marker="o", label="validation")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(directory / LEARNING_CURVES)
    return LEARNING_CURVES


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)
