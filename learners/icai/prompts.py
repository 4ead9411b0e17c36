"""The LLM side of Inverse Constitutional AI: the two prompts and their strict parsing.

Findeis et al., "Inverse Constitutional AI" (arXiv 2406.06560), Section 3 and
Appendix prompts: one prompt asks for candidate principles that explain why an
annotator selected one response; the other asks, for one pair, how each
principle would vote. The wording is Tailor's, the structure the paper's.
Answers must be the JSON object asked for; anything else raises ``LLMError``.
"""

from __future__ import annotations

from collections.abc import Sequence

from learners.backends.llm import Messages, malformed, parse_json_object
from learners.icai.pairs import Pair, Vote

#: longest text shown to an LLM (characters)
MAX_CHARS = 4000


SYSTEM = (
    "You analyse pairwise preference data: which of two responses an annotator selected. "
    "You answer with one JSON object and nothing else."
)

GENERATE = """An annotator compared two responses{context} and selected one of them.

Selected response:
<<<
{chosen}
>>>

Other response:
<<<
{rejected}
>>>

Why would the annotator select this response over the other? Give the {n} most likely \
rules that explain the selection, each in at most 10 words and each starting with \
"Select the response that". Be specific and focus on how the two responses differ, for \
example in content, tone, structure, length or writing style.

Answer as JSON: {{"principles": ["Select the response that ...", ...]}}"""

VOTE = """Two responses{context}:

Response A:
<<<
{a}
>>>

Response B:
<<<
{b}
>>>

For each rule below, say which response the rule selects: "A", "B", or "not relevant" \
when the rule does not tell the two apart (both or neither follow it).
{rules}

Answer as JSON with one entry per rule number, e.g. {{"0": "A", "1": "not relevant"}}"""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " [...]"


def _context(pair: Pair, limit: int) -> str:
    return f" written for: {_clip(pair.context, limit)!r}" if pair.context else ""


def generation_messages(pair: Pair, n: int, max_chars: int = MAX_CHARS) -> Messages:
    prompt = GENERATE.format(
        context=_context(pair, max_chars // 4),
        chosen=_clip(pair.chosen, max_chars),
        rejected=_clip(pair.rejected, max_chars),
        n=n,
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]


def voting_messages(pair: Pair, principles: Sequence[str], max_chars: int = MAX_CHARS) -> Messages:
    prompt = VOTE.format(
        context=_context(pair, max_chars // 4),
        a=_clip(pair.a, max_chars),
        b=_clip(pair.b, max_chars),
        rules="\n".join(f"{i}. {text}" for i, text in enumerate(principles)),
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]


def parse_principles(text: str, *, max_chars: int = 200) -> list[str]:
    """The ``principles`` list of a generation answer; anything else raises ``LLMError``."""
    items = parse_json_object(text).get("principles")
    if not isinstance(items, list) or not items:
        raise malformed(text, 'expected a non-empty list "principles"')
    found: list[str] = []
    for item in items:
        value = " ".join(item.split()) if isinstance(item, str) else ""
        if not value or len(value) > max_chars:
            raise malformed(text, f"each principle must be a string of 1-{max_chars} characters")
        found.append(value)
    return found


#: "both" and "neither" are answers the reference code allows; neither selects a text
_VOTE_VALUES: dict[str, Vote] = {"a": "a", "b": "b"}
_VOTE_VALUES |= dict.fromkeys(("not relevant", "none", "both", "neither"))


def parse_votes(text: str, n: int) -> list[Vote]:
    """The votes of a voting answer for rules 0..n-1, each "A", "B" or "not relevant"."""
    data = parse_json_object(text)
    if set(data) != {str(i) for i in range(n)}:
        raise malformed(text, f"expected exactly the rule numbers 0..{n - 1} as keys")
    votes: list[Vote] = []
    for i in range(n):
        value = data[str(i)]
        if not isinstance(value, str) or value.strip().casefold() not in _VOTE_VALUES:
            raise malformed(text, f'rule {i}: expected "A", "B" or "not relevant"')
        votes.append(_VOTE_VALUES[value.strip().casefold()])
    return votes
