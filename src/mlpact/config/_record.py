"""The `record:` section: what a version keeps so it can answer for its behaviour later.

Golden examples (input rows and their outputs, re-predicted by `models verify`, `models import`
and `serve`), the test split's predictions for `models errors`, the lock of installed packages,
and the training-data profile in the report. None of it changes the trained model, so this
section is not part of the config hash.
"""

from __future__ import annotations

from pydantic import Field

from mlpact.config._base import Section


class RecordConfig(Section):
    """What a version records besides the model: golden rows, test predictions, lock, profile."""

    golden_rows: int = Field(
        5,
        ge=0,
        description="Test-split rows (chosen by the seed) saved with their predictions and "
        "probabilities in `golden.json`, and re-predicted to catch an environment that predicts "
        "differently. These are real input rows: use 0 when the data must not be copied.",
    )
    golden_rtol: float = Field(
        1e-6, ge=0, description="Relative tolerance for golden probabilities and values."
    )
    golden_atol: float = Field(
        1e-9, ge=0, description="Absolute tolerance for golden probabilities and values."
    )
    test_rows: bool = Field(
        False,
        description="Also save the test split's input values in `errors.parquet` (default: only row "
        "hashes, positions, truth and predictions; `models errors` joins the rows from the source "
        "when it still has the recorded fingerprint).",
    )
    lock: bool = Field(
        True, description="Save `requirements.lock`: every installed distribution and its version."
    )
    profile: bool = Field(
        True,
        description="Profile the training split (missing values, outliers, target and feature "
        "distributions) into the report, with plots.",
    )
    profile_max_columns: int = Field(
        12, ge=1, description="At most this many feature distributions are plotted (the first ones)."
    )
