"""Mining candidate rules from one edit: phrases, whole sentences, lines and templates.

The rule learner (``learners.rules``) verifies what this module proposes; here
the only question is which changes of one (draft, final) pair are worth a
try. The alignment is word level (``learners.style.align``), but what is cut
is read sentence by sentence: a sentence the user deleted whole is one
candidate, its own, so that a constant filler sentence is never glued to the
one-off content next to it ("<a finding>. Overall, the week was fine!" is two
sentences, and only the second one recurs). Token-level substitutions and
deletions stay inside one sentence. Lines the user adds are proposed both as
literals and, when they copy values from the context or the text, as
templates (``learners.style.templates``).

    python -c "from learners.mining import sentence_deletions as s; print(s('A b. C d!', 'A b.'))"
"""

from __future__ import annotations

import re
from typing import Protocol

from learners.style import layout as lay
from learners.style import operations as ops
from learners.style import templates
from learners.style.align import align

#: sentence ends in any casing ("done! please ...", "Done. Please ...")
_SPLIT = re.compile(r"(?<=[.!?])\s+")


class MiningOptions(Protocol):
    @property
    def max_phrase_tokens(self) -> int: ...

    @property
    def max_deleted_tokens(self) -> int: ...


def _sentences(text: str) -> list[tuple[int, int]]:
    """Character ranges of the sentences of each line of ``text``."""
    found, at = [], 0
    for line in text.split("\n"):
        start = at
        for piece in _SPLIT.split(line):
            offset = line.find(piece, start - at) + at if piece else start
            if piece.strip():
                found.append((offset, offset + len(piece)))
            start = offset + len(piece)
        at += len(line) + 1
    return found


def _words(text: str) -> str:
    return " ".join(t.casefold() for t in re.findall(r"\w+", text))


def phrase_candidates(draft: str, final: str, options: MiningOptions) -> list[ops.StoredOperation]:
    """Whole deleted sentences, then substitutions and deletions inside one sentence.

    Greeting and sign-off lines are left to their own operations, so that one
    habit ("closes with 'Best, Dana'") is one rule, not three phrase rules.
    """
    before, after = lay.parse(draft).body, lay.parse(final).body
    draft, final = "\n".join(before), "\n".join(after)
    a, b, opcodes = align(draft, final)  # near-linear, where difflib was quadratic
    kept = [False] * len(a)
    for tag, i1, i2, _, _ in opcodes:
        if tag == "equal":
            kept[i1:i2] = [True] * (i2 - i1)
    found: list[ops.StoredOperation] = []
    gone: list[tuple[int, int]] = []  # character ranges of sentences deleted whole
    words = f" {_words(final)} "
    for start, end in _sentences(draft):
        inside = [k for k, (t, s, _) in enumerate(a) if start <= s < end and t[0].isalnum()]
        moved = f" {_words(draft[start:end])} " in words  # kept, elsewhere (into a list)
        if len(inside) >= 2 and sum(kept[k] for k in inside) <= len(inside) // 4 and not moved:
            core = lay.phrase_core(draft[start:end])
            if core and len(inside) <= options.max_deleted_tokens:
                found.append({"op": "delete_phrase", "phrase": core})
            gone.append((start, end))

    def whole(s: int, e: int) -> bool:
        """The span touches a sentence deleted whole, or crosses a sentence end."""
        if any(s < ge and e > gs for gs, ge in gone):
            return True
        return bool(_SPLIT.search(draft[s:e].rstrip(" .!?")))

    for tag, i1, i2, j1, j2 in opcodes:
        if tag not in ("replace", "delete"):
            continue
        s, e = a[i1][1], a[i2 - 1][2]
        src = draft[s:e]
        if "\n" in src or whole(s, e) or not any(t[0].isalnum() for t, _, _ in a[i1:i2]):
            continue
        if tag == "replace" and i2 - i1 <= options.max_phrase_tokens >= j2 - j1:
            dst = final[b[j1][1] : b[j2 - 1][2]]
            if "\n" not in dst:
                found.append({"op": "replace_phrase", "src": src, "dst": dst})
        elif tag == "delete" and i2 - i1 <= options.max_deleted_tokens:
            found.append({"op": "delete_phrase", "phrase": src})
    lines = {ln.strip() for ln in before}
    added = [ln.strip() for ln in after if ln.strip() and ln.strip() not in lines]
    first = next((ln.strip() for ln in after if ln.strip()), "")
    last = next((ln.strip() for ln in reversed(after) if ln.strip()), "")
    for line in added:
        if len(line.split()) > 20 or lay.BULLET.match(line) or lay.PREFIX_LINE.match(line):
            continue
        if line == first and line != last:
            found.append({"op": "prepend_line", "line": line})
        elif line == last and line != first:
            found.append({"op": "append_line", "line": line})
    return found


def line_templates(draft: str, final: str, context: str) -> list[ops.StoredOperation]:
    """Added greeting, first and last lines that copy from the context or the text."""
    return templates.mine(draft, final, context)
