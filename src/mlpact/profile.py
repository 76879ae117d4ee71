"""The training-data profile: missing values, outliers, the target's and the features' distributions.

Computed from the training split only (the test split stays unseen), stored in metrics.json
under ``profile`` and shown in card.md and report.html, with two plots in ``reports/``
(hashed into the version like every plot): the target's distribution and small multiples of the
first ``record.profile_max_columns`` features (histograms; bar charts of the most frequent
values for categorical and text columns). Outliers are counted with the IQR rule: a value
below Q1 - 1.5 IQR or above Q3 + 1.5 IQR.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

BINS = 20
TOP_VALUES = 10
TERM_ROWS = 5000  # frequent terms are counted in at most this many values
TARGET_PLOT = "profile_target.png"
FEATURES_PLOT = "profile_features.png"
TITLES = {TARGET_PLOT: "Target distribution", FEATURES_PLOT: "Feature distributions"}

__all__ = ["FEATURES_PLOT", "TARGET_PLOT", "card_lines", "html", "profile", "write_plots"]


def profile(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str,
    columns: Sequence[str],
    text: Sequence[str] = (),
    raw_text: bool = False,
) -> dict[str, Any]:
    """Profile training rows: per feature column its missing count, outliers and distribution.

    Free-text columns (`text`) are described by their lengths and most frequent terms; their
    most frequent whole values (raw training text) only when `raw_text` (`record.test_rows`).

    Returns:
        ``{"rows", "missing", "outliers", "target", "columns"}``, plain JSON.
    """
    cols = [c for c in columns if c in frame.columns and c != target]
    out: dict[str, Any] = {"rows": len(frame), "split": "train"}
    out["missing"] = {c: int(frame[c].isna().sum()) for c in cols}
    out["columns"] = {
        c: _text(frame[c], raw=raw_text) if c in text else _distribution(frame[c]) for c in cols
    }
    out["outliers"] = {c: d["outliers"] for c, d in out["columns"].items() if "outliers" in d}
    y = frame[target]
    out["target"] = _categories(y) if task == "classification" else _distribution(y)
    return out


def _distribution(series: pd.Series) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return _categories(series)
    values = series.dropna().to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return {"kind": "numeric", "outliers": 0, "counts": [], "edges": []}
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    iqr = q3 - q1
    outliers = int(((values < q1 - 1.5 * iqr) | (values > q3 + 1.5 * iqr)).sum())
    counts, edges = np.histogram(values, bins=min(BINS, max(1, len(np.unique(values)))))
    summary = {
        "min": float(values.min()),
        "q1": float(q1),
        "median": float(median),
        "q3": float(q3),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "std": float(values.std()),
    }
    return {
        "kind": "numeric",
        **summary,
        "outliers": outliers,
        "counts": counts.tolist(),
        "edges": edges.tolist(),
    }


def _text(series: pd.Series, *, raw: bool) -> dict[str, Any]:
    """A text column without its text: words per value (histogram, quartiles), empty values and
    the terms in most values (English stop words left out)."""
    import numpy as np

    values = series.dropna().astype(str)
    words = values.str.split().str.len().to_numpy(dtype=float)
    out: dict[str, Any] = {"kind": "text", "empty": int((words == 0).sum()), "terms": _terms(values)}
    if len(words):
        q1, median, q3 = np.percentile(words, [25, 50, 75])
        counts, edges = np.histogram(words, bins=min(BINS, max(1, len(np.unique(words)))))
        out.update(min=float(words.min()), q1=float(q1), median=float(median), q3=float(q3),
                   max=float(words.max()), counts=counts.tolist(), edges=edges.tolist())  # fmt: skip
    if raw:
        out["top"] = _categories(series)["top"]
    return out


def _terms(values: pd.Series) -> dict[str, int]:
    """The TOP_VALUES terms found in the most values (of at most TERM_ROWS, a seeded sample),
    with how many values hold each."""
    from sklearn.feature_extraction.text import CountVectorizer

    if len(values) > TERM_ROWS:
        values = values.sample(TERM_ROWS, random_state=0)
    vectorizer = CountVectorizer(stop_words="english", binary=True)
    try:
        totals = vectorizer.fit_transform(values).sum(axis=0).A1
    except ValueError:  # no terms at all (empty values, only stop words)
        return {}
    names = vectorizer.get_feature_names_out()
    best = sorted(range(len(totals)), key=lambda i: (-totals[i], names[i]))[:TOP_VALUES]
    return {str(names[i]): int(totals[i]) for i in best}


def _categories(series: pd.Series) -> dict[str, Any]:
    counts = series.astype(object).where(series.notna(), "(missing)").astype(str).value_counts()
    top = {str(k): int(v) for k, v in counts.head(TOP_VALUES).items()}
    return {
        "kind": "categorical",
        "distinct": len(counts),
        "top": top,
        "other": int(counts.iloc[TOP_VALUES:].sum()),
    }


# --------------------------------------------------------------------------- plots
def write_plots(found: Mapping[str, Any], directory: Path, *, max_columns: int) -> list[str]:
    """Write the target plot and the feature small multiples; returns the file names."""
    from matplotlib.figure import Figure

    from mlpact.plots import DPI

    directory.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(5.6, 3.6))
    ax = fig.subplots()
    _draw(ax, found["target"])
    ax.set_title(f"{TITLES[TARGET_PLOT]} (training split)", fontsize=11, loc="left")
    fig.tight_layout()
    fig.savefig(directory / TARGET_PLOT, dpi=DPI, format="png", metadata={"Software": None})
    names = [TARGET_PLOT]
    columns = list(found["columns"].items())[:max_columns]
    if columns:
        rows = math.ceil(len(columns) / _PER_ROW)
        fig = Figure(figsize=(2.4 * _PER_ROW, 1.3 * rows + 0.4))
        ax = fig.add_axes((0.01, 0.01, 0.98, 0.98 - 0.4 / (1.3 * rows + 0.4)))
        for i, (name, dist) in enumerate(columns):
            _sparkline(ax, i % _PER_ROW, rows - 1 - i // _PER_ROW, str(name), dist)
        ax.set_xlim(0, _PER_ROW)
        ax.set_ylim(0, rows)
        ax.set_axis_off()
        fig.suptitle(f"{TITLES[FEATURES_PLOT]} (training split)", fontsize=11, x=0.01, ha="left")
        fig.savefig(directory / FEATURES_PLOT, dpi=DPI, format="png", metadata={"Software": None})
        names.append(FEATURES_PLOT)
    return names


_PER_ROW = 4


def _sparkline(ax: Axes, col: int, row: int, name: str, dist: Mapping[str, Any]) -> None:
    """One feature's distribution drawn into its cell of a single axes (no ticks: one axes with
    simple shapes draws ~10x faster than a grid of subplots; the report's table has the numbers)."""
    import numpy as np

    from mlpact.report import fmt

    left, bottom, width, height = col + 0.06, row + 0.12, 0.88, 0.58
    if dist.get("kind") in ("numeric", "text"):
        counts = np.asarray(dist.get("counts") or [], dtype=float)
        unit = " words" if dist.get("kind") == "text" else ""
        caption = (
            f"{fmt(dist.get('min'), 3)} to {fmt(dist.get('max'), 3)}{unit}" if len(counts) else "no values"
        )
    else:
        counts = np.asarray(list((dist.get("top") or {}).values()), dtype=float)
        caption = f"{dist.get('distinct')} values"
    if len(counts) and counts.max() > 0:
        edges = np.linspace(left, left + width, len(counts) + 1)
        ax.stairs(
            bottom + height * counts / counts.max(), edges, baseline=bottom, fill=True, alpha=0.7, color="C0"
        )
    ax.plot([left, left + width], [bottom, bottom], color="#59636e", linewidth=0.6)
    ax.text(left, row + 0.76, name[:30], fontsize=8, va="bottom")
    ax.text(left, row + 0.02, caption, fontsize=6.5, color="#59636e", va="bottom")


