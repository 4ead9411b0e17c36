"""The one registry: learners and the simulation's baselines, by name.

Built-in entries are listed in ``BUILTIN``; outside packages add theirs through
the ``tailor.learners`` and ``tailor.baselines`` entry-point groups, exactly
like the built-ins (the pattern of simonw/llm's ``DEFAULT_PLUGINS`` plus entry
points). The service, the CLI and the replay simulation all resolve names here.

Targets are ``"module:attr"`` strings imported only when the name is used.
Baselines (PRELUDE's no-learning, oracle, ICL-edit, continual and
explore-then-exploit agents, Gao et al., arXiv 2404.15269, section 4) are
simulation agents: their targets live in ``replay/``, and resolving one is
what the simulation does, so ``learners/`` itself never imports ``replay``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Literal

from learners.backends.llm import LLM, require_llm
from learners.base import Learner
from store.errors import InvalidInputError

Kind = Literal["learner", "baseline"]

ENTRY_POINT_GROUPS: dict[Kind, str] = {
    "learner": "tailor.learners",
    "baseline": "tailor.baselines",
}


@dataclass(frozen=True)
class Entry:
    kind: Kind
    #: "module:attr", imported only when the entry is used
    target: str


BUILTIN: dict[str, Entry] = {
    "feedback": Entry("learner", "learners.feedback:FeedbackLearner"),
    "edits": Entry("learner", "learners.signals:EditSignalsLearner"),
    "rules": Entry("learner", "learners.rules:RuleLearner"),
    "cipher-1": Entry("learner", "learners.cipher:Cipher1Learner"),
    "cipher-5": Entry("learner", "learners.cipher:CipherLearner"),
    "none": Entry("baseline", "replay.agents:NoLearning"),
    "oracle": Entry("baseline", "replay.agents:Oracle"),
    "icl-edit": Entry("baseline", "replay.agents:IclEdit"),
    "continual": Entry("baseline", "replay.agents:Continual"),
    "explore-exploit": Entry("baseline", "replay.agents:ExploreExploit"),
}

#: what the service runs when TAILOR_LEARNER is not set: the offline learners
DEFAULT_LEARNERS: tuple[str, ...] = ("feedback", "edits", "rules")


def _entries(kind: Kind) -> dict[str, str]:
    entries = {name: e.target for name, e in BUILTIN.items() if e.kind == kind}
    for ep in entry_points(group=ENTRY_POINT_GROUPS[kind]):
        entries.setdefault(ep.name, ep.value)
    return entries


def names(kind: Kind) -> list[str]:
    """Registered names of one kind, built-ins first, in registration order."""
    return list(_entries(kind))


def learner_names() -> list[str]:
    return sorted(_entries("learner"))


def resolve(kind: Kind, name: str) -> Any:
    """The object a name of ``kind`` stands for; ``InvalidInputError`` when unknown."""
    target = _entries(kind).get(name)
    if target is None:
        raise InvalidInputError(
            f"unknown {kind} {name!r}; known: {', '.join(sorted(names(kind)))}",
            code=f"unknown_{kind}",
        )
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def learner_class(name: str) -> type[Learner]:
    cls = resolve("learner", name)
    if not (isinstance(cls, type) and issubclass(cls, Learner)):
        raise InvalidInputError(f"{name!r} is not a Learner", code="unknown_learner")
    return cls


def build_learners(names: list[str], *, llm: LLM | None = None) -> list[Learner]:
    """Instances of the named learners, with default options, in the given order.

    Learners that call an LLM get ``llm``; naming one without an LLM configured
    fails here, at start-up, with a message that says what to set.
    """
    learners: list[Learner] = []
    for name in names:
        cls = learner_class(name)
        if cls.needs_llm:
            learners.append(cls(llm=require_llm(llm, f"learner {name!r}")))
        else:
            learners.append(cls())
    return learners
