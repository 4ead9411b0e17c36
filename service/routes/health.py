"""Liveness and Prometheus metrics."""

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.deps import MetricsDep, OperatorDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness; needs no key. Answers once the model is loaded and the store is open."""
    return {"status": "ok"}


@router.get("/metrics", response_class=Response)
def read_metrics(metrics: MetricsDep, operator: OperatorDep) -> Response:
    """Prometheus text format: service-wide figures, for ``TAILOR_METRICS_KEY`` only."""
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
