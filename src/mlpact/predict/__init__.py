"""Batch prediction: a file (or a folder of Parquet files) through a saved version.

`local` streams a CSV or Parquet file in chunks in this process; `ray` sends Parquet row groups
through a pool of Ray actors, with the same output, row order and validation report.
"""

from __future__ import annotations

from mlpact.predict.local import DEFAULT_CHUNK_ROWS, PredictResult, predict_file

__all__ = ["DEFAULT_CHUNK_ROWS", "PredictResult", "predict_file"]
