"""`POST /predict/image` for image models: image files uploaded as multipart form data."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from mlpact.config import ServeConfig
    from mlpact.serve._holder import ModelHolder

log = logging.getLogger("mlpact.serve")


def add_image_predict(app: FastAPI, holder: ModelHolder, settings: ServeConfig) -> None:
    """Add `/predict/image`: every uploaded file is one image; answers like `/predict`."""
    from fastapi import Request, Response
    from starlette.requests import ClientDisconnect

    from mlpact.serve._access import MODEL_HEADER
    from mlpact.serve._app import _dumps, client_gone, error_body, request_id, score

    async def predict_image(request: Request) -> Response:
        """Predict uploaded images (multipart/form-data, one or more files)."""
        rid = request_id(request.headers.get("x-request-id"))
        model = holder.model
        try:
            names, images = await _read_uploads(request, settings)
            content, status = _dumps({"model": model.ref, "files": names, **score(model, images)}), 200
        except _UploadError as exc:
            log.warning("request %s: %d %s", rid, exc.status, exc.message)
            content, status = error_body(exc.message, rid), exc.status
        except ValueError as exc:  # DataError: a file is not an image
            content, status = error_body(str(exc), rid), 422
        except ClientDisconnect:
            content, status = client_gone(rid)
        headers = {"x-request-id": rid, MODEL_HEADER: model.ref}
        return Response(content, status_code=status, media_type="application/json", headers=headers)

    predict_image.__annotations__ = {"request": Request, "return": Response}
    summary = "Predict uploaded images (multipart/form-data)"
    app.post("/predict/image", response_model=None, summary=summary)(predict_image)


class _UploadError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


async def _read_uploads(request: Any, settings: ServeConfig) -> tuple[list[str], list[bytes]]:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise _UploadError(415, "Send images as multipart/form-data files (e.g. curl -F file=@cat.jpg).")
    form = await request.form(max_files=settings.max_rows)
    uploads = [value for _, value in form.multi_items() if hasattr(value, "read")]
    if not uploads:
        raise _UploadError(422, "The form has no file: send each image as a file field.")
    names, images, total = [], [], 0
    for upload in uploads:
        data = await upload.read()
        total += len(data)
        if total > settings.max_bytes:
            raise _UploadError(413, f"The upload exceeds {settings.max_bytes} bytes (see --max-bytes).")
        names.append(str(upload.filename or ""))
        images.append(data)
    return names, images
