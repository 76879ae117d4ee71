"""Starter configs that know what practitioners know: `mlpact init --from-data FILE --target COL`.

:func:`starter` looks at a table the way an experienced person would before training on it and
returns the config with a reason for every choice: identifiers and dates kept out of the features
(dates with the note about time leakage), a model family that fits the data (a linear model on
text or wide sparse tables, histogram gradient boosting on ordinary ones, class weights when the
classes are imbalanced), a primary metric that fits the task and the balance (naming the positive
class of a binary target), and folds that the smallest class can fill. :func:`render` writes it
as YAML with those reasons as comments, so the config teaches.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.schema import Schema

IMBALANCED = 0.5  # the rarest class has less than half the rows of the most common one
WIDE = 200  # this many feature columns (after one-hot) or more is wide: a linear model
LINEAR_C = 10.0  # TF-IDF's many small weights want little regularisation (C 10 beat 1 on real text)
SHORT_TEXT = 60  # words per row (median, all text columns together): below, character n-grams


@dataclass
class Starter:
    """A starter config (plain data) and the comment for each key path that was chosen."""

    config: dict[str, Any]
    comments: dict[str, str] = field(default_factory=dict)

    def note(self, path: str, text: str) -> None:
        self.comments[path] = text


@dataclass(frozen=True)
class Balance:
    """Class counts of a classification target, most common first."""

    counts: dict[Any, int]

    @property
    def ratio(self) -> float:
        values = list(self.counts.values())
        return min(values) / max(values) if values else 1.0

    @property
    def imbalanced(self) -> bool:
        return self.ratio < IMBALANCED

    @property
    def rarest(self) -> Any:
        return min(self.counts, key=lambda k: (self.counts[k], str(k)))


def starter(frame: pd.DataFrame, target: str, *, name: str, source: str) -> Starter:
    """The starter config for a table and its target column, with a reason per choice."""
    from mlpact.config import SchemaConfig
    from mlpact.data import infer_task
    from mlpact.schema import infer_schema

    frame = frame[frame[target].notna()]
    task = infer_task(frame[target])
    schema = infer_schema(frame, SchemaConfig(), target=target, task=task)
    out = Starter({"name": name, "data": {"source": source, "target": target}})
    dropped = _drop(frame, schema, out)
    kinds = _kinds(schema, dropped)
    balance = Balance(dict(frame[target].value_counts())) if task == "classification" else None
    _features(frame, kinds["text"], out)
    _model(task, kinds["text"], _width(frame, kinds), balance, out)
    _evaluate(task, balance, out)
    out.config["schema"] = {"columns": {c.name: _declared(c.to_dict()) for c in schema.columns}}
    out.note("schema", "What was inferred from the file, pinned: edit it to declare what the model accepts.")
    return out


# --------------------------------------------------------------------------- columns
def _drop(frame: pd.DataFrame, schema: Schema, out: Starter) -> list[str]:
    """Identifiers, dates and one-off strings go to data.drop, each with its reason."""
    from mlpact.schema import id_like

    reasons: dict[str, str] = {}
    for col in schema.columns:
        why = id_like(frame[col.name])
        if why is not None:
            reasons[col.name] = f"an identifier, {why}: it says nothing about new rows"
        elif col.type == "datetime":
            reasons[col.name] = (
                "a date: as a feature, a random split lets the model learn from rows later than those "
                f"it is tested on (time leakage). To use it, remove it here and set "
                f"data.split.time_column: {col.name}, so the test rows are the latest"
            )
        elif col.type == "string":
            reasons[col.name] = "many distinct short strings (names, codes): not a feature as they are"
    if reasons:
        out.config["data"]["drop"] = list(reasons)
        out.note("data.drop", "Not features:\n" + "\n".join(f"  {k}: {v}." for k, v in reasons.items()))
    return list(reasons)


def _kinds(schema: Schema, dropped: list[str]) -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = {"numeric": [], "categorical": [], "text": []}
    for col in schema.columns:
        if col.name in dropped:
            continue
        if col.type in ("int", "float", "bool"):
            kinds["numeric"].append(col.name)
        elif col.type == "category":
            kinds["categorical"].append(col.name)
        elif col.type == "text":
            kinds["text"].append(col.name)
    return kinds


def _width(frame: pd.DataFrame, kinds: Mapping[str, list[str]]) -> int:
    """Columns the model sees before text: numbers, plus one per category value (up to 30)."""
    return len(kinds["numeric"]) + sum(min(int(frame[c].nunique()), 30) for c in kinds["categorical"])


def _features(frame: pd.DataFrame, text: list[str], out: Starter) -> None:
    if not text:
        return
    joined = f"{', '.join(text)}: free text" + (
        ", joined into one TF-IDF vocabulary (features.text.combine, the default) so a word weighs "
        "the same whichever field it is in"
        if len(text) > 1
        else ", through TF-IDF"
    )
    out.note("features.text", joined + ".")
    words = sum(frame[c].fillna("").astype(str).str.split().str.len() for c in text)
    median = float(words.median()) if len(frame) else 0.0
    if median <= SHORT_TEXT:
        chars = {"analyzer": "char_wb", "ngram_min": 2, "ngram_max": 5, "sublinear_tf": True}
        out.config["features"] = {"text": chars}
        out.note(
            "features.text.analyzer",
            f"Short texts ({median:.0f} words per row, median): character n-grams within words, 2 to 5 "
            "long, are robust to typos, inflections and rare words (6 F1 points over word n-grams on a "
            "real title + description table).",
        )
    else:
        out.config["features"] = {"text": {"ngram_max": 2, "sublinear_tf": True}}
        out.note("features.text.ngram_max", f"Words and word pairs ({median:.0f} words per row, median).")
    out.note(
        "features.text.sublinear_tf", "1 + log(count): a word said ten times is not ten times the evidence."
    )


# --------------------------------------------------------------------------- the model
def _model(task: str, text: list[str], width: int, balance: Balance | None, out: Starter) -> None:
    linear = bool(text) or width >= WIDE
    model: dict[str, Any]
    if linear and task == "classification":
        model = {
            "type": "sklearn.linear_model.LogisticRegression",
            "params": {"C": LINEAR_C, "max_iter": 2000},
        }
        why = "mostly text" if text else f"wide ({width} columns after one-hot)"
        out.note(
            "model.type", f"The features are {why} and sparse: a linear model is the strong, fast choice."
        )
        out.note(
            "model.params.C", "Little regularisation suits TF-IDF's many small weights; tune it (tune.space)."
        )
    elif linear:
        model = {"type": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}}
        why = "mostly text" if text else f"wide ({width} columns after one-hot)"
        out.note(
            "model.type", f"The features are {why} and sparse: a linear model is the strong, fast choice."
        )
        out.note("model.params.alpha", "The usual start; tune it (tune.space).")
    else:
        kind = "Classifier" if task == "classification" else "Regressor"
        model = {"type": f"sklearn.ensemble.HistGradientBoosting{kind}", "params": {}}
        out.note(
            "model.type",
            "An ordinary table of numbers and categories: histogram gradient boosting is the strong "
            "default (fast, nonlinear, no scaling needed).",
        )
    if balance is not None and balance.imbalanced:
        model["params"]["class_weight"] = "balanced"
        out.note(
            "model.params.class_weight",
            f"Imbalanced classes (the rarest, {balance.rarest!r}, has {balance.ratio:.0%} of the rows "
            "of the most common): weigh each class the same.",
        )
    if not model["params"]:
        del model["params"]
    out.config["model"] = model


def _evaluate(task: str, balance: Balance | None, out: Starter) -> None:
    evaluate: dict[str, Any] = {"cv_folds": 5}
    if balance is not None and min(balance.counts.values()) < 10:
        evaluate["cv_folds"] = max(2, min(5, min(balance.counts.values()) // 2))
    out.note("evaluate.cv_folds", "Cross-validated on the training split; the test split is scored once.")
    if task == "regression":
        evaluate["primary"] = "rmse"
        out.note("evaluate.primary", "Regression: the typical error, in the target's own units.")
    elif balance is not None and len(balance.counts) == 2:
        evaluate["primary"] = "roc_auc_ovr"
        out.note(
            "evaluate.primary",
            "Binary: ROC AUC, how well the model ranks the positive class above the other, whatever "
            "the threshold" + (", and not flattered by the imbalance." if balance.imbalanced else "."),
        )
        out.config["decision"] = {"positive": _plain(balance.rarest)}
        out.note(
            "decision.positive",
            "The positive class: the rarer one, the one to find. Set decision.objective to choose a "
            "threshold for it (e.g. precision>=0.9).",
        )
    elif balance is not None and balance.imbalanced:
        evaluate["primary"] = "f1_macro"
        out.note(
            "evaluate.primary",
            f"{len(balance.counts)} imbalanced classes: macro F1 counts every class the same, so a rare "
            "class the model never predicts costs points (accuracy would hide it).",
        )
    else:
        evaluate["primary"] = "accuracy"
        out.note(
            "evaluate.primary",
            f"{len(balance.counts) if balance else 0} balanced classes: accuracy says it plainly.",
        )
    out.config["evaluate"] = evaluate


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _declared(col: dict[str, Any]) -> dict[str, Any]:
    out = {"type": col["type"], "nullable": col["nullable"]}
    if col.get("categories") is not None:
        out["categories"] = list(col["categories"])
    if col.get("min") is not None and col["type"] in ("int", "float"):
        out.update(min=col["min"], max=col["max"])
    return out


# --------------------------------------------------------------------------- YAML with reasons
def render(found: Starter, header: str) -> str:
    """The config as YAML, each chosen key preceded by its reason as a comment."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    _emit(found.config, found.comments, "", 0, lines)
    return "\n".join(lines) + "\n"


