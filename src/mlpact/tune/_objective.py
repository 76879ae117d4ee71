"""One trial: sample the space, make the trial's config, cross-validate on the training split.

Backend-neutral: Optuna and Ray Tune both call :meth:`Objective.evaluate` with the sampled values
and a `report(value, step)` callback (which may stop an unpromising trial by raising).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mlpact._core.metrics import score
from mlpact.config import Config, SearchParam, apply_override, ordered_keys, validate_config
from mlpact.errors import ConfigError
from mlpact.learn.pipeline import build_pipeline, make_estimator

if TYPE_CHECKING:
    import numpy as np
    import optuna
    import pandas as pd

    from mlpact.learn.prepare import Prepared

Report = Callable[[float, int], None]
StepKind = Literal["partial_fit", "n_estimators", "max_iter"]


# --------------------------------------------------------------------------- the space
def suggest(trial: optuna.Trial, space: dict[str, SearchParam]) -> dict[str, Any]:
    """Sample every searched key whose `when` conditions hold (define-by-run, so conditional)."""
    chosen: dict[str, Any] = {}
    for key in ordered_keys(space):
        param = space[key]
        if _active(param, chosen):
            chosen[key] = _suggest_one(trial, key, param)
    return chosen


def _active(param: SearchParam, chosen: dict[str, Any]) -> bool:
    for other, wanted in param.when.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if other not in chosen or chosen[other] not in allowed:
            return False
    return True


def _suggest_one(trial: optuna.Trial, key: str, p: SearchParam) -> Any:
    if p.type == "categorical":
        return trial.suggest_categorical(key, list(p.choices or []))
    assert p.low is not None and p.high is not None  # checked by SearchParam
    if p.type == "int":
        return trial.suggest_int(key, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
    return trial.suggest_float(key, p.low, p.high, step=p.step, log=p.log)


def corner_values(p: SearchParam) -> list[Any]:
    """The extreme values of a searched key (what a config check tries before any trial)."""
    if p.type == "categorical":
        return list(p.choices or [])
    assert p.low is not None and p.high is not None
    cast = int if p.type == "int" else float
    return [cast(p.low), cast(p.high)]


def trial_config(cfg: Config, params: dict[str, Any]) -> Config:
    """The run config with a trial's values set through the config's own override machinery."""
    raw = cfg.to_dict(reveal=True)  # in memory only: the trial config is never written as is
    for key, value in params.items():
        apply_override(raw, f"{key}={json.dumps(value)}")
    new = validate_config(raw, label=f"the trial config {params!r}")
    # What came from ${env:...} stays written as the expression (best.yaml, a trained version).
    expressions = {k: e for k, e in cfg.expressions.items() if k not in params}
    return new.with_values(base_dir=cfg.base_dir, expressions=expressions)


def check_space(cfg: Config) -> None:
    """Build the estimator at every extreme of the space, so a bad key or value fails before any trial.

    Each key is tried as a trial would set it: together with values of the keys its `when`
    names that make it active (e.g. `model.params.alpha` with the `model.type` it belongs to).

    Raises:
        ConfigError: a value is invalid for its key, or a model.params name is not a parameter.
    """

    space = cfg.tune.space
    for key, param in space.items():
        for conditions in _activations(space, key):
            for value in corner_values(param):
                trial = {**conditions, key: value}
                try:
                    make_estimator(trial_config(cfg, trial).model, seed=cfg.seed)
                except ConfigError as exc:
                    if "model.type" not in trial:
                        raise
                    raise ConfigError(
                        [f"{p} (in a trial with model.type={trial['model.type']})" for p in exc.problems]
                        + [
                            "model.params the config sets for every trial must suit every model.type "
                            "the space chooses: search a model's own parameters in tune.space with "
                            "`when: {model.type: ...}` instead"
                        ]
                    ) from None


def _activations(space: dict[str, SearchParam], key: str) -> list[dict[str, Any]]:
    """Every assignment of the keys `key`'s `when` names (recursively) under which it is searched."""
    combos: list[dict[str, Any]] = [{}]
    for other, wanted in space[key].when.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        options = [{**above, other: value} for value in allowed for above in _activations(space, other)]
        combos = [{**c, **o} for c in combos for o in options if all(c.get(k, v) == v for k, v in o.items())]
    return combos


