"""Readable reports of a version: the model card (card.md) and metric tables."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlpact.config import Config
    from mlpact.model import Model
    from mlpact.store import Store


def fmt(value: Any, digits: int = 4) -> str:
    """A metric value for humans: 4 significant decimals, '-' for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def metric_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(metric, CV mean ± std, test) rows, primary metric first."""
    return [(row.name, row.cv, row.test) for row in metric_table(metrics)]


@dataclass(frozen=True)
class MetricRow:
    """One metric as tables show it: the model's CV and test (with its 95% CI), the baseline's,
    and who wins. A metric the estimator cannot give (no probabilities) shows "n/a"."""

    name: str
    cv: str
    test: str
    baseline_cv: str
    baseline_test: str
    beats_baseline: bool | None
    validation: str = "-"
    ci: str = "-"


def metric_columns(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The columns a metrics table shows, as (header, MetricRow field): none that would be empty
    (no CV columns without cross-validation; validation for runs that carve a validation split)."""
    folds = (metrics.get("cv") or {}).get("folds", 0)
    base = metrics.get("baseline")
    columns = [("metric", "name")] + ([("CV mean ± std", "cv")] if folds else [])
    columns += [("validation", "validation")] if metrics.get("validation") else []
    columns.append(("test", "test"))
    columns += [("test 95% CI", "ci")] if (metrics.get("ci") or {}).get("test") else []
    columns += [("baseline CV", "baseline_cv")] if base and folds and base.get("cv") else []
    return columns + ([("baseline test", "baseline_test")] if base else [])


def metric_table(metrics: Mapping[str, Any]) -> list[MetricRow]:
    """Every metric of a metrics.json, primary first, with the baseline beside the model."""
    cv = (metrics.get("cv") or {}).get("metrics", {})
    test = metrics.get("test") or {}
    validation = metrics.get("validation") or {}
    base = metrics.get("baseline") or {}
    missing = metrics.get("not_available") or {}
    names = [n for n in dict.fromkeys([metrics.get("primary"), *test, *cv, *missing]) if n is not None]
    return [
        MetricRow(
            name,
            _mean_std(cv.get(name)),
            "n/a" if name in missing and name not in test else fmt(test.get(name)),
            _mean_std((base.get("cv") or {}).get(name)),
            fmt((base.get("test") or {}).get(name)) if base else "-",
            beats(name, test.get(name), (base.get("test") or {}).get(name)),
            fmt(validation.get(name)),
            interval_text(metrics.get("ci"), name),
        )
        for name in names
    ]


def interval_text(ci: Mapping[str, Any] | None, metric: str) -> str:
    """A metric's confidence interval as "[low, high]" ("-" when there is none)."""
    entry = ((ci or {}).get("test") or {}).get(metric) or {}
    low, high = entry.get("low"), entry.get("high")
    if not _number(low) or not _number(high):
        return "-"
    return f"[{low:.3f}, {high:.3f}]"


def interval_caption(metrics: Mapping[str, Any]) -> str:
    """How the intervals were made, the positive class and what is not available (one sentence each)."""
    parts = []
    ci = metrics.get("ci") or {}
    if ci.get("test"):
        exact = sorted(n for n, e in ci["test"].items() if e.get("method") == "exact")
        kind = "stratified " if ci.get("stratified") else ""
        parts.append(
            f"{ci.get('level', 0.95):.0%} CI on the {ci.get('rows')} test rows: {kind}bootstrap "
            f"({ci.get('resamples')} resamples, seed {ci.get('seed')})"
            + (f"; exact binomial for {', '.join(exact)}." if exact else ".")
        )
    if metrics.get("positive_class") is not None:
        parts.append(f"Positive class: {metrics['positive_class']!r}.")
    missing = metrics.get("not_available") or {}
    if metrics.get("probabilities") is False:
        why = next(iter(missing.values()), "the estimator gives no probabilities")
        parts.append(f"No probabilities: {why}; ROC, PR, calibration and log loss not available.")
    return " ".join(parts)


