"""Leakage guards: look for the ways a test score can flatter a model, before it fools anyone.

Each guard is a small function over plain frames that returns a :class:`Finding` or None.
Training runs them on its split (and `evaluate` against the training data when it can), and
every finding becomes a warning in the output, in metrics.json and in the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

MAX_PROBE_ROWS = 5000


@dataclass(frozen=True)
class Finding:
    """One suspected leak: which guard found it, in which columns, and what it means."""

    check: str
    message: str
    columns: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "columns": list(self.columns)}


# --------------------------------------------------------------------------- rows in both splits
def duplicate_rows(
    train: pd.DataFrame, test: pd.DataFrame, *, columns: Sequence[str], new_data: bool = False
) -> Finding | None:
    """Test rows whose feature values are identical to a training row.

    `new_data`: the rows are data a saved version is evaluated on (`mlpact evaluate`), not its
    own test split, and the advice differs.
    """
    import pandas as pd

    cols = [c for c in columns if c in train.columns and c in test.columns]
    if not cols or test.empty:
        return None
    seen = set(pd.util.hash_pandas_object(train[cols], index=False))
    hashed = pd.util.hash_pandas_object(test[cols], index=False)
    count = int(hashed.isin(seen).sum())
    if not count:
        return None
    if new_data:
        return Finding(
            "duplicate_rows",
            f"{count} of {len(test)} evaluation rows ({count / len(test):.0%}) are identical to a row "
            "of the version's training data in every feature, so this score partly measures memory, "
            "not generalisation. Evaluate on rows the version was not trained on.",
        )
    return Finding(
        "duplicate_rows",
        f"{count} of {len(test)} test rows ({count / len(test):.0%}) are identical to a training row "
        "in every feature, so the test score partly measures memory, not generalisation. "
        "Deduplicate the data before splitting, or split by a group column.",
    )


# --------------------------------------------------------------------------- one column predicts
def single_column_leaks(
    X: pd.DataFrame,
    y: pd.Series,
    *,
    task: str,
    columns: Sequence[str],
    threshold: float = 0.98,
    seed: int = 0,
    text: Sequence[str] = (),
) -> Finding | None:
    """Columns that alone predict the target almost perfectly (cross-validated on `X`).

    A column in `text` (free text) is scored with its own TF-IDF and a linear model; any other
    with a small decision tree.
    """
    if len(X) < 10:
        return None
    if len(X) > MAX_PROBE_ROWS:
        X = X.sample(MAX_PROBE_ROWS, random_state=seed)
        y = y.loc[X.index]
    folds = _probe_folds(y, task=task, seed=seed)  # the folds depend on y only: made once
    scores = {
        c: _text_score(X[c], y, task=task, folds=folds)
        if c in text
        else _alone_score(X[c], y, task=task, seed=seed, folds=folds)
        for c in columns
        if c in X.columns
    }
    leaks = sorted(c for c, s in scores.items() if s is not None and s >= threshold)
    if not leaks:
        return None
    what = "balanced accuracy" if task == "classification" else "R²"
    said = ", ".join(f"{c!r} ({what} {scores[c]:.3f})" for c in leaks)
    return Finding(
        "single_column",
        f"Alone, {said} predicts the target almost perfectly (threshold {threshold}). "
        "A column that knows the answer is usually recorded after the fact; drop it with "
        "data.drop unless it will really be known at prediction time.",
        tuple(leaks),
    )


def _probe_folds(y: pd.Series, *, task: str, seed: int) -> list[tuple[Any, Any]]:
    """Three shuffled folds, stratified when every class has three rows."""
    import numpy as np
    from sklearn.model_selection import KFold, StratifiedKFold

    folds: Any = KFold(3, shuffle=True, random_state=seed)
    if task == "classification" and y.value_counts().min() >= 3:
        folds = StratifiedKFold(3, shuffle=True, random_state=seed)
    return list(folds.split(np.zeros((len(y), 1)), y.to_numpy()))


def _alone_score(
    column: pd.Series, y: pd.Series, *, task: str, seed: int, folds: list[tuple[Any, Any]]
) -> float | None:
    """Cross-validated score of a small tree that sees only this column (what
    `cross_val_predict` gives, without its per-call overhead: thousands of columns call it)."""
    import warnings

    import numpy as np
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    values = _as_number(column)
    if values is None:
        return None
    x, target = values.to_numpy().reshape(-1, 1), y.to_numpy()
    kind: Any = DecisionTreeClassifier if task == "classification" else DecisionTreeRegressor
    parts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for train, test in folds:
            tree = kind(min_samples_leaf=2, random_state=seed).fit(x[train], target[train])
            parts.append((test, tree.predict(x[test])))
    pred = np.empty(len(target), dtype=parts[0][1].dtype)
    for test, found in parts:
        pred[test] = found
    return _agreement(y, pred, classify=task == "classification")


def _text_score(column: pd.Series, y: pd.Series, *, task: str, folds: list[tuple[Any, Any]]) -> float | None:
    """Cross-validated score of TF-IDF and a linear model that see only this text column."""
    import warnings

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline

    classify = task == "classification"
    linear: Any = LogisticRegression(max_iter=1000) if classify else Ridge()
    model = make_pipeline(TfidfVectorizer(max_features=20000, ngram_range=(1, 2), sublinear_tf=True), linear)
    text = column.fillna("").astype(str).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pred = cross_val_predict(model, text, y.to_numpy(), cv=folds)
        except ValueError:  # an empty vocabulary: nothing in the text to learn from
            return None
    return _agreement(y, pred, classify=classify)


def _agreement(y: pd.Series, pred: Any, *, classify: bool) -> float:
    """Balanced accuracy (the mean recall of the classes in `y`, as scikit-learn computes it,
    without its input validation: thousands of columns call this) or R²."""
    import numpy as np
    from sklearn.metrics import r2_score

    if classify:
        truth = y.to_numpy()
        classes, codes = np.unique(truth, return_inverse=True)
        hits = np.bincount(codes, weights=(pred == truth), minlength=len(classes))
        return float(np.mean(hits / np.bincount(codes, minlength=len(classes))))
    return float(r2_score(y.to_numpy(), pred))


def _as_number(column: pd.Series) -> pd.Series | None:
    """Numbers as they are, datetimes as nanoseconds, categories as codes; text is skipped."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(column):
        return column.astype(float).fillna(-1.0)
    if pd.api.types.is_numeric_dtype(column):
        filler = float(column.min()) - 1 if column.notna().any() else 0.0
        return column.astype(float).fillna(filler)
    if pd.api.types.is_datetime64_any_dtype(column):
        return pd.Series(
            column.to_numpy().astype("datetime64[ns]").astype("int64"), index=column.index
        ).astype(float)
    if column.nunique(dropna=False) > max(50, len(column) // 2):
        return None  # free text or ids: a tree on codes would only memorise
    codes, _ = pd.factorize(column.astype(str), sort=True)
    return pd.Series(codes, index=column.index, dtype=float)


# --------------------------------------------------------------------------- id-like features
def id_like_columns(X: pd.DataFrame, *, columns: Sequence[str]) -> Finding | None:
    """Feature columns that look like row identifiers: named like one, or unique integers in a dense
    range (a row number or counter)."""
    found = sorted(c for c in columns if c in X.columns and _looks_like_id(X[c]))
    if not found:
        return None
    return Finding(
        "id_like",
        f"Id-like columns are used as features: {found!r}. An identifier carries no signal about "
        "new rows, but can correlate with the target by accident (row order, sign-up date); add "
        "them to data.drop.",
        tuple(found),
    )


def _looks_like_id(column: pd.Series) -> bool:
    from mlpact.schema import id_like

    return id_like(column) is not None


# --------------------------------------------------------------------------- groups, time
def shared_groups(train_groups: pd.Series, test_groups: pd.Series) -> Finding | None:
    """Values of the group column that appear in both splits."""
    shared = set(train_groups.dropna()) & set(test_groups.dropna())
    if not shared:
        return None
    examples = sorted(map(str, shared))[:5]
    rows = int(test_groups.isin(shared).sum())
    return Finding(
        "shared_groups",
        f"{len(shared)} groups appear in both splits (e.g. {', '.join(examples)}), covering {rows} of "
        f"{len(test_groups)} test rows: the model is tested on groups it has seen. "
        "Split by the group column (data.split.group_column without a time column).",
        (str(train_groups.name),),
    )


def older_test_rows(train_times: pd.Series, test_times: pd.Series) -> Finding | None:
    """Test rows dated before the latest training row (the model has seen their future)."""
    train_t, test_t = _as_time(train_times), _as_time(test_times)
    if train_t.dropna().empty or test_t.dropna().empty:
        return None
    latest = train_t.max()
    count = int((test_t < latest).sum())
    if not count:
        return None
    return Finding(
        "time_order",
        f"{count} of {len(test_t)} test rows are older than the latest training row ({latest}): "
        "the model was trained on their future. Split by data.split.time_column so the test "
        "split is the most recent rows.",
        (str(train_times.name),),
    )


def _as_time(series: pd.Series) -> pd.Series:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series
    return pd.to_datetime(series, errors="coerce", format="mixed")


# --------------------------------------------------------------------------- all of them
def check_split(
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    target: str,
    task: str,
    features: Sequence[str],
    group_column: str | None = None,
    time_column: str | None = None,
    threshold: float = 0.98,
    seed: int = 0,
    text: Sequence[str] = (),
) -> list[Finding]:
    """Run every guard that applies to a train/test split of raw frames (target included).

    `text`: the free-text features, each scored alone with its own TF-IDF and linear model.
    """
    found = [
        duplicate_rows(train, test, columns=features),
        single_column_leaks(
            train[list(features)],
            train[target],
            task=task,
            columns=features,
            threshold=threshold,
            seed=seed,
            text=text,
        ),
        id_like_columns(train, columns=features),
    ]
    if group_column:
        found.append(shared_groups(train[group_column], test[group_column]))
    if time_column:
        found.append(older_test_rows(train[time_column], test[time_column]))
    return [f for f in found if f is not None]
