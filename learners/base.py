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
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from store.records import Feedback, Interaction


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


class Learner:
    """Base class: override ``learn_interaction`` and/or ``learn_feedback``."""

    name: ClassVar[str]
    #: stored as the ``source`` of every preference this learner produces
    source: ClassVar[str]
    #: True when the learner calls an LLM (the service then needs one configured)
    needs_llm: ClassVar[bool] = False
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options = options if options is not None else self.Options()

    def learn_interaction(self, interaction: Interaction) -> list[Learned]:
        return []

    def learn_feedback(self, feedback: Feedback) -> list[Learned]:
        return []

    def apply(self, operation: dict[str, Any], text: str) -> str:
        """Apply one of this learner's executable operations to ``text``."""
        raise NotImplementedError(f"learner {self.name!r} produces no executable rules")
