"""Executable operations and their detectors, on real text."""

from __future__ import annotations

import pytest

from learners.signals import analyze, features
from learners.style import layout as lay
from learners.style import operations as ops
from store.errors import InvalidInputError

EMAIL = """Hey Maria!

I hope this email finds you well. The budget review moves to Tuesday 😀. We don't have the
numbers yet! Let me know if that works. #budget

Thanks,
Sam"""

SUMMARY = (
    "The council approved the budget on Monday. Spending on parks rises by ten percent. "
    "Two members voted against. The mayor called it a fair compromise."
)

CASES: list[tuple[ops.StoredOperation, str]] = [
    ({"op": "replace_phrase", "src": "Let me know", "dst": "Tell me"}, EMAIL),
    ({"op": "delete_phrase", "phrase": "I hope this email finds you well."}, EMAIL),
    ({"op": "remove_emojis"}, EMAIL),
    ({"op": "remove_exclamations"}, EMAIL),
    ({"op": "expand_contractions"}, EMAIL),
    ({"op": "use_contractions"}, "We do not know. It is late."),
    ({"op": "remove_hashtags"}, EMAIL),
    ({"op": "limit_sentences", "n": 2}, SUMMARY),
    ({"op": "to_bullets", "marker": "-"}, SUMMARY),
    ({"op": "to_numbered", "max_items": 3}, SUMMARY),
    ({"op": "to_prose"}, "- One point.\n- Another point."),
    ({"op": "set_greeting", "template": "Hello {name},"}, EMAIL),
    ({"op": "remove_greeting"}, EMAIL),
    ({"op": "set_signoff", "lines": ["Best,", "Dana"]}, EMAIL),
    ({"op": "remove_signoff"}, EMAIL),
    ({"op": "prepend_line", "line": "Quick update:"}, EMAIL),
    ({"op": "append_line", "line": "Happy to talk it through."}, EMAIL),
    ({"op": "add_prefix", "label": "TL;DR:"}, SUMMARY),
]


@pytest.mark.parametrize(("op", "text"), CASES, ids=[c[0]["op"] for c in CASES])
def test_apply_makes_the_detector_pass_and_is_idempotent(op: ops.Operation, text: str) -> None:
    assert not ops.holds(op, text)
    once = ops.apply(op, text)
    assert ops.holds(op, once), once
    assert ops.apply(op, once) == once
    assert ops.describe(op) and ops.slot(op) and ops.key(op).startswith(ops.slot(op))


def test_layout_finds_greeting_body_and_signoff() -> None:
    layout = lay.parse(EMAIL)
    assert layout.greeting == "Hey Maria!"
    assert layout.signoff == ["Thanks,", "Sam"]
    assert layout.body[0].startswith("I hope")
    assert lay.parse("Hello there, the meeting is at noon.").greeting is None
    assert lay.parse("Can we talk?\nThanks for asking?").signoff == []


def test_operations_on_real_text() -> None:
    assert ops.apply({"op": "set_greeting", "template": "Hello {name},"}, EMAIL).startswith(
        "Hello Maria,\n"
    )
    assert ops.apply({"op": "expand_contractions"}, "Don't worry, I'm here.") == (
        "Do not worry, I am here."
    )
    assert ops.apply({"op": "remove_emojis"}, "Great news 🎉!") == "Great news!"
    numbered = ops.apply({"op": "to_numbered", "max_items": 2}, SUMMARY)
    assert numbered == (
        "1. The council approved the budget on Monday.\n2. Spending on parks rises by ten percent."
    )
    tldr = ops.apply_all(
        [{"op": "add_prefix", "label": "TL;DR:"}, {"op": "to_bullets", "marker": "*"}], SUMMARY
    )
    assert tldr.startswith("TL;DR: The council approved the budget on Monday.\n\n* The council")
    replaced = ops.apply({"op": "replace_phrase", "src": "utilize", "dst": "use"}, "We utilize.")
    assert replaced == "We use."
    # Never inside a word.
    untouched = ops.apply({"op": "replace_phrase", "src": "use", "dst": "apply"}, "a user")
    assert untouched == "a user"


def test_unknown_operation_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="unknown operation 'explode'"):
        ops.apply({"op": "explode"}, "text")


