"""``build_engine``: the one way to wire a store, its per-user index, an embedder and
the named learners into an ``Engine``.

The service (``service/app.py``), the replay simulation (``replay/agents.py``)
and the log replay (``replay/logreplay.py``) all call it, so a policy in the
simulation is computed exactly as the service computes it. ``EngineConfig``
carries what differs between them; the service fills it from its settings
(``Settings.engine_config``).
"""

from __future__ import annotations

from learners.backends.embeddings import CachedEmbedder, Embedder
from learners.backends.llm import LLM
from learners.core.config import EngineConfig
from learners.core.engine import Engine
from learners.registry import build_learners
from store.db import Store
from store.vectors import VectorIndex


def build_engine(
    store: Store, embedder: Embedder, config: EngineConfig | None = None, *, llm: LLM | None = None
) -> Engine:
    """An engine over ``store`` with ``config``'s learners (LLM learners get ``llm``).

    ``embedder`` is the model (or the service's batching front of it); the
    engine puts its own content-hash cache in front.
    """
    config = config or EngineConfig()
    learners = build_learners(list(config.learners), llm=llm)
    index = VectorIndex(
        store, model=embedder.model_name, dim=embedder.dim, max_loaded=config.index_cache_users
    )
    return Engine(
        store,
        index,
        CachedEmbedder(embedder, capacity=config.embed_cache_size),
        learners,
        default_k=config.k,
        min_score=config.min_score,
        feedback_min_score=config.feedback_min_score,
        history_k=config.history_k,
        llm=llm,
    )
