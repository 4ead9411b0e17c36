"""The data ICAI learns from: a pair of texts with the annotator's choice, and a vote.

Findeis et al., "Inverse Constitutional AI" (arXiv 2406.06560), Section 3: each
datum is two responses (optionally with the prompt they answer) and which one
was preferred; a principle used as a judge votes for one of them or abstains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: a judge's choice in a pair; None abstains
Vote = Literal["a", "b"] | None


@dataclass(frozen=True)
class Pair:
    """Two texts and which one the annotator preferred."""

    a: str
    b: str
    preferred: Literal["a", "b"]
    context: str | None = None
    id: str | None = None

    @property
    def chosen(self) -> str:
        return self.a if self.preferred == "a" else self.b

    @property
    def rejected(self) -> str:
        return self.b if self.preferred == "a" else self.a