# --------------------------------------------------------------------------- a trial's score
@dataclass
class Objective:
    """What every trial shares: the config, the prepared data, the folds and the metric."""

    cfg: Config
    data: Prepared
    folds: Sequence[tuple[np.ndarray, np.ndarray]]
    metric: str
    # per fold: the `features:` section it was preprocessed for, and its rows (see `_fold`)
    _preprocessed: dict[int, tuple[str, Any, Any, Any, Any]] = field(default_factory=dict, repr=False)

    def __call__(self, trial: optuna.Trial) -> float:
        """Optuna's objective: sample, evaluate, report each step to the pruner."""
        import optuna

        def report(value: float, step: int) -> None:
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step} ({self.metric} {value:.4g})")

        params = suggest(trial, self.cfg.tune.space)
        try:
            # Without a pruner nothing reads intermediate values: storing them would cost a
            # storage write per fold and nothing else.
            return self.evaluate(params, report=report if self.pruning else _ignore)
        except ValueError as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            raise

    @property
    def pruning(self) -> bool:
        """Whether a pruner judges trials as they go (else a trial has nothing to report until its end)."""
        return self.cfg.tune.pruner != "none"

    def evaluate(self, params: dict[str, Any], *, report: Report) -> float:
        """The mean cross-validated metric of the trial's pipeline, on the training split only.

        Estimators that learn in steps are grown and scored step by step only when a pruner can
        stop them early; without one each fold is fitted once, as plain cross-validation does.
        """

        trial_cfg = trial_config(self.cfg, params)
        pipeline = build_pipeline(trial_cfg, self.data.plan)
        key = trial_cfg.features.model_dump_json()
        folds = (self._fold(pipeline, i, key) for i in range(len(self.folds)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kind = step_kind(pipeline[-1]) if self.pruning else None
            if kind is None:
                return _by_fold(folds, self.metric, report)
            steps = _steps(pipeline[-1], kind, self.cfg.tune.steps)
            classes = _classes(pipeline[-1], self.data.train()[1])
            return _by_step(list(folds), self.metric, report, kind=kind, steps=steps, classes=classes)

    def _fold(self, pipeline: Any, i: int, key: str) -> _Fold:
        """Fold `i`: a fresh clone of the estimator, and the fold's rows through the preprocessing
        fitted on the fold's own training rows.

        The preprocessing is built from the `features:` section alone, so trials that search only
        `model.*` keys would fit exactly the same preprocessing on the same rows again: it is
        fitted once per fold and kept (in this process) for as long as `features:` stays the same.
        """
        from sklearn.base import clone

        cached = self._preprocessed.get(i)
        if cached is None or cached[0] != key:
            X, y = self.data.train()
            fit_idx, val_idx = self.folds[i]
            X_fit, y_fit, X_val = X.iloc[fit_idx], y.iloc[fit_idx], X.iloc[val_idx]
            if len(pipeline) > 1:  # fit_transform, as Pipeline.fit does (it may differ from fit + transform)
                pre = clone(pipeline[:-1])
                X_fit, X_val = pre.fit_transform(X_fit, y_fit), pre.transform(X_val)
            cached = (key, X_fit, y_fit, X_val, y.iloc[val_idx])
            self._preprocessed[i] = cached
        _, X_fit, y_fit, X_val, y_val = cached
        estimator = clone(pipeline[-1])
        if _may_write_input(estimator):  # e.g. copy_X=False: never let a trial change the kept rows
            X_fit, X_val = X_fit.copy(), X_val.copy()
        return _Fold(estimator, X_fit, y_fit, X_val, y_val)


def _may_write_input(estimator: Any) -> bool:
    """Whether an estimator was told it may modify its input in place (`copy=False`, `copy_X=False`)."""
    return any(k in ("copy", "copy_X") and v is False for k, v in estimator.get_params().items())


def _ignore(value: float, step: int) -> None:
    """The report of a trial that nothing prunes."""


def step_kind(estimator: Any) -> StepKind | None:
    """How an estimator learns in steps: boosting stages (warm start), or partial_fit epochs."""
    params = estimator.get_params()
    if "warm_start" in params and "n_estimators" in params:
        return "n_estimators"
    if hasattr(estimator, "partial_fit"):
        return "partial_fit"
    if "warm_start" in params and "max_iter" in params and "Boosting" in type(estimator).__name__:
        return "max_iter"  # histogram gradient boosting: max_iter counts boosting iterations
    return None


def _steps(estimator: Any, kind: StepKind, steps: int) -> list[int]:
    """Per step, the stage count to grow to (boosting), or the epoch number (partial_fit)."""
    if kind == "partial_fit":
        return list(range(1, steps + 1))
    total = int(estimator.get_params()[kind])
    return sorted({max(1, math.ceil(total * i / steps)) for i in range(1, steps + 1)})


def step_budgets(estimator: Any, kind: StepKind, steps: int) -> list[int]:
    """Per step, the stage count to grow to (boosting), or the epoch number (partial_fit)."""
    if kind == "partial_fit":
        return list(range(1, steps + 1))
    total = int(estimator.get_params()[kind])
    return sorted({max(1, math.ceil(total * i / steps)) for i in range(1, steps + 1)})


def _by_fold(folds: Iterable[_Fold], metric: str, report: Report) -> float:
    """Fit and score fold after fold; report the running mean after each (any estimator)."""
    import numpy as np

    values: list[float] = []
    for step, fold in enumerate(folds):
        fold.estimator.fit(fold.X_fit, fold.y_fit)
        values.append(score(fold.estimator, fold.X_val, fold.y_val, [metric])[metric])
        report(float(np.mean(values)), step)
    return float(np.mean(values))


@dataclass
class _Fold:
    estimator: Any
    X_fit: Any
    y_fit: pd.Series
    X_val: Any
    y_val: pd.Series


def _by_step(
    folds: Sequence[_Fold], metric: str, report: Report, *, kind: StepKind, steps: list[int], classes: Any
) -> float:
    """Grow every fold's model step by step; report the mean over folds after each step."""
    import numpy as np

    value = math.nan
    for i, target in enumerate(steps):
        scores = []
        for fold in folds:
            _advance(fold, kind, target, classes)
            scores.append(score(fold.estimator, fold.X_val, fold.y_val, [metric])[metric])
        value = float(np.mean(scores))
        report(value, i)
    return value


def _classes(estimator: Any, y: pd.Series) -> Any:
    """Every class of the training split (partial_fit needs them all on its first call)."""
    import numpy as np
    from sklearn.base import is_classifier

    return np.unique(y) if is_classifier(estimator) else None


def _advance(fold: _Fold, kind: StepKind, target: int, classes: Any) -> None:
    est = fold.estimator
    if kind == "partial_fit":
        if classes is not None:
            est.partial_fit(fold.X_fit, fold.y_fit, classes=classes)
        else:
            est.partial_fit(fold.X_fit, fold.y_fit)
        return
    est.set_params(warm_start=True, **{kind: target})
    est.fit(fold.X_fit, fold.y_fit)