def _draw(ax: Axes, dist: Mapping[str, Any]) -> None:
    if dist.get("kind") == "numeric":
        edges, counts = dist.get("edges") or [], dist.get("counts") or []
        if counts:
            ax.stairs(counts, edges, fill=True, alpha=0.7)
    else:
        top = dist.get("top") or {}
        labels = [str(k)[:10] for k in top]
        ax.barh(labels[::-1], list(top.values())[::-1])


# --------------------------------------------------------------------------- report sections
def card_lines(found: Mapping[str, Any] | None) -> list[str]:
    """The profile's section of card.md (empty when the version has none)."""
    if not found:
        return []
    from mlpact.report import fmt

    lines = ["", f"## Training data profile ({found['rows']} training rows)", ""]
    lines += ["| column | missing | outliers (IQR) | distribution |", "| --- | --- | --- | --- |"]
    for name, dist in found["columns"].items():
        lines.append(
            f"| {name} | {found['missing'].get(name, 0)} | {dist.get('outliers', '-')} "
            f"| {_describe(dist, fmt)} |"
        )
    lines += ["", f"Target: {_describe(found['target'], fmt)}."]
    lines += [f"![{name}](reports/{name})" for name in found.get("plots") or []]
    return lines


def _describe(dist: Mapping[str, Any], fmt: Any) -> str:
    if dist.get("kind") == "text":
        if "median" not in dist:
            return "text; no values"
        terms = ", ".join(f"{k} ({v})" for k, v in list((dist.get("terms") or {}).items())[:5])
        return (
            f"text; words per value median {fmt(dist['median'])} (IQR {fmt(dist['q1'])} to "
            f"{fmt(dist['q3'])}, range {fmt(dist['min'])} to {fmt(dist['max'])}), {dist.get('empty', 0)} "
            f"empty; frequent terms: {terms or 'none'}"
        )
    if dist.get("kind") == "numeric":
        if "median" not in dist:
            return "no values"
        iqr = f"IQR {fmt(dist['q1'])} to {fmt(dist['q3'])}"
        return f"median {fmt(dist['median'])} ({iqr}), range {fmt(dist['min'])} to {fmt(dist['max'])}"
    top = dist.get("top") or {}
    shown = ", ".join(f"{k}: {v}" for k, v in list(top.items())[:5])
    return f"{dist.get('distinct')} values; {shown}" + (" ..." if len(top) > 5 else "")


def html(found: Mapping[str, Any] | None, reports: Path) -> str:
    """The profile's section of report.html (empty when the version has none)."""
    if not found:
        return ""
    from mlpact.report import _e, _plots_html, _table, fmt

    rows = [
        [name, found["missing"].get(name, 0), dist.get("outliers", "-"), _describe(dist, fmt)]
        for name, dist in found["columns"].items()
    ]
    return (
        f"<h2>Training data profile</h2><p>{found['rows']} rows of the training split. "
        f"Target: {_e(_describe(found['target'], fmt))}.</p>"
        + _table(["column", "missing", "outliers (IQR)", "distribution"], rows, numeric_from=1)
        + _plots_html(found.get("plots") or [], reports, split="training split", heading=None)
    )