def _mean_std(fold: Mapping[str, Any] | None) -> str:
    return f"{fmt(fold['mean'])} ± {fmt(fold['std'])}" if fold else "-"


def beats(metric: str, model: Any, baseline: Any) -> bool | None:
    """Whether the model's value is better than the baseline's (None when either is missing)."""
    from mlpact.evaluate import LOWER_IS_BETTER

    if not _number(model) or not _number(baseline):
        return None
    return bool(model < baseline) if metric in LOWER_IS_BETTER else bool(model > baseline)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def baseline_warning(metrics: Mapping[str, Any]) -> str | None:
    """A warning when the model does not beat the baseline on the primary metric of the test split."""
    primary = metrics.get("primary")
    base = (metrics.get("baseline") or {}).get("test") or {}
    model = (metrics.get("test") or {}).get(primary)
    if primary is None or beats(primary, model, base.get(primary)) is not False:
        return None
    return (
        f"The model does not beat the baseline on {primary} (test split: {fmt(model)} vs "
        f"{fmt(base.get(primary))} for {metrics['baseline'].get('estimator', 'the dummy estimator')}): "
        "it has learned nothing useful about the target."
    )


def model_card(
    meta: Mapping[str, Any],
    schema: Mapping[str, Any],
    metrics: Mapping[str, Any],
    lineage: Mapping[str, Any],
    cfg: Config,
) -> str:
    """card.md: what the model is, how well it did, what it expects, where it came from."""
    lines = [f"# {meta['name']} version {meta['version']}", "", _summary(schema, cfg), ""]
    lines += _md_table(["", ""], [[k, v] for k, v in _facts(meta, schema, lineage, cfg)])
    lines += ["", "## Metrics", "", _protocol(metrics), ""]
    caption = interval_caption(metrics)
    lines += [caption, ""] if caption else []
    columns = metric_columns(metrics)
    lines += _md_table(
        [header for header, _ in columns],
        [[getattr(r, field) for _, field in columns] for r in metric_table(metrics)],
    )
    lines += training_lines(metrics)
    for column, entries in (metrics.get("slices") or {}).items():
        lines += ["", f"### Test metrics per value of `{column}`", ""]
        lines += _md_table(*_slice_table(entries, metrics.get("primary")))
    if metrics.get("plots"):
        lines += ["", "## Plots", ""]
        lines += [f"![{name}](reports/{name})" for name in metrics["plots"]]
    from mlpact import decision, profile

    lines += decision.card_lines(metrics) + profile.card_lines(metrics.get("profile"))
    lines += ["", "## Input schema", ""]
    lines += _md_table(["column", "type", "nullable", "values"], _schema_rows(schema))
    warnings = lineage.get("warnings") or []
    if warnings:
        lines += ["", "## Warnings at training time", ""] + [f"- {w}" for w in warnings]
    return "\n".join(lines) + "\n"


def _summary(schema: Mapping[str, Any], cfg: Config) -> str:
    target = schema.get("target") or {}
    return cfg.public("description") or f"A {target.get('task', '')} model predicting `{target.get('name')}`."


def _protocol(metrics: Mapping[str, Any]) -> str:
    folds = (metrics.get("cv") or {}).get("folds", 0)
    cv = f"Cross-validation on the training split ({folds} folds)" if folds else "No cross-validation"
    epochs = metrics.get("epochs")
    if epochs:
        rows = (metrics.get("rows") or {}).get("validation")
        cv += (
            f"; {epochs.get('run')} epochs, the weights of epoch {epochs.get('best')} kept, chosen on a "
            f"validation split of {rows} rows carved from the training data"
            if rows
            else f"; {epochs.get('run')} epochs, no validation split (the last epoch's weights kept)"
        )
    base = metrics.get("baseline")
    against = f"; the baseline is {base['estimator']}, scored the same way" if base else ""
    text = f"{cv}; the test split scored once ({(metrics.get('rows') or {}).get('test')} rows){against}."
    refit = metrics.get("refit")
    return f"{text} {refit['note']}" if refit else text


