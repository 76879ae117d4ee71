"""Answering a prediction request: validate, score (through the compiled pipeline where it has
one), and the JSON bodies of answers and errors (a request id in each; never a value from the input)."""

from __future__ import annotations

import logging
import math
import re
import uuid
from typing import TYPE_CHECKING, Any

from mlpact.errors import DataError, PayloadError

if TYPE_CHECKING:
    import pandas as pd

    from mlpact.data.validation import Problem, ValidationReport
    from mlpact.serve._access import Metrics
    from mlpact.serve._predlog import PredictionLog
    from mlpact.version.model import Model

log = logging.getLogger("mlpact.serve")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # fullmatch: `$` accepts a final newline


class Telemetry:
    """What `/predict` reports besides its answer: metrics, and rows for the prediction log."""

    def __init__(self, metrics: Metrics, predictions: PredictionLog | None) -> None:
        self.metrics, self.predictions = metrics, predictions

    def refused(self, report: ValidationReport) -> None:
        self.metrics.refused(report)

    def predicted(self, model: Model, X: pd.DataFrame, result: dict[str, Any], rid: str) -> None:
        found = result["predictions"]
        self.metrics.rows.inc(len(found))
        if self.predictions is not None:
            self.predictions.add(model.ref, X, found, rid)


def request_id(given: str | None) -> str:
    """The client's X-Request-ID when it is a plain token, else a new random one."""
    return given if given is not None and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def answer(
    model: Model, records: list[dict[str, Any]], rid: str, telemetry: Telemetry | None = None
) -> tuple[bytes, int]:
    """Validate records under the version's policy, then predict: (JSON body, status)."""
    if not records:
        return dumps({"model": model.ref, "predictions": [], "probabilities": None, "warnings": []}), 200
    try:
        X, report = model.check(records)
    except (ValueError, TypeError, OverflowError) as exc:
        raise PayloadError(422, f"The input could not be read as a table ({type(exc).__name__}).") from None
    if report.errors:
        if telemetry is not None:
            telemetry.refused(report)
        return _refuse(report, rid), 422
    try:
        result = score(model, X)
    except (ValueError, TypeError, OverflowError) as exc:
        # `Model.score_rows` says a pipeline's ValueError as a DataError: name the pipeline's own
        cause = exc.__cause__ if isinstance(exc, DataError) and exc.__cause__ is not None else exc
        raise _Unscorable(
            422,
            f"The model could not score this input ({type(cause).__name__} in the pipeline), although it "
            "passed the schema checks: look for extreme or non-finite numbers.",
        ) from None
    if telemetry is not None:
        telemetry.predicted(model, X, result, rid)
    warnings = [problem_json(p) for p in report.warnings]
    return dumps({"model": model.ref, **result, "warnings": warnings}), 200


class _Unscorable(PayloadError):
    kind = "unscorable"


def _refuse(report: ValidationReport, rid: str) -> bytes:
    n = len(report.errors)
    message = f"Input does not match the model's schema: {n} error{'s' if n != 1 else ''}."
    log.warning("request %s: 422 %s\n%s", rid, message, report.format(show_values=False))
    return error_body(message, rid, [problem_json(p) for p in report.problems])


def score(model: Model, X: Any) -> dict[str, Any]:
    """Predictions (and class probabilities for classifiers) as plain JSON-ready lists.

    Scored by `Model.score_rows`: the server builds the pipeline's compiled form when it starts
    (`mlpact.version.rowpath`: the same numbers, without sklearn's per-call overhead), so every
    request uses it; any value it was not compiled for sends the request through the pipeline.
    """
    pipeline = model.pipeline
    with_proba = model.task == "classification" and hasattr(pipeline, "predict_proba")
    scores = model.score_rows(X, proba=with_proba)
    if scores.proba is not None:
        keys = [str(c.item() if hasattr(c, "item") else c) for c in pipeline.classes_]
        rows = [dict(zip(keys, row, strict=True)) for row in scores.proba.tolist()]
        return {"predictions": scores.predictions.tolist(), "probabilities": rows}
    return {"predictions": [finite(v) for v in scores.predictions.tolist()], "probabilities": None}


def problem_json(problem: Problem) -> dict[str, Any]:
    """A validation finding for a response: field, check, severity, rows and words (no values)."""
    return {
        "field": problem.column,
        "check": problem.check,
        "severity": problem.severity,
        "count": problem.count,
        "rows": problem.rows,
        "message": problem.describe(show_values=False),
    }


def error_body(message: str, rid: str, problems: list[dict[str, Any]] | None = None) -> bytes:
    return dumps({"error": message, "request_id": rid, "problems": problems or []})


def dumps(data: Any) -> bytes:
    import orjson

    return orjson.dumps(data)  # a non-finite float becomes null: JSON has no NaN


def finite(value: Any) -> Any:
    """A JSON-ready number: a non-finite float becomes None."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


CLIENT_CLOSED = 499  # nginx's "client closed request": nobody reads it, /metrics counts it


def client_gone(rid: str) -> tuple[bytes, int]:
    """The answer to a client that disconnected before sending its whole body: not a server
    error, so no 500 in the log or /metrics (the server cannot send it anyway)."""
    log.info("request %s: the client disconnected before sending the whole body", rid)
    return b"", CLIENT_CLOSED
