"""The check of new data against a version, for tables: schema, drift, performance and the
verdict they give together (`judge`, which image versions use too: `mlpact.check.images`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlpact._core import files
from mlpact._core.bootstrap import intervals, performance_test, scored, standard_error
from mlpact._core.html import escape, fmt, page, table
from mlpact._core.metrics import (
    LOWER_IS_BETTER,
    compute_metrics,
    finite_json,
    gain,
    metrics_for,
    positive_class,
    primary_metric,
    score,
)
from mlpact._core.progress import Silent
from mlpact._core.remote import is_url
from mlpact.config import load_config
from mlpact.data.reference import FILE, compare
from mlpact.data.verdict import Hypothesis, decide, rows_needed, too_few
from mlpact.errors import DataError, ExitCode, StoreError
from mlpact.learn.decision import decided
from mlpact.learn.prepare import prepare
from mlpact.learn.scoring import predictions
from mlpact.registry import promote as move
from mlpact.store import Store
from mlpact.training import run
from mlpact.version.inspection import ERRORS

if TYPE_CHECKING:
    import pandas as pd

    from mlpact._core.metrics import Predictions
    from mlpact._core.progress import Progress
    from mlpact.config import CheckConfig, Config
    from mlpact.data.drift import Drift
    from mlpact.data.validation import ValidationReport
    from mlpact.data.verdict import Hypothesis
    from mlpact.version.model import Model

Verdict = Literal["reload", "retrain", "inconclusive", "incompatible"]
EXIT_CODES: dict[str, ExitCode] = {
    "reload": ExitCode.OK,
    "retrain": ExitCode.RETRAIN,
    "incompatible": ExitCode.INCOMPATIBLE,
    "inconclusive": ExitCode.INCONCLUSIVE,
}
_FAMILY = {"int": "number", "float": "number", "bool": "bool", "datetime": "datetime"}


@dataclass
class Performance:
    """The version's metrics on the new labelled rows beside those recorded on its test split,
    and the test of a drop (`p_value`; `adjusted`: Holm-adjusted over the whole check)."""

    metric: str
    recorded: float | None
    now: float | None
    drop: float | None
    rows: int
    metrics: dict[str, float]
    dropped: bool = False
    recorded_rows: int = 0
    test: str = ""
    p_value: float = 1.0
    adjusted: float | None = None
    recorded_se: float | None = None
    now_se: float | None = None

    def to_dict(self) -> dict[str, Any]:

        return finite_json(dict(self.__dict__))  # type: ignore[no-any-return]


@dataclass
class Retrained:
    """A version trained on the new data, compared with the checked one on the same holdout."""

    ref: str
    metric: str
    old: float | None
    new: float | None
    holdout_rows: int
    better: bool
    alias: str | None = None
    moved: bool = False
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:

        return finite_json(dict(self.__dict__))  # type: ignore[no-any-return]


@dataclass
class CheckResult:
    """The verdict on new data, with every reason and the measurements behind it."""

    ref: str
    verdict: Verdict
    rows: int
    validation: ValidationReport
    thresholds: CheckConfig
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    retyped: dict[str, dict[str, str]] = field(default_factory=dict)
    new_categories: dict[str, list[str]] = field(default_factory=dict)
    drift: list[Drift] = field(default_factory=list)
    prediction: Drift | None = None
    performance: Performance | None = None
    retrained: Retrained | None = None
    tests: int = 0
    rows_needed: int | None = None

    @property
    def exit_code(self) -> ExitCode:
        """0 reload, 11 retrain, 12 incompatible, 15 inconclusive (docs/cli.md)."""
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, Any]:

        return finite_json(  # type: ignore[no-any-return]
            {
                "model": self.ref,
                "verdict": self.verdict,
                "exit_code": int(self.exit_code),
                "reasons": self.reasons,
                "notes": self.notes,
                "rows": self.rows,
                "rows_needed": self.rows_needed,
                "tests": self.tests,
                "schema": {
                    "problems": [p.to_dict() for p in self.validation.problems],
                    "retyped": self.retyped,
                    "new_categories": self.new_categories,
                },
                "drift": [d.to_dict() for d in self.drift],
                "prediction_drift": self.prediction.to_dict() if self.prediction else None,
                "performance": self.performance.to_dict() if self.performance else None,
                "thresholds": self.thresholds.model_dump(),
                "retrained": self.retrained.to_dict() if self.retrained else None,
            }
        )


# --------------------------------------------------------------------------- checking


def record_check(model: Model, result: CheckResult, data: str | Path | pd.DataFrame) -> None:
    """A check of a store's version joins that store's run history (kind `check`, like
    `reproduce`), so `mlpact runs list` and `mlpact ui` show it; a store that cannot be written
    (read-only) leaves a note instead of failing the check."""
    import sqlite3

    if model.record is None:
        return
    label = (
        data
        if isinstance(data, str)
        else str(Path(data).resolve())
        if isinstance(data, Path)
        else "DataFrame"
    )
    metrics: dict[str, Any] = {"verdict": result.verdict, "rows": result.rows}
    metrics["drifted"] = sum(1 for d in result.drift if d.drifted)
    if result.performance is not None and result.performance.now is not None:
        metrics[result.performance.metric] = result.performance.now
    metrics["reasons"] = list(result.reasons)
    try:
        st = Store.open(model.record.path.parents[2])  # models/NAME/VERSION lies in the store's root
        run_id = st.start_run(model.name, kind="check", params={"checks": model.ref, "data": label})
        st.finish_run(run_id, status="succeeded", metrics=metrics)
    except (StoreError, sqlite3.Error, OSError) as exc:
        result.notes.append(f"This check was not recorded in the store's run history: {exc}")


def load_model(model: str | Path | Model, store: str | Path | Store | None, trust: Iterable[str]) -> Model:
    from mlpact.version.load import load
    from mlpact.version.model import Model

    return model if isinstance(model, Model) else load(model, store=store, trust=trust)


def read_data(data: str | Path | pd.DataFrame, *, sep: str) -> pd.DataFrame:
    from mlpact.data.sources import read_table

    return read_table(data, sep=sep) if isinstance(data, str | Path) else data


def check_frame(
    model: Model, frame: pd.DataFrame, settings: CheckConfig, *, target: str | None
) -> CheckResult:
    from mlpact.data.sources import LOG_COLUMNS

    label = _label(model, frame, target)
    skip = [c for c in (label, *LOG_COLUMNS) if c is not None and c in frame.columns]
    X, report = model.check(frame, ignore=skip)
    result = CheckResult(model.ref, "reload", len(frame), report, settings)
    result.retyped = retyped_columns(model, frame)
    result.new_categories = new_categories(model, X)
    warned = [f"input warning ({p.check}): {p.describe(show_values=False)}" for p in report.warnings]
    if report.errors:
        result.verdict = "incompatible"
        result.reasons = [
            f"{p.describe(show_values=False)} ({p.check} is an error under this version's validation policy)"
            for p in report.errors
        ] + warned
        result.notes.append("Drift and performance are not assessed on input that does not fit the schema.")
        return result
    _judge(model, result, X, frame[label] if label else None)
    result.reasons += warned
    return result


def _label(model: Model, frame: pd.DataFrame, target: str | None) -> str | None:
    if target is not None:
        if target not in frame.columns:
            raise DataError(
                f"The target column {target!r} is not in the data.\n"
                f"The data has: {sorted(map(str, frame.columns))!r}.",
                hint="Name the label column with --target, or leave it out to check without labels.",
            )
        return target
    name = model.schema.target.name if model.schema.target else None
    return name if name in frame.columns else None


def _judge(model: Model, result: CheckResult, X: pd.DataFrame, y: pd.Series | None) -> None:
    """Drift and performance of compatible data, and the verdict they give together."""

    found = predictions(model.pipeline, X, y, decision=model.decision) if len(X) else None
    judge(model, result, X, found, y)


def judge(
    model: Model, result: CheckResult, X: pd.DataFrame, found: Predictions | None, y: pd.Series | None
) -> None:
    """The verdict on measurements of new data: `X` has the columns the version's reference
    statistics summarise (a table's inputs, or an image version's image statistics), `found` the
    version's predictions on it and `y` the labels, when known."""
    reference = _reference(model, result)
    if reference is not None:
        level = _drift_level(reference, result.thresholds, labelled=y is not None and bool(y.notna().any()))
        features = reference["features"].items()
        result.drift = [compare(name, ref, X[name], level=level) for name, ref in features]
        if found is not None and reference.get("prediction"):
            import pandas as pd

            prediction = pd.Series(found.pred)
            result.prediction = compare("prediction", reference["prediction"], prediction, level=level)
    if found is not None and y is not None:
        result.performance = _performance(model, found, y, result)
    _decide(result, reference)