def training_facts(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """How a PyTorch version was trained (metrics.json's `training` and `epochs`), as (label, value)."""
    training, epochs = metrics.get("training") or {}, metrics.get("epochs") or {}
    if not training:
        return []
    stopped = f", stopped early: {epochs['stopped_by']}" if epochs.get("stopped_by") else ""
    parameters = training.get("parameters")
    facts = [
        (
            "epochs",
            f"{epochs.get('run')} run of {training.get('epochs')}, best {epochs.get('best')}{stopped}",
        ),
        ("optimizer", f"{training.get('optimizer')}, lr {training.get('lr')}"),
        ("batch size", str(training.get("batch_size"))),
        ("loss", str(training.get("loss"))),
        ("scheduler", str(training.get("scheduler"))),
        ("device", f"{training.get('device')}{' (mixed precision)' if training.get('amp') else ''}"),
        ("threads", str(training.get("threads"))),
        ("parameters", f"{parameters:,}" if isinstance(parameters, int) else "-"),
        ("samples/s", fmt(training.get("samples_per_s"), 1)),
    ]
    return [(k, v) for k, v in facts if v not in ("None", "None, lr None")]


def training_lines(metrics: Mapping[str, Any]) -> list[str]:
    """The card's `## Training` section for PyTorch versions (none for others)."""
    facts = training_facts(metrics)
    if not facts:
        return []
    return ["", "## Training", "", *_md_table(["", ""], [[k, v] for k, v in facts])]


def _facts(
    meta: Mapping[str, Any], schema: Mapping[str, Any], lineage: Mapping[str, Any], cfg: Config
) -> list[tuple[str, str]]:
    target = schema.get("target") or {}
    data = lineage.get("data", {})
    facts = [
        ("estimator", f"`{cfg.model.type}`"),
        ("parameters", f"`{cfg.public('model.params')}`"),
        ("task", str(target.get("task"))),
        ("created", f"{meta['created']} with mlpact {meta['mlpact_version']}"),
        (
            "data",
            f"`{data.get('source')}`, {data.get('rows')} rows, "
            f"fingerprint `{str(data.get('fingerprint'))[:12]}`",
        ),
        (
            "split",
            f"{data.get('split')}: {data.get('train_rows')} train / {data.get('test_rows')} test, "
            f"seed {lineage.get('seed')}",
        ),
        ("config hash", f"`{str(lineage.get('config_hash'))[:12]}`"),
        ("git", _git_text(lineage.get("git") or {})),
    ]
    if target.get("classes") is not None:
        facts.append(("classes", ", ".join(map(str, target["classes"]))))
    if lineage.get("origin") == "external":
        facts.insert(
            0,
            (
                "origin",
                "trained outside mlpact (saved with `mlpact.save`): no training config, "
                "history or data recipe was recorded, so `mlpact reproduce` cannot retrain it",
            ),
        )
    return facts


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return lines + ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]


def _schema_rows(schema: Mapping[str, Any]) -> list[list[str]]:
    return [
        [col["name"], col["type"], "yes" if col["nullable"] else "no", _values(col)]
        for col in schema.get("columns", [])
    ]


def _slice_table(entries: list[Mapping[str, Any]], primary: str | None) -> tuple[list[str], list[list[str]]]:
    first = entries[0]["metrics"] if entries else {}
    names = [n for n in dict.fromkeys([primary, *first]) if n]
    rows = [[_label(e["value"]), str(e["rows"]), *(fmt(e["metrics"].get(n)) for n in names)] for e in entries]
    return ["value", "rows", *names], rows


