"""Decisions: how a classifier's probabilities become a label, chosen on validation data.

The rule is chosen on out-of-fold predictions of the training split (never the test split) by
the `decision:` section's objective, saved in the version's ``decision.json`` (listed and hashed
in the manifest), and applied by `Model.predict`, batch predict, serving and `check`.
Probabilities are never changed by a decision; `calibration` changes them, at training time.

Two rules:

- ``threshold`` (binary): the positive class when its probability is at least the threshold.
- ``cost`` (multiclass): the class with the lowest expected cost, ``argmin_k sum_j p_j C[j, k]``
  (rows of C: true class; columns: predicted class).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact._core import files
from mlpact._core.html import escape, fmt, plots_html, table
from mlpact._core.metrics import NEEDS_PROBA, compute_metrics, finite_json
from mlpact._core.plots import TITLES, save_figure
from mlpact.errors import ConfigError, IntegrityError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlpact.config import DecisionConfig

FILE = "decision.json"
_CURVE_POINTS = 200

__all__ = ["FILE", "Decision", "calibrate", "choose", "out_of_fold_proba", "read", "write"]


@dataclass(frozen=True)
class Decision:
    """A saved decision rule (see the module docstring) and how it scored on validation data."""

    rule: str
    objective: str
    classes: list[Any]
    positive: Any = None
    threshold: float | None = None
    costs: list[list[float]] | None = None
    calibration: str = "none"
    validation: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def apply(self, proba: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Labels for rows of class probabilities (columns in `classes` order)."""
        import numpy as np

        classes = np.asarray(classes)
        if self.rule == "threshold":
            pos = _index(classes, self.positive)
            neg = 1 - pos
            return classes[np.where(proba[:, pos] >= float(self.threshold or 0.5), pos, neg)]
        expected = np.asarray(proba) @ np.asarray(self.costs, dtype=float)
        return classes[expected.argmin(axis=1)]  # type: ignore[no-any-return]

    def describe(self) -> str:
        """One line for listings: the rule and what chose it."""
        if self.rule == "threshold":
            text = f"predict {self.positive!r} when P({self.positive!r}) >= {self.threshold:.4g}"
        else:
            text = "the class with the lowest expected cost (cost matrix)"
        calibrated = f"; probabilities calibrated ({self.calibration})" if self.calibration != "none" else ""
        rows = self.validation.get("rows", "?")
        return f"{text}; chosen for {self.objective} on {rows} out-of-fold training rows{calibrated}"


def _index(classes: np.ndarray, value: Any) -> int:
    for i, c in enumerate(classes.tolist()):
        if c == value or str(c) == str(value):
            return i
    raise IntegrityError(
        f"The decision's positive class {value!r} is not among the model's classes {classes.tolist()!r}."
    )


# --------------------------------------------------------------------------- training time
def calibrate(pipeline: Any, cfg: DecisionConfig) -> Any:
    """The pipeline wrapped in CalibratedClassifierCV when `calibration` asks for it."""
    if cfg.calibration == "none":
        return pipeline
    from sklearn.calibration import CalibratedClassifierCV

    return CalibratedClassifierCV(pipeline, method=cfg.calibration, cv=cfg.calibration_folds)


