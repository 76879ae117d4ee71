"""Baseline for `ui_ready`: the least a Python web UI must do before its first page, a FastAPI
app with one route served by uvicorn (usage: bare_fastapi_app.py PORT)."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

app = FastAPI()


@app.get("/models", response_class=HTMLResponse)
def models() -> str:
    return "<h1>Models</h1>"


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
