"""Applying a policy's rules to a draft, in the order the rules need.

Each kind of operation reads some aspect of the text and writes some
(``learners.style.operations``, its ``phase``): phrase rules read and write
words; tone rules punctuation and word forms; length rules the sentences;
structure rules the layout of the main paragraph; frame rules the greeting,
sign-off and added lines; and rules that copy from the text (a "TL;DR:" line,
templates with a ``{first}`` slot, ``learners.style.templates``) read what all
the others leave, so they run last. A rule runs after every rule that writes
what it reads, which is the phase order. Matching is insensitive to case and
end punctuation (``learners.style.layout.phrase_pattern``), so a phrase rule
no longer depends on running before the punctuation rule. (A fixpoint, rules
retried until the text stops changing, was measured too: it changed nothing
for the zoo and let phrase rules rewrite lines added by later rules, which
cost on the PRELUDE tasks.)

``/rewrite``, ``/generate``, the replay agents and the rule learner's own
verification all apply rules through here, so a rule ``/policy`` lists is a
rule applied wherever its operation changes the draft, and what the learner
measured on past edits is what a rewrite does (issue 12). A rule is reported
as applied when it changed the text.

    python -c "from learners.rules_apply import apply_operations as a;
        print(a([{'op': 'remove_exclamations'}], 'Hi!'))"
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from learners.style import operations as ops
from store.records import Preference

#: how one rule is applied: (rule, text, context) -> text
Apply = Callable[[Preference, str, str], str]
#: one step: (its name, its operation, (text, context) -> text)
Step = tuple[str, dict[str, Any], Callable[[str, str], str]]


def _in_order(steps: Sequence[Step], text: str, context: str) -> tuple[str, list[str]]:
    applied: list[str] = []
    for name, _, run in sorted(steps, key=lambda step: ops.phase(step[1])):
        rewritten = run(text, context)
        if rewritten != text:
            text = rewritten
            applied.append(name)
    return text, applied


def apply_rules(
    rules: Sequence[Preference], text: str, context: str, apply: Apply
) -> tuple[str, list[str]]:
    """``text`` rewritten by ``rules``, and the ids of those that changed it."""
    steps: list[Step] = [
        (r.id, r.operation, lambda t, c, r=r: apply(r, t, c))  # type: ignore[misc]
        for r in rules
        if r.operation is not None and not r.disabled
    ]
    return _in_order(steps, text, context)


def apply_operations(
    operations: Sequence[dict[str, Any]], text: str, context: str = ""
) -> tuple[str, list[dict[str, Any]]]:
    """``text`` rewritten by stored ``operations``, and those that changed it."""
    steps: list[Step] = [
        (str(n), op, ops.parse_operation(op).apply_in) for n, op in enumerate(operations)
    ]
    text, applied = _in_order(steps, text, context)
    return text, [operations[int(n)] for n in applied]
