"""Every error the API returns, mapped in one place.

Errors leave as ``{"error": {"code": ..., "message": ...}}`` with a stable
code; a stack trace never does. Domain errors (``store.errors``) map by type;
FastAPI/Starlette's own errors (validation, unknown routes) are reshaped.
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from store.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    TailorError,
    UnavailableError,
)

log = logging.getLogger("tailor")


class UnauthorizedError(TailorError):
    code = "unauthorized"


class PayloadTooLargeError(TailorError):
    code = "payload_too_large"


class RateLimitedError(TailorError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


STATUS: dict[type[TailorError], int] = {
    InvalidInputError: 400,
    UnauthorizedError: 401,
    NotFoundError: 404,
    ConflictError: 409,
    PayloadTooLargeError: 413,
    RateLimitedError: 429,
    UnavailableError: 503,
}

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def status_of(exc: TailorError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TailorError)
    async def _tailor(request: Request, exc: TailorError) -> JSONResponse:
        headers = None
        if isinstance(exc, UnauthorizedError):
            headers = {"WWW-Authenticate": "Bearer"}
        elif isinstance(exc, RateLimitedError):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=status_of(exc), headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse(
                error_body("invalid_json", "the request body is not valid JSON"), status_code=400
            )
        parts = []
        for e in errors[:10]:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            parts.append(f"{where}: {e.get('msg', 'invalid')}")
        return JSONResponse(error_body("validation_error", "; ".join(parts)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return JSONResponse(
            error_body(code, message), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The one place a surprise is caught: logged with its trace for the
        # operator, answered without it.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            error_body("internal_error", "an unexpected error occurred; it has been logged"),
            status_code=500,
        )
