"""Per-user FAISS indexes over context embeddings, derived from SQLite.

Every indexed item (an interaction's or a feedback's context) has one row in
the ``embeddings`` table holding its vector as float32 bytes, the model name,
the dimension and a content hash. That table is the truth. Each (tenant, user)
gets its own exact inner-product index (``IndexFlatIP`` on normalized
vectors, i.e. cosine similarity) whose ids are the rows' integer ids, so a
search only ever ranks that user's vectors: there is no shared index to
over-fetch from and filter afterwards (the failure mode of mem0 issues #6998
and #7256). An optional id allow-list (e.g. one task's items) is applied
inside FAISS with an ``IDSelectorBatch``, before ranking.

Index files are written to a temporary file and renamed into place, when an
index leaves the in-memory LRU and at shutdown (``flush``). When a file is
missing, unreadable, of another dimension or out of step with SQLite (its id
set differs, e.g. after a crash), it is rebuilt from the table.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from store.db import Store
from store.records import now


def content_hash(model: str, text: str) -> str:
    """Key of the embedding cache: the same text under the same model embeds once."""
    return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()


def insert_embedding(
    db: Any,
    *,
    tenant: str,
    user: str,
    item_type: str,
    item_id: str,
    task: str | None,
    model: str,
    digest: str,
    vector: np.ndarray,
) -> int:
    """Store one item's vector (inside the caller's transaction); return its index id."""
    vec = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
    cursor = db.execute(
        "INSERT INTO embeddings (tenant, user, item_type, item_id, task, model, dim, "
        "content_hash, vector, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [tenant, user, item_type, item_id, task, model, vec.shape[0], digest, vec.tobytes(), now()],
    )
    return int(cursor.lastrowid)


def find_vector(store: Store, tenant: str, user: str, model: str, digest: str) -> np.ndarray | None:
    """A vector this user already stored for the same content, if any."""
    rows = list(
        store.db.query(
            "SELECT vector FROM embeddings WHERE tenant = ? AND user = ? AND content_hash = ? "
            "AND model = ? LIMIT 1",
            [tenant, user, digest, model],
        )
    )
    return np.frombuffer(rows[0]["vector"], dtype=np.float32).copy() if rows else None


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    index: Any = None
    ids: set[int] = field(default_factory=set)
    dirty: bool = False


def _one_thread() -> None:
    """Single-threaded FAISS for this thread (the OpenMP setting is per thread).

    A user's index holds hundreds of vectors: a search is microseconds of work,
    and OpenMP's idle threads spinning cost far more (measured ~4 ms per search
    from a server worker thread on 2 cores).
    """
    import faiss

    faiss.omp_set_num_threads(1)


class VectorIndex:
    """The FAISS indexes of every user, loaded on demand and kept in an LRU."""

    def __init__(self, store: Store, *, model: str, dim: int, max_loaded: int = 256) -> None:
        self.store = store
        self.model = model
        self.dim = dim
        self.max_loaded = max_loaded
        self._lock = threading.Lock()
        self._loaded: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self.rebuilds = 0
        store.index_dir.mkdir(parents=True, exist_ok=True)

    def path_for(self, tenant: str, user: str) -> Path:
        # Hashed so that no user id (".." included) can name a path.
        digest = hashlib.sha256(f"{tenant}\0{user}\0{self.model}".encode()).hexdigest()[:40]
        return self.store.index_dir / f"{digest}.faiss"

    def _entry(self, tenant: str, user: str) -> _Entry:
        key = (tenant, user)
        with self._lock:
            entry = self._loaded.get(key)
            if entry is None:
                entry = self._loaded[key] = _Entry()
                while len(self._loaded) > self.max_loaded:
                    (old_tenant, old_user), old = self._loaded.popitem(last=False)
                    self._flush_entry(old_tenant, old_user, old)
            else:
                self._loaded.move_to_end(key)
        with entry.lock:
            if entry.index is None:
                entry.index, entry.ids = self._load(tenant, user)
        return entry

    def _stored_ids(self, tenant: str, user: str) -> set[int]:
        rows = self.store.db.execute(
            "SELECT id FROM embeddings WHERE tenant = ? AND user = ? AND model = ?",
            [tenant, user, self.model],
        ).fetchall()
        return {row[0] for row in rows}

    def _load(self, tenant: str, user: str) -> tuple[Any, set[int]]:
        import faiss

        expected = self._stored_ids(tenant, user)
        path = self.path_for(tenant, user)
        if path.exists():
            index: Any
            try:
                index = faiss.read_index(str(path))
            except RuntimeError:
                index = None  # corrupt or truncated: rebuilt below
            if index is not None and index.d == self.dim and index.ntotal == len(expected):
                ids = set(faiss.vector_to_array(index.id_map).tolist())
                if ids == expected:
                    return index, ids
        return self._rebuild(tenant, user)

    def _rebuild(self, tenant: str, user: str) -> tuple[Any, set[int]]:
        import faiss

        self.rebuilds += 1
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        rows = self.store.db.execute(
            "SELECT id, vector FROM embeddings WHERE tenant = ? AND user = ? AND model = ? "
            "AND dim = ? ORDER BY id",
            [tenant, user, self.model, self.dim],
        ).fetchall()
        ids = [row[0] for row in rows]
        path = self.path_for(tenant, user)
        if rows:
            vectors = np.stack([np.frombuffer(row[1], dtype=np.float32) for row in rows])
            index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
            self._write(index, path)
        else:
            # No file for a user with nothing indexed (reads of unknown users are common).
            path.unlink(missing_ok=True)
        return index, set(ids)

    @staticmethod
    def _write(index: Any, path: Path) -> None:
        import faiss

        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        faiss.write_index(index, str(tmp))
        os.replace(tmp, path)

    def add(self, tenant: str, user: str, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Add rows already committed to SQLite; ids the index holds are skipped.

        The file is written later (``flush``, on eviction from the LRU, at
        shutdown): rewriting a user's whole index on every edit cost more than
        the rest of the write, and a file that is behind SQLite after a crash is
        detected and rebuilt on its next load anyway.
        """
        _one_thread()
        entry = self._entry(tenant, user)
        with entry.lock:
            fresh = [i for i, row_id in enumerate(ids) if row_id not in entry.ids]
            if not fresh:
                return
            batch = np.ascontiguousarray(vectors[fresh], dtype=np.float32).reshape(-1, self.dim)
            new_ids = np.asarray([ids[i] for i in fresh], dtype=np.int64)
            entry.index.add_with_ids(batch, new_ids)
            entry.ids.update(new_ids.tolist())
            entry.dirty = True

    def _flush_entry(self, tenant: str, user: str, entry: _Entry) -> None:
        with entry.lock:
            if entry.dirty and entry.index is not None:
                self._write(entry.index, self.path_for(tenant, user))
                entry.dirty = False

    def flush(self) -> int:
        """Write every index changed since it was loaded; return how many were written."""
        with self._lock:
            loaded = list(self._loaded.items())
        written = 0
        for (tenant, user), entry in loaded:
            if entry.dirty:
                self._flush_entry(tenant, user, entry)
                written += 1
        return written

    def search(
        self,
        tenant: str,
        user: str,
        query: np.ndarray,
        k: int,
        *,
        allowed_ids: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """The ``k`` most similar of this user's items as (id, cosine score), best first."""
        import faiss

        _one_thread()
        entry = self._entry(tenant, user)
        with entry.lock:
            total = entry.index.ntotal
            if total == 0 or k <= 0:
                return []
            q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dim)
            if allowed_ids is None:
                scores, found = entry.index.search(q, min(k, total))
            else:
                if not allowed_ids:
                    return []
                selector = faiss.IDSelectorBatch(np.asarray(allowed_ids, dtype=np.int64))
                params = cast(Any, faiss).SearchParameters(sel=selector)
                scores, found = entry.index.search(q, min(k, total), params=params)
        return [(int(i), float(s)) for i, s in zip(found[0], scores[0], strict=True) if i != -1]

    def count(self, tenant: str, user: str) -> int:
        return int(self._entry(tenant, user).index.ntotal)

    def drop(self, tenant: str, user: str) -> None:
        """Forget a user's index in memory and on disk (after their rows are deleted)."""
        with self._lock:
            self._loaded.pop((tenant, user), None)
        self.path_for(tenant, user).unlink(missing_ok=True)
