"""Liveness and Prometheus metrics."""

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.deps import TenantDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness; needs no key. Answers once the model is loaded and the store is open."""
    return {"status": "ok"}


@router.get("/metrics", response_class=Response)
def metrics(request: Request, tenant: TenantDep) -> Response:
    """Prometheus text format (any valid key; the figures are service-wide counts)."""
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
