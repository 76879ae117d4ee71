"""The `check:` section: when new data has drifted, a model has lost performance, or a retrained
version differs from the original. Saved with each version, so a version carries its thresholds."""

from __future__ import annotations

from pydantic import Field

from mlpact.config._base import Section


class CheckConfig(Section):
    """Thresholds of `mlpact check` (drift, performance) and `mlpact reproduce` (tolerances)."""

    psi: float = Field(
        0.2,
        gt=0,
        description="A feature (or the predictions) whose population stability index against the "
        "training split reaches this has drifted (0.1 is a small shift, 0.25 a large one).",
    )
    p_value: float = Field(
        0.001,
        gt=0,
        lt=1,
        description="A Kolmogorov-Smirnov (numbers) or chi-squared (categories) test against the "
        "training split with a p-value below this also counts as drift.",
    )
    min_rows: int = Field(
        50,
        ge=1,
        description="Drift is judged only on at least this many rows (fewer are reported, not judged).",
    )
    performance_drop: float = Field(
        0.05,
        ge=0,
        description="With labels, a primary metric worse than the recorded test value by more than "
        "this fraction of it means retrain.",
    )
    bins: int = Field(
        10, ge=2, le=100, description="Quantile bins per numeric column in the reference statistics (PSI)."
    )
    metric_tolerance: float = Field(
        1e-6,
        ge=0,
        description="`reproduce`: a test metric of the retrained version may differ from the recorded "
        "one by at most this much.",
    )
    agreement: float = Field(
        0.99,
        ge=0,
        le=1,
        description="`reproduce`: the fraction of test rows on which both versions must predict the "
        "same (regression: within `metric_tolerance`).",
    )
