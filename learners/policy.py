"""Aggregating retrieved preferences into one policy for a context.

CIPHER (Gao et al., arXiv 2404.15269, Algorithm 1) retrieves the preferences
inferred at the k contexts nearest to the new one and aggregates them into a
single description that conditions the next draft. Without an LLM the
aggregation here is deterministic: near-identical texts are merged, each
preference is weighted by the similarity of the context that supports it and
by its support count, and the ranked texts are joined. User-wide preferences
(verbal feedback given without a context) always apply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from learners.text import normalize
from store.records import Preference

#: weight of a user-wide preference: explicit instructions outrank inferred ones
USER_SCOPE_SCORE = 1.0
#: at most this many preferences go into the aggregated text and system prompt
MAX_PREFERENCES = 12

BASE_PROMPT = "You are a writing assistant."


@dataclass(frozen=True)
class Retrieved:
    preference: Preference
    score: float


@dataclass(frozen=True)
class Policy:
    preference: str
    preferences: list[Retrieved]
    rules: list[Preference] = field(default_factory=list)
    system_prompt: str = BASE_PROMPT

    def rule_dicts(self) -> list[dict[str, Any]]:
        return [
            {"id": r.id, "text": r.text, "source": r.source, "operation": r.operation}
            for r in self.rules
        ]


def rank(candidates: list[Retrieved]) -> list[Retrieved]:
    """Merge near-identical texts, then order by similarity x support, then recency."""
    merged: dict[str, Retrieved] = {}
    for item in candidates:
        key = normalize(item.preference.text)
        kept = merged.get(key)
        if kept is None or _weight(item) > _weight(kept):
            merged[key] = item
    return sorted(
        merged.values(),
        key=lambda r: (_weight(r), r.preference.updated_at),
        reverse=True,
    )


def _weight(item: Retrieved) -> float:
    # Support counts help with diminishing returns: ten confirmations are not
    # ten times the evidence of one in a similar context.
    return item.score * (1.0 + math.log(max(item.preference.support, 1)))


def build_policy(candidates: list[Retrieved]) -> Policy:
    ranked = rank(candidates)[:MAX_PREFERENCES]
    texts = [_sentence(r.preference.text) for r in ranked]
    rules = [r.preference for r in ranked if r.preference.operation is not None]
    return Policy(
        preference=" ".join(texts),
        preferences=ranked,
        rules=rules,
        system_prompt=system_prompt(texts),
    )


def system_prompt(texts: list[str]) -> str:
    if not texts:
        return BASE_PROMPT
    bullets = "\n".join(f"- {t}" for t in texts)
    return (
        f"{BASE_PROMPT} This user has shown these writing preferences through their "
        f"edits and feedback. Follow them:\n{bullets}"
    )


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."
