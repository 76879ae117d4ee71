"""Figures the UI draws itself, as SVG data URIs (matplotlib; nothing to fetch, no JavaScript).

- Compare: the same plot for several versions overlaid (ROC, precision-recall, calibration for
  classifiers; residuals for regressors), from each version's ``errors.parquet`` (its test-split
  truth, prediction and class probabilities) with scikit-learn's curve functions.
- Tuning: Optuna's own matplotlib visualisations (optimisation history, parameter importance,
  parallel coordinates, slice) of a stored study.

Plots are embedded as ``<img src="data:image/svg+xml;base64,...">``: an image cannot run
script, whatever text a label holds. matplotlib's pyplot state is not thread-safe, and the
server answers in a thread pool, so drawing holds one lock.
"""

from __future__ import annotations

import base64
import io
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_LOCK = threading.Lock()
OVERLAYS = {
    "roc": "ROC curve (test split)",
    "pr": "Precision-recall (test split)",
    "calibration": "Calibration (test split)",
    "residuals": "Residuals (test split)",
}


def svg_uri(fig: Figure) -> str:
    """The figure as an SVG data URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# --------------------------------------------------------------------------- compare overlays
def read_predictions(folder: Path) -> pd.DataFrame | None:
    """A version's test-split predictions (errors.parquet), or None when it has none."""
    import pandas as pd

    path = folder / "errors.parquet"
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError):
        return None


def overlays(series: Mapping[str, pd.DataFrame], task: str) -> dict[str, str]:
    """The overlaid plots that apply to `task`, by kind, for each labelled predictions table."""
    kinds = ["roc", "pr", "calibration"] if task == "classification" else ["residuals"]
    draw: dict[str, Callable[[Axes, str, pd.DataFrame], None]] = {
        "roc": _roc, "pr": _pr, "calibration": _calibration, "residuals": _residuals,
    }  # fmt: skip
    out = {}
    with _LOCK:
        for kind in kinds:
            fig = _figure()
            ax = fig.subplots()
            drawn = 0
            for label, table in series.items():
                try:
                    draw[kind](ax, label, table)
                    drawn += 1
                except (ValueError, KeyError, TypeError):  # e.g. no probabilities recorded
                    continue
            if drawn:
                _finish(ax, kind)
                out[kind] = svg_uri(fig)
    return out


def _figure() -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(5.2, 3.9))


def _finish(ax: Axes, kind: str) -> None:
    if kind in ("roc", "calibration"):
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    if kind == "residuals":
        ax.axhline(0, linestyle="--", color="grey", linewidth=1)
    ax.set_title(OVERLAYS[kind], fontsize=11, loc="left")
    ax.legend(fontsize=8)


def scores(table: pd.DataFrame) -> tuple[Any, Any]:
    """(is-positive, score) pairs for a curve: the positive class of a binary classifier, or every
    class one-vs-rest flattened (micro-average) for more classes.

    Raises:
        KeyError: the table has no class probabilities.
    """
    import numpy as np

    proba = [c for c in table.columns if c.startswith("proba_")]
    if not proba:
        raise KeyError("no class probabilities")
    classes = [c[len("proba_") :] for c in proba]
    truth = table["truth"].astype(str).to_numpy()
    if len(classes) == 2:
        return truth == classes[1], table[proba[1]].to_numpy(dtype=float)
    onehot = np.stack([truth == c for c in classes], axis=1)
    return onehot.ravel(), table[proba].to_numpy(dtype=float).ravel()


def _roc(ax: Axes, label: str, table: pd.DataFrame) -> None:
    from sklearn.metrics import roc_auc_score, roc_curve

    truth, score = scores(table)
    fpr, tpr, _ = roc_curve(truth, score)
    ax.plot(fpr, tpr, label=f"{label} (AUC {roc_auc_score(truth, score):.3f})")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")


def _pr(ax: Axes, label: str, table: pd.DataFrame) -> None:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    truth, score = scores(table)
    precision, recall, _ = precision_recall_curve(truth, score)
    ax.plot(recall, precision, label=f"{label} (AP {average_precision_score(truth, score):.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")


def _calibration(ax: Axes, label: str, table: pd.DataFrame) -> None:
    from sklearn.calibration import calibration_curve

    truth, score = scores(table)
    observed, predicted = calibration_curve(truth, score, n_bins=min(10, max(2, len(truth) // 10)))
    ax.plot(predicted, observed, marker="o", markersize=3, label=label)
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("fraction of positives")


def _residuals(ax: Axes, label: str, table: pd.DataFrame) -> None:
    y = table["truth"].to_numpy(dtype=float)
    pred = table["prediction"].to_numpy(dtype=float)
    ax.scatter(pred, y - pred, s=9, alpha=0.5, label=label)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual - predicted")


# --------------------------------------------------------------------------- tuning studies
STUDY_PLOTS = {
    "history": "Optimisation history",
    "importance": "Parameter importance",
    "parallel": "Parallel coordinates",
    "slice": "Slice",
}


def study_plots(study: Any) -> dict[str, str]:
    """Optuna's matplotlib visualisations of a study, by kind; one that cannot be drawn (e.g.
    importance before two finished trials differ) is left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as vis

    makers: dict[str, Callable[[Any], Any]] = {
        "history": vis.plot_optimization_history,
        "importance": vis.plot_param_importances,
        "parallel": vis.plot_parallel_coordinate,
        "slice": vis.plot_slice,
    }
    out = {}
    with _LOCK:
        for kind, make in makers.items():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # optuna marks its matplotlib backend experimental
                    axes = make(study)
            except (ValueError, RuntimeError, ZeroDivisionError, TypeError):
                continue
            first = axes.flat[0] if hasattr(axes, "flat") else axes
            figure = first.figure
            out[kind] = svg_uri(figure)
            plt.close(figure)
    return out


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """Each trial of a study: number, state, value, params, duration, error."""
    rows = []
    for t in study.trials:
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "params": dict(t.params),
                "duration_s": t.duration.total_seconds() if t.duration else None,
                "error": t.user_attrs.get("error"),
            }
        )
    return rows


def param_names(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return sorted({k for r in rows for k in r["params"]})
