"""The user's web page at ``/ui``: see and steer what Tailor learned.

A small vanilla JavaScript app (``service/static/ui/``: no build step, no CDN, works
offline) that talks to the same ``/v1`` API with a key the person types in. The page
itself needs no key; every call it makes sends one. Hand it to the person whose
writing is learned together with a key of their own (``POST /v1/users/{user}/keys``
or ``tailor keys create --tenant T --user U``), which reaches only their routes.

What keeps the key safe: it lives only in the page's ``sessionStorage`` (never in the
URL, ``localStorage`` or a cookie; gone when the tab closes); the page answers with a
strict Content-Security-Policy (scripts and styles from this origin only, no inline
script, no connections elsewhere, no framing); and the app writes every text that
comes from the API with ``textContent``, never as HTML.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from store.errors import NotFoundError

router = APIRouter(include_in_schema=False)

UI_DIR = Path(__file__).resolve().parent.parent / "static" / "ui"
#: the page's own assets, by name (nothing else under the folder is served here)
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@cache
def _read(name: str) -> bytes:
    return (UI_DIR / name).read_bytes()


@router.get("/ui", response_class=HTMLResponse)
async def page(request: Request) -> HTMLResponse:
    """The page; its asset URLs follow the app's root path (behind a proxy prefix)."""
    root = html.escape(str(request.scope.get("root_path", "")).rstrip("/"), quote=True)
    text = _read("index.html").decode("utf-8").replace("{{root}}", root)
    return HTMLResponse(text, headers=HEADERS)


@router.get("/ui/{asset}")
async def asset(asset: str) -> Response:
    if asset not in ASSETS:
        raise NotFoundError("no such file of the page", code="not_found")
    return Response(_read(asset), media_type=ASSETS[asset], headers=HEADERS)
