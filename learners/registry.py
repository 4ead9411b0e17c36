"""The one registry of learners, by name.

Built-in learners are listed in ``BUILTIN``; outside packages add theirs
through the ``tailor.learners`` entry-point group, exactly like the built-ins
(the pattern of simonw/llm's ``DEFAULT_PLUGINS`` plus entry points). The
service, the CLI and the replay simulation all resolve names here.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from learners.backends.llm import LLM, require_llm
from learners.base import Learner
from store.errors import InvalidInputError

ENTRY_POINT_GROUP = "tailor.learners"

#: name -> "module:Class", imported only when the learner is used
BUILTIN: dict[str, str] = {
    "feedback": "learners.feedback:FeedbackLearner",
    "edits": "learners.signals:EditSignalsLearner",
    "rules": "learners.rules:RuleLearner",
    "cipher-1": "learners.cipher:Cipher1Learner",
    "cipher-5": "learners.cipher:CipherLearner",
}

#: what the service runs when TAILOR_LEARNER is not set: the offline learners
DEFAULT_LEARNERS: tuple[str, ...] = ("feedback", "edits", "rules")


def _targets() -> dict[str, str]:
    targets = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        targets.setdefault(ep.name, ep.value)
    return targets


def learner_names() -> list[str]:
    return sorted(_targets())


def learner_class(name: str) -> type[Learner]:
    target = _targets().get(name)
    if target is None:
        raise InvalidInputError(
            f"unknown learner {name!r}; known: {', '.join(learner_names())}",
            code="unknown_learner",
        )
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Learner)):
        raise InvalidInputError(f"{target} is not a Learner", code="unknown_learner")
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
