"""`POST /predict/image` for image models: image files uploaded as multipart form data."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from mlpact.errors import plural
from mlpact.serve._access import MODEL_HEADER
from mlpact.serve._answer import client_gone, dumps, error_body, problem_json, request_id

if TYPE_CHECKING:
    from fastapi import FastAPI

    from mlpact.config import ServeConfig
    from mlpact.serve._holder import ModelHolder

log = logging.getLogger("mlpact.serve")


IMAGE_PATH = "/predict/image"


# The request body as the OpenAPI page shows it: a form with one or more files (an upload button).
_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "One or more image files (any form field name works).",
                    }
                },
                "required": ["file"],
            }
        }
    },
}


def add_image_predict(app: FastAPI, holder: ModelHolder, settings: ServeConfig) -> None:
    """Add `/predict/image`: every uploaded file is one image; answers like `/predict`."""
    from fastapi import Request, Response
    from starlette.requests import ClientDisconnect

    from mlpact.serve._contract import ErrorResponse, ImagePredictResponse

    async def predict_image(request: Request) -> Response:
        """Predict uploaded images (multipart/form-data, one or more files)."""
        rid = request_id(request.headers.get("x-request-id"))
        model: Any = holder.model  # an ImageModel (mlpact.torch.predicting), typed loosely: no torch here
        try:
            names, images = await _read_uploads(request, settings)
            found = model.read(images, names=names)
            if found.report.errors:
                problems = [problem_json(p) for p in found.report.errors]
                content, status = error_body(_refusal(found.errors, names), rid, problems), 422
            else:
                body = {"model": model.ref, "files": names, **_score(model, found.images)}
                body["warnings"] = [problem_json(p) for p in found.report.warnings]
                content, status = dumps(body), 200
        except _UploadError as exc:
            log.warning("request %s: %d %s", rid, exc.status, exc.message)
            content, status = error_body(exc.message, rid), exc.status
        except ClientDisconnect:
            content, status = client_gone(rid)
        headers = {"x-request-id": rid, MODEL_HEADER: model.ref}
        return Response(content, status_code=status, media_type="application/json", headers=headers)

    errors = {"model": ErrorResponse}
    responses: dict[int | str, dict[str, Any]] = {
        200: {"model": ImagePredictResponse, "description": "Predictions, in upload order."},
        413: {**errors, "description": "Too many files or bytes (see --max-rows, --max-bytes)."},
        415: {**errors, "description": "The body is not multipart/form-data."},
        422: {**errors, "description": "No file, or a file that is not an image (each one named)."},
    }
    predict_image.__annotations__ = {"request": Request, "return": Response}
    summary = "Predict uploaded images (multipart/form-data)"
    app.post(IMAGE_PATH, response_model=None, summary=summary, responses=responses,
             openapi_extra={"requestBody": _UPLOAD_BODY})(predict_image)  # fmt: skip


def _score(model: Any, images: list[Any]) -> dict[str, Any]:
    """Predictions and probabilities per upload (null for one that could not be read)."""
    kept = [i for i, image in enumerate(images) if image is not None]
    predictions: list[Any] = [None] * len(images)
    probabilities: list[Any] = [None] * len(images)
    if kept:
        proba = model.pipeline.predict_proba([images[i] for i in kept])
        keys = [str(c) for c in model.pipeline.classes_]
        for at, row in zip(kept, proba.tolist(), strict=True):
            probabilities[at] = dict(zip(keys, row, strict=True))
            predictions[at] = keys[max(range(len(row)), key=row.__getitem__)]
    return {"predictions": predictions, "probabilities": probabilities}


def _refusal(failed: dict[int, str], names: list[str]) -> str:
    listed = ", ".join(repr(names[i]) for i in sorted(failed))
    return (
        f"{len(failed)} of {plural(len(names), 'uploaded file')} cannot be read as images ({listed}); this "
        "version's validation policy makes that an error (unreadable_image: error)."
    )


class _UploadError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


async def _read_uploads(request: Any, settings: ServeConfig) -> tuple[list[str], list[bytes]]:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise _UploadError(
            415, f"Send images as multipart/form-data files to {IMAGE_PATH} (e.g. curl -F file=@cat.jpg)."
        )
    form = await request.form(max_files=settings.max_rows)
    uploads = [value for _, value in form.multi_items() if hasattr(value, "read")]
    if not uploads:
        raise _UploadError(422, "The form has no file: send each image as a file field.")
    names, images, total = [], [], 0
    for i, upload in enumerate(uploads):
        data = await upload.read()
        total += len(data)
        if total > settings.max_bytes:
            raise _UploadError(413, f"The upload exceeds {settings.max_bytes} bytes (see --max-bytes).")
        names.append(str(upload.filename or f"file {i + 1}"))
        images.append(data)
    return names, images