def _label(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _git_text(git: Mapping[str, Any]) -> str:
    if not git:
        return "not a git repository"
    return f"`{git['commit'][:12]}`" + (" (uncommitted changes)" if git.get("dirty") else "")


def _values(col: Mapping[str, Any]) -> str:
    if col.get("categories") is not None:
        cats = [str(c) for c in col["categories"]]
        return ", ".join(cats[:8]) + (f" (+{len(cats) - 8} more)" if len(cats) > 8 else "")
    if col.get("min") is not None:
        return f"{col['min']:g} to {col['max']:g}"
    return ""


# --------------------------------------------------------------------------- report.html
CSS = """
body{font:15px/1.5 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2328;
background:#f6f8fa;margin:0}
main{max-width:1080px;margin:0 auto;padding:28px 32px 64px;background:#fff;min-height:100vh}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:36px 0 10px;padding-bottom:4px;
border-bottom:1px solid #d0d7de}h3{font-size:15px;margin:20px 0 8px}
.sub{color:#59636e;margin:0 0 18px}
.cards{display:flex;gap:14px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #d0d7de;border-radius:8px;padding:10px 16px;min-width:150px}
.card .k{color:#59636e;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;margin:6px 0 12px;font-size:14px}
th,td{padding:5px 12px;border-bottom:1px solid #e5e8eb;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.primary td{font-weight:600}td.worse{color:#b42318;font-weight:600}td.better{color:#1a7f37}
.warn{background:#fff8c5;border:1px solid #d4a72c;border-left:6px solid #bf8700;border-radius:6px;
padding:10px 16px;margin:16px 0}.warn h2{border:0;margin:0 0 6px;font-size:17px;color:#7d4e00}
.warn ul{margin:0;padding-left:20px}.warn li{margin:4px 0}
.ok{background:#dafbe1;border:1px solid #4ac26b;border-radius:6px;padding:8px 16px;margin:16px 0}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:16px}
figure{margin:0;border:1px solid #d0d7de;border-radius:8px;padding:8px;background:#fff}
figure img{width:100%;height:auto;display:block}figcaption{color:#59636e;font-size:13px;padding:4px}
code,pre{font:13px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:12px;overflow:auto}
footer{color:#59636e;font-size:12px;margin-top:40px}
"""


def render_html(
    meta: Mapping[str, Any],
    schema: Mapping[str, Any],
    metrics: Mapping[str, Any],
    lineage: Mapping[str, Any],
    cfg: Config,
    *,
    reports: Path,
    evaluations: Sequence[Mapping[str, Any]] = (),
) -> str:
    """report.html: one self-contained page (inline CSS, PNGs embedded, no network) for a version."""
    title = f"{meta['name']} version {meta['version']}"
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p class=sub>{_e(_summary(schema, cfg))} {_e(cfg.model.type)}, created {_e(meta['created'])}.</p>",
        _cards(metrics),
        _warnings_html(lineage.get("warnings") or [], metrics),
        "<h2>Metrics</h2>",
        f"<p>{_e(_protocol(metrics))}</p>",
        _metrics_html(metrics),
        _per_class_html(metrics),
        _slices_html(metrics),
        _plots_html(metrics.get("plots") or [], reports),
        _decision_html(metrics, reports),
        _profile_html(metrics, reports),
        _evaluations_html(evaluations),
        "<h2>Input schema</h2>",
        _table(["column", "type", "nullable", "values"], _schema_rows(schema)),
        "<h2>Lineage</h2>",
        _table(
            ["", ""],
            [[k, v.replace("`", "")] for k, v in _facts(meta, schema, lineage, cfg)] + _lineage_rows(lineage),
        ),
        f"<details><summary>Resolved config</summary><pre>{_e(cfg.to_yaml())}</pre></details>",
    ]
    return _page(title, body)


def _decision_html(metrics: Mapping[str, Any], reports: Path) -> str:
    from mlpact import decision

    return decision.html(metrics, reports)


def _profile_html(metrics: Mapping[str, Any], reports: Path) -> str:
    from mlpact import profile

    return profile.html(metrics.get("profile"), reports)


