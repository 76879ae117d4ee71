"""Plots of a scored split, as PNG files (matplotlib, Agg backend: no display needed).

Classification: confusion matrix, ROC and precision-recall curves (one-vs-rest), calibration.
Regression: predicted vs actual, residuals. Both: permutation importance. Each plot is one small
function from data to a file; :func:`write_plots` writes the ones that apply and returns their
names, in the order a report shows them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from mlpact._core.metrics import Predictions

DPI = 100
MAX_CURVE_CLASSES = 10
TITLES = {
    "confusion_matrix.png": "Confusion matrix",
    "roc_curve.png": "ROC curves",
    "precision_recall.png": "Precision-recall curves",
    "calibration.png": "Calibration",
    "predicted_vs_actual.png": "Predicted vs actual",
    "residuals.png": "Residuals",
    "permutation_importance.png": "Permutation importance",
    "decision_threshold.png": "Precision and recall by threshold",
    "profile_target.png": "Target distribution",
    "profile_features.png": "Feature distributions",
}


def write_plots(
    found: Predictions,
    out_dir: Path,
    *,
    task: str,
    importance: Mapping[str, Mapping[str, float]] | None = None,
    metric: str = "",
    split: str = "test split",
) -> list[str]:
    """Write every plot that applies to `out_dir`; returns the file names written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    makers: dict[str, Callable[[Axes], None]] = {}
    if task == "classification":
        makers["confusion_matrix.png"] = lambda ax: confusion_matrix(ax, found)
        if found.proba is not None and found.classes is not None:
            makers["roc_curve.png"] = lambda ax: roc_curves(ax, found)
            makers["precision_recall.png"] = lambda ax: precision_recall_curves(ax, found)
            makers["calibration.png"] = lambda ax: calibration(ax, found)
    else:
        makers["predicted_vs_actual.png"] = lambda ax: predicted_vs_actual(ax, found)
        makers["residuals.png"] = lambda ax: residuals(ax, found)
    if importance:
        makers["permutation_importance.png"] = lambda ax: permutation_importance(ax, importance, metric)
    for name, draw in makers.items():
        save_figure(draw, out_dir / name, f"{TITLES[name]} ({split})")
    return list(makers)


def save_figure(draw: Callable[[Axes], None], path: Path, title: str) -> None:
    fig = _figure()
    try:
        ax = fig.subplots()
        draw(ax)
        ax.set_title(title, fontsize=11, loc="left")
        fig.tight_layout()
        fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None})
    finally:
        fig.clear()


def _figure() -> Figure:
    """A figure that needs no display and no pyplot state."""
    from matplotlib.figure import Figure

    return Figure(figsize=(5.6, 4.2))


# --------------------------------------------------------------------------- classification
def confusion_matrix(ax: Axes, found: Predictions) -> None:
    """Counts of true (rows) against predicted (columns) classes, each cell labelled."""
    import numpy as np
    from sklearn.metrics import confusion_matrix as sk_confusion

    labels = found.classes if found.classes is not None else sorted(set(found.y) | set(found.pred))
    matrix = sk_confusion(found.y, found.pred, labels=labels)
    ax.imshow(matrix, cmap="Blues")
    names = [str(c) for c in labels]
    ax.set_xticks(range(len(names)), names, rotation=45 if len(names) > 4 else 0, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    high = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        color = "white" if count > high else "black"
        ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=9)


def _one_vs_rest(found: Predictions) -> list[tuple[str, Any, Any]]:
    """(class, is-this-class, probability of this class) per class; the positive class if binary."""
    import numpy as np

    classes = found.classes or []
    y = np.asarray(found.y)
    if len(classes) == 2:
        pos = next((i for i, c in enumerate(classes) if c == found.positive), 1)
        return [(str(classes[pos]), y == classes[pos], found.proba[:, pos])]
    return [(str(c), y == c, found.proba[:, i]) for i, c in enumerate(classes[:MAX_CURVE_CLASSES])]


def roc_curves(ax: Axes, found: Predictions) -> None:
    """ROC curve per class (one-vs-rest) with its AUC; the diagonal is chance."""
    from sklearn.metrics import roc_auc_score, roc_curve

    for label, truth, score in _one_vs_rest(found):
        if truth.all() or not truth.any():
            continue
        fpr, tpr, _ = roc_curve(truth, score)
        ax.plot(fpr, tpr, label=f"{label} (AUC {roc_auc_score(truth, score):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize=8, loc="lower right")


def precision_recall_curves(ax: Axes, found: Predictions) -> None:
    """Precision against recall per class (one-vs-rest) with its average precision."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    for label, truth, score in _one_vs_rest(found):
        if not truth.any():
            continue
        precision, recall, _ = precision_recall_curve(truth, score)
        ax.plot(recall, precision, label=f"{label} (AP {average_precision_score(truth, score):.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="lower left")


def calibration(ax: Axes, found: Predictions) -> None:
    """Observed frequency against predicted probability per class; the diagonal is perfect."""
    from sklearn.calibration import calibration_curve

    for label, truth, score in _one_vs_rest(found):
        if truth.all() or not truth.any():
            continue
        observed, predicted = calibration_curve(truth, score, n_bins=min(10, max(2, len(truth) // 10)))
        ax.plot(predicted, observed, marker="o", markersize=3, label=label)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("fraction of positives")
    ax.legend(fontsize=8, loc="upper left")


# --------------------------------------------------------------------------- regression
def predicted_vs_actual(ax: Axes, found: Predictions) -> None:
    """Each row's prediction against its true value; the diagonal is a perfect prediction."""
    import numpy as np

    y, pred = np.asarray(found.y, dtype=float), np.asarray(found.pred, dtype=float)
    ax.scatter(y, pred, s=10, alpha=0.6)
    low, high = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    ax.plot([low, high], [low, high], linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")


def residuals(ax: Axes, found: Predictions) -> None:
    """Residual (actual - predicted) against the prediction; a pattern means a missed effect."""
    import numpy as np

    y, pred = np.asarray(found.y, dtype=float), np.asarray(found.pred, dtype=float)
    ax.scatter(pred, y - pred, s=10, alpha=0.6)
    ax.axhline(0, linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual - predicted")


# --------------------------------------------------------------------------- both
def permutation_importance(ax: Axes, importance: Mapping[str, Mapping[str, float]], metric: str) -> None:
    """Horizontal bars: loss in the metric when a column is shuffled, most important on top."""
    top = list(importance.items())[:20][::-1]
    names = [name for name, _ in top]
    ax.barh(names, [v["mean"] for _, v in top], xerr=[v["std"] for _, v in top], color="#4c72b0")
    ax.axvline(0, color="grey", linewidth=1)
    ax.set_xlabel(f"decrease in {metric} when shuffled" if metric else "decrease in score when shuffled")
    ax.tick_params(axis="y", labelsize=8)