def out_of_fold_proba(
    estimator: Any, X: pd.DataFrame, y: pd.Series, folds: Sequence[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """Class probabilities for training rows from models that did not see them.

    Returns:
        The probabilities (columns: every class, sorted), a mask of the rows that were in some
        validation fold (a time-ordered split never validates its first rows), and the classes.
    """
    import numpy as np
    from sklearn.base import clone

    classes = sorted(y.unique().tolist(), key=_sort_key)
    where = {c: i for i, c in enumerate(classes)}
    proba = np.zeros((len(y), len(classes)))
    seen = np.zeros(len(y), dtype=bool)
    for fit_idx, val_idx in folds:
        model = clone(estimator).fit(X.iloc[fit_idx], y.iloc[fit_idx])
        cols = np.asarray([where[c] for c in model.classes_.tolist()])
        proba[np.ix_(val_idx, cols)] = model.predict_proba(X.iloc[val_idx])
        seen[val_idx] = True
    return proba, seen, classes


def _sort_key(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)


def choose(
    y: Any, proba: np.ndarray, classes: Sequence[Any], cfg: DecisionConfig, *, metrics: Sequence[str] = ()
) -> Decision:
    """Choose the decision rule on validation rows by the configured objective.

    Raises:
        ConfigError: the objective does not fit the task (a threshold needs two classes), the
            cost matrix is not one row and column per class, or `positive` is not a class.
    """
    import numpy as np

    objective = str(cfg.objective)
    classes = list(classes)
    y = np.asarray(y)
    labels = np.asarray(classes)
    if objective == "cost" and len(cfg.costs or []) != len(classes):
        n = len(classes)
        raise ConfigError(
            [
                f"decision.costs: expected a {n}x{n} matrix (classes {classes!r}), "
                f"got {len(cfg.costs or [])} rows"
            ]
        )
    if len(classes) != 2:
        if objective != "cost":
            raise ConfigError(
                [
                    f"decision.objective: {objective} chooses a threshold, which needs two classes; "
                    f"this target has {len(classes)}. "
                    f"Use objective: cost with a {len(classes)}x{len(classes)} costs matrix."
                ]
            )
        decision = Decision(
            "cost",
            objective,
            classes,
            costs=[list(map(float, r)) for r in cfg.costs or []],
            calibration=cfg.calibration,
        )
    else:
        decision = _threshold(y, proba, classes, cfg)
    argmax = labels[proba.argmax(axis=1)]
    summary = {
        "rows": len(y),
        "argmax": _label_metrics(metrics, y, argmax, classes),
        "decided": _label_metrics(metrics, y, decision.apply(proba, labels), classes),
    }
    if decision.costs:
        summary["cost_argmax"] = _total_cost(y, argmax, classes, decision.costs)
        summary["cost_decided"] = _total_cost(y, decision.apply(proba, labels), classes, decision.costs)
    return Decision(**{**decision.to_dict(), "validation": {**decision.validation, **summary}})


def _label_metrics(names: Sequence[str], y: Any, pred: Any, classes: Sequence[Any]) -> dict[str, float]:

    labels = [n for n in names if n not in NEEDS_PROBA]
    return compute_metrics(labels, y, pred, None, list(classes)) if labels else {}


def _total_cost(y: Any, pred: Any, classes: Sequence[Any], costs: Sequence[Sequence[float]]) -> float:
    where = {c: i for i, c in enumerate(classes)}
    return float(sum(costs[where[t]][where[p]] for t, p in zip(y, pred, strict=True)))


def _threshold(y: np.ndarray, proba: np.ndarray, classes: list[Any], cfg: DecisionConfig) -> Decision:
    import numpy as np

    positive = classes[1] if cfg.positive is None else cfg.positive
    if not any(c == positive or str(c) == str(positive) for c in classes):
        raise ConfigError([f"decision.positive: {positive!r} is not a class; the classes are {classes!r}"])
    pos = _index(np.asarray(classes), positive)
    positive = classes[pos]
    counts = _counts(proba[:, pos], np.asarray([v == positive for v in y]))
    values, note = _objective_values(counts, str(cfg.objective), cfg.costs, pos)
    best = int(np.nanargmax(values))
    validation: dict[str, Any] = {
        "curve": _curve(counts, values),
        "objective_value": float(values[best]) if cfg.objective != "cost" else float(-values[best]),
    }
    if note:
        validation["note"] = note
    costs = [list(map(float, r)) for r in cfg.costs] if cfg.costs else None
    return Decision(
        "threshold",
        str(cfg.objective),
        classes,
        positive,
        float(counts["threshold"][best]),
        costs,
        cfg.calibration,
        validation,
    )


def _counts(p: np.ndarray, is_pos: np.ndarray) -> dict[str, np.ndarray]:
    """tp, fp, fn, tn when predicting positive iff p >= threshold, at every distinct threshold
    (plus one above every probability: nothing positive)."""
    import numpy as np

    order = np.argsort(-p, kind="mergesort")
    ps, ys = p[order], is_pos[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), len(ps) - 1]
    tp = np.r_[0, np.cumsum(ys)[last]].astype(float)
    fp = np.r_[0, last + 1].astype(float) - tp
    P, N = float(ys.sum()), float(len(ys) - ys.sum())
    threshold = np.r_[np.nextafter(ps[0], np.inf), ps[last]]
    return {"threshold": threshold, "tp": tp, "fp": fp, "fn": P - tp, "tn": N - fp}


def _objective_values(
    c: Mapping[str, np.ndarray], objective: str, costs: Any, pos: int
) -> tuple[np.ndarray, str | None]:
    """The objective at every threshold (higher is better) and a note when no threshold qualifies."""
    import numpy as np

    tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 1.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        if objective == "f1":
            return np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0), None
        if objective == "balanced_accuracy":
            return (recall + np.where(tn + fp > 0, tn / (tn + fp), 0.0)) / 2, None
    if objective == "cost":
        neg = 1 - pos
        C = np.asarray(costs, dtype=float)
        total = tp * C[pos, pos] + fn * C[pos, neg] + fp * C[neg, pos] + tn * C[neg, neg]
        return -total, None
    name, _, target = objective.partition(">=")
    bound, other = (precision, recall) if name == "precision" else (recall, precision)
    ok = bound >= float(target) - 1e-12
    if not ok.any():
        return bound.copy(), f"no threshold reaches {objective} on validation data; chose the best {name}"
    # the best other metric among thresholds meeting the bound, ties to the larger bound
    return np.where(ok, other + 1e-9 * bound, -math.inf), None