def test_signals_name_each_change_with_evidence() -> None:
    final = (
        "Hello Maria,\n\nThe budget review moves to Tuesday. We do not have the numbers yet.\n\n"
        "Best,\nDana"
    )
    signals = {s.key: s for s in analyze(EMAIL, final)}
    assert signals["signoff=best, dana"].evidence == "sign-off 'Thanks, Sam' -> 'Best, Dana'"
    assert signals["signoff=best, dana"].op == {"op": "set_signoff", "lines": ["Best,", "Dana"]}
    assert signals["greeting=hello {name},"].op == {
        "op": "set_greeting",
        "template": "Hello {name},",
    }
    for key in ["emoji=none", "exclamation=none", "contractions=none", "hashtags=none"]:
        assert signals[key].op is not None, key
    assert analyze(EMAIL, EMAIL) == []


def test_structure_and_length_signals() -> None:
    final = "TL;DR: Parks win.\n\n1. Budget approved Monday.\n2. Parks up ten percent."
    signals = {s.key: s for s in analyze(SUMMARY, final)}
    assert signals["structure=numbered"].text == "prefers numbered lists of at most 2 items"
    assert signals["prefix=tl;dr:"].op == {"op": "add_prefix", "label": "TL;DR:"}
    assert "length=shorter" in signals
    f = features(final)
    assert (f.numbered, f.prefix, f.bullets) == (2, "TL;DR:", 0)


# -- the typed form: stored dicts validated once, keys stable ---------------------------

#: key() of stored rules, computed with the positional-lambda implementation before
#: operations became models: keys are stored in the database, so they must not move.
STORED_KEYS = {
    "phrase:utilize=replace_phrase(dst='use',src='utilize')": {
        "op": "replace_phrase",
        "src": "utilize",
        "dst": "use",
    },
    "length=limit_sentences(n=3)": {"op": "limit_sentences", "n": 3},
    "structure=to_bullets()": {"op": "to_bullets"},
    "structure=to_bullets(marker='*')": {"op": "to_bullets", "marker": "*"},
    "structure=to_numbered(max_items=4)": {"op": "to_numbered", "max_items": 4},
    "greeting=set_greeting(template='Hi {name},')": {
        "op": "set_greeting",
        "template": "Hi {name},",
    },
    "signoff=set_signoff(lines=['Cheers,', 'Dana'])": {
        "op": "set_signoff",
        "lines": ["Cheers,", "Dana"],
    },
    "prefix=add_prefix(label='TL;DR:')": {"op": "add_prefix", "label": "TL;DR:"},
}


@pytest.mark.parametrize("expected", sorted(STORED_KEYS))
def test_keys_of_stored_operations_do_not_change(expected: str) -> None:
    assert ops.key(STORED_KEYS[expected]) == expected


@pytest.mark.parametrize(("op", "text"), CASES)
def test_every_kind_round_trips_and_holds_after_it_is_applied(
    op: ops.StoredOperation, text: str
) -> None:
    model = ops.parse_operation(op)
    assert ops.parse_operation(ops.dump(model)) == model
    assert ops.key(ops.dump(model)) == ops.key(op)
    assert model.holds(model.apply(text)), op


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ({"op": "set_signoff"}, "needs the parameter 'lines'"),
        ({"op": "limit_sentences", "n": "three"}, "'limit_sentences' parameter 'n'"),
        ({"op": "limit_sentences", "n": 0}, "'limit_sentences' parameter 'n'"),
        ({"op": "shout"}, "unknown operation 'shout'"),
        ({"op": "remove_emojis", "also": 1}, "has no parameter 'also'"),
        ({"lines": ["Bye"]}, "no 'op'"),
        ("remove_emojis", "a JSON object"),
    ],
)
def test_a_malformed_stored_operation_is_a_validation_error(stored: object, problem: str) -> None:
    with pytest.raises(InvalidInputError, match=problem) as caught:
        ops.parse_operation(stored)
    assert caught.value.code == "invalid_operation"
    if isinstance(stored, dict):  # also where the engine applies a stored rule
        from learners.rules import RuleLearner

        with pytest.raises(InvalidInputError):
            RuleLearner().apply(stored, EMAIL)
