"""Error inspection: which rows went to which split, and the test rows the version got most wrong.

At save time two small Parquet files go into the version (listed and hashed in the manifest):

- ``split.parquet``: per row of the prepared data (rows without a target dropped), its position,
  a 64-bit hash of its values (pandas' ``hash_pandas_object``) and its split. No values.
- ``errors.parquet``: per test row, its position and hash, the truth, the prediction (with the
  version's decision applied) and the class probabilities; the input values too only with
  ``record.test_rows: true``.

:func:`errors` ranks the test rows by loss (classification: ``-log P(true class)``, so confident
mistakes come first; regression: absolute error) and joins their values from the original source
when it can still be read and has the recorded fingerprint.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact._core import files
from mlpact.errors import MlpactError, NotFoundError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlpact._core.metrics import Predictions
    from mlpact.version.model import Model

SPLIT = "split.parquet"
ERRORS = "errors.parquet"
_EPS = 1e-15

__all__ = [
    "ERRORS",
    "SPLIT",
    "compare_splits",
    "errors",
    "overlap",
    "recorded_rows",
    "row_hashes",
    "write",
    "write_images",
]


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's values (not its index)."""
    from mlpact.data.sources import hash_rows

    return hash_rows(frame)


def write(
    directory: Path,
    frame: pd.DataFrame,
    train: np.ndarray,
    test: np.ndarray,
    found: Predictions,
    *,
    columns: list[str] | None = None,
    features: pd.DataFrame | None = None,
) -> None:
    """Write split.parquet and errors.parquet (test inputs too when `columns` names them).

    `features`: the rows' feature values as the schema types them (`schema.coerce`), row for row
    with `frame`; their hashes let `mlpact evaluate` recognise training rows in new data.
    """
    import numpy as np
    import pandas as pd

    hashes = row_hashes(frame)
    split = np.full(len(frame), "", dtype=object)
    split[train], split[test] = "train", "test"
    kept = split != ""
    positions = np.flatnonzero(kept)
    table = pd.DataFrame({"row": positions, "hash": hashes[kept], "split": split[kept]})
    if features is not None:
        table.insert(2, "features", row_hashes(features)[kept])
    _parquet(table, directory / SPLIT)
    table = pd.DataFrame({"row": np.asarray(test), "hash": hashes[test]})
    table["truth"] = np.asarray(found.y, dtype=object)
    table["prediction"] = np.asarray(found.pred, dtype=object)
    if found.proba is not None and found.classes is not None:
        for i, cls in enumerate(found.classes):
            table[f"proba_{cls}"] = found.proba[:, i]
    if columns:
        values = frame.iloc[test][columns].reset_index(drop=True)
        table = pd.concat([table, values.add_prefix("input.")], axis=1)
    _parquet(table, directory / ERRORS)


def write_images(
    directory: Path,
    root: Path,
    split: Mapping[Path, str],
    digests: Mapping[Path, bytes],
    test: list[Path],
    found: Predictions,
) -> None:
    """split.parquet and errors.parquet of an image version: one row per image file, keyed by its
    path (relative to the image folder) and the first 8 bytes of its sha256."""
    import numpy as np
    import pandas as pd

    def key(path: Path) -> int:
        return int.from_bytes(digests[path][:8], "big")

    paths = list(split)
    names = {p: p.relative_to(root).as_posix() for p in [*split, *test]}
    hashes = {p: key(p) for p in names}
    table = {
        "row": np.arange(len(paths)),
        "path": [names[p] for p in paths],
        "hash": np.asarray([hashes[p] for p in paths], dtype="uint64"),
        "split": [split[p] for p in paths],
    }
    _parquet(pd.DataFrame(table), directory / SPLIT)
    errors = pd.DataFrame(
        {"row": np.arange(len(test)), "hash": np.asarray([hashes[p] for p in test], "uint64")}
    )
    errors["path"] = [names[p] for p in test]
    errors["truth"] = np.asarray(found.y, dtype=object)
    errors["prediction"] = np.asarray(found.pred, dtype=object)
    if found.proba is not None and found.classes is not None:
        for i, cls in enumerate(found.classes):
            errors[f"proba_{cls}"] = found.proba[:, i]
    _parquet(errors, directory / ERRORS)


def _parquet(table: pd.DataFrame, path: Path) -> None:

    for col in table.columns:  # mixed-type object columns (labels) are stored as their text
        if table[col].dtype == object and table[col].map(type).nunique() > 1:
            table[col] = table[col].astype(str)
    import io

    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    files.write_bytes(path, buffer.getvalue())


# --------------------------------------------------------------------------- reading
def errors(model: Model, *, n: int = 20, join: bool = True) -> pd.DataFrame:
    """The `n` worst-predicted test rows, worst first.

    Columns: ``row`` (position in the prepared data), ``hash``, ``truth``, ``prediction``,
    ``loss``, then ``proba_<class>`` (classifiers) and the input values (``input.<column>``)
    when they were saved or the source still has the recorded fingerprint. Image versions
    have ``path`` (the image file, relative to the image folder) after ``hash``.

    Raises:
        NotFoundError: the version was saved before mlpact recorded its test predictions, or with
            `mlpact.save` without test data.
    """
    import pandas as pd

    if ERRORS not in (model.manifest.get("files") or {}) and model.lineage.get("origin") == "external":
        raise NotFoundError(
            f"{model.ref} was saved with mlpact.save without test data, so it has no test predictions.",
            hint="Save it again with test_data=..., or score it on labelled data with `mlpact evaluate`.",
        )
    if ERRORS not in (model.manifest.get("files") or {}):
        raise NotFoundError(
            f"{model.ref} has no recorded test predictions (saved before mlpact recorded them).",
            hint=f"`mlpact reproduce {model.ref}` makes a version that has them.",
        )
    table = pd.read_parquet(model.path / ERRORS)
    table.insert(5 if "path" in table.columns else 4, "loss", _loss(table, model.task))
    worst = table.sort_values(["loss", "row"], ascending=[False, True], kind="mergesort").head(n)
    worst["hash"] = [f"{h:016x}" for h in worst["hash"].astype("uint64")]
    if join and "path" not in worst.columns and not any(c.startswith("input.") for c in worst.columns):
        worst = _join_source(model, worst)
    return worst.reset_index(drop=True)