def _drift_level(reference: Mapping[str, Any], settings: CheckConfig, *, labelled: bool) -> float:
    """The level each drift test is judged at first (Bonferroni's share of `check.p_value`; a
    performance test takes half when there are labels): tail p-values near it are made exact."""
    tests = len(reference["features"]) + (1 if reference.get("prediction") else 0)
    return settings.p_value / max(1, tests) / (2 if labelled else 1)


def _decide(result: CheckResult, reference: Mapping[str, Any] | None) -> None:
    """One family of tests (drift per column and of the predictions, a performance drop), one
    false-alarm rate: `check.p_value` (docs/check.md)."""

    settings = result.thresholds
    drifts = [*result.drift, *([result.prediction] if result.prediction else [])]
    keys = [f"column {d.column}" for d in result.drift] + (["predictions"] if result.prediction else [])
    hypotheses = [_drift_hypothesis(key, d, settings) for key, d in zip(keys, drifts, strict=True)]
    perf = result.performance
    if perf is not None and perf.drop is not None:
        hypotheses.append(_performance_hypothesis(perf, settings, weight=max(1, len(drifts))))
    result.tests = len(hypotheses)
    result.rows_needed = _rows_needed(result, reference, hypotheses)
    judged = decide(
        hypotheses, alpha=settings.p_value, rows=result.rows, min_rows=settings.min_rows,
        rows_needed=result.rows_needed if settings.shift is not None else settings.min_rows,
    )  # fmt: skip
    for key, d in zip(keys, drifts, strict=True):
        d.adjusted = judged.adjusted.get(key)
        d.judged = result.rows >= settings.min_rows
        d.drifted = key in judged.rejected
    if perf is not None:
        perf.adjusted = judged.adjusted.get("performance")
        perf.dropped = "performance" in judged.rejected
    result.verdict = judged.verdict
    result.reasons = [_drift_reason(d, settings) for d in drifts if d.drifted]
    if perf is not None and perf.dropped:
        result.reasons.append(_performance_reason(perf, settings))
    if judged.verdict == "inconclusive":
        result.reasons = [_inconclusive_reason(result, reference) + _perf_text(perf)]
    elif judged.verdict == "reload":
        result.reasons = [
            f"compatible with the schema; no drift or performance drop beyond chance "
            f"({result.tests} tests, false-alarm rate {settings.p_value:g})" + _perf_text(perf)
        ]
    by_key = dict(zip(keys, drifts, strict=True))
    for key in judged.immaterial:
        result.notes.append(_immaterial_note(by_key.get(key), perf, settings))


