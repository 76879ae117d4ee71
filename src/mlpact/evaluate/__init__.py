"""Evaluate a saved version on new labelled data: scored once with the metrics and plots of
training (the protocol is `mlpact.learn.scoring`), recorded in the store as an evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact._core.metrics import Predictions, metrics_for, positive_class, primary_metric
from mlpact._core.plots import write_plots
from mlpact._core.remote import is_url
from mlpact.data.leakage import Finding, older_test_rows, shared_groups
from mlpact.data.sources import fingerprint, read_table
from mlpact.errors import DataError, plural
from mlpact.evaluate.images import evaluate_images
from mlpact.evaluate.record import Evaluation, record_evaluation
from mlpact.learn.scoring import (
    assess,
    importance_metrics,
    permutation_importance,
    probability_facts,
    test_intervals,
)
from mlpact.store import Store
from mlpact.version.inspection import SPLIT, overlap, recorded_rows
from mlpact.version.load import load
from mlpact.version.model import Model, match_labels

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.store import Store
    from mlpact.version.model import Model

__all__ = ["Evaluation", "evaluate_version"]


# --------------------------------------------------------------------------- a saved version on new data


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
        data: a CSV or Parquet file, or a DataFrame, with the target column. Image models: a
            folder of class folders (labels are the folder names), or a CSV/Parquet file with a
            `path` column (relative to the file) and the label column.
        target: the label column; default: the target the version was trained on.
        plots: write the PNG plots (and permutation importance).

    Raises:
        DataError: the target column is missing or has no labels.
        InputValidationError: the data does not match the version's schema.
    """
    db = Store.open(store)
    loaded = model if isinstance(model, Model) else load(model, store=db, trust=trust)
    if getattr(loaded, "takes_images", False):
        return evaluate_images(loaded, data, store=db, target=target, plots=plots, sep=sep)  # type: ignore[arg-type]
    frame, label = _read_labelled(data, sep=sep)
    return _evaluate(loaded, frame, label, store=db, target=target, plots=plots)


def _read_labelled(data: str | Path | pd.DataFrame, *, sep: str) -> tuple[pd.DataFrame, str]:

    if isinstance(data, str | Path):
        return read_table(data, sep=sep), str(data) if is_url(data) else str(Path(data).resolve())
    return data, "DataFrame"


def _evaluate(
    model: Model, frame: pd.DataFrame, label: str, *, store: Store, target: str | None, plots: bool
) -> Evaluation:

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
    y = match_labels(y, model)

    classes = getattr(model.pipeline, "classes_", None)
    positive = positive_class(model.metrics, None if classes is None else list(classes))
    names = metrics_for(model.task, cfg.evaluate.metrics, binary=positive is not None)
    slices = frame[[c for c in cfg.evaluate.slices if c in frame.columns]]
    result, found = assess(
        model.pipeline, X, y, names, task=model.task, slices=slices,
        max_values=cfg.evaluate.slice_max_values, decision=model.decision, positive=positive,
    )  # fmt: skip
    findings, seen = _against_training(model, frame, X)
    notes += [f"Possible leakage ({f.check}): {f.message}" for f in findings]
    metrics: dict[str, Any] = {
        "task": model.task,
        "primary": primary_metric(model.task, cfg.evaluate.primary),
        "test": result.pop("metrics"),
        "ci": test_intervals(found, names, task=model.task, seed=cfg.seed),
        **probability_facts(model.pipeline, names, positive=positive),
        **result,
        "rows": {"evaluated": len(frame)},
        "version_test": model.metrics.get("test", {}),
        "warnings": notes,
    }
    if seen is not None:
        metrics["overlap"] = seen
    folder = store.evaluation_dir()
    if plots:
        metrics["plots"] = _evaluation_plots(model, X, y, found, metrics, folder)
    return record_evaluation(
        model,
        store,
        folder,
        metrics,
        label=label,
        fingerprint=fingerprint(frame),
        rows=len(frame),
        notes=notes,
    )


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
        notes.append(f"Dropped {plural(missing, 'row')} whose target {target!r} is missing.")
        frame = frame[frame[target].notna()].reset_index(drop=True)
    return frame[target], frame


def _against_training(
    model: Model, frame: pd.DataFrame, X: pd.DataFrame
) -> tuple[list[Any], dict[str, Any] | None]:
    """Cross-split leakage guards between the version's training data and the new data.

    Rows are counted against the version's own split (`inspection.overlap`): identical to a row
    of its training split (memory, not generalisation), or a row of its test split (already
    scored once: a re-score, not new evidence). Groups and times are compared with the training
    split of the recorded source, when it can still be read with the recorded fingerprint.
    """

    if not model.config.evaluate.leakage:
        return [], None
    seen = overlap(model, X)
    found = _overlap_findings(seen)
    training = _training_split(model)
    split = model.config.data.split
    if training is not None and split.group_column and split.group_column in frame.columns:
        found.append(shared_groups(training[split.group_column], frame[split.group_column]))
    if training is not None and split.time_column and split.time_column in frame.columns:
        found.append(older_test_rows(training[split.time_column], frame[split.time_column]))
    return [f for f in found if f is not None], seen


def _overlap_findings(seen: dict[str, Any] | None) -> list[Any]:

    if not seen:
        return []
    rows, out = seen["rows"], []
    if seen["training"]:
        n = seen["training"]
        out.append(
            Finding(
                "duplicate_rows",
                f"{n} of {rows} evaluation rows ({n / rows:.0%}) are identical in every feature to a row "
                "of the version's training split, so this score partly measures memory, not "
                f"generalisation (compared with {seen['compared_with']}). Evaluate on rows the version "
                "was not trained on.",
            )
        )
    if seen["test"]:
        n = seen["test"]
        out.append(
            Finding(
                "test_rows",
                f"{n} of {rows} evaluation rows ({n / rows:.0%}) are rows of the version's test split: "
                "they were scored once at training, so they add no new evidence (not counted as "
                "training rows).",
            )
        )
    return out


def _training_split(model: Model) -> pd.DataFrame | None:
    """The recorded source's training-split rows, when readable with the recorded fingerprint."""
    import pandas as pd

    source = recorded_rows(model)
    if source is None:
        return None
    if SPLIT not in (model.manifest.get("files") or {}):
        return source
    table = pd.read_parquet(model.path / SPLIT)
    return source.iloc[table.loc[table["split"] == "train", "row"].to_numpy()]


def _evaluation_plots(
    model: Model, X: pd.DataFrame, y: pd.Series, found: Predictions, metrics: dict[str, Any], folder: Path
) -> list[str]:

    ev = model.config.evaluate
    importance: dict[str, dict[str, float]] = {}
    if ev.importance_repeats:
        found_importance = permutation_importance(
            model.pipeline,
            X,
            y,
            metric=metrics["primary"],
            n_repeats=ev.importance_repeats,
            max_rows=ev.importance_max_rows,
            max_columns=ev.importance_max_columns,
            seed=model.config.seed,
        )
        importance = found_importance.columns
        metrics["importance"] = importance_metrics(found_importance, metrics["primary"], "evaluated")
        note = found_importance.note(metrics["primary"])
        if note:
            metrics["warnings"].append(note)
    return write_plots(
        found,
        folder / "reports",
        task=model.task,
        importance=importance,
        metric=metrics["primary"],
        split="new data",
    )
