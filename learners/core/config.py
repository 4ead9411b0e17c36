"""``EngineConfig``: what differs between the engines the service and the replay build.

Kept apart from the engine so that reading the defaults (the service's settings
do) imports nothing heavy: no numpy, FAISS or models.
"""

from __future__ import annotations

from dataclasses import dataclass

from learners.registry import DEFAULT_LEARNERS


@dataclass(frozen=True)
class EngineConfig:
    #: registered learner names, in the order they run
    learners: tuple[str, ...] = DEFAULT_LEARNERS
    #: default number of nearest contexts whose preferences a policy quotes
    k: int = 5
    #: contexts less similar than this (cosine) are ignored
    min_score: float = 0.25
    #: a feedback's scope and a context at least this similar (cosine): it applies
    #: (``learners.core.scopes``; calibrated by ``tailor eval scope`` on its dev split)
    feedback_min_score: float = 0.3
    #: past interactions a learner (and rule verification) sees around a context
    history_k: int = 8
    #: context embeddings kept in memory (LRU by content hash)
    embed_cache_size: int = 10_000
    #: users whose FAISS index stays loaded (LRU)
    index_cache_users: int = 256
    #: an edit whose draft and final hold more characters than this together is learned
    #: in the background (``learners.core.pool``), not in the request that logs it
    inline_learn_chars: int = 16_000
    #: learner slots (threads learning at once, request and background together); one
    #: tenant holds at most half of them
    learn_threads: int = 2
    #: seconds a request waits for its tenant's learner slot before deferring its learning
    learn_wait: float = 0.5