def _reference(model: Model, result: CheckResult) -> dict[str, Any] | None:

    if not (model.path / FILE).exists():
        result.notes.append(
            f"{model.ref} has no reference statistics (it was saved before mlpact kept them): drift "
            f"is not assessed. `mlpact reproduce {model.ref}` makes a version that has them."
        )
        return None
    data: dict[str, Any] = files.read_json(model.path, FILE)
    for name, why in data.get("skipped", {}).items():
        result.notes.append(f"{name}: {why}.")
    return data


def _drift_hypothesis(key: str, d: Drift, settings: CheckConfig) -> Hypothesis:

    return Hypothesis(key, d.p_value, material=d.psi >= settings.psi)


def _performance_hypothesis(perf: Performance, settings: CheckConfig, *, weight: int) -> Hypothesis:
    """A drop in performance gets half the false-alarm rate (`weight` equal to all drift tests)."""

    material = perf.drop is not None and perf.drop > settings.performance_drop
    return Hypothesis("performance", perf.p_value, material=material, weight=weight)


def _rows_needed(
    result: CheckResult, reference: Mapping[str, Any] | None, hypotheses: list[Hypothesis]
) -> int | None:
    """Rows the check needs to catch `check.shift` in one numeric column with `check.power`;
    `check.min_rows` when no numeric column is compared."""

    settings = result.thresholds
    numeric = [d for d in result.drift if d.kind == "numeric"]
    if settings.shift is None or not numeric or reference is None:
        return settings.min_rows
    counts = [int(reference["features"][d.column]["count"]) for d in numeric]
    weight = sum(h.weight for h in hypotheses)
    level = settings.p_value / weight / 2  # one of two tests of one column (location-scale, KS)
    needed = rows_needed(reference_rows=max(1, min(counts)), level=level, shift=settings.shift,
                         power=settings.power)  # fmt: skip
    return None if needed is None else max(needed, settings.min_rows)


