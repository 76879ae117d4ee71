"""The `check:` section: when new data has drifted, a model has lost performance, or a retrained
version differs from the original. Saved with each version, so a version carries its thresholds."""

from __future__ import annotations

from pydantic import Field

from mlpact.config._base import Section


class CheckConfig(Section):
    """Thresholds of `mlpact check` (drift, performance) and `mlpact reproduce` (tolerances)."""

    p_value: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="The false-alarm rate of the whole check: on data from the training distribution, "
        "at most this share of checks end in retrain. Every test (each column's drift, the "
        "predictions', a performance drop) is Holm-corrected against this family-wise rate.",
    )
    psi: float = Field(
        0.1,
        ge=0,
        description="A change beyond chance counts as drift only when its population stability index "
        "reaches this (0.1: a small shift; 0: every significant change), so a large batch does "
        "not call a negligible difference drift.",
    )
    min_rows: int = Field(
        50,
        ge=1,
        description="Fewer rows than this are never judged: the verdict is inconclusive.",
    )
    shift: float | None = Field(
        0.5,
        gt=0,
        description="The check is sized to catch a shift of this many standard deviations in any one "
        "numeric column (with probability `power`); with nothing found on fewer rows than that "
        "needs, the verdict is inconclusive. Null: only `min_rows` decides.",
    )
    power: float = Field(
        0.8,
        gt=0,
        lt=1,
        description="The probability with which the check must catch a `shift` for a verdict of reload.",
    )
    performance_drop: float = Field(
        0.05,
        ge=0,
        description="With labels, the primary metric worse than the recorded test value by more than "
        "this fraction of it, and by more than chance allows (both sample sizes), means retrain.",
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
