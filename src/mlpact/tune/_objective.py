"""One trial: sample the space, make the trial's config, cross-validate on the training split.

Backend-neutral: Optuna and Ray Tune both call :meth:`Objective.evaluate` with the sampled values
and a `report(value, step)` callback (which may stop an unpromising trial by raising).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mlpact._core.metrics import score
from mlpact.config import Config, SearchParam, apply_override, ordered_keys, validate_config
from mlpact.errors import ConfigError
from mlpact.learn.pipeline import build_pipeline, make_estimator
from mlpact.learn.scoring import cross_validate

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

    def __call__(self, trial: optuna.Trial) -> float:
        """Optuna's objective: sample, evaluate, report each step to the pruner."""
        import optuna

        def report(value: float, step: int) -> None:
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at step {step} ({self.metric} {value:.4g})")

        params = suggest(trial, self.cfg.tune.space)
        try:
            return self.evaluate(params, report=report)
        except ValueError as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            raise

    def evaluate(self, params: dict[str, Any], *, report: Report) -> float:
        """The mean cross-validated metric of the trial's pipeline, on the training split only."""

        pipeline = build_pipeline(trial_config(self.cfg, params), self.data.plan)
        X, y = self.data.train()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kind = step_kind(pipeline[-1])
            if kind is None:
                return _by_fold(pipeline, X, y, self.folds, self.metric, report)
            steps = step_budgets(pipeline[-1], kind, self.cfg.tune.steps)
            return _by_step(pipeline, X, y, self.folds, self.metric, report, kind=kind, steps=steps)


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


def _by_fold(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    metric: str,
    report: Report,
) -> float:
    """Fit and score fold after fold; report the running mean after each (any estimator)."""
    import numpy as np

    values: list[float] = []
    for step, fold in enumerate(folds):
        values.append(cross_validate(pipeline, X, y, [fold], [metric])[metric]["mean"])
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
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    metric: str,
    report: Report,
    *,
    kind: StepKind,
    steps: list[int],
) -> float:
    """Grow every fold's model step by step; report the mean over folds after each step."""
    import numpy as np

    prepared = [_fold(pipeline, X, y, fit_idx, val_idx) for fit_idx, val_idx in folds]
    from sklearn.base import is_classifier

    classes = np.unique(y) if is_classifier(pipeline[-1]) else None
    value = math.nan
    for i, target in enumerate(steps):
        scores = []
        for fold in prepared:
            _advance(fold, kind, target, classes)
            scores.append(score(fold.estimator, fold.X_val, fold.y_val, [metric])[metric])
        value = float(np.mean(scores))
        report(value, i)
    return value


def _fold(pipeline: Any, X: pd.DataFrame, y: pd.Series, fit_idx: Any, val_idx: Any) -> _Fold:
    """A fresh clone whose preprocessing is fitted on the fold's own training rows."""
    from sklearn.base import clone

    model = clone(pipeline)
    X_fit, y_fit = X.iloc[fit_idx], y.iloc[fit_idx]
    pre = model[:-1].fit(X_fit, y_fit)
    return _Fold(model[-1], pre.transform(X_fit), y_fit, pre.transform(X.iloc[val_idx]), y.iloc[val_idx])


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