def render_evaluation_html(model: Mapping[str, Any], evaluation: Mapping[str, Any], *, reports: Path) -> str:
    """The page of one evaluation of a saved version on new labelled data."""
    metrics = evaluation["metrics"]
    title = f"Evaluation of {model['ref']} on {Path(str(evaluation['data'])).name}"
    body = [
        f"<h1>{_e(title)}</h1>",
        f"<p class=sub>{_e(evaluation['data'])}: {evaluation.get('rows')} labelled rows, fingerprint "
        f"<code>{_e(str(evaluation.get('data_fingerprint'))[:12])}</code>, "
        f"{_e(evaluation.get('created', ''))}.</p>",
        _cards(metrics, label="new data"),
        _warnings_html(metrics.get("warnings") or [], metrics),
        "<h2>Metrics</h2>",
        "<p>The saved version scored once on this data, beside its own test split from training.</p>",
        _table(
            ["metric", "this data", "test split at training"],
            [
                [n, fmt(v), fmt((model.get("test") or {}).get(n))]
                for n, v in (metrics.get("test") or {}).items()
            ],
            numeric_from=1,
        ),
        _per_class_html(metrics, split="this data"),
        _slices_html(metrics),
        _plots_html(metrics.get("plots") or [], reports, split="this data"),
    ]
    return _page(title, body)


def _page(title: str, body: list[str]) -> str:
    from mlpact import __version__

    footer = f"<footer>Written by mlpact {_e(__version__)}. Self-contained: no network needed.</footer>"
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body><main>\n"
        + "\n".join(part for part in body if part)
        + f"\n{footer}\n</main></body></html>\n"
    )


def _e(value: Any) -> str:
    import html

    return html.escape(str(value), quote=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, numeric_from: int | None = None) -> str:
    def cell(tag: str, i: int, value: Any) -> str:
        klass = " class=n" if numeric_from is not None and i >= numeric_from else ""
        return f"<{tag}{klass}>{_e(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header)) if any(header) else ""
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def _cards(metrics: Mapping[str, Any], *, label: str = "test") -> str:
    primary = metrics.get("primary")
    cv = ((metrics.get("cv") or {}).get("metrics") or {}).get(primary)
    base = ((metrics.get("baseline") or {}).get("test") or {}).get(primary)
    cards = [(f"{primary}, {label}", fmt((metrics.get("test") or {}).get(primary)))]
    if cv:
        cards.append((f"{primary}, CV", _mean_std(cv)))
    if metrics.get("baseline"):
        cards.append((f"{primary}, baseline", fmt(base)))
    rows = metrics.get("rows") or {}
    cards += [(f"{k} rows", str(v)) for k, v in rows.items()]
    inner = "".join(
        f"<div class=card><div class=k>{_e(k)}</div><div class=v>{_e(v)}</div></div>" for k, v in cards
    )
    return f"<div class=cards>{inner}</div>"


def _warnings_html(warnings: Sequence[str], metrics: Mapping[str, Any]) -> str:
    if not warnings:
        return (
            "<div class=ok>No warnings: no leakage found, and the model beats the baseline.</div>"
            if metrics.get("baseline")
            else ""
        )
    items = "".join(f"<li>{_e(w)}</li>" for w in warnings)
    noun = "warning" if len(warnings) == 1 else "warnings"
    return f"<div class=warn><h2>⚠ {len(warnings)} {noun}</h2><ul>{items}</ul></div>"


def _metrics_html(metrics: Mapping[str, Any]) -> str:
    columns = metric_columns(metrics)
    head = "<tr>" + "".join(f"<th{'' if f == 'name' else ' class=n'}>{h}</th>" for h, f in columns) + "</tr>"
    rows = []
    for r in metric_table(metrics):
        verdict = {True: " better", False: " worse", None: ""}[r.beats_baseline]
        klass = " class=primary" if r.name == metrics.get("primary") else ""
        cells = [
            f"<td>{_e(r.name)}</td>" if f == "name" else
            f"<td class='n{verdict if f == 'test' else ''}'>{_e(getattr(r, f))}</td>"
            for _, f in columns
        ]  # fmt: skip
        rows.append(f"<tr{klass}>{''.join(cells)}</tr>")
    caption = interval_caption(metrics)
    note = f"<p class=note>{_e(caption)}</p>" if caption else ""
    training = training_facts(metrics)
    extra = f"<h3>Training</h3>{_table(['', ''], [list(f) for f in training])}" if training else ""
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>{note}{extra}"


