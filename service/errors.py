"""Every error the API returns, mapped in one place.

Errors leave as ``{"error": {"code": ..., "message": ...}}`` with a stable
code; a stack trace never does. Domain errors (``store.errors``) map by type;
FastAPI/Starlette's own errors (validation, unknown routes) are reshaped; a
surprise becomes a JSON 500 inside the app (``CatchAllMiddleware``), so the
connection it came on stays usable; a request the HTTP parser rejects (a
malformed ``Content-Length``, a broken request line) gets the same JSON shape
from ``JSONErrorH11Protocol``.
"""

from __future__ import annotations

import json
import logging

import h11
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

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


class ForbiddenError(TailorError):
    """A valid credential that does not reach this route (e.g. a tenant key on /metrics)."""

    code = "forbidden"


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
    ForbiddenError: 403,
    NotFoundError: 404,
    ConflictError: 409,
    PayloadTooLargeError: 413,
    RateLimitedError: 429,
    UnavailableError: 503,
}

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Stable, machine-readable code, e.g. `invalid_user_id`.")
    message: str = Field(description="What went wrong, for a person; never a trace or a path.")


class ErrorResponse(BaseModel):
    """The body of every error answer (documented on every route by ``service.openapi``)."""

    model_config = ConfigDict(extra="forbid", title="Error")

    error: ErrorDetail


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


INTERNAL_ERROR = error_body("internal_error", "an unexpected error occurred; it has been logged")
MALFORMED_REQUEST = error_body(
    "bad_request", "malformed HTTP request (request line, headers or body framing)"
)


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
        headers = exc.headers
        if exc.status_code == 405 and (allowed := allowed_methods(request)):
            # Starlette names the methods of the first route whose path matched;
            # a path served by several routes (GET and POST /pairs) allows them all.
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only what escapes CatchAllMiddleware (a failure in the middleware stack
        # itself) lands here; Starlette then re-raises and uvicorn drops the connection.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(INTERNAL_ERROR, status_code=500)


#: the methods a 405's ``Allow`` may name (HEAD only where a route really serves it)
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on the request's path, in ``METHODS`` order.

    Asked of the router by matching the request once per method, so it holds however
    the framework nests included routers (FastAPI >= 0.16x keeps them unflattened).
    Mounts (the static files) match any method and serve their own 405s: skipped.
    """
    routes = [r for r in request.app.router.routes if not isinstance(r, Mount)]
    allowed = []
    for method in METHODS:
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return allowed


class CatchAllMiddleware:
    """Answers an exception no handler took with the JSON 500, and ends there.

    Starlette's ``ServerErrorMiddleware`` sends its 500 and then re-raises (so test
    clients see the error), and uvicorn answers a re-raised error by closing the
    connection: a keep-alive client's next request on it was reset. Added as the
    outermost user middleware, this also catches failures of the other middleware.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                # Half a response is out: only closing the connection tells the client.
                raise
            response = JSONResponse(INTERNAL_ERROR, status_code=500)
            await response(scope, receive, send)


class JSONErrorH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the JSON error shape for requests h11 cannot parse.

    h11 rejects a malformed ``Content-Length`` (or request line, or header) before
    any ASGI app runs, and uvicorn answers that with a plain-text 400; this sends
    the same 400 (and still closes the connection: the request's framing is lost)
    with ``{"error": {"code": "bad_request", ...}}``. ``tailor serve`` passes it as
    uvicorn's ``http=`` protocol.
    """

    def send_400_response(self, msg: str) -> None:
        body = json.dumps(MALFORMED_REQUEST).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            output = self.conn.send(event)
            if output:
                self.transport.write(output)
        self.transport.close()
