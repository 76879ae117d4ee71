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

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlpact._callable import make_callable
from mlpact.check.core import (
    CheckResult,
    Performance,
    Retrained,
    Verdict,
    check_frame,
    judge,
    load_model,
    metric_drop,
    new_categories,
    read_data,
    record_check,
    refuse_image_retrain,
    retrain_on,
    retyped_columns,
    to_html,
)
from mlpact.config import thresholds_for
from mlpact.errors import DataError
from mlpact.store import Store

if TYPE_CHECKING:
    import pandas as pd

    from mlpact._core.progress import Progress
    from mlpact.version.model import Model

__all__ = [
    "CheckResult",
    "Performance",
    "Retrained",
    "Verdict",
    "check_data",
    "judge",
    "metric_drop",
    "new_categories",
    "retrain_on",
    "retyped_columns",
    "to_html",
]


def check_data(
    model: str | Path | Model,
    data: str | Path | pd.DataFrame,
    *,
    target: str | None = None,
    thresholds: Mapping[str, Any] | None = None,
    store: str | Path | Store | None = None,
    sep: str = ",",
    trust: Iterable[str] = (),
    retrain: bool = False,
    promote: str | None = None,
    progress: Progress | None = None,
) -> CheckResult:
    """Judge new data against a saved version: reload, retrain, inconclusive or incompatible, with reasons.

    Args:
        model: a reference (``name``, ``name:3``, ``name@alias``), a version folder or a loaded model.
        data: a CSV or Parquet file, or a DataFrame. Image models: a folder of images (of class
            folders named like the version's classes, for performance too); see
            `mlpact.check.images`.
        target: the label column; default: the version's target, when the data has it. With
            labels, performance is compared with the recorded test metrics.
        thresholds: overrides of the version's `check:` section (e.g. ``{"psi": 0.1}``).
        retrain: also train the recorded config on this data (a file) and compare old and new on
            the same holdout (:func:`retrain_on`); the comparison is the result's `retrained`.
        promote: with `retrain`, the alias to move to the new version when it is better.

    Raises:
        ConfigError: a threshold override is invalid.
        DataError: the data cannot be read, or the named target column is missing; `retrain`
            with a DataFrame.
    """

    db = Store.open(store)
    loaded = load_model(model, db, trust)
    settings = thresholds_for(loaded.config, thresholds)
    if retrain:
        refuse_image_retrain(loaded)  # before any work: image versions are not retrained here
    if getattr(loaded, "takes_images", False):
        from mlpact.check.images import check_images

        return check_images(loaded, data, settings)  # type: ignore[arg-type]
    frame = read_data(data, sep=sep)
    result = check_frame(loaded, frame, settings, target=target)
    record_check(loaded, result, data)
    if retrain:
        if not isinstance(data, str | Path):
            raise DataError("Retraining needs the new data as a CSV or Parquet file, not a DataFrame.")
        result.retrained = retrain_on(
            model, data, target=target, promote=promote, store=db, sep=sep, trust=trust, progress=progress
        )
    return result


make_callable(__name__, check_data)  # `mlpact.check(model, data)` is check_data
