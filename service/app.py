"""The FastAPI app factory.

``create_app(settings)`` builds an app with no side effects; the lifespan
opens the store (applying migrations), loads the embedding model and builds
the engine, and closes them on shutdown. Tests pass an already-loaded
embedder so the real model is loaded once per test session.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from learners.embeddings import (
    BatchingEmbedder,
    CachedEmbedder,
    Embedder,
    SentenceTransformerEmbedder,
)
from learners.engine import Engine
from learners.registry import build_learners, learner_class
from service.errors import install_error_handlers
from service.middleware import BodyLimitMiddleware, Metrics, MetricsMiddleware
from service.ratelimit import RateLimiter
from service.routes import feedback, health, interactions, policy, preferences, users
from service.settings import Settings
from store.db import Store
from store.vectors import VectorIndex

log = logging.getLogger("tailor")

VERSION = "0.1.0"


def create_app(settings: Settings, *, embedder: Embedder | None = None) -> FastAPI:
    for name in settings.learner_names:
        learner_class(name)  # unknown learner names fail here, before anything loads

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store.open(settings.data_dir, synchronous=settings.sqlite_synchronous)
        model = embedder or SentenceTransformerEmbedder(settings.embedding_model or None)
        batching = BatchingEmbedder(model)
        batching.start()
        cached = CachedEmbedder(batching, capacity=settings.embed_cache_size)
        index = VectorIndex(
            store, model=model.model_name, dim=model.dim, max_loaded=settings.index_cache_users
        )
        app.state.store = store
        app.state.engine = Engine(
            store,
            index,
            cached,
            build_learners(settings.learner_names),
            default_k=settings.policy_k,
            min_score=settings.policy_min_score,
        )
        metrics.watch_embedder(cached)
        log.info("tailor ready: data in %s, embeddings %s", settings.data_dir, model.model_name)
        try:
            yield
        finally:
            batching.close()
            index.flush()
            store.close()

    app = FastAPI(
        title="Tailor",
        version=VERSION,
        summary="Learns each user's writing preferences from their edits and feedback.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
    metrics = Metrics()
    app.state.metrics = metrics
    install_error_handlers(app)
    for module in (health, interactions, feedback, policy, preferences, users):
        app.include_router(module.router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
