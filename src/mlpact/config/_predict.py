"""The `predict:` section: how batch prediction scores this version.

Nothing here changes the trained model (the compiled form gives the pipeline's exact numbers, or
is not used), so this section is not part of the config hash.
"""

from __future__ import annotations

from pydantic import Field

from mlpact.config._base import Section


class PredictConfig(Section):
    """How `mlpact predict`, `Model.predict` and `mlpact serve` score this version."""

    compiled: bool = Field(
        True,
        description="Score batches of 1,000 rows or more (and every request a server answers) "
        "through the pipeline's compiled form: its preprocessing replayed with numpy, used only "
        "where it gives scikit-learn's exact numbers on probe rows, a chunk with a value it was "
        "not compiled for going through the pipeline itself. false: always the pipeline "
        "(`mlpact predict --no-compiled` for one run).",
    )