def _curve(c: Mapping[str, np.ndarray], values: np.ndarray) -> dict[str, list[float]]:
    import numpy as np

    keep = np.unique(np.linspace(0, len(values) - 1, min(len(values), _CURVE_POINTS)).round().astype(int))
    tp, fp, fn = c["tp"][keep], c["fp"][keep], c["fn"][keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 1.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
    threshold = np.clip(c["threshold"][keep], 0, 1)
    return {"threshold": threshold.tolist(), "precision": precision.tolist(), "recall": recall.tolist()}


# --------------------------------------------------------------------------- the saved file
def write(directory: Path, decision: Decision) -> None:

    files.write_json(directory / FILE, finite_json(decision.to_dict()))


def read(directory: Path, manifest: Mapping[str, Any]) -> Decision | None:
    """The version's decision, or None when it has none (argmax; or saved before decisions)."""

    if FILE not in (manifest.get("files") or {}):
        return None
    return Decision.from_dict(files.read_json(directory, FILE))


def plot_threshold(ax: Any, decision: Decision) -> None:
    """Precision and recall against the threshold on validation rows, the chosen one marked."""
    curve = decision.validation.get("curve") or {}
    ax.plot(curve.get("threshold", []), curve.get("precision", []), label="precision")
    ax.plot(curve.get("threshold", []), curve.get("recall", []), label="recall")
    ax.axvline(
        float(decision.threshold or 0.5),
        color="black",
        linestyle="--",
        label=f"chosen {decision.threshold:.3g}",
    )
    ax.set_xlabel(f"threshold on P({decision.positive!r})")
    ax.set_ylabel("out-of-fold value")
    ax.legend(loc="best", fontsize=8)


PLOT = "decision_threshold.png"


def write_plot(decision: Decision, directory: Path) -> list[str]:
    """The threshold plot (binary thresholds only); returns the file names written."""
    if decision.rule != "threshold" or not decision.validation.get("curve"):
        return []

    directory.mkdir(parents=True, exist_ok=True)
    save_figure(lambda ax: plot_threshold(ax, decision), directory / PLOT, f"{TITLES[PLOT]} (out-of-fold)")
    return [PLOT]


def summary(decision: Decision, plots: list[str]) -> dict[str, Any]:
    """What metrics.json records about the decision (the curve stays in decision.json)."""
    validation = {k: v for k, v in decision.validation.items() if k != "curve"}
    return {
        **{k: v for k, v in decision.to_dict().items() if k != "validation"},
        "description": decision.describe(),
        "validation": validation,
        "plots": plots,
    }


# --------------------------------------------------------------------------- report sections
def _rows(metrics: Mapping[str, Any]) -> list[list[str]]:
    found = metrics["decision"]["validation"]
    test_argmax = metrics.get("test_argmax") or {}
    names = sorted(set(found.get("decided") or {}) | set(test_argmax))
    rows = [
        [
            n,
            fmt((found.get("argmax") or {}).get(n)),
            fmt((found.get("decided") or {}).get(n)),
            fmt(test_argmax.get(n)),
            fmt((metrics.get("test") or {}).get(n)),
        ]
        for n in names
    ]
    if "objective_value" in found:  # what the threshold maximised, e.g. recall at precision >= P
        name = _MAXIMISED.get(metrics["decision"]["objective"].partition(">=")[0], "objective")
        rows.append(
            [f"{name} ({metrics['decision']['objective']})", "", fmt(found["objective_value"]), "", ""]
        )
    if "cost_decided" in found:
        rows.append(["total cost", fmt(found.get("cost_argmax")), fmt(found.get("cost_decided")), "", ""])
    return rows


_MAXIMISED = {"precision": "recall", "recall": "precision", "f1": "F1 of the positive class",
              "balanced_accuracy": "balanced accuracy", "cost": "total cost"}  # fmt: skip
_HEADER = ["metric", "validation, argmax", "validation, decided", "test, argmax", "test, decided"]


def card_lines(metrics: Mapping[str, Any]) -> list[str]:
    """The decision's section of card.md (empty for argmax versions)."""
    if not metrics.get("decision"):
        return []
    d = metrics["decision"]
    lines = [
        "",
        "## Decision",
        "",
        f"{d['description']}.",
        "",
        "Test metrics are those of the decided labels; argmax (the most probable class) beside them.",
        "",
    ]
    lines += ["| " + " | ".join(_HEADER) + " |", "|" + " --- |" * len(_HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in _rows(metrics)]
    lines += [f"![{name}](reports/{name})" for name in d.get("plots") or []]
    return lines


def html(metrics: Mapping[str, Any], reports: Path) -> str:
    """The decision's section of report.html (empty for argmax versions)."""
    if not metrics.get("decision"):
        return ""
    d = metrics["decision"]
    return (
        f"<h2>Decision</h2><p>{escape(d['description'])}. Test metrics are those of the decided labels.</p>"
        + table(_HEADER, _rows(metrics), numeric_from=1)
        + plots_html(d.get("plots") or [], reports, split="out-of-fold training rows", heading=None)
    )


class _Decided:
    """A fitted pipeline whose `predict` applies a decision (for code that only calls predict)."""

    def __init__(self, pipeline: Any, decision: Decision) -> None:
        self.pipeline, self.decision = pipeline, decision

    @property
    def classes_(self) -> Any:
        return self.pipeline.classes_

    def predict_proba(self, X: Any) -> Any:
        return self.pipeline.predict_proba(X)

    def predict(self, X: Any) -> Any:
        return self.decision.apply(self.pipeline.predict_proba(X), self.pipeline.classes_)


def decided(pipeline: Any, decision: Decision | None) -> Any:
    """`pipeline` itself, or a wrapper whose `predict` gives the decided labels."""
    return pipeline if decision is None else _Decided(pipeline, decision)
