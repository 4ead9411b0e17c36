"""ASGI middleware: request-size limit and Prometheus metrics (requests, cache, jobs).

Both are plain ASGI callables (no BaseHTTPMiddleware) to keep the per-request
overhead to a few microseconds on the policy hot path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from learners.backends.embeddings import CachedEmbedder
from learners.base import Learner
from service.errors import error_body
from store.db import Store
from store.jobs import backlog


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``: by Content-Length up front, else while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _send_error(send, 400, "bad_request", "invalid Content-Length header")
                return
            if size > self.max_bytes:
                await _send_error(send, 413, "payload_too_large", self._message())
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises HTTPException from body reading unchanged.
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited, send)

    def _message(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"


class Metrics:
    """The app's own Prometheus registry (no process-global collectors)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tailor_http_requests",
            "HTTP requests by route template, method and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tailor_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["method", "route"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.04, 0.06, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.interactions = Counter(
            "tailor_interactions_logged",
            "Interactions stored (idempotent replays excluded).",
            registry=self.registry,
        )
        self.feedback = Counter(
            "tailor_feedback_logged", "Verbal feedback stored.", registry=self.registry
        )
        self._cache_hits = Gauge(
            "tailor_embedding_cache_hits",
            "Context embeddings served from the cache.",
            registry=self.registry,
        )
        self._cache_misses = Gauge(
            "tailor_embedding_cache_misses",
            "Context embeddings computed by the model.",
            registry=self.registry,
        )
        self._jobs = _JobsCollector()
        self.registry.register(self._jobs)
        self._llm_tokens = Gauge(
            "tailor_llm_tokens",
            "LLM tokens spent by background learners since start-up.",
            registry=self.registry,
        )

    def watch_embedder(self, embedder: CachedEmbedder) -> None:
        self._cache_hits.set_function(lambda: embedder.hits)
        self._cache_misses.set_function(lambda: embedder.misses)

    def watch_jobs(self, store: Store, learners: list[Learner]) -> None:
        """Job backlog by kind and state (read at scrape time) and LLM tokens spent."""
        self._jobs.store = store
        self._llm_tokens.set_function(lambda: sum(int(getattr(lr, "tokens", 0)) for lr in learners))


class _JobsCollector(Collector):
    def __init__(self) -> None:
        self.store: Store | None = None

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "tailor_jobs",
            "Background jobs pending, running or failed, by kind.",
            labels=["kind", "state"],
        )
        if self.store is None:
            yield family
            return
        for kind, state, count in backlog(self.store):
            family.add_metric([kind, state], count)
        yield family


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)
