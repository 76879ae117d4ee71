"""Readable reports of a version: the model card (card.md) and metric tables."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlpact.config import Config


def fmt(value: Any, digits: int = 4) -> str:
    """A metric value for humans: 4 significant decimals, '-' for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def metric_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(metric, CV mean ± std, test) rows, primary metric first."""
    cv = metrics.get("cv", {}).get("metrics", {})
    test = metrics.get("test", {})
    names = list(dict.fromkeys([metrics.get("primary"), *test, *cv]))
    rows = []
    for name in names:
        if name is None:
            continue
        fold = cv.get(name)
        cv_text = f"{fmt(fold['mean'])} ± {fmt(fold['std'])}" if fold else "-"
        rows.append((name, cv_text, fmt(test.get(name))))
    return rows


def model_card(
    meta: Mapping[str, Any],
    schema: Mapping[str, Any],
    metrics: Mapping[str, Any],
    lineage: Mapping[str, Any],
    cfg: Config,
) -> str:
    """card.md: what the model is, how well it did, what it expects, where it came from."""
    target = schema.get("target") or {}
    data = lineage.get("data", {})
    git = lineage.get("git") or {}
    lines = [
        f"# {meta['name']} version {meta['version']}",
        "",
        cfg.description or f"A {target.get('task', '')} model predicting `{target.get('name')}`.",
        "",
        "| | |",
        "| --- | --- |",
        f"| estimator | `{cfg.model.type}` |",
        f"| parameters | `{dict(cfg.model.params)}` |",
        f"| task | {target.get('task')} |",
        f"| created | {meta['created']} with mlpact {meta['mlpact_version']} |",
        f"| data | `{data.get('source')}`, {data.get('rows')} rows, "
        f"fingerprint `{str(data.get('fingerprint'))[:12]}` |",
        f"| split | {data.get('split')}: {data.get('train_rows')} train / {data.get('test_rows')} test, "
        f"seed {lineage.get('seed')} |",
        f"| config hash | `{str(lineage.get('config_hash'))[:12]}` |",
        f"| git | {_git_text(git)} |",
    ]
    if target.get("classes") is not None:
        lines.append(f"| classes | {', '.join(map(str, target['classes']))} |")
    lines += [
        "",
        "## Metrics",
        "",
        f"Cross-validation on the training split ({metrics.get('cv', {}).get('folds', 0)} folds); "
        "the test split scored once.",
        "",
        "| metric | CV mean ± std | test |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {m} | {c} | {t} |" for m, c, t in metric_rows(metrics)]
    lines += ["", "## Input schema", "", "| column | type | nullable | values |", "| --- | --- | --- | --- |"]
    for col in schema.get("columns", []):
        lines.append(
            f"| {col['name']} | {col['type']} | {'yes' if col['nullable'] else 'no'} | {_values(col)} |"
        )
    warnings = lineage.get("warnings") or []
    if warnings:
        lines += ["", "## Warnings at training time", ""] + [f"- {w}" for w in warnings]
    return "\n".join(lines) + "\n"


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