def _per_class_html(metrics: Mapping[str, Any], *, split: str = "test split") -> str:
    per_class = metrics.get("per_class") or {}
    if not per_class:
        return ""
    rows = [
        [c, fmt(v.get("precision")), fmt(v.get("recall")), fmt(v.get("f1-score")), fmt(v.get("support"), 0)]
        for c, v in per_class.items()
    ]
    return f"<h3>Per class ({split})</h3>" + _table(
        ["class", "precision", "recall", "F1", "support"], rows, numeric_from=1
    )


def _slices_html(metrics: Mapping[str, Any]) -> str:
    parts = []
    for column, entries in (metrics.get("slices") or {}).items():
        header, rows = _slice_table(entries, metrics.get("primary"))
        parts.append(
            f"<h3>Per value of <code>{_e(column)}</code> (test split)</h3>"
            + _table(header, rows, numeric_from=1)
        )
    return "<h2>Slices</h2>" + "".join(parts) if parts else ""


def _plots_html(
    names: Sequence[str], reports: Path, *, split: str = "test split", heading: str | None = "Plots"
) -> str:
    import base64

    from mlpact.plots import TITLES

    figures = []
    for name in names:
        path = reports / name
        if path.is_file():
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            caption = f"{TITLES.get(name, name)} ({split})"
            figures.append(f"<figure><img alt='{_e(caption)}' src='data:image/png;base64,{data}'></figure>")
    title = f"<h2>{heading}</h2>" if heading else ""
    return f"{title}<div class=plots>{''.join(figures)}</div>" if figures else ""


def _evaluations_html(evaluations: Sequence[Mapping[str, Any]]) -> str:
    if not evaluations:
        return ""
    rows = []
    for ev in evaluations:
        m = ev.get("metrics") or {}
        primary = m.get("primary")
        rows.append(
            [
                ev.get("created", ""),
                ev.get("data", ""),
                ev.get("rows", ""),
                primary or "",
                fmt((m.get("test") or {}).get(primary)),
            ]
        )
    return "<h2>Evaluations on new data</h2>" + _table(["when", "data", "rows", "metric", "value"], rows)


def _lineage_rows(lineage: Mapping[str, Any]) -> list[list[str]]:
    env = lineage.get("environment") or {}
    packages = ", ".join(f"{k} {v}" for k, v in (env.get("packages") or {}).items() if v)
    timings = ", ".join(f"{k} {v:.2f}s" for k, v in (lineage.get("timings_s") or {}).items())
    features = lineage.get("features") or {}
    used = "; ".join(f"{k}: {', '.join(v)}" for k, v in features.items() if v and k != "unused")
    return [
        ["features", used],
        ["python", f"{env.get('python', '')} on {env.get('platform', '')}"],
        ["packages", packages],
        ["timings", timings],
        ["run", str(lineage.get("run_id", ""))],
    ]


# --------------------------------------------------------------------------- writing a version's page
def write_report(model: Model, *, store: Store, out: Path | None = None) -> Path:
    """The HTML report of a loaded version; returns where it is.

    Without `out`: the version's own report.html (written at training, hashed with the version)
    when no evaluation has been recorded since; otherwise a fresh page, with the evaluations, at
    ``<store>/reports/NAME/VERSION/report.html``. The version folder itself is never written.
    """
    from mlpact import bundle

    evaluations = store.evaluations(model.name, model.version) if model.record is not None else []
    own = model.path / "report.html"
    if out is None and not evaluations and own.is_file():
        return own
    target = out or store.root / "reports" / model.name / str(model.version) / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    page = render_html(
        model.manifest,
        model.schema.to_dict(),
        model.metrics,
        model.lineage,
        model.config,
        reports=model.path / "reports",
        evaluations=evaluations,
    )
    bundle.write_bytes(target, page.encode())
    return target
