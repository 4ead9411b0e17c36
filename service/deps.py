"""FastAPI dependencies as ``Annotated`` aliases: what a route needs, resolved per request.

These are the only readers of ``app.state`` (filled by the app's lifespan); routes
take the typed aliases.

Who reaches what: ``get_auth`` resolves the API key, of a tenant or of one user of it
(``store.keys``). ``TenantDep`` serves routes of one user (``{user}`` in the path: a
user's key passes only for its own) and tenant-wide routes (a user's key: 403);
``TenantKeyDep`` serves routes no user's key opens, even on its own path (minting
keys); a route whose user comes in its body takes ``AuthDep`` and calls
``require_user_access``. ``tests/test_user_keys.py`` holds every route to one of these.

Dependencies that do no I/O are ``async def``: FastAPI runs sync ones on the
thread pool, and each hop cost ~0.3 ms per request (measured).
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from learners.backends.embeddings import Embedder
from learners.core.engine import Engine
from service.errors import ForbiddenError, UnauthorizedError
from service.middleware import Metrics
from service.ratelimit import RateLimiter, TenantSlots
from service.settings import Settings
from store.db import Store
from store.errors import InvalidInputError, NotFoundError
from store.keys import authenticate, authenticate_key, hash_key
from store.records import ID_PATTERN, ID_RULE, ApiKey, valid_id

_bearer = HTTPBearer(auto_error=False, description="An API key from `tailor keys create`.")


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_model(request: Request) -> Embedder:
    """The embedding model for whole-batch work (C3PO data sets, ICAI clustering)."""
    model: Embedder = request.app.state.model
    return model


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ModelDep = Annotated[Embedder, Depends(get_model)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]


async def get_auth(
    request: Request,
    store: StoreDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AsyncIterator[ApiKey]:
    """The request's API key (its tenant, and its user for a user key); 401 for a
    missing, unknown or revoked key, 429 when the key is over its rate limit or has
    too many requests waiting.

    The request then holds one of its tenant's slots (``ratelimit.TenantSlots``) until
    its response is sent: one tenant's burst cannot occupy every worker thread.

    A route takes ``AuthDep`` directly only when the user it serves is not in its path
    (in its body): it must then call ``require_user_access(auth, user)``. Every other
    route takes ``TenantDep`` (user routes) or ``TenantKeyDep`` (tenant-only routes).

    ``async``: one indexed SQLite lookup (~0.05 ms) costs less on the event loop
    than the thread-pool hop a sync dependency takes.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthorizedError("send an API key as 'Authorization: Bearer <key>'")
    key = authenticate_key(store, credentials.credentials)
    if key is None:
        raise UnauthorizedError("unknown or revoked API key")
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.take(hash_key(credentials.credentials))
    slots: TenantSlots = request.app.state.tenant_slots
    settings: Settings = request.app.state.settings
    async with slots.slot(key.tenant, heavy=_body_bytes(request) > settings.heavy_body_bytes):
        yield key


def _body_bytes(request: Request) -> int:
    # The declared size (the body limit middleware enforces it); chunked bodies count 0.
    try:
        return int(request.headers.get("content-length", "0"))
    except ValueError:
        return 0


AuthDep = Annotated[ApiKey, Depends(get_auth)]


def require_user_access(auth: ApiKey, user: str) -> None:
    """403 unless ``auth`` may act for ``user``: a tenant key may act for any user of
    its tenant, a user key only for its own user.

    Call it in any route whose user comes from somewhere other than its path (a body
    field); ``TenantDep`` calls it with the path's ``{user}``.
    """
    if auth.user is not None and auth.user != user:
        raise ForbiddenError("this API key belongs to another user and does not reach this one")


async def get_tenant(request: Request, auth: AuthDep) -> str:
    """The tenant of the request's key, for a route of one user (``{user}`` in its path)
    or a tenant-wide one.

    A user key passes only on a route whose path user is its own: 403 on another
    user's routes and on every route without a ``{user}`` in its path.
    """
    if auth.user is not None:
        user = request.path_params.get("user")
        if user is None:
            raise ForbiddenError("a user's API key reaches only that user's routes")
        require_user_access(auth, user)
    return auth.tenant


async def get_tenant_key(auth: AuthDep) -> str:
    """The tenant of a tenant key, for routes no user key opens (minting keys): 403 for
    a user key, even on its own user's path."""
    if auth.user is not None:
        raise ForbiddenError("this route needs a tenant key; a user's API key does not open it")
    return auth.tenant


TenantDep = Annotated[str, Depends(get_tenant)]
TenantKeyDep = Annotated[str, Depends(get_tenant_key)]


async def get_operator(
    store: StoreDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """The operator's routes (service-wide figures): only ``TAILOR_METRICS_KEY`` opens them.

    404 while no metrics key is set, 401 for no or a wrong credential, 403 for a valid
    API key, a tenant's or a user's (which must not see other tenants' traffic in the figures).
    """
    expected = settings.metrics_key.get_secret_value()
    if not expected:
        raise NotFoundError("metrics are off: set TAILOR_METRICS_KEY", code="not_found")
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthorizedError("send the metrics key as 'Authorization: Bearer <key>'")
    if hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        return
    if authenticate(store, credentials.credentials) is not None:
        raise ForbiddenError("API keys cannot read service-wide metrics")
    raise UnauthorizedError("wrong metrics key")


OperatorDep = Annotated[None, Depends(get_operator)]


async def get_user(
    user: Annotated[
        str,
        # The pattern is documented but checked here, so that a bad id answers the
        # stable ``invalid_user_id`` rather than a generic validation error.
        Path(
            description=f"User id: {ID_RULE}.",
            json_schema_extra={"pattern": ID_PATTERN, "minLength": 1, "maxLength": 128},
        ),
    ],
) -> str:
    if not valid_id(user):
        raise InvalidInputError(f"user ids are {ID_RULE}", code="invalid_user_id")
    return user


UserDep = Annotated[str, Depends(get_user)]
