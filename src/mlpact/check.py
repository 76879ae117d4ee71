"""Is a saved version still right for new data? `reload`, `retrain` or `incompatible`, and why.

:func:`check_data` applies the version's one validation policy through `Model.check` (the same
call predict, batch predict and serving make): an error under that policy makes the data
`incompatible`, warnings become reasons. Compatible data is then compared with the reference
statistics saved with the version (drift per feature and of the predictions) and, when labels
are present, scored against the recorded test metrics. Drift or a performance drop beyond the
version's `check:` thresholds means `retrain`; otherwise `reload`.

:func:`retrain_on` trains the recorded config on the new data, scores the old and the new
version on the same holdout (the new data's test split) and moves an alias only when the new
one is better.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlpact.errors import DataError, ExitCode

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.config import Config
    from mlpact.config._check import CheckConfig
    from mlpact.evaluate import Predictions
    from mlpact.model import Model
    from mlpact.progress import Progress
    from mlpact.reference import Drift
    from mlpact.schema import ValidationReport
    from mlpact.store import Store

Verdict = Literal["reload", "retrain", "incompatible"]
EXIT_CODES: dict[str, ExitCode] = {
    "reload": ExitCode.OK,
    "retrain": ExitCode.RETRAIN,
    "incompatible": ExitCode.INCOMPATIBLE,
}
_FAMILY = {"int": "number", "float": "number", "bool": "bool", "datetime": "datetime"}


@dataclass
class Performance:
    """The version's metrics on the new labelled rows beside those recorded on its test split."""

    metric: str
    recorded: float | None
    now: float | None
    drop: float | None
    rows: int
    metrics: dict[str, float]
    dropped: bool = False

    def to_dict(self) -> dict[str, Any]:
        from mlpact.metrics import finite_json

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
        from mlpact.metrics import finite_json

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

    @property
    def exit_code(self) -> ExitCode:
        """0 for reload, 11 for retrain, 12 for incompatible (docs/cli.md)."""
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        from mlpact.metrics import finite_json

        return finite_json(  # type: ignore[no-any-return]
            {
                "model": self.ref,
                "verdict": self.verdict,
                "exit_code": int(self.exit_code),
                "reasons": self.reasons,
                "notes": self.notes,
                "rows": self.rows,
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
def check_data(
    model: str | Path | Model,
    data: str | Path | pd.DataFrame,
    *,
    target: str | None = None,
    thresholds: Mapping[str, Any] | None = None,
    store: str | Path | Store | None = None,
    sep: str = ",",
    trust: Iterable[str] = (),
) -> CheckResult:
    """Judge new data against a saved version: reload, retrain or incompatible, with reasons.

    Args:
        model: a reference (``name``, ``name:3``, ``name@alias``), a version folder or a loaded model.
        data: a CSV or Parquet file, or a DataFrame. Image models: a folder of images (of class
            folders named like the version's classes, for performance too); see
            `mlpact.torch.checking`.
        target: the label column; default: the version's target, when the data has it. With
            labels, performance is compared with the recorded test metrics.
        thresholds: overrides of the version's `check:` section (e.g. ``{"psi": 0.1}``).

    Raises:
        ConfigError: a threshold override is invalid.
        DataError: the data cannot be read, or the named target column is missing.
    """
    loaded = _load(model, store, trust)
    settings = thresholds_for(loaded.config, thresholds)
    if getattr(loaded, "takes_images", False):
        from mlpact.torch.checking import check_images

        return check_images(loaded, data, settings)  # type: ignore[arg-type]
    frame = _read(data, sep=sep)
    result = _check(loaded, frame, settings, target=target)
    _record(loaded, result, data)
    return result


def _record(model: Model, result: CheckResult, data: str | Path | pd.DataFrame) -> None:
    """A check of a store's version joins that store's run history (kind `check`, like
    `reproduce`), so `mlpact runs list` and `mlpact ui` show it; a store that cannot be written
    (read-only) leaves a note instead of failing the check."""
    import sqlite3

    from mlpact.errors import StoreError
    from mlpact.store import Store

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


def thresholds_for(cfg: Config, overrides: Mapping[str, Any] | None = None) -> CheckConfig:
    """The version's `check:` section with overrides (CLI flags) applied and validated."""
    from mlpact.config import validate_config

    if not overrides:
        return cfg.check
    raw = cfg.to_dict(reveal=True)
    raw["check"] = {**raw.get("check", {}), **{k: v for k, v in overrides.items() if v is not None}}
    return validate_config(raw, label="check thresholds").check


def _load(model: str | Path | Model, store: str | Path | Store | None, trust: Iterable[str]) -> Model:
    from mlpact.model import Model, load

    return model if isinstance(model, Model) else load(model, store=store, trust=trust)


def _read(data: str | Path | pd.DataFrame, *, sep: str) -> pd.DataFrame:
    from mlpact.data import read_table

    return read_table(data, sep=sep) if isinstance(data, str | Path) else data


def _check(model: Model, frame: pd.DataFrame, settings: CheckConfig, *, target: str | None) -> CheckResult:
    from mlpact.data import LOG_COLUMNS

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
    """Drift and performance of compatible data, and the verdict they give."""
    from mlpact.evaluate import predictions

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
        result.drift = [_drift(name, ref, X[name], result) for name, ref in reference["features"].items()]
        if found is not None and reference.get("prediction"):
            import pandas as pd

            result.prediction = _drift("prediction", reference["prediction"], pd.Series(found.pred), result)
    if found is not None and y is not None:
        result.performance = _performance(model, found, y, result.thresholds)
    result.reasons = _reasons(result)
    if result.reasons:
        result.verdict = "retrain"
    else:
        result.reasons = ["compatible with the schema, no material drift" + _perf_text(result.performance)]


def _reference(model: Model, result: CheckResult) -> dict[str, Any] | None:
    from mlpact import bundle
    from mlpact.reference import FILE

    if not (model.path / FILE).exists():
        result.notes.append(
            f"{model.ref} has no reference statistics (it was saved before mlpact kept them): drift "
            f"is not assessed. `mlpact reproduce {model.ref}` makes a version that has them."
        )
        return None
    data: dict[str, Any] = bundle.read_json(model.path, FILE)
    for name, why in data.get("skipped", {}).items():
        result.notes.append(f"{name}: {why}.")
    return data


def _drift(name: str, reference: Mapping[str, Any], values: pd.Series, result: CheckResult) -> Drift:
    from mlpact.reference import compare

    found = compare(name, reference, values)
    settings = result.thresholds
    found.judged = found.rows >= settings.min_rows
    found.drifted = found.judged and (found.psi >= settings.psi or found.p_value < settings.p_value)
    return found


def _performance(model: Model, found: Any, y: pd.Series, settings: CheckConfig) -> Performance | None:
    from mlpact.evaluate import match_labels
    from mlpact.metrics import compute_metrics, metrics_for, primary_metric

    mask = y.notna().to_numpy()
    if not mask.any():
        return None
    labels = match_labels(y[mask], model)  # the version's label type; unusable labels: DataError
    proba = found.proba[mask] if found.proba is not None else None
    pred, classes = found.pred[mask], found.classes
    if classes is not None:  # class codes: scikit-learn's metrics sort object labels slowly
        labels, pred, classes = _codes(labels, classes), _codes(pred, classes), list(range(len(classes)))
    names = metrics_for(model.task, model.config.evaluate.metrics)
    metrics = compute_metrics(names, labels, pred, proba, classes)
    primary = str(model.metrics.get("primary") or primary_metric(model.task, model.config.evaluate.primary))
    recorded = (model.metrics.get("test") or {}).get(primary)
    now = metrics.get(primary)
    drop = metric_drop(primary, recorded, now)
    dropped = drop is not None and drop > settings.performance_drop
    return Performance(primary, recorded, now, drop, int(mask.sum()), metrics, dropped)


def _codes(values: Any, classes: list[Any]) -> Any:
    """Labels as positions in `classes` (-1 for a label the model does not know)."""
    import pandas as pd

    return pd.Categorical(list(values), categories=classes).codes


def metric_drop(metric: str, recorded: float | None, now: float | None) -> float | None:
    """How much worse `now` is than `recorded`, as a fraction of it (negative: better)."""
    from mlpact.metrics import LOWER_IS_BETTER

    if recorded is None or now is None or not (math.isfinite(recorded) and math.isfinite(now)):
        return None
    worse = now - recorded if metric in LOWER_IS_BETTER else recorded - now
    return worse / abs(recorded) if recorded else worse


def _numeric(y: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(y)) and not pd.api.types.is_bool_dtype(y)


def _reasons(result: CheckResult) -> list[str]:
    settings = result.thresholds
    reasons = [
        _drift_reason(d, settings)
        for d in [*result.drift, *([result.prediction] if result.prediction else [])]
        if d.drifted
    ]
    perf = result.performance
    if perf is not None and perf.dropped and perf.drop is not None:
        reasons.append(
            f"performance: {perf.metric} {perf.now:.4f} on {perf.rows} labelled rows, "
            f"{perf.recorded:.4f} on the test split at training ({perf.drop:.1%} worse; "
            f"threshold {settings.performance_drop:.1%})"
        )
    return reasons


def _drift_reason(d: Drift, settings: CheckConfig) -> str:
    test = "KS" if d.test == "ks" else "chi-squared"
    why = [f"PSI {d.psi:.3f}" + (f" >= {settings.psi:g}" if d.psi >= settings.psi else "")]
    why.append(
        f"{test} p={d.p_value:.2g}" + (f" < {settings.p_value:g}" if d.p_value < settings.p_value else "")
    )
    what = "the predictions have" if d.column == "prediction" else f"{d.column} has"
    return f"{what} drifted ({'; '.join(why)})" + (f": {d.detail}" if d.detail else "")


def _perf_text(perf: Performance | None) -> str:
    if perf is None or perf.now is None or perf.recorded is None:
        return ""
    return f"; {perf.metric} {perf.now:.4f} (recorded {perf.recorded:.4f})"


def retyped_columns(model: Model, frame: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Columns whose values now look like another kind (number, bool, datetime, text)."""
    from mlpact.schema import infer_type

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
    from mlpact.dataset import prepare
    from mlpact.progress import Silent
    from mlpact.store import Store
    from mlpact.training import run

    if not isinstance(data, str | Path):
        raise DataError("Retraining needs the new data as a CSV or Parquet file, not a DataFrame.")
    db = Store.open(store)
    old = _load(model, db, trust)
    if getattr(old, "takes_images", False):
        raise DataError(
            f"--retrain trains table versions on a new file; {old.ref} is an image model.",
            hint="Train its config on the new folder: mlpact train CONFIG --set data.source=FOLDER, "
            "then compare with `mlpact evaluate`.",
        )
    label = target or (old.schema.target.name if old.schema.target else "target")
    cfg = _config_for(old, data, target=label, sep=sep)
    holdout = prepare(cfg)
    trained = run(cfg, store=db, progress=progress or Silent())
    new = _load(trained.ref, db, trust)
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
        from mlpact.registry import promote as move

        move(new.ref, promote, reason=f"mlpact check --retrain: {result.reason}", store=db)
        result.moved = True
    return result


def _config_for(model: Model, data: str | Path, *, target: str, sep: str) -> Config:
    from mlpact.config import load_config
    from mlpact.remote import is_url

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
    from mlpact.decision import decided
    from mlpact.metrics import score

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
    """The result as one self-contained HTML page."""
    e = html.escape
    data = result.to_dict()
    rows = "".join(
        f"<tr><td>{e(d['column'])}</td><td>{e(d['kind'])}</td><td>{d['psi']:.4f}</td>"
        f"<td>{e(d['test'])} {_num(d['statistic'])}</td><td>{_num(d['p_value'])}</td>"
        f"<td>{'drifted' if d['drifted'] else ('ok' if d['judged'] else 'not judged')}</td>"
        f"<td>{e(d['detail'])}</td></tr>"
        for d in [*data["drift"], *([data["prediction_drift"]] if data["prediction_drift"] else [])]
    )
    problems = "".join(
        f"<tr><td>{e(p['column'])}</td><td>{e(p['check'])}</td><td>{e(p['severity'])}</td><td>{e(p['detail'])}</td></tr>"
        for p in data["schema"]["problems"]
    )
    body = [
        f"<h1>{e(result.ref)}: {e(result.verdict)}</h1>",
        f"<p>{result.rows} rows; exit code {int(result.exit_code)}.</p>",
        "<h2>Reasons</h2><ul>" + "".join(f"<li>{e(r)}</li>" for r in result.reasons) + "</ul>",
        "<h2>Schema</h2><table><tr><th>column</th><th>check</th><th>severity</th><th>detail</th></tr>"
        + problems
        + "</table>",
        "<h2>Drift</h2><table><tr><th>column</th><th>kind</th><th>PSI</th><th>test</th><th>p-value</th>"
        "<th>state</th><th>detail</th></tr>" + rows + "</table>",
        "<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in result.notes) + "</ul>",
    ]
    style = "body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;border-bottom:1px solid #ddd}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>check {e(result.ref)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"