def _emit(
    node: Mapping[str, Any], comments: Mapping[str, str], prefix: str, depth: int, lines: list[str]
) -> None:
    pad = "  " * depth
    for key, value in node.items():
        path = f"{prefix}{key}"
        for line in (comments.get(path) or "").splitlines():
            indent = " " * (len(line) - len(line.lstrip()))
            wrapped = textwrap.wrap(line.strip(), width=max(40, 96 - len(pad) - len(indent)))
            lines += [
                f"{pad}# {indent}{w}" if i == 0 else f"{pad}# {indent}  {w}" for i, w in enumerate(wrapped)
            ]
        if (isinstance(value, dict) and value and path != "schema.columns") or path == "schema":
            lines.append(f"{pad}{key}:")
            _emit(value, comments, path + ".", depth + 1, lines)
        elif path == "schema.columns":  # one line per column
            lines.append(f"{pad}{key}:")
            lines += [f"{pad}  {_flow(col, spec)}" for col, spec in value.items()]
        else:
            lines.append(f"{pad}{_flow(key, value)}")


def _flow(key: str, value: Any) -> str:
    """`key: value` on one line, value in YAML flow style."""
    import yaml

    text = yaml.safe_dump({key: value}, default_flow_style=True, sort_keys=False, width=10_000).strip()
    return text[1:-1]
