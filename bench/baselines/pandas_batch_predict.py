"""Baseline: batch prediction without mlpact: read the whole Parquet file, predict, write.

usage: pandas_batch_predict.py PIPELINE.joblib INPUT.parquet OUTPUT.parquet
"""

import sys

import joblib
import pandas as pd

pipeline = joblib.load(sys.argv[1])
frame = pd.read_parquet(sys.argv[2])
proba = pipeline.predict_proba(frame)
out = pd.DataFrame({"prediction": pipeline.classes_[proba.argmax(axis=1)]})
for i, cls in enumerate(pipeline.classes_):
    out[f"proba_{cls}"] = proba[:, i]
out.to_parquet(sys.argv[3], index=False)