def _inconclusive_reason(result: CheckResult, reference: Mapping[str, Any] | None) -> str:
    settings = result.thresholds
    needed = result.rows_needed
    if result.rows < settings.min_rows:
        return f"{too_few(result.rows)} to judge: the check needs at least {needed or settings.min_rows}"
    numeric = sum(d.kind == "numeric" for d in result.drift)
    sized = (
        f"to catch a shift of {settings.shift:g} standard deviations in any one of {numeric} numeric "
        f"columns {settings.power:.0%} of the time at a false-alarm rate of {settings.p_value:g}"
    )
    if needed is None:
        train = int((reference or {}).get("rows", 0))
        return (
            f"nothing found, but no batch is large enough {sized} against a training split of {train} "
            "rows; retrain on more data, or set check.shift larger or check.power lower"
        )
    return (
        f"nothing found, but {too_few(result.rows)} to rule out a change: the check needs "
        f"{needed} rows {sized}"
    )


def _immaterial_note(d: Drift | None, perf: Performance | None, settings: CheckConfig) -> str:
    if d is None and perf is not None and perf.drop is not None:
        return (
            f"performance: {perf.metric} is lower beyond chance (adjusted p={perf.adjusted:.2g}) but "
            f"only {perf.drop:.1%} worse (check.performance_drop {settings.performance_drop:.1%})"
        )
    assert d is not None
    return (
        f"{d.column} differs beyond chance (adjusted p={d.adjusted:.2g}) but PSI {d.psi:.3f} < "
        f"{settings.psi:g}: too small to matter"
    )


def _drift(name: str, reference: Mapping[str, Any], values: pd.Series, result: CheckResult) -> Drift:

    found = compare(name, reference, values)
    settings = result.thresholds
    found.judged = found.rows >= settings.min_rows
    found.drifted = found.judged and (found.psi >= settings.psi or found.p_value < settings.p_value)
    return found