def _loss(table: pd.DataFrame, task: str) -> Any:
    import numpy as np

    if task != "classification":
        return (table["prediction"].astype(float) - table["truth"].astype(float)).abs()
    proba = [c for c in table.columns if c.startswith("proba_")]
    if not proba:
        return (table["prediction"].astype(str) != table["truth"].astype(str)).astype(float)
    names = [c.removeprefix("proba_") for c in proba]
    where = {name: i for i, name in enumerate(names)}
    cols = table[proba].to_numpy(dtype=float)
    idx = np.asarray([where.get(str(t), -1) for t in table["truth"]])
    p_true = np.where(idx >= 0, cols[np.arange(len(cols)), np.maximum(idx, 0)], 0.0)
    return -np.log(np.clip(p_true, _EPS, 1.0))


def _join_source(model: Model, worst: pd.DataFrame) -> pd.DataFrame:
    """Add the input values from the recorded source, when it still has the recorded fingerprint."""
    frame = recorded_rows(model)
    if frame is None:
        return worst
    by_hash = {f"{h:016x}": i for i, h in enumerate(row_hashes(frame))}
    at = [by_hash.get(h) for h in worst["hash"]]
    if any(i is None for i in at):
        return worst
    cols = [c for c in model.schema.names if c in frame.columns]
    values = frame.iloc[[int(i) for i in at if i is not None]][cols].reset_index(drop=True)
    return worst.reset_index(drop=True).join(values.add_prefix("input."))


def recorded_rows(model: Model) -> pd.DataFrame | None:
    """The version's prepared rows (rows without a target dropped, positions as in split.parquet)
    read again from its recorded source; None unless it still has the recorded fingerprint."""
    from mlpact.data.sources import fingerprint, load_frame

    try:
        cfg = model.recorded_config()  # a relative source, resolved where it was read at training
        frame = load_frame(cfg)
    except (MlpactError, OSError, ValueError):
        return None
    if fingerprint(frame) != (model.lineage.get("data") or {}).get("fingerprint"):
        return None
    target = cfg.data.target
    return frame[frame[target].notna()].reset_index(drop=True)


def overlap(model: Model, X: pd.DataFrame) -> dict[str, Any] | None:
    """How many rows of `X` (coerced to the version's schema) are rows of its training split, and
    how many of its test split, by the feature hashes saved in split.parquet.

    A version saved before those hashes were kept is compared with its recorded source when it
    can still be read with the recorded fingerprint (the training split's rows by split.parquet,
    or the whole source when the version recorded no split; the result says which).

    Returns:
        ``{"rows", "training", "test", "compared_with"}``; None when nothing can be compared.
    """
    import pandas as pd

    from mlpact.data.schema import coerce

    table = pd.read_parquet(model.path / SPLIT) if SPLIT in (model.manifest.get("files") or {}) else None
    if table is not None and "features" in table.columns:
        parts = {
            p: set(table.loc[table["split"] == p, "features"].astype("uint64")) for p in ("train", "test")
        }
        how = "the feature hashes of the version's training and test splits (split.parquet)"
    else:
        source = recorded_rows(model)
        if source is None:
            return None
        hashed = row_hashes(coerce(source, model.schema))
        if table is None:
            parts = {"train": set(hashed), "test": set()}
            how = "the recorded source as a whole (this version recorded no split)"
        else:
            parts = {
                p: set(hashed[table.loc[table["split"] == p, "row"].to_numpy()]) for p in ("train", "test")
            }
            how = "the recorded source's training and test rows (recomputed: an older version)"
    new = row_hashes(coerce(X, model.schema))
    in_train = pd.Series(new).isin(parts["train"]).to_numpy()
    in_test = pd.Series(new).isin(parts["test"]).to_numpy() & ~in_train
    return {"rows": len(X), "training": int(in_train.sum()), "test": int(in_test.sum()), "compared_with": how}


def compare_splits(old: Path, old_manifest: Mapping[str, Any], new: Path) -> dict[str, Any] | None:
    """Whether two versions put the same rows (by hash) in each split; None when the old one
    recorded no split."""
    import pandas as pd

    if SPLIT not in (old_manifest.get("files") or {}) or not (new / SPLIT).exists():
        return None
    a, b = pd.read_parquet(old / SPLIT), pd.read_parquet(new / SPLIT)
    out: dict[str, Any] = {}
    parts = [p for p in ("train", "validation", "test") if p in set(a["split"]) | set(b["split"])]
    for part in parts:
        was = a.loc[a["split"] == part, "hash"].value_counts()
        now = b.loc[b["split"] == part, "hash"].value_counts()
        moved = int((was.subtract(now, fill_value=0).abs()).sum())
        out[part] = {"rows_recorded": int(was.sum()), "rows_now": int(now.sum()), "rows_differing": moved}
    out["identical"] = all(out[p]["rows_differing"] == 0 for p in parts)
    return out
