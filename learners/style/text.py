"""Word-token edit distance, the cost PRELUDE measures.

Gao et al., "Aligning LLM Agents by Learning Latent Preference from User
Edits" (arXiv 2404.15269) score each round by the Levenshtein distance between
the agent's draft and the user's edit, counted over word tokens. Tokens here
are runs of word characters or single punctuation/symbol characters, so
"Hi, Dana!" is ["Hi", ",", "Dana", "!"]. The distance is computed by
rapidfuzz (C++), which accepts sequences of hashable tokens.
"""

from __future__ import annotations

import re

from rapidfuzz.distance import Levenshtein

_TOKEN = re.compile(r"\w+|[^\w\s]")


def word_tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


#: token pairs above which the distance is computed by ``process.cdist``, which releases
#: the GIL (``Levenshtein.distance`` holds it: 0.15 s for two 200k-character texts,
#: during which no other thread of the server runs); below, its overhead is not worth it
_RELEASE_GIL_ABOVE = 50_000_000


def edit_distance(draft: str, final: str) -> int:
    """Levenshtein distance between the word tokens of two texts."""
    if draft == final:
        return 0
    a, b = word_tokens(draft), word_tokens(final)
    if len(a) * len(b) > _RELEASE_GIL_ABOVE:
        from rapidfuzz.process import cdist

        return int(cdist([a], [b], scorer=Levenshtein.distance, workers=1)[0][0])
    return int(Levenshtein.distance(a, b))


def normalize(text: str) -> str:
    """Key for spotting near-identical preference texts: case, spacing, end punctuation."""
    return " ".join(text.casefold().split()).rstrip(" .!;")
