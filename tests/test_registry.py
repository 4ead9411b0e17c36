"""Contract tests over every registered learner."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pydantic import ValidationError

from learners.base import Learned, Learner, Neighbor, NoHistory
from learners.registry import DEFAULT_LEARNERS, learner_class, learner_names
from learners.style.text import edit_distance
from store.errors import InvalidInputError
from store.records import Feedback, Interaction, Preference, now
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


class PastEdit:
    """A user's history with one earlier, similar edit that made the same changes.

    The rules learner trusts a rule only once it helped on two distinct edits, so on
    a first interaction (``NoHistory``) it rightly learns nothing; with this past it must.
    """

    def neighbors(self) -> list[Neighbor]:
        return [Neighbor(PAST, 0.9)]

    def preferences(self, source: str) -> list[Preference]:
        return []


PAST = replace(
    INTERACTION,
    id="int_0",
    context="Email to my manager",
    draft="Hey! 😀 Thanks for the notes.",
    final="Hello Maria,\n\nThanks for the notes.\n\nBest,\nDana",
    feedback=None,
)

#: per registered learner: (its source, what it must learn from INTERACTION + FEEDBACK)
MUST_LEARN: dict[str, tuple[str, set[str]]] = {
    "feedback": ("feedback", {"no emojis for my boss", "Be brief"}),
    "edits": ("edit", {"avoids emojis", "closes with 'Best, Dana'"}),
    "rules": ("rule", {"closes with 'Best, Dana'"}),
    # The scripted LLM answers the first style change Tailor measured.
    "cipher-1": ("cipher", {"opens with 'Hello <name>,'"}),
    "cipher-5": ("cipher", {"opens with 'Hello <name>,'"}),
}


def test_every_learner_has_an_input_it_must_learn_from() -> None:
    assert set(MUST_LEARN) == set(learner_names())


@pytest.mark.parametrize("name", learner_names())
def test_learner_contract(name: str) -> None:
    cls = learner_class(name)
    assert issubclass(cls, Learner) and cls.name == name
    source, must = MUST_LEARN[name]
    assert cls.source == source
    with pytest.raises(ValidationError):
        cls.Options(no_such_option=1)
    # LLM learners get the in-process scripted LLM (the HTTP path is in test_cipher).
    learner = cls(llm=ScriptedLLM()) if cls.needs_llm else cls()
    from_interaction = learner.learn_interaction(INTERACTION, PastEdit())
    from_feedback = learner.learn_feedback(FEEDBACK)
    learned = from_interaction + from_feedback
    assert must <= {item.text for item in learned}, learned
    for item in learned:
        assert isinstance(item, Learned)
        assert item.text.strip() and item.key
        assert item.scope in {"context", "user"}
        assert (item.kind == "rule") == (item.operation is not None)
        assert item.status == "active"
    for item in from_interaction:
        assert item.task == INTERACTION.task
        if item.kind == "rule":
            # A rule is executable and moves the draft towards what the user wrote, and
            # it was verified on both edits.
            assert item.operation is not None
            rewritten = learner.apply(item.operation, INTERACTION.draft)
            assert edit_distance(rewritten, INTERACTION.final) < edit_distance(
                INTERACTION.draft, INTERACTION.final
            )
            assert set(item.evidence or ()) == {INTERACTION.id, PAST.id}
    if source == "rule":
        assert from_interaction and all(item.kind == "rule" for item in from_interaction)
        # On a first interaction nothing is verified yet: no rule.
        assert learner.learn_interaction(INTERACTION, NoHistory()) == []


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
