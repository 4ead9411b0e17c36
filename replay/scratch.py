"""A throw-away Tailor engine: a real SQLite store, FAISS index and the given embedder
on a temporary data directory, built the one way engines are built
(``learners.core.build.build_engine``), removed on ``close``."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from learners.backends.embeddings import Embedder
from learners.backends.llm import LLM
from learners.core.build import build_engine
from learners.core.config import EngineConfig
from store.db import Store


class ScratchEngine:
    def __init__(self, embedder: Embedder, config: EngineConfig, *, llm: LLM | None = None) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="tailor-replay-"))
        try:
            self.store = Store.open(self.data_dir)
            self.engine = build_engine(self.store, embedder, config, llm=llm)
        except BaseException:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise

    def close(self) -> None:
        self.engine.close()  # its background thread uses the store
        self.store.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> ScratchEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