def _performance(model: Model, found: Any, y: pd.Series, result: CheckResult) -> Performance | None:
    from mlpact.version.model import match_labels

    mask = y.notna().to_numpy()
    if not mask.any():
        return None
    labels = match_labels(y[mask], model)  # the version's label type; unusable labels: DataError
    proba = found.proba[mask] if found.proba is not None else None
    pred, classes = found.pred[mask], found.classes
    positive = positive_class(model.metrics, classes)
    names = metrics_for(model.task, model.config.evaluate.metrics, binary=positive is not None)
    metrics = compute_metrics(names, labels, pred, proba, classes, positive=positive)
    primary = str(model.metrics.get("primary") or primary_metric(model.task, model.config.evaluate.primary))
    recorded = (model.metrics.get("test") or {}).get(primary)
    now = metrics.get(primary)
    perf = Performance(primary, recorded, now, metric_drop(primary, recorded, now), int(mask.sum()), metrics)
    if perf.drop is None or recorded is None or now is None:
        return perf
    perf.recorded_rows = int((model.metrics.get("rows") or {}).get("test") or 0)
    if primary != "accuracy":  # accuracy is tested exactly on its counts
        perf.now_se = _batch_se(model, primary, labels, pred, proba, classes, positive)
        perf.recorded_se = _recorded_se(model, primary, perf, result)
    tested = performance_test(
        primary, recorded=recorded, recorded_rows=perf.recorded_rows, recorded_se=perf.recorded_se,
        now=now, now_rows=perf.rows, now_se=perf.now_se, lower_is_better=primary in LOWER_IS_BETTER,
    )  # fmt: skip
    perf.test, perf.p_value = tested.method, tested.p_value
    return perf


def _batch_se(
    model: Model, metric: str, y: Any, pred: Any, proba: Any, classes: Any, positive: Any
) -> float | None:

    data = scored(model.task, y, pred, proba, classes, positive)
    found = intervals([metric], data, stratify=model.task == "classification", seed=model.config.seed)
    return standard_error(found, metric)


def _recorded_se(model: Model, metric: str, perf: Performance, result: CheckResult) -> float | None:
    """The test metric's bootstrap standard error as recorded; for a version saved before mlpact
    kept it, from its recorded test predictions, else scaled from the new rows (said in a note)."""

    recorded = standard_error(model.metrics.get("ci"), metric)
    if recorded is not None or metric == "accuracy":
        return recorded
    from_errors = _se_from_test_predictions(model, metric)
    if from_errors is not None:
        result.notes.append(
            f"{model.ref} has no recorded uncertainty of its test {metric} (saved before mlpact kept "
            "it): it is measured again from the version's recorded test predictions."
        )
        return from_errors
    if perf.now_se is None or not perf.recorded_rows:
        result.notes.append(
            f"{model.ref} has no recorded uncertainty of its test {metric}: a drop is not tested."
        )
        return None
    result.notes.append(
        f"{model.ref} has no recorded uncertainty of its test {metric} (saved before mlpact kept it): "
        f"it is estimated from the new rows' spread and the test split's {perf.recorded_rows} rows."
    )
    return perf.now_se * math.sqrt(perf.rows / perf.recorded_rows)


def _se_from_test_predictions(model: Model, metric: str) -> float | None:
    """The bootstrap standard error of a test metric from the version's errors.parquet."""

    if ERRORS not in (model.manifest.get("files") or {}):
        return None
    import pandas as pd

    table = pd.read_parquet(model.path / ERRORS)
    proba_columns = [c for c in table.columns if str(c).startswith("proba_")]
    classes = list(model.schema.target.classes or []) if model.schema.target else []
    proba = table[proba_columns].to_numpy(dtype=float) if proba_columns and classes else None
    data = scored(model.task, table["truth"], table["prediction"], proba, classes or None,
                  positive_class(model.metrics, classes or None))  # fmt: skip
    found = intervals([metric], data, stratify=model.task == "classification", seed=model.config.seed)
    return standard_error(found, metric)


def _codes(values: Any, classes: list[Any]) -> Any:
    """Labels as positions in `classes` (-1 for a label the model does not know)."""
    import pandas as pd

    return pd.Categorical(list(values), categories=classes).codes


def metric_drop(metric: str, recorded: float | None, now: float | None) -> float | None:
    """How much worse `now` is than `recorded`, as a fraction of it (negative: better)."""

    if recorded is None or now is None or not (math.isfinite(recorded) and math.isfinite(now)):
        return None
    worse = -gain(metric, recorded, now)
    return worse / abs(recorded) if recorded else worse


