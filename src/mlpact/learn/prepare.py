"""The data a run trains on: loaded, cleaned, split (seeded), typed by the schema, fingerprinted.

`prepare(cfg)` is the one way every workload gets its data (training, tuning, reproducing), so
they all see the same rows, the same split and the same schema for the same config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlpact.errors import plural
from mlpact.learn.pipeline import extend_plan, plan_features, retype_for_plan

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlpact.config import Config
    from mlpact.data.schema import Schema
    from mlpact.data.sources import Task
    from mlpact.data.split import Split
    from mlpact.learn.pipeline import FeaturePlan


@dataclass
class Prepared:
    """A config's data, ready to fit: the frame, features X, target y, the split and the schema."""

    cfg: Config
    frame: pd.DataFrame
    X: pd.DataFrame
    y: pd.Series
    task: Task
    split: Split
    schema: Schema
    plan: FeaturePlan
    groups: pd.Series | None
    lineage: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def train(self) -> tuple[pd.DataFrame, pd.Series]:
        """Features and target of the training split (the only rows CV, tuning and choices see)."""
        return self.X.iloc[self.split.train], self.y.iloc[self.split.train]

    def test(self) -> tuple[pd.DataFrame, pd.Series]:
        """Features and target of the test split (scored once per version)."""
        return self.X.iloc[self.split.test], self.y.iloc[self.split.test]

    def folds(self, k: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Cross-validation folds of the training split matching the split config (grouped,
        time-ordered or stratified), as positions into `train()`; `k` defaults to
        `evaluate.cv_folds`."""
        from mlpact.data.split import cv_splits

        cfg = self.cfg
        if k is not None and k != cfg.evaluate.cv_folds:
            cfg = cfg.model_copy(update={"evaluate": cfg.evaluate.model_copy(update={"cv_folds": k})})
        if not cfg.evaluate.cv_folds:
            return []
        X, y = self.train()
        groups = self.groups.iloc[self.split.train] if self.groups is not None else None
        return list(cv_splits(cfg, self.task, X, y, groups))


def prepare(cfg: Config) -> Prepared:
    """Load the configured data and make it ready to fit.

    Rows without a target are dropped (with a warning); the task is inferred; rows are split as
    `data.split` says, seeded by `seed`; the schema is inferred from the training split only, with
    declared columns winning; features are coerced to the schema's dtypes.

    Raises:
        DataError: the data cannot be read or does not fit the config.
        ConfigError: the feature lists do not fit the data.
    """
    frame, lineage = _load(cfg)
    return _prepare(cfg, frame, lineage)


def _load(cfg: Config) -> tuple[pd.DataFrame, dict[str, Any]]:
    from mlpact.data.sources import check_values, file_sha256, fingerprint, load_frame

    frame = load_frame(cfg)
    check_values(frame, skip=cfg.data.drop)  # before anything fits: a clear input error
    path = cfg.source_url() or cfg.source_path()
    lineage = {
        "source": cfg.public("data.source"),
        # a path that came from the environment is written as its ${env:...} expression
        "resolved": str(path)
        if path and cfg.public("data.source") == cfg.data.source
        else cfg.public("data.source"),
        "file_sha256": file_sha256(path, storage_options=cfg.data.storage_options) if path else None,
        "fingerprint": fingerprint(frame),
        "rows": len(frame),
        "columns": list(map(str, frame.columns)),
        "dtypes": {str(c): str(t) for c, t in frame.dtypes.items()},  # what the data held (exports)
    }
    return frame, lineage


def _prepare(cfg: Config, frame: pd.DataFrame, lineage: dict[str, Any]) -> Prepared:
    import pandas as pd

    from mlpact.data.schema import coerce, id_like, infer_schema
    from mlpact.data.sources import classification_target, fingerprint, infer_task
    from mlpact.data.split import split_rows

    warnings: list[str] = []
    target = cfg.data.target
    missing_target = int(frame[target].isna().sum())
    if missing_target:
        warnings.append(f"Dropped {plural(missing_target, 'row')} whose target {target!r} is missing.")
        frame = frame[frame[target].notna()].reset_index(drop=True)
    task = infer_task(frame[target], cfg.data.task)
    if task == "classification":
        frame = frame.assign(**{target: classification_target(frame[target], rows=len(frame))})
    split = split_rows(frame, cfg, task)
    warnings += split.warnings
    group = cfg.data.split.group_column
    exclude = list(dict.fromkeys([target, *cfg.data.drop, *([group] if group else [])]))
    features = frame.drop(columns=[c for c in exclude if c in frame.columns])
    inferred = infer_schema(
        frame.iloc[split.train].drop(columns=exclude[1:], errors="ignore"),
        cfg.schema_,
        target=target,
        task=task,
    )
    train_rows = frame.iloc[split.train]
    ids = {c: why for c in inferred.names if (why := id_like(train_rows[c])) is not None}
    plan = plan_features(inferred, cfg.features, drop=[], ids=ids)
    warnings += [
        f"Column {name!r} is not used as a feature: {reason}." for name, reason in plan.unused.items()
    ]
    warnings += _time_notes(plan, cfg)
    schema = retype_for_plan(inferred, plan)
    y = frame[target]
    if task == "classification" and not _is_numeric(y) and not pd.api.types.is_bool_dtype(y):
        y = y.astype(object)  # text labels as Python strings (sklearn reads bools as binary as they are)
    lineage = {
        **lineage,
        "train_rows": len(split.train),
        "test_rows": len(split.test),
        "split": split.strategy,
        "train_fingerprint": fingerprint(frame.iloc[split.train]),
        "test_fingerprint": fingerprint(frame.iloc[split.test]),
    }
    groups = frame[group] if group else None
    X = coerce(features, schema)
    if cfg.features.custom:
        plan, added = extend_plan(plan, cfg, X.iloc[split.train])
        lineage["custom_columns"] = added
    return Prepared(cfg, frame, X, y, task, split, schema, plan, groups, lineage, warnings)


def _time_notes(plan: FeaturePlan, cfg: Config) -> list[str]:
    """Datetime columns used as features while the split is random: say what that risks."""
    if cfg.data.split.time_column or not plan.datetime:
        return []
    listed = set(cfg.features.datetime.columns or [])
    return [
        f"Column {name!r} (a date) is used as a feature ({', '.join(cfg.features.datetime.parts)}) "
        "while the split is random: if when a row was made relates to its target, the model learns "
        f"from rows later than those it is tested on. Set data.split.time_column: {name} to test on "
        "the latest rows, or add it to data.drop."
        for name in plan.datetime
        if name not in listed
    ]


def _is_numeric(y: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(y)) and not pd.api.types.is_bool_dtype(y)
