"""MLflow's loader hook for the models `mlpact models export --format mlflow` writes.

Every exported ``MLmodel`` names this module as its pyfunc ``loader_module``; MLflow imports it
and calls ``_load_pyfunc`` (the name MLflow requires). The export itself is `mlpact.version.mlflow`.
"""

from __future__ import annotations

from mlpact.version.mlflow import Pyfunc, load_pyfunc


def _load_pyfunc(path: str) -> Pyfunc:
    """Verify and load the version embedded in an exported MLflow model."""
    return load_pyfunc(path)
