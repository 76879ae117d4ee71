"""What a training records so the version answers for its behaviour, not just its files.

Called by `mlpact.training` at three points: :func:`decide` after the final fit (the decision
is chosen on out-of-fold predictions of the training split, before the test split is scored),
:func:`record` while the version's files are written (decision.json, split and error tables,
requirements.lock, the data profile and the plots), and :func:`record_golden` once the files a
loaded version needs exist (the golden rows are predicted by the same code that loads them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.decision import Decision
    from mlpact.training import _Job


def decide(job: _Job, pipeline: Any, X: pd.DataFrame, y: pd.Series) -> Decision | None:
    """Choose the configured decision on out-of-fold predictions of the training split.

    Raises:
        ConfigError: `decision.objective` is set for a regression.
    """
    from mlpact.errors import ConfigError

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
    from mlpact.decision import choose, out_of_fold_proba

    folds = job._folds(X, y) or job.data.folds(cfg.folds)
    with job._timed("decision", f"Choosing the decision ({cfg.objective}) on out-of-fold predictions"):
        proba, seen, classes = out_of_fold_proba(pipeline, X, y, folds)
        return choose(y.to_numpy()[seen], proba[seen], classes, cfg, metrics=job.metric_names)


def record(directory: Path, job: _Job, pipeline: Any) -> None:
    """Write the decision, split and error tables, the lock and the profile; note them in metrics."""
    from mlpact import decision, envlock, inspection

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


def _profile(directory: Path, job: _Job) -> None:
    from mlpact.profile import profile, write_plots

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


def record_golden(directory: Path, job: _Job, pipeline: Any, *, lineage: dict[str, Any]) -> None:
    """Predict a few test rows with the version as it will be loaded (`lineage`: what its
    lineage.json will hold), and write golden.json."""
    from mlpact import golden
    from mlpact.decision import FILE
    from mlpact.model import Model

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
    from mlpact.errors import ConfigError

    if cfg.decision.active or cfg.decision.calibration != "none":
        raise ConfigError(
            [
                "decision: PyTorch models predict the most probable class; decisions and calibration "
                "apply to scikit-learn classifiers only. Remove the decision section."
            ]
        )


def record_torch_data(directory: Path, job: Any) -> None:
    """What `check` and `models errors` need from a PyTorch version: reference statistics, and
    the split and the test predictions (per image file, or per table row)."""
    from mlpact import bundle, inspection, reference

    bins = job.cfg.check.bins
    images = job.data.images
    if images is None:
        prepared = job.data.prepared
        bundle.write_json(directory / reference.FILE, reference.build(prepared, job.predictor, bins=bins))
        columns = (
            [c for c in job.schema.names if c in prepared.frame.columns] if job.cfg.record.test_rows else None
        )
        split = prepared.split
        inspection.write(directory, prepared.frame, split.train, split.test, job.found, columns=columns)
        return
    from mlpact.torch.imagestats import build_reference, sample

    fitting = [p for p, part in zip(images.train, images.train_split, strict=True) if part == "train"]
    chosen = sample(fitting, seed=job.cfg.seed)
    stats = build_reference(chosen, job.predictor.predict(chosen) if chosen else [], bins=bins)
    bundle.write_json(directory / reference.FILE, stats)
    split = {**dict(zip(images.train, images.train_split, strict=True)), **{p: "test" for p in images.test}}
    inspection.write_images(directory, images.root, split, images.digests, images.test, job.found)


def record_torch(directory: Path, job: Any, trusted: list[str]) -> None:
    """The lock and (table models) golden rows of a PyTorch version, once its files are written.

    Image models record no golden rows: their inputs are image files, not rows.
    """
    from mlpact import envlock, golden

    rec = job.cfg.record
    if rec.lock:
        envlock.write(directory)
    if job.data.preprocessor is None or not rec.golden_rows:
        return
    from mlpact.torch.predicting import load_version

    meta = {"name": job.cfg.name, "version": 0, "files": {}, "trusted_types": trusted}
    # the types this process just wrote from the live pipeline: trusted here, as the index will
    model = load_version(directory, meta, record=None, raw_config=job.cfg.to_dict(), trust=trusted)
    rows = golden.select_rows(job.data.test_X, job.schema.names, n=rec.golden_rows, seed=job.cfg.seed)
    golden.write(directory, model, rows, rtol=rec.golden_rtol, atol=rec.golden_atol)
