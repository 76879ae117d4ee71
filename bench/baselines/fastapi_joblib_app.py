"""Baseline: the FastAPI app a user writes by hand around a joblib pipeline.

usage: fastapi_joblib_app.py PIPELINE.joblib PORT
"""

import sys
from typing import Any

import joblib
import pandas as pd
import uvicorn
from fastapi import FastAPI

pipeline = joblib.load(sys.argv[1])
app = FastAPI()


@app.post("/predict")
async def predict(records: list[dict[str, Any]]) -> dict[str, Any]:
    proba = pipeline.predict_proba(pd.DataFrame(records))
    classes = [str(c) for c in pipeline.classes_]
    return {
        "predictions": pipeline.classes_[proba.argmax(axis=1)].tolist(),
        "probabilities": [dict(zip(classes, row, strict=True)) for row in proba.tolist()],
    }


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