def _numeric(y: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(y)) and not pd.api.types.is_bool_dtype(y)


def _drift_reason(d: Drift, settings: CheckConfig) -> str:
    test = {"lepage+ks": "location-scale and KS tests", "chi2": "chi-squared test"}.get(d.test, d.test)
    what = "the predictions have" if d.column == "prediction" else f"{d.column} has"
    adjusted = "-" if d.adjusted is None else f"{d.adjusted:.2g}"
    return (
        f"{what} drifted ({test}: p={d.p_value:.2g}, adjusted p={adjusted} <= {settings.p_value:g}; "
        f"PSI {d.psi:.3f} >= {settings.psi:g})" + (f": {d.detail}" if d.detail else "")
    )


def _performance_reason(perf: Performance, settings: CheckConfig) -> str:
    return (
        f"performance: {perf.metric} {perf.now:.4f} on {perf.rows} labelled rows, {perf.recorded:.4f} "
        f"on the {perf.recorded_rows}-row test split at training ({perf.drop:.1%} worse > "
        f"{settings.performance_drop:.1%}; {perf.test}: p={perf.p_value:.2g})"
    )


def _perf_text(perf: Performance | None) -> str:
    if perf is None or perf.now is None or perf.recorded is None:
        return ""
    return f"; {perf.metric} {perf.now:.4f} (recorded {perf.recorded:.4f})"


def retyped_columns(model: Model, frame: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Columns whose values now look like another kind (number, bool, datetime, text)."""
    from mlpact.data.schema import infer_type

    out = {}
    for col in model.schema.columns:
        if col.name not in frame.columns or frame[col.name].isna().all():
            continue
        now = infer_type(frame[col.name], model.config.schema_)
        if _FAMILY.get(now, "text") != _FAMILY.get(col.type, "text"):
            out[col.name] = {"was": col.type, "now": now}
    return out


def new_categories(model: Model, X: pd.DataFrame) -> dict[str, list[str]]:
    """Category values not seen in training, per column (at most 20 each, sorted)."""
    out = {}
    for col in model.schema.columns:
        if col.categories is None or col.name not in X.columns:
            continue
        seen = set(col.categories)
        new = sorted({str(v) for v in X[col.name].dropna().unique()} - seen)
        if new:
            out[col.name] = new[:20]
    return out


# --------------------------------------------------------------------------- retraining
def retrain_on(
    model: str | Path | Model,
    data: str | Path,
    *,
    target: str | None = None,
    promote: str | None = None,
    store: str | Path | Store | None = None,
    sep: str = ",",
    trust: Iterable[str] = (),
    progress: Progress | None = None,
) -> Retrained:
    """Train the version's recorded config on new labelled data and compare old and new.

    Both versions are scored on the same holdout, the new data's test split (the rows the new
    version never saw; with `train.refit: all`, the new version's score is that of its fit before
    the refit, which never saw them). The alias named by `promote` moves to the new version only when its
    primary metric there is strictly better.

    Raises:
        DataError: `data` is not a file, or has no labels.
    """

    if not isinstance(data, str | Path):
        raise DataError("Retraining needs the new data as a CSV or Parquet file, not a DataFrame.")
    db = Store.open(store)
    old = load_model(model, db, trust)
    refuse_image_retrain(old)
    label = target or (old.schema.target.name if old.schema.target else "target")
    cfg = _config_for(old, data, target=label, sep=sep)
    holdout = prepare(cfg)
    trained = run(cfg, store=db, progress=progress or Silent())
    new = load_model(trained.ref, db, trust)
    primary = str(old.metrics.get("primary") or trained.metrics["primary"])
    rows = holdout.frame.iloc[holdout.split.test]
    before = _holdout_score(old, rows, label, primary)
    # train.refit: all saved a model that saw the holdout; its pre-refit fit was scored on it once
    after = (
        trained.metrics["test"].get(primary)
        if "refit" in trained.metrics
        else _holdout_score(new, rows, label, primary)
    )
    drop = metric_drop(primary, before, after)
    result = Retrained(new.ref, primary, before, after, len(rows), drop is not None and drop < 0, promote)
    result.reason = _retrain_reason(old.ref, result)
    if promote and result.better:
        move(new.ref, promote, reason=f"mlpact check --retrain: {result.reason}", store=db)
        result.moved = True
    return result


def _config_for(model: Model, data: str | Path, *, target: str, sep: str) -> Config:

    if not is_url(data) and not Path(data).exists():
        raise DataError(f"Input file {str(data)!r} does not exist.")
    raw = model.config.to_dict()
    raw["data"] = {
        **raw["data"],
        "source": str(data) if is_url(data) else str(Path(data).resolve()),
        "target": target,
        "format": "auto",
        "sep": sep,
    }
    return load_config(raw)


def _holdout_score(model: Model, rows: pd.DataFrame, label: str, metric: str) -> float | None:
    """One version's primary metric on labelled holdout rows; None when they do not fit its schema."""

    X, report = model.check(rows, ignore=[label])
    if report.errors:
        return None
    y = rows[label]
    if model.task == "classification" and not _numeric(y):
        y = y.astype(object)
    value = score(decided(model.pipeline, model.decision), X, y, [metric]).get(metric)
    return None if value is None or not math.isfinite(value) else value


