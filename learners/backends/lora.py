"""Drafting with a user's C3PO adapter: which adapter, and how each back-end serves it.

A user's adapter (``learners.c3po``, Stephan et al., arXiv 2402.10893) is a PEFT LoRA
folder (Hu et al., arXiv 2106.09685) trained on one base model. :func:`llm_for_user`
is the one place that decides which LLM drafts for a user: their newest adapter (rows
exist only for finished adapters, so the newest row is the newest ready one), an
adapter the request names, or none (``"none"``, or no adapter the back-end can serve).

Two back-ends serve adapters:

- ``TAILOR_LLM_MODEL=local``: :class:`LocalAdapters` loads the adapter's own base
  model from the models directory (the folder it was trained on) with transformers and
  wraps it in ``peft.PeftModel``; a few (base, adapter) models stay loaded (an LRU of
  ``TAILOR_ADAPTER_CACHE``), drafts are greedy with a bounded number of new tokens.
- an OpenAI-compatible server with dynamic LoRA loading (vLLM started with
  ``--enable-lora`` and ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``;
  ``TAILOR_LLM_LORA=vllm``): :class:`VllmAdapters` loads the adapter with
  ``POST /v1/load_lora_adapter {"lora_name", "lora_path"}`` and drafts with
  ``model=<lora_name>``. ``lora_path`` is a path on the server's disk: Tailor's data
  directory as the server mounts it (``TAILOR_LLM_LORA_DIR``) joined with the
  adapter's relative path (digest folders, no user names). ``lora_name`` is a digest of
  (tenant, user, adapter id), never a raw name. Loaded names are remembered (an LRU
  bounded by ``TAILOR_ADAPTER_CACHE``; the evicted one is unloaded with
  ``/v1/unload_lora_adapter``), and a 404 for the name (the server restarted and forgot
  it) loads it again once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from learners.backends.llm import LLM, Completion, LiteLLMBackend, LLMError, Messages
from store.adapters import Adapter, adapter_path, get_adapter, list_adapters
from store.db import Store
from store.errors import InvalidInputError, UnavailableError

log = logging.getLogger("tailor.lora")

#: the request value that turns adapters off
NO_ADAPTER = "none"
#: the hub id the packaged base model's adapters record (``learners.c3po.adapters``)
SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
#: the most new tokens a local adapter draft may have (the CPU pays for each)
LOCAL_MAX_TOKENS = 512


class AdapterServer(Protocol):
    """A back-end that drafts with adapters: which it can serve, and the LLM for one."""

    def serves(self, adapter: Adapter) -> bool: ...

    def llm(self, store: Store, adapter: Adapter) -> LLM: ...


def llm_for_user(
    llm: LLM | None,
    server: AdapterServer | None,
    store: Store,
    tenant: str,
    user: str,
    requested: str | None = None,
) -> tuple[LLM | None, str | None]:
    """(the LLM that drafts for this user, the id of the adapter it uses, or None).

    ``requested``: None picks the user's newest adapter the back-end serves (or none),
    ``"none"`` drafts without one, an id names one of the user's adapters
    (``adapter_not_found`` when it is not theirs, ``adapter_not_servable`` when the
    configured back-end cannot serve it). The LLM is None when none is configured.
    """
    if requested == NO_ADAPTER:
        return llm, None
    if requested is not None:
        adapter = get_adapter(store, tenant, user, requested)
        if server is None or not server.serves(adapter):
            raise InvalidInputError(
                f"adapter {adapter.id!r} (base model {adapter.base_model!r}) cannot be "
                "served by the configured LLM: adapters need TAILOR_LLM_MODEL=local or "
                "TAILOR_LLM_LORA=vllm with the same base model",
                code="adapter_not_servable",
            )
        return server.llm(store, adapter), adapter.id
    if server is None:
        return llm, None
    for adapter in list_adapters(store, tenant, user):  # newest first
        if server.serves(adapter):
            return server.llm(store, adapter), adapter.id
    return llm, None


def lora_name(adapter: Adapter) -> str:
    """The server-side name of an adapter: a digest, so no tenant or user name leaks."""
    digest = hashlib.sha256(f"lora\0{adapter.tenant}\0{adapter.user}\0{adapter.id}".encode())
    return "tailor-" + digest.hexdigest()[:32]


@dataclass
class AdapterLLM:
    """An LLM that drafts with one adapter; its completions name the adapter."""

    model: str
    adapter_id: str
    draft: Callable[[Messages, int], Completion]

    def complete(
        self,
        messages: Messages,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        json_object: bool = False,
    ) -> Completion:
        return replace(self.draft(messages, max_tokens), adapter=self.adapter_id)


class _LRU:
    """A small thread-safe LRU; ``evicted`` gets each value pushed out."""

    def __init__(self, size: int, evicted: Callable[[str, Any], None] | None = None) -> None:
        self.size, self.evicted = max(size, 1), evicted
        self.items: OrderedDict[str, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            return None

    def put(self, key: str, value: Any) -> None:
        out: list[tuple[str, Any]] = []
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                out.append(self.items.popitem(last=False))
        for old_key, old in out:
            if self.evicted is not None:
                self.evicted(old_key, old)

    def discard(self, key: str) -> None:
        with self.lock:
            self.items.pop(key, None)

    def keys(self) -> list[str]:
        with self.lock:
            return list(self.items)


# -- local: transformers + peft ---------------------------------------------------------


class LocalAdapters:
    """Adapters drafted in-process on their own base model from the models directory."""

    def __init__(self, models_dir: Path, *, cache_size: int = 2) -> None:
        self.models_dir = models_dir
        self.models = _LRU(cache_size)
        #: one load or generation at a time: models are big, and torch uses every core
        self.lock = threading.Lock()
        #: how many times a (base, adapter) model was loaded (tests, logs)
        self.loads = 0

    def base_path(self, adapter: Adapter) -> Path | None:
        """The base model folder the adapter was trained on, if it is on this disk."""
        if adapter.base_model == SMOLLM2_ID:
            path = self.models_dir / "SmolLM2-135M-Instruct"
        else:
            root = self.models_dir.resolve()
            path = (root / adapter.base_model).resolve()
            if root not in path.parents:
                return None
        return path if (path / "config.json").is_file() else None

    def serves(self, adapter: Adapter) -> bool:
        return self.base_path(adapter) is not None

    def llm(self, store: Store, adapter: Adapter) -> LLM:
        folder = adapter_path(store, adapter)

        def draft(messages: Messages, max_tokens: int) -> Completion:
            return self.generate(adapter, folder, messages, max_tokens)

        return AdapterLLM(f"local/{adapter.base_model}+{adapter.id}", adapter.id, draft)

    def _model(self, adapter: Adapter, folder: Path) -> tuple[Any, Any]:
        base = self.base_path(adapter)
        if base is None:
            raise UnavailableError(
                f"the base model of adapter {adapter.id!r} is not in the models directory",
                code="adapter_base_missing",
            )
        key = f"{base}\0{folder}"
        cached = self.models.get(key)
        if cached is None:
            from peft import PeftModel

            from learners.c3po.adapters import load_base

            model, tokenizer = load_base(base, device="cpu")
            peft_model: Any = PeftModel.from_pretrained(model, str(folder))
            peft_model.eval()
            peft_model.requires_grad_(False)
            cached = (peft_model, tokenizer)
            self.loads += 1
            self.models.put(key, cached)
        return cached  # type: ignore[no-any-return]

    def generate(
        self, adapter: Adapter, folder: Path, messages: Messages, max_tokens: int
    ) -> Completion:
        import torch

        with self.lock:
            model, tokenizer = self._model(adapter, folder)
            inputs = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            prompt_len = int(inputs["input_ids"].shape[1])
            with torch.inference_mode():
                output = model.generate(
                    **inputs,
                    max_new_tokens=max(1, min(max_tokens, LOCAL_MAX_TOKENS)),
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                )
            new = output[0][prompt_len:]
            text = tokenizer.decode(new, skip_special_tokens=True)
        model_name = f"local/{adapter.base_model}+{adapter.id}"
        return Completion(text, model_name, prompt_len, len(new))


# -- vLLM: dynamic LoRA loading ---------------------------------------------------------


def served_base(model: str) -> str:
    """The base model a litellm model string names on an OpenAI-compatible server."""
    for prefix in ("openai/", "hosted_vllm/", "vllm/"):
        if model.startswith(prefix):
            return model[len(prefix) :]
    return model


class VllmAdapters:
    """Adapters loaded into an OpenAI-compatible server with vLLM's dynamic LoRA API."""

    def __init__(
        self,
        base: LiteLLMBackend,
        *,
        lora_dir: str,
        base_model: str = "",
        cache_size: int = 8,
        timeout: float = 60.0,
    ) -> None:
        if not base.api_base:
            raise UnavailableError(
                "TAILOR_LLM_LORA=vllm needs TAILOR_LLM_API_BASE (the server's /v1 URL)",
                code="llm_not_configured",
            )
        self.base = base
        self.api_base = base.api_base.rstrip("/")
        self.lora_dir = lora_dir.rstrip("/")
        self.base_model = base_model or served_base(base.model)
        self.timeout = timeout
        self.loaded = _LRU(cache_size, evicted=lambda name, _: self.unload(name))
        self.lock = threading.Lock()

    def serves(self, adapter: Adapter) -> bool:
        return adapter.base_model == self.base_model

    def lora_path(self, adapter: Adapter) -> str:
        """Where the server finds the adapter: its mount of Tailor's data directory."""
        return f"{self.lora_dir}/{adapter.path}"

    def _post(self, endpoint: str, body: dict[str, str]) -> Any:
        import httpx

        headers = {}
        if self.base.api_key:
            headers["Authorization"] = f"Bearer {self.base.api_key}"
        try:
            return httpx.post(
                f"{self.api_base}/{endpoint}", json=body, headers=headers, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            log.warning("LoRA %s failed: %s", endpoint, exc)
            raise LLMError("could not reach the LLM provider", code="llm_unreachable") from exc

    def load(self, adapter: Adapter, *, force: bool = False) -> str:
        name = lora_name(adapter)
        with self.lock:
            if not force and self.loaded.get(name) is not None:
                return name
            answer = self._post(
                "load_lora_adapter", {"lora_name": name, "lora_path": self.lora_path(adapter)}
            )
            # vLLM answers 400 "already been loaded" when another Tailor process loaded it.
            if answer.status_code != 200 and "already" not in answer.text.lower():
                log.warning("loading LoRA %s: HTTP %s %s", name, answer.status_code, answer.text)
                raise LLMError(
                    f"the LLM server refused to load the adapter (HTTP {answer.status_code})",
                    code="adapter_load_failed",
                    retryable=answer.status_code >= 500,
                )
        self.loaded.put(name, True)
        return name

    def unload(self, name: str) -> None:
        try:
            answer = self._post("unload_lora_adapter", {"lora_name": name})
        except LLMError:
            return  # the server forgets it on restart anyway
        if answer.status_code != 200:
            log.info("unloading LoRA %s: HTTP %s", name, answer.status_code)

    def llm(self, store: Store, adapter: Adapter) -> LLM:
        prefix = self.base.model[: len(self.base.model) - len(served_base(self.base.model))]

        def draft(messages: Messages, max_tokens: int) -> Completion:
            name = self.load(adapter)
            backend = LiteLLMBackend(
                (prefix or "openai/") + name,
                api_base=self.base.api_base,
                api_key=self.base.api_key,
                timeout=self.base.timeout,
                retries=self.base.retries,
            )
            try:
                return backend.complete(messages, max_tokens=max_tokens)
            except LLMError as exc:
                if exc.status != 404:
                    raise
            # The server no longer knows the name (it restarted): load it again, once.
            log.info("LoRA %s unknown to the server; loading it again", name)
            self.loaded.discard(name)
            self.load(adapter, force=True)
            return backend.complete(messages, max_tokens=max_tokens)

        return AdapterLLM(f"{self.base.model}+{adapter.id}", adapter.id, draft)
