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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from learners.style.text import normalize
from store.records import Preference

#: weight of a user-wide preference: explicit instructions outrank inferred ones
USER_SCOPE_SCORE = 1.0
#: at most this many preferences go into the aggregated text and system prompt
MAX_PREFERENCES = 12
#: recency half-life, in evidence items, when two signals contradict each other
CONFLICT_HALF_LIFE = 2.0

BASE_PROMPT = "You are a writing assistant."


@dataclass(frozen=True)
class Retrieved:
    preference: Preference
    score: float
    #: a feedback preference's scope (where it applies), None for the rest
    scope: str | None = None


@dataclass(frozen=True)
class Policy:
    preference: str
    preferences: list[Retrieved]
    rules: list[Preference] = field(default_factory=list)
    system_prompt: str = BASE_PROMPT
    #: what could not be done as usual (e.g. an LLM aggregation that failed)
    warnings: list[str] = field(default_factory=list)
    #: the context the policy is for: template rules fill their values from it
    context: str = ""

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


#: the conflict slot of a preference (its learner's ``Learner.slot``), None for no conflict
SlotOf = Callable[[Preference], str | None]


def _no_slot(pref: Preference) -> str | None:
    return None


def resolve_conflicts(
    candidates: list[Retrieved], rules: list[Preference], slot_of: SlotOf = _no_slot
) -> list[Retrieved]:
    """One style preference per slot: the verified rule's, else recent and well supported.

    Within a slot, each preference scores the sum over its evidence of
    0.5 ** (recency rank / CONFLICT_HALF_LIFE), ranking all the slot's evidence
    together (0 = newest), so three recent edits outweigh five old ones.
    """
    ruled = {slot_of(r): normalize(r.text) for r in rules}
    groups: dict[str, list[Retrieved]] = {}
    kept: list[Retrieved] = []
    for item in candidates:
        pref = item.preference
        slot = slot_of(pref)
        if slot is None or pref.kind == "rule":
            kept.append(item)
        elif slot in ruled:
            if normalize(pref.text) == ruled[slot]:
                kept.append(item)
        else:
            groups.setdefault(slot, []).append(item)
    for group in groups.values():
        stamps = sorted({e.created_at for r in group for e in r.preference.evidence}, reverse=True)
        rank = {stamp: i for i, stamp in enumerate(stamps)}

        def recency(r: Retrieved, rank: dict[str, int] = rank) -> float:
            return float(
                sum(0.5 ** (rank[e.created_at] / CONFLICT_HALF_LIFE) for e in r.preference.evidence)
            )

        kept.append(max(group, key=lambda r: (recency(r), r.preference.support)))
    return kept


def build_policy(
    candidates: list[Retrieved], rules: list[Preference] | None = None, slot_of: SlotOf = _no_slot
) -> Policy:
    rules = rules or []
    ranked = rank(resolve_conflicts(candidates, rules, slot_of))[:MAX_PREFERENCES]
    texts = [_sentence(r.preference.text) for r in ranked]
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
