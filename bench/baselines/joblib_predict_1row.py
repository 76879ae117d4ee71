"""Baseline: what a user writes without mlpact to predict one row in a fresh process.

usage: joblib_predict_1row.py PIPELINE.joblib ROW_JSON
"""

import json
import sys

import joblib
import pandas as pd

pipeline = joblib.load(sys.argv[1])
row = json.loads(sys.argv[2])
print(pipeline.predict(pd.DataFrame([row]))[0])
