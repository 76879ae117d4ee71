"""What a training records so the version answers for its behaviour, not just its files.

Called by `mlpact.training` (scikit-learn trainings) at three points: :func:`decide` after the
final fit (the decision is chosen on out-of-fold predictions of the training split, before the
test split is scored),
:func:`record` while the version's files are written (decision.json, split and error tables,
requirements.lock, the data profile and the plots), and :func:`record_golden` once the files a
loaded version needs exist (the golden rows are predicted by the same code that loads them).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlpact.errors import ConfigError
from mlpact.learn import decision
from mlpact.learn.decision import FILE, choose, out_of_fold_proba
from mlpact.learn.profile import profile, write_plots
from mlpact.version import envlock, golden, inspection

if TYPE_CHECKING:
    import pandas as pd

    from mlpact._core.metrics import MetricsFile
    from mlpact.config import Config
    from mlpact.data.schema import Schema
    from mlpact.data.sources import Task
    from mlpact.data.split import Split
    from mlpact.learn.decision import Decision
    from mlpact.learn.prepare import Prepared


class Job(Protocol):
    """What a training hands to recording: its config, data and what it found so far."""

    cfg: Config
    task: Task
    data: Prepared
    split: Split
    schema: Schema
    metrics: MetricsFile
    metric_names: list[str]
    decision: Decision | None
    found: Any
    plots: bool
    profile_on: bool

    def clock(self, key: str) -> AbstractContextManager[None]: ...

    def folds(self, X: pd.DataFrame, y: pd.Series) -> list[Any]: ...

    def timed(self, key: str, description: str) -> AbstractContextManager[None]: ...


def decide(job: Job, pipeline: Any, X: pd.DataFrame, y: pd.Series) -> Decision | None:
    """Choose the configured decision on out-of-fold predictions of the training split.

    Raises:
        ConfigError: `decision.objective` is set for a regression.
    """

    cfg = job.cfg.decision
    if not cfg.active:
        return None
    if job.task != "classification":
        raise ConfigError(
            [
                f"decision.objective: {cfg.objective} decides between classes; this target is a "
                f"{job.task}. Remove the decision section."
            ]
        )

    folds = job.folds(X, y) or job.data.folds(cfg.folds)
    with job.timed("decision", f"Choosing the decision ({cfg.objective}) on out-of-fold predictions"):
        proba, seen, classes = out_of_fold_proba(pipeline, X, y, folds)
        return choose(y.to_numpy()[seen], proba[seen], classes, cfg, metrics=job.metric_names)


def record(directory: Path, job: Job, pipeline: Any) -> None:
    """Write the decision, split and error tables, the lock and the profile; note them in metrics."""

    rec = job.cfg.record
    if job.decision is not None:
        decision.write(directory, job.decision)
        plots = decision.write_plot(job.decision, directory / "reports") if job.plots else []
        job.metrics["decision"] = decision.summary(job.decision, plots)
    test_columns = [c for c in job.schema.names if c in job.data.frame.columns] if rec.test_rows else None
    inspection.write(
        directory, job.data.frame, job.split.train, job.split.test, job.found, columns=test_columns,
        features=job.data.X,
    )  # fmt: skip
    if rec.lock:
        envlock.write(directory)
    if job.profile_on:
        with job.clock("profile"):
            _profile(directory, job)


def _profile(directory: Path, job: Job) -> None:

    train = job.data.frame.iloc[job.split.train]
    text = [c.name for c in job.schema.columns if c.type == "text"]
    found = profile(
        train, target=job.cfg.data.target, task=job.task, columns=job.schema.names, text=text,
        raw_text=job.cfg.record.test_rows,
    )  # fmt: skip
    found["plots"] = (
        write_plots(found, directory / "reports", max_columns=job.cfg.record.profile_max_columns)
        if job.plots
        else []
    )
    job.metrics["profile"] = found


def record_golden(directory: Path, job: Job, pipeline: Any, *, lineage: dict[str, Any]) -> None:
    """Predict a few test rows with the version as it will be loaded (`lineage`: what its
    lineage.json will hold), and write golden.json."""
    from mlpact.version.model import Model

    rec = job.cfg.record
    raw = job.data.frame.iloc[job.split.test]
    rows = golden.select_rows(raw, job.schema.names, n=rec.golden_rows, seed=job.cfg.seed)
    if not rows:
        return
    files = {FILE: ""} if (directory / FILE).exists() else {}
    meta = {"name": job.cfg.name, "version": 0, "files": files}
    model = Model(directory, meta, pipeline, raw_config=job.cfg.to_dict(), lineage=lineage)
    golden.write(directory, model, rows, rtol=rec.golden_rtol, atol=rec.golden_atol)


# --------------------------------------------------------------------------- PyTorch versions
def refuse_torch_decision(cfg: Any) -> None:
    """PyTorch versions take the most probable class; a `decision:` section is refused, not ignored.

    Raises:
        ConfigError: `decision.objective` or `decision.calibration` is set for a PyTorch model.
    """

    if cfg.decision.active or cfg.decision.calibration != "none":
        raise ConfigError(
            [
                "decision: PyTorch models predict the most probable class; decisions and calibration "
                "apply to scikit-learn classifiers only. Remove the decision section."
            ]
        )
