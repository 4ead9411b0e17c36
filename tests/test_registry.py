"""Contract tests over every registered learner."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from learners.base import Learned, Learner, NoHistory
from learners.registry import DEFAULT_LEARNERS, learner_class, learner_names
from store.errors import InvalidInputError
from store.records import Feedback, Interaction, now
from tests.fakellm import ScriptedLLM

INTERACTION = Interaction(
    id="int_1",
    tenant="t",
    user="u",
    context="Email to my boss",
    draft="Hey! 😀 See you.",
    final="Hello Maria,\n\nSee you.\n\nBest,\nDana",
    task="email",
    feedback="no emojis for my boss",
    client_id=None,
    metadata=None,
    edit_distance=6,
    accepted=False,
    created_at=now(),
)
FEEDBACK = Feedback(
    id="fb_1",
    tenant="t",
    user="u",
    text="Be brief",
    task=None,
    context=None,
    interaction_id=None,
    created_at=now(),
)


def test_defaults_are_registered() -> None:
    assert set(DEFAULT_LEARNERS) <= set(learner_names())


@pytest.mark.parametrize("name", learner_names())
def test_learner_contract(name: str) -> None:
    cls = learner_class(name)
    assert issubclass(cls, Learner) and cls.name == name
    assert isinstance(cls.source, str) and cls.source
    with pytest.raises(ValidationError):
        cls.Options(no_such_option=1)
    # LLM learners get the in-process scripted LLM (the HTTP path is in test_cipher).
    learner = cls(llm=ScriptedLLM()) if cls.needs_llm else cls()
    for learned in learner.learn_interaction(INTERACTION, NoHistory()) + learner.learn_feedback(
        FEEDBACK
    ):
        assert isinstance(learned, Learned)
        assert learned.text.strip() and learned.key
        assert learned.scope in {"context", "user"}
        assert (learned.kind == "rule") == (learned.operation is not None)


def test_feedback_learner_keeps_words_and_scope() -> None:
    learner = learner_class("feedback")()
    [from_feedback] = learner.learn_feedback(FEEDBACK)
    assert (from_feedback.text, from_feedback.scope) == ("Be brief", "user")
    [from_edit] = learner.learn_interaction(INTERACTION, NoHistory())
    assert (from_edit.text, from_edit.scope, from_edit.task) == (
        "no emojis for my boss",
        "context",
        "email",
    )
    no_feedback = Interaction(**{**INTERACTION.__dict__, "feedback": None})
    assert learner.learn_interaction(no_feedback, NoHistory()) == []


def test_unknown_learner_is_a_clear_error() -> None:
    with pytest.raises(
        InvalidInputError,
        match="unknown learner 'nope'; known: cipher-1, cipher-5, edits, feedback, rules",
    ):
        learner_class("nope")
