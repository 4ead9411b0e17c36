"""CIPHER: infer a preference from each edit with an LLM, retrieve and aggregate it.

Gao et al., "Aligning LLM Agents by Learning Latent Preference from User
Edits", NeurIPS 2024 (arXiv 2404.15269), Algorithm 1. For every edited
interaction the LLM is shown the agent's draft and the user's revision and
asked for the user's general writing preference as a short phrase (the
paper's inference prompt, Appendix prompts); the phrase is stored with the
context's embedding. For a new context the preferences of the k nearest past
contexts are retrieved; with k=1 the nearest is used as is, with k>1 the LLM
aggregates them into one phrase (the paper's aggregation prompt). The prompts
below are Tailor's own wording of that structure, with one addition in the
spirit of PROSE-style verification: Tailor's deterministic edit signals are
given to the LLM as evidence, so it names changes that really happened.

Inference runs in the background queue (``learners.jobs.inference``), never on the
request path, and its LLM calls get no in-call retries there: the job queue retries
the job (``learners.backends.llm``, one retry layer). Aggregation, which a user
waits on, keeps the back-end's quick in-call retries. Aggregation runs at policy
time and is cached by the set of retrieved preferences; if it fails, the
retrieved phrases are returned as they are (the policy still shows every one
of them) with a warning the policy response carries.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import replace
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from learners.backends.llm import LLM, LLMError, Messages, parse_phrase_answer
from learners.base import History, Learned, Learner, Neighbor
from learners.signals import analyze
from store.records import Interaction, Preference

SYSTEM = (
    "You study how a user edits texts written by an AI assistant and describe the user's "
    "writing preferences. You answer with one JSON object and nothing else."
)

INFER = """Here is a text an AI assistant wrote and the same text after the user revised it.

Context the text was written for:
<<<
{context}
>>>

Text written by the assistant:
<<<
{draft}
>>>

The user's revision:
<<<
{final}
>>>

Changes measured on the two texts: {signals}

Based on the user's edits and revision, what is this user's general preference in terms \
of writing style and formatting? Answer with a short phrase (at most 15 words) naming only \
preferences that would carry over to similar texts, as JSON: {{"preference": "<phrase>"}}"""

AGGREGATE = """These preferences were inferred from the user's edits on texts similar to the \
one now being written, most similar first:
{items}

Based on these examples, write one short phrase (at most 20 words) with the writing \
preferences most represented in the list, leaving out any that most of the others \
contradict, as JSON: {{"preference": "<phrase>"}}"""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " [...]"


def inference_messages(interaction: Interaction, *, max_chars: int = 4000) -> Messages:
    signals = [f"{s.text} ({s.evidence})" for s in analyze(interaction.draft, interaction.final)]
    prompt = INFER.format(
        context=_clip(interaction.context, max_chars // 2),
        draft=_clip(interaction.draft, max_chars),
        final=_clip(interaction.final, max_chars),
        signals="; ".join(signals) if signals else "none of Tailor's style signals changed",
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]


def aggregation_messages(phrases: list[str]) -> Messages:
    items = "\n".join(f"- {p}" for p in phrases)
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": AGGREGATE.format(items=items)},
    ]


class CipherOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_chars: int = Field(4000, ge=200, description="Longest draft or final shown to the LLM.")
    max_tokens: int = Field(64, ge=8, le=1024, description="Longest answer asked for.")
    cache_size: int = Field(4096, ge=0, description="Aggregations kept in memory.")


class CipherLearner(Learner):
    """CIPHER-5: aggregate the preferences of the 5 nearest contexts."""

    name = "cipher-5"
    source = "cipher"
    needs_llm = True
    Options = CipherOptions
    k: ClassVar[int] = 5

    def __init__(self, options: BaseModel | None = None, *, llm: LLM | None = None) -> None:
        super().__init__(options, llm=llm)
        self._cache: OrderedDict[tuple[tuple[str, int], ...], str] = OrderedDict()
        self._lock = threading.Lock()
        # Several inference workers and request threads call the LLM through one learner:
        # ``+=`` on an attribute is a read, an add and a write, and threads switching in
        # between lose updates, so the counter is only changed under its own lock.
        self._tokens_lock = threading.Lock()
        self._tokens = 0

    @property
    def tokens(self) -> int:
        """LLM tokens (prompt + completion) spent by this learner since it was built."""
        with self._tokens_lock:
            return self._tokens

    def add_tokens(self, n: int) -> None:
        with self._tokens_lock:
            self._tokens += n

    def _complete(self, messages: Messages) -> str:
        if self.llm is None:
            raise LLMError("no LLM configured", code="llm_not_configured", retryable=False)
        options: CipherOptions = self.options  # type: ignore[assignment]
        completion = self.llm.complete(messages, max_tokens=options.max_tokens, json_object=True)
        self.add_tokens(completion.tokens)
        return parse_phrase_answer(completion.text, "preference")

    def learn_interaction(self, interaction: Interaction, history: History) -> list[Learned]:
        if interaction.accepted:
            return []  # CIPHER learns nothing from an accepted draft
        options: CipherOptions = self.options  # type: ignore[assignment]
        phrase = self._complete(inference_messages(interaction, max_chars=options.max_chars))
        model = self.llm.model if self.llm is not None else "?"
        return [
            Learned(
                text=phrase,
                # One preference per interaction: CIPHER keeps each inference with
                # its own context rather than merging them.
                key=f"interaction:{interaction.id}",
                task=interaction.task,
                detail=f"inferred by {model}",
            )
        ]

    def contribute(
        self, preferences: list[Preference], neighbors: list[Neighbor]
    ) -> list[Preference]:
        return self.contribute_noted(preferences, neighbors)[0]

    def contribute_noted(
        self, preferences: list[Preference], neighbors: list[Neighbor]
    ) -> tuple[list[Preference], list[str]]:
        score = {n.interaction.id: n.score for n in neighbors}

        def similarity(p: Preference) -> float:
            return max((score.get(e.item_id, 0.0) for e in p.evidence), default=0.0)

        live = [p for p in preferences if p.operation is None and p.status == "active"]
        nearest = sorted(live, key=similarity, reverse=True)[: self.k]
        if len(nearest) <= 1:
            return nearest, []
        try:
            phrase = self._aggregate(nearest)
        except LLMError as exc:
            # The policy still carries every retrieved phrase; the caller is told why
            # they are not aggregated.
            return nearest, [f"CIPHER aggregation failed ({exc.code}: {exc.message})"]
        evidence = tuple(dict.fromkeys(e for p in nearest for e in p.evidence))
        digest = hashlib.sha256("|".join(p.id for p in nearest).encode()).hexdigest()[:16]
        aggregated = replace(
            nearest[0],
            id=f"cipher_agg_{digest}",
            text=phrase,
            key="aggregate",
            support=sum(p.support for p in nearest),
            evidence=evidence,
        )
        return [aggregated], []

    def _aggregate(self, preferences: list[Preference]) -> str:
        key = tuple((p.id, p.version) for p in preferences)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        phrase = self._complete(aggregation_messages([p.text for p in preferences]))
        options: CipherOptions = self.options  # type: ignore[assignment]
        with self._lock:
            self._cache[key] = phrase
            while len(self._cache) > options.cache_size:
                self._cache.popitem(last=False)
        return phrase


class Cipher1Learner(CipherLearner):
    """CIPHER-1: the nearest context's preference, used as is (no aggregation call)."""

    name = "cipher-1"
    k = 1
