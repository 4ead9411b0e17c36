"""The OpenAPI document as the API really answers, and the docs pages served offline.

FastAPI documents a route's success answer and its own validation error (422 with
a ``detail`` list Tailor never sends). ``install_openapi`` adds each operation's
error answers, read from what FastAPI documented of it (security, parameters, body),
all with the one error schema (``service.errors.ErrorResponse``):

- every route: 500 ``internal_error``;
- an idempotent create (``IDEMPOTENT``): 200 besides its 201, for a ``client_id`` sent again;
- a route that takes an API key (the bearer scheme of ``get_auth``): 401, 429, and 403
  (a user's key outside its user, or on a tenant-only route);
- a request body: 400 (invalid JSON, input over a limit), 413 and 422;
- path or query parameters: 422; a ``{user}`` parameter: 400 ``invalid_user_id``;
- a path id other than ``{user}`` (``{job_id}``, ``{preference_id}``, ...): 404;
- 403, 409 and 503 where the domain raises them (``EXTRA``), which the route's shape
  does not tell; ``WITHOUT`` takes away what a route's shape suggests but it never
  sends (``/metrics`` takes the operator's key, which no rate limit applies to).

``install_docs`` serves ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) with their
JavaScript and CSS from ``service/static/`` (vendored from the npm packages
``swagger-ui-dist`` and ``redoc``, see ``service/static/README.md``) instead of
FastAPI's default CDN, so the pages work on a machine without internet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from service.errors import ErrorResponse

STATIC_DIR = Path(__file__).parent / "static"
#: where the vendored docs assets are mounted (no key needed, as for /docs itself)
STATIC_URL = "/static"

DESCRIPTIONS = {
    400: "Bad request: invalid JSON, an invalid user id or input over a limit.",
    401: "Missing, unknown or revoked API key.",
    403: "A valid key that does not open this route: a user's key outside its own user's "
    "routes, or any API key on /metrics.",
    404: "No such object for this user or tenant (or, on /metrics, metrics are off).",
    409: "Conflict: an idempotency key reused with other content, or a job in the wrong state.",
    413: "Request body larger than the configured limit.",
    422: "A field is missing, of the wrong type or out of range.",
    429: "This API key is over its rate limit; see Retry-After.",
    500: "An unexpected error; it is logged on the server.",
    503: "A back-end this request needs (an LLM, a CUDA device, a base model) is unavailable.",
}

#: statuses the domain raises that a route's shape does not reveal: (method, path) -> statuses
EXTRA: dict[tuple[str, str], tuple[int, ...]] = {
    ("POST", "/v1/users/{user}/interactions"): (409,),  # client_id reused, other content
    ("POST", "/v1/users/{user}/pairs"): (409,),
    ("POST", "/v1/jobs/{job_id}/cancel"): (409,),  # already finished
    ("POST", "/v1/jobs/{job_id}/retry"): (409,),  # not failed
    # no LLM, or the provider fails; an adapter id that is not the user's
    ("POST", "/v1/users/{user}/generate"): (404, 503),
    ("POST", "/v1/users/{user}/principles"): (503,),  # method 'llm' without an LLM
    # the feedback or preferences to train on not found; no CUDA device, base model missing
    ("POST", "/v1/users/{user}/adapters"): (404, 503),
    # Inference for a policy never calls an LLM inline: no 503 on /policy.
    ("GET", "/metrics"): (403, 404),  # a tenant key; no TAILOR_METRICS_KEY set
}
#: statuses a route's shape suggests but it never sends: (method, path) -> statuses
WITHOUT: dict[tuple[str, str], tuple[int, ...]] = {
    ("GET", "/metrics"): (429,),  # the operator's key is not rate-limited
    ("GET", "/v1/key"): (403,),  # any valid key may read what it is
}

#: creating routes that answer 200 with the stored record when a ``client_id`` comes again
IDEMPOTENT = {("POST", "/v1/users/{user}/interactions"), ("POST", "/v1/users/{user}/pairs")}

ERROR_REF = "#/components/schemas/Error"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def error_statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses an operation can answer with (see the module docstring).

    Read from the operation FastAPI documented (its security requirement, parameters
    and body), which holds across FastAPI's ways of keeping routes.
    """
    statuses = {500}
    if operation.get("security"):  # the bearer scheme of ``get_auth``
        statuses |= {401, 403, 429}
    params = operation.get("parameters", [])
    path_params = {p["name"] for p in params if p.get("in") == "path"}
    if "requestBody" in operation:
        statuses |= {400, 413, 422}
    if params:
        statuses.add(422)
    if "user" in path_params:
        statuses.add(400)
    if path_params - {"user"}:
        statuses.add(404)
    statuses |= set(EXTRA.get((method.upper(), path), ()))
    return statuses - set(WITHOUT.get((method.upper(), path), ()))


def with_errors(base: dict[str, Any]) -> dict[str, Any]:
    """A copy of the OpenAPI document ``base`` with every operation's error answers."""
    schema: dict[str, Any] = json.loads(json.dumps(base))  # FastAPI keeps and reuses ``base``
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["Error"] = error_schema
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            if (method.upper(), path) in IDEMPOTENT and "201" in responses:
                replay = {
                    **responses["201"],
                    "description": "The same `client_id` again: the "
                    "record stored the first time; nothing is duplicated.",
                }
                responses.setdefault("200", replay)
            for status in sorted(error_statuses(method, path, operation)):
                # Replaces FastAPI's own 422 (HTTPValidationError), which Tailor never sends.
                responses[str(status)] = {
                    "description": DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
                }
    text = json.dumps(schema)
    for unused in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{unused}"' not in text:
            components.pop(unused, None)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so ``/openapi.json``) document every error answer."""
    built: dict[str, Any] = {}
    default = app.openapi

    def openapi() -> dict[str, Any]:
        base = default()  # FastAPI's, cached and rebuilt when routes change
        if built.get("base") is not base:
            built["base"], built["schema"] = base, with_errors(base)
        schema: dict[str, Any] = built["schema"]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook


def install_docs(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Swagger UI at ``docs_url`` and ReDoc at ``redoc_url``, with assets from this package.

    Create the app with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are
    not registered too.
    """
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")
    openapi_url = app.openapi_url or "/openapi.json"

    def prefix(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = prefix(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{STATIC_URL}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_URL}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_URL}/swagger-ui/favicon-32x32.png",
            # No spec validator badge: it would send the spec to validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    async def redoc(request: Request) -> HTMLResponse:
        root = prefix(request)
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{STATIC_URL}/redoc/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_URL}/swagger-ui/favicon-32x32.png",
            with_google_fonts=False,  # the page's own fonts, not fonts.googleapis.com
        )

    app.add_route(docs_url, swagger_ui, include_in_schema=False)
    app.add_route(redoc_url, redoc, include_in_schema=False)
