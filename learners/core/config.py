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
    #: past interactions a learner (and rule verification) sees around a context
    history_k: int = 8
    #: context embeddings kept in memory (LRU by content hash)
    embed_cache_size: int = 10_000
    #: users whose FAISS index stays loaded (LRU)
    index_cache_users: int = 256
