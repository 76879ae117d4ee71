"""Evaluate a saved version on new labelled data: scored once with the metrics and plots of
training (the protocol is `mlpact.learn.scoring`), recorded in the store as an evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact._core import files
from mlpact._core.metrics import Predictions, finite_json, metrics_for, primary_metric
from mlpact._core.plots import write_plots
from mlpact._core.remote import is_url
from mlpact.data.leakage import duplicate_rows, older_test_rows, shared_groups
from mlpact.errors import DataError, MlpactError
from mlpact.learn.scoring import assess, permutation_importance
from mlpact.store import Store, now
from mlpact.version.report import render_evaluation_html

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.store import Store
    from mlpact.version.model import Model

__all__ = ["Evaluation", "evaluate_version"]


# --------------------------------------------------------------------------- a saved version on new data
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


def evaluate_version(
    model: str | Path | Model,
    data: str | Path | pd.DataFrame,
    *,
    store: str | Path | Store | None = None,
    target: str | None = None,
    plots: bool = True,
    sep: str = ",",
    trust: Sequence[str] = (),
) -> Evaluation:
    """Score a saved version on new labelled data once, with the metrics and plots of training.

    The result is recorded in the store as an evaluation of that version (listed by
    `models show`); the version's own folder is never touched. Plots, metrics.json and
    report.html go into a folder of their own under the store's ``evaluations/``.

    Args:
        model: a reference (``name``, ``name:3``, ``name@alias``), a version folder or a loaded model.
        data: a CSV or Parquet file, or a DataFrame, with the target column.
        target: the label column; default: the target the version was trained on.
        plots: write the PNG plots (and permutation importance).

    Raises:
        DataError: the target column is missing or has no labels.
        InputValidationError: the data does not match the version's schema.
    """
    from mlpact.version.load import load
    from mlpact.version.model import Model

    db = Store.open(store)
    loaded = model if isinstance(model, Model) else load(model, store=db, trust=trust)
    frame, label = _read_labelled(data, sep=sep)
    return _evaluate(loaded, frame, label, store=db, target=target, plots=plots)


def _read_labelled(data: str | Path | pd.DataFrame, *, sep: str) -> tuple[pd.DataFrame, str]:
    from mlpact.data.sources import read_table

    if isinstance(data, str | Path):
        return read_table(data, sep=sep), str(data) if is_url(data) else str(Path(data).resolve())
    return data, "DataFrame"


def _evaluate(
    model: Model, frame: pd.DataFrame, label: str, *, store: Store, target: str | None, plots: bool
) -> Evaluation:
    from mlpact.data.sources import fingerprint

    cfg = model.config
    notes: list[str] = []
    y, frame = _labels(
        frame, target or (model.schema.target.name if model.schema.target else "target"), notes
    )
    X, report = model.check(frame)
    report.raise_for_errors()
    lines = [line.strip() for line in report.format().splitlines()]
    notes += [
        f"Input: {line.removeprefix('warning:').strip()}" for line in lines if line.startswith("warning")
    ]
    if model.task == "classification" and _all_numeric(y) is False:
        y = y.astype(object)
    names = metrics_for(model.task, cfg.evaluate.metrics)
    slices = frame[[c for c in cfg.evaluate.slices if c in frame.columns]]
    result, found = assess(
        model.pipeline, X, y, names, task=model.task, slices=slices,
        max_values=cfg.evaluate.slice_max_values, decision=model.decision,
    )  # fmt: skip
    notes += [f"Possible leakage ({f.check}): {f.message}" for f in _against_training(model, frame)]
    metrics: dict[str, Any] = {
        "task": model.task,
        "primary": primary_metric(model.task, cfg.evaluate.primary),
        "test": result.pop("metrics"),
        **result,
        "rows": {"evaluated": len(frame)},
        "version_test": model.metrics.get("test", {}),
        "warnings": notes,
    }
    folder = store.evaluation_dir()
    if plots:
        metrics["plots"] = _evaluation_plots(model, X, y, found, metrics, folder)
    eval_id = store.add_evaluation(
        model.name,
        model.version,
        data=label,
        metrics=finite_json(metrics),
        data_fingerprint=fingerprint(frame),
        rows=len(frame),
        path=folder,
    )
    _write_evaluation_files(
        model, folder, metrics, label=label, fingerprint=fingerprint(frame), rows=len(frame)
    )
    return Evaluation(eval_id, model.ref, metrics, folder, notes)


def _labels(frame: pd.DataFrame, target: str, notes: list[str]) -> tuple[pd.Series, pd.DataFrame]:

    if target not in frame.columns:
        raise DataError(
            f"The target column {target!r} is not in the data; evaluating needs labelled rows.\n"
            f"The data has: {sorted(map(str, frame.columns))!r}.",
            hint="Add the labels, or name the label column with --target.",
        )
    missing = int(frame[target].isna().sum())
    if missing == len(frame):
        raise DataError(f"The target column {target!r} has no values: nothing to score against.")
    if missing:
        notes.append(f"Dropped {missing} rows whose target {target!r} is missing.")
        frame = frame[frame[target].notna()].reset_index(drop=True)
    return frame[target], frame


def _all_numeric(y: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(y)) and not pd.api.types.is_bool_dtype(y)


def _against_training(model: Model, frame: pd.DataFrame) -> list[Any]:
    """Cross-split leakage guards between the version's training data (when it can be read and
    still has the recorded fingerprint) and the new data."""
    from mlpact.data.sources import fingerprint, load_frame

    cfg = model.config
    if not cfg.evaluate.leakage:
        return []
    try:
        training = load_frame(cfg)
    except (MlpactError, OSError):
        return []
    if fingerprint(training) != (model.lineage.get("data") or {}).get("fingerprint"):
        return []
    split = cfg.data.split
    found = [duplicate_rows(training, frame, columns=model.schema.names, new_data=True)]
    if split.group_column and split.group_column in frame.columns:
        found.append(shared_groups(training[split.group_column], frame[split.group_column]))
    if split.time_column and split.time_column in frame.columns:
        found.append(older_test_rows(training[split.time_column], frame[split.time_column]))
    return [f for f in found if f is not None]


def _evaluation_plots(
    model: Model, X: pd.DataFrame, y: pd.Series, found: Predictions, metrics: dict[str, Any], folder: Path
) -> list[str]:

    ev = model.config.evaluate
    importance: dict[str, dict[str, float]] = {}
    if ev.importance_repeats:
        importance = permutation_importance(
            model.pipeline,
            X,
            y,
            metric=metrics["primary"],
            n_repeats=ev.importance_repeats,
            max_rows=ev.importance_max_rows,
            seed=model.config.seed,
        )
        metrics["importance"] = {"metric": metrics["primary"], "split": "evaluated", "columns": importance}
    return write_plots(
        found,
        folder / "reports",
        task=model.task,
        importance=importance,
        metric=metrics["primary"],
        split="new data",
    )


def _write_evaluation_files(
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
