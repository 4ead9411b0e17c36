"""Tailor's persistence layer.

SQLite (through sqlite-utils) is the source of truth for tenants, keys,
interactions, feedback, preferences, embeddings and jobs; the per-user FAISS
indexes in ``vectors`` are derived from it and rebuilt whenever they are
missing, stale or corrupt. Nothing here imports ``learners`` or ``service``.
"""

from store.db import Store
from store.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    TailorError,
    UnavailableError,
)

__all__ = [
    "ConflictError",
    "InvalidInputError",
    "NotFoundError",
    "Store",
    "TailorError",
    "UnavailableError",
]
