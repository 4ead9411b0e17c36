"""The learner interface.

A learner looks at one interaction (a draft and what the user made of it) or
one piece of verbal feedback and returns the preferences it inferred. The
engine stores them with provenance (which items support them), merges repeats
by ``key`` into support counts, and indexes the items' contexts so that a
policy can retrieve what was learned near a new context (PRELUDE, Gao et al.,
arXiv 2404.15269, section 3). Learners that produce executable rules also
apply them in ``apply``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from store.records import Feedback, Interaction, Preference

if TYPE_CHECKING:
    from learners.backends.llm import LLM


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Learned:
    """One preference a learner inferred from one item.

    ``scope="context"`` preferences are retrieved through the nearest past
    contexts; ``scope="user"`` ones hold in every context (of ``task``, when set).
    ``key`` merges repeats: the same key from the same source adds support.
    ``operation`` makes the preference an executable rewrite rule.
    """

    text: str
    key: str
    kind: Literal["instruction", "rule"] = "instruction"
    scope: Literal["context", "user"] = "context"
    task: str | None = None
    operation: dict[str, Any] | None = None
    #: why the current item supports it, e.g. "emojis 2 -> 0" (stored with the evidence)
    detail: str | None = None
    #: interaction ids that support it; None means just the item being learned from
    evidence: tuple[str, ...] | None = None
    #: verification figures of a rule (support, precision, gain, ...)
    stats: dict[str, Any] | None = None
    status: Literal["active", "retired"] = "active"


@dataclass(frozen=True)
class Neighbor:
    """A past interaction of the same user, and how similar its context is (cosine)."""

    interaction: Interaction
    score: float


class History(Protocol):
    """Read-only view of one user's past, centred on the context being learned from."""

    def neighbors(self) -> list[Neighbor]:
        """The nearest past interactions (same task or none), most similar first."""
        ...

    def preferences(self, source: str) -> list[Preference]:
        """This source's preferences supported by those neighbors (retired included)."""
        ...


class NoHistory:
    """A user with no past: what a learner sees for a first interaction or in isolation."""

    def neighbors(self) -> list[Neighbor]:
        return []

    def preferences(self, source: str) -> list[Preference]:
        return []


class Learner:
    """Base class: override ``learn_interaction`` and/or ``learn_feedback``."""

    name: ClassVar[str]
    #: stored as the ``source`` of every preference this learner produces
    source: ClassVar[str]
    #: True when the learner calls an LLM (the service then needs one configured)
    needs_llm: ClassVar[bool] = False
    Options: ClassVar[type[BaseModel]] = NoOptions
    #: True when this learner's preference keys start with a conflict slot
    #: (``"structure=..."``): a policy then keeps one preference per slot
    slotted: ClassVar[bool] = False
    #: preferences with less support stay visible but are left out of policy texts
    min_support: ClassVar[int] = 1

    def __init__(self, options: BaseModel | None = None, *, llm: LLM | None = None) -> None:
        self.options = options if options is not None else self.Options()
        #: the LLM back-end, for learners with ``needs_llm``
        self.llm = llm

    def learn_interaction(self, interaction: Interaction, history: History) -> list[Learned]:
        return []

    def preference_cap(self) -> int | None:
        """Most active preferences of this learner one user keeps (None: no cap).

        The engine retires the weakest beyond it (``store.preferences.retire_weakest``),
        so what a user's policy weighs, and what each new edit re-verifies, stays bounded.
        """
        return None

    def learn_feedback(self, feedback: Feedback) -> list[Learned]:
        return []

    def contribute(
        self, preferences: list[Preference], neighbors: list[Neighbor]
    ) -> list[Preference]:
        """Of this learner's preferences retrieved for a context, those that apply there.

        ``neighbors`` are the user's past interactions nearest to that context.
        """
        return preferences

    def contribute_noted(
        self, preferences: list[Preference], neighbors: list[Neighbor]
    ) -> tuple[list[Preference], list[str]]:
        """``contribute`` plus warnings for the caller when it had to fall back."""
        return self.contribute(preferences, neighbors), []

    def slot(self, preference: Preference) -> str | None:
        """Conflict slot of one of this learner's preferences ("structure" for bullets vs
        prose), or None when it conflicts with nothing."""
        if self.slotted and "=" in preference.key:
            return preference.key.split("=", 1)[0]
        return None

    def apply(self, operation: dict[str, Any], text: str, context: str = "") -> str:
        """Apply one of this learner's executable operations to ``text`` (for ``context``)."""
        raise NotImplementedError(f"learner {self.name!r} produces no executable rules")