def _retrain_reason(old: str, r: Retrained) -> str:
    if r.old is None:
        return f"{old} cannot score the holdout (it does not fit {old}'s schema); nothing moved"
    verdict = "better" if r.better else "not better"
    new = "-" if r.new is None else f"{r.new:.4f}"
    return (
        f"{r.ref} {r.metric} {new} vs {old} {r.old:.4f} on the same {r.holdout_rows}-row holdout: {verdict}"
    )


# --------------------------------------------------------------------------- html
def to_html(result: CheckResult) -> str:
    """The result as one self-contained HTML page (the page kit of the version reports)."""
    data = result.to_dict()
    drift = [*data["drift"], *([data["prediction_drift"]] if data["prediction_drift"] else [])]
    problems = [[p["column"], p["check"], p["severity"], p["detail"]] for p in data["schema"]["problems"]]
    settings = result.thresholds
    body = [
        f"<h1>{escape(result.ref)}: {escape(result.verdict)}</h1>",
        f"<p>{result.rows} rows; exit code {int(result.exit_code)}.</p>",
        "<h2>Reasons</h2>" + _items(result.reasons),
        "<h2>Schema</h2>" + table(["column", "check", "severity", "detail"], problems),
        f"<h2>Drift</h2><p>{result.tests} tests together at a false-alarm rate of {settings.p_value:g} "
        f"(Holm); drift also needs PSI &gt;= {settings.psi:g}.</p>"
        + table(
            ["column", "kind", "PSI", "test", "p-value", "adjusted", "state", "detail"], _drift_rows(drift)
        ),
        "<h2>Notes</h2>" + _items(result.notes),
    ]
    return page(f"check {result.ref}", body)


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"


def _drift_rows(drift: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            d["column"],
            d["kind"],
            fmt(d["psi"]),
            f"{d['test']} {fmt(d['statistic'], significant=True)}",
            fmt(d["p_value"], significant=True),
            fmt(d["adjusted"], significant=True),
            "drifted" if d["drifted"] else ("ok" if d["judged"] else "not judged"),
            d["detail"],
        ]
        for d in drift
    ]


def _items(lines: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in lines) + "</ul>"


def refuse_image_retrain(model: Model) -> None:
    """Raises DataError for an image version: `--retrain` trains table versions on a new file."""
    if getattr(model, "takes_images", False):
        raise DataError(
            f"--retrain trains table versions on a new file; {model.ref} is an image model.",
            hint="Train its config on the new folder: mlpact train CONFIG --set data.source=FOLDER, "
            "then compare with `mlpact evaluate`.",
        )
