"""The FastAPI app factory.

``create_app(settings)`` builds an app with no side effects; the lifespan
opens the store (applying migrations), loads the embedding model and builds
the engine, and closes them on shutdown. Tests pass an already-loaded
embedder so the real model is loaded once per test session.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from learners.backends.embeddings import BatchingEmbedder, Embedder, SentenceTransformerEmbedder
from learners.backends.llm import LiteLLMBackend
from learners.c3po.jobs import ADAPTER_JOB, AdapterHandler
from learners.core.build import build_engine
from learners.core.engine import INFERENCE_JOB
from learners.icai.principles import PRINCIPLES_JOB, PrinciplesHandler
from learners.jobs.inference import InferenceHandler
from learners.jobs.worker import JobWorker, recover_interrupted
from learners.registry import learner_class
from service.errors import CatchAllMiddleware, install_error_handlers
from service.middleware import BodyLimitMiddleware, Metrics, MetricsMiddleware
from service.openapi import install_docs, install_openapi
from service.ratelimit import RateLimiter, TenantSlots
from service.routes import (
    adapters,
    feedback,
    generate,
    health,
    interactions,
    jobs,
    keys,
    policy,
    preferences,
    principles,
    ui,
    users,
)
from service.settings import Settings
from store.adapters import relocate_legacy, remove_orphans
from store.db import Store

log = logging.getLogger("tailor")

VERSION = importlib.metadata.version("tailor")  # the one literal is in pyproject.toml


def create_app(settings: Settings, *, embedder: Embedder | None = None) -> FastAPI:
    for name in settings.learner_names:
        learner_class(name)  # unknown learner names fail here, before anything loads

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = Store.open(settings.data_dir, synchronous=settings.sqlite_synchronous)
        model = embedder or SentenceTransformerEmbedder(settings.embedding_model or None)
        batching = BatchingEmbedder(model)
        batching.start()
        llm = settings.build_llm()
        engine = build_engine(store, batching, settings.engine_config(), llm=llm)
        engine.adapters = settings.build_adapter_server(llm)
        cached, index = engine.embedder, engine.index
        app.state.store = store
        app.state.model = batching  # the embedder for whole-batch work (data sets, ICAI)
        relocate_legacy(store)
        remove_orphans(store)
        app.state.engine = engine
        recover_interrupted(store)
        workers = []
        if engine.deferred:
            # LLM calls wait on the network: a few threads keep up with a provider's latency.
            workers += [
                JobWorker(
                    store,
                    {INFERENCE_JOB: InferenceHandler(engine)},
                    name=f"inference-{n}",
                    max_attempts=settings.job_max_attempts,
                    retry_seconds=settings.job_retry_seconds,
                )
                for n in range(settings.llm_workers)
            ]
        # Long jobs (constitutions, later adapters) run one at a time on their own
        # thread, so they never hold up the quick LLM inference jobs.
        workers.append(
            JobWorker(
                store,
                {
                    PRINCIPLES_JOB: PrinciplesHandler(store, batching, llm),
                    ADAPTER_JOB: AdapterHandler(store, batching, settings.models_path),
                },
                name="background",
                max_attempts=settings.job_max_attempts,
                retry_seconds=settings.job_retry_seconds,
            )
        )
        app.state.workers = workers

        def wake_workers() -> None:
            for worker in workers:
                worker.wake()

        engine.on_enqueue = wake_workers
        for worker in workers:
            worker.start()
        if isinstance(llm, LiteLLMBackend):
            # Importing litellm takes seconds: do it now, off the event loop.
            threading.Thread(target=llm.prepare, name="tailor-llm-import", daemon=True).start()
        metrics.watch_embedder(cached)
        metrics.watch_jobs(store, engine.learners)
        log.info(
            "tailor ready: data in %s, embeddings %s, LLM %s",
            settings.data_dir,
            model.model_name,
            llm.model if llm is not None else "none",
        )
        try:
            yield
        finally:
            for worker in workers:
                worker.close()
            engine.close()
            batching.close()
            index.flush()
            store.close()

    app = FastAPI(
        title="Tailor",
        version=VERSION,
        summary="Learns each user's writing preferences from their edits and feedback.",
        lifespan=lifespan,
        # /docs and /redoc come from install_docs, with assets served by Tailor, not a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
    app.state.tenant_slots = TenantSlots(
        settings.tenant_concurrency,
        settings.tenant_queue,
        heavy_limit=settings.tenant_heavy_concurrency,
    )
    metrics = Metrics()
    app.state.metrics = metrics
    install_error_handlers(app)
    for module in (
        health,
        interactions,
        feedback,
        policy,
        generate,
        preferences,
        principles,
        users,
        jobs,
        adapters,
        keys,
        ui,
    ):
        app.include_router(module.router)
    install_openapi(app)
    install_docs(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # Outermost of our middleware: a surprise anywhere below is answered here, as JSON.
    app.add_middleware(CatchAllMiddleware)
    return app
