"""Template lines: lines a user adds whose values come from the context or the draft.

A user who greets the customer the request names ("Reply to ticket #51555
from Daniel Brandt" -> "Hi Daniel,"), files a reply by its ticket ("Ref:
#51555") or heads a summary with its first point ("TL;DR: <first point>")
adds a different line every time; a literal "prepend this line" rule would
paste one old value into every later draft. ``mine`` reads such a line as a
template: the runs of it copied from the context become slots, each found
again in a new context by the words that precede it there and the shape of
its tokens (a number, a capitalised word, ...); a tail copied from the text's
first sentence becomes the ``{first}`` slot. Like every candidate, a template
is kept only when replaying it on the user's past edits lowers the edit
distance (``learners.rules``); the context it is filled from is each past
edit's own. Nothing here knows any domain's words: the anchors and shapes
are read off the user's edits.

    python -c "from learners.style.templates import mine; print(mine('Hi,\\n\\nDone.',
        'Hi Ann,\\n\\nDone.', 'Reply to Ann Lee'))"
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from learners.style import layout as lay
from learners.style.opbase import BaseOperation, StoredOperation, Text

_TOKEN = re.compile(r"\w+|[^\w\s]")
#: words of the context before a value that find it again (at most this many)
ANCHOR = 2
#: the draft's first sentence, in a template
FIRST = "{first}"
#: what a token of each shape looks like in a line (``shape``)
_SHAPES = {"N": r"\d+", "U": r"[A-Z0-9]+", "C": r"[A-Z]\w*", "w": r"[a-z]\w*", "A": r"\w+"}


def shape(token: str) -> str:
    """A token's class: digits, a capitalised or upper-case word, a lower-case word, or
    the punctuation character itself."""
    if token.isdigit():
        return "N"
    if token[0].isalpha() or token[0] == "_":
        if token.isupper() and len(token) > 1:
            return "U"
        return "C" if token[0].isupper() else "w"
    if token[0].isalnum():
        return "A"  # digits and letters mixed ("3b", "2025q1")
    return token


def _spans(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]


class Slot(BaseModel):
    """A value of the context: the tokens after ``after`` (case aside) of this ``shape``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    after: tuple[str, ...]
    shape: tuple[str, ...]
    #: how the line writes the value: as the context does, or in capitals
    case: Literal["same", "upper", "lower"] = "same"

    def find(self, context: str) -> str | None:
        tokens = _spans(context)
        folded = [t.casefold() for t, _, _ in tokens]
        n, size = len(self.after), len(self.shape)
        for i in range(len(tokens) - size + 1):
            if n and (i < n or folded[i - n : i] != list(self.after)):
                continue  # no anchor: the first value of this shape
            if tuple(shape(t) for t, _, _ in tokens[i : i + size]) == self.shape:
                value = context[tokens[i][1] : tokens[i + size - 1][2]]
                return (
                    value.upper()
                    if self.case == "upper"
                    else (value.lower() if self.case == "lower" else value)
                )
        return None

    def describe(self) -> str:
        where = f"after '{' '.join(self.after)}'" if self.after else "first of its kind"
        return f"<value {where} in the context>"


class TemplateLine(BaseOperation):
    op: Literal["template_line"] = "template_line"
    template: Text
    slots: tuple[Slot, ...] = ()
    where: Literal["greeting", "first", "last"]
    phase: ClassVar[int] = 6  # last: it copies from the text the other rules leave

    def fill(self, text: str, context: str) -> str | None:
        line = self.template
        for n, slot in enumerate(self.slots):
            value = slot.find(context)
            if value is None:
                return None
            line = line.replace("{" + str(n) + "}", value)
        if FIRST in line:
            first = lay.sentences(lay.main_lines(text))[:1]
            if not first:
                return None
            line = line.replace(FIRST, first[0])
        return line

    def _pattern(self) -> re.Pattern[str]:
        """A line this template could have written: its literal text, its slots' shapes."""
        parts = re.split(r"(\{\w+\})", self.template)
        out = []
        for part in parts:
            if part == FIRST:
                out.append(".+")
            elif re.fullmatch(r"\{\d+\}", part) and int(part[1:-1]) < len(self.slots):
                shapes = self.slots[int(part[1:-1])].shape
                out.append(r"\s*".join(_SHAPES.get(k, re.escape(k)) for k in shapes))
            else:
                out.append(re.escape(part))
        return re.compile("".join(out) + "$")

    def _current(self, text: str) -> str | None:
        layout = lay.parse(text)
        if self.where == "greeting":
            return layout.greeting
        filled = [ln.strip() for ln in layout.body if ln.strip()]
        return (filled[0] if self.where == "first" else filled[-1]) if filled else None

    def apply_in(self, text: str, context: str) -> str:
        line = self.fill(text, context)
        if line is None or self._current(text) == line:
            return text
        layout = lay.parse(text)
        if self.where == "greeting":
            layout.greeting = line
            return lay.render(layout)
        body = list(layout.body)
        current = self._current(text)
        if current is not None and self._pattern().match(current):
            # The line of another context or draft: replaced, not stacked.
            at = next(
                i
                for i in (range(len(body)) if self.where == "first" else reversed(range(len(body))))
                if body[i].strip() == current
            )
            del body[at]
            while body and not body[0].strip():
                body.pop(0)
            while body and not body[-1].strip():
                body.pop()
        layout.body = [line, "", *body] if self.where == "first" else [*body, "", line]
        return lay.render(layout)

    def holds_in(self, text: str, context: str) -> bool:
        line = self.fill(text, context)
        return line is None or self._current(text) == line

    def reverts(self, draft: str, final: str, context: str) -> bool:
        current = self._current(draft)
        return current is not None and not lay.keeps_line(current, final)

    def apply(self, text: str) -> str:
        return self.apply_in(text, "") if not self.slots else text

    def holds(self, text: str) -> bool:
        current = self._current(text)
        return current is not None and bool(self._pattern().match(current))

    def describe(self) -> str:
        line = self.template.replace(FIRST, "<its first sentence>")
        for n, slot in enumerate(self.slots):
            line = line.replace("{" + str(n) + "}", slot.describe())
        if self.where == "greeting":
            return f"opens with '{line}'"
        return f"{'starts' if self.where == 'first' else 'ends'} with the line '{line}'"

    def covers(self, other: BaseOperation) -> bool:
        """``other`` adds, at this template's place, a line this template could write: one
        of its literal instances, which it supersedes."""
        line = getattr(other, "line", None)
        place = {"prepend_line": "first", "append_line": "last"}.get(other.op)
        return isinstance(line, str) and place == self.where and bool(self._pattern().match(line))

    def slot(self) -> str:
        # One greeting, one first line, one last line: templates of a place conflict.
        return "greeting" if self.where == "greeting" else f"line:{self.where}"


def _is_value(token: str) -> bool:
    """A token that names something: a number or id, or a capitalised word."""
    return any(ch.isdigit() for ch in token) or token[:1].isupper()


def _tagged(tokens: list[tuple[str, int, int]], i: int) -> bool:
    """A word glued to a '#' or '@' before it ("#design", "@dana"): a name, whatever its case."""
    return i > 0 and tokens[i - 1][0] in "#@" and tokens[i - 1][2] == tokens[i][1]


def _case(run: list[str], written: list[str]) -> Literal["same", "upper", "lower"] | None:
    """How ``written`` copies ``run``: as it is, in capitals, in lower case (None: not)."""
    if written == run:
        return "same"
    if written == [w.upper() for w in run]:
        return "upper"
    if len(run) > 1 and written == [w.lower() for w in run]:
        return "lower"  # one lower-cased word is too often a plain word ("the")
    return None


def _template(line: str, text: str, context: str) -> tuple[str, list[Slot]] | None:
    """``line`` with the runs copied from ``context`` (and a tail copied from the first
    sentence of ``text``) as slots; None when nothing in it is copied."""
    if "{" in line or "}" in line or len(line.split()) > 24:
        return None
    template, first = line, lay.sentences(lay.main_lines(text))[:1]
    tail = ""
    if first and len(first[0].split()) >= 3:
        sentence = first[0].rstrip(".!?")
        at = line.casefold().rfind(sentence.casefold())
        if at > 0 and not line[at + len(sentence) :].strip(" .!?"):
            template, tail = line[:at], FIRST
    tokens, ctx = _spans(template), _spans(context)
    words = [t for t, _, _ in ctx]
    folded, line_folded = [w.casefold() for w in words], [t.casefold() for t, _, _ in tokens]
    slots: list[Slot] = []
    out, last, i = [], 0, 0
    while i < len(tokens):
        best, case = 0, "same"
        for j in range(len(words)):
            size = 0
            while (
                i + size < len(tokens)
                and j + size < len(words)
                and line_folded[i + size] == folded[j + size]
            ):
                size += 1
            run = words[j : j + size]  # as the context writes it
            while len(run) > 1 and not _is_value(run[-1]) and run[-1][0].isalpha():
                run.pop()  # a run ends on a value, not on a lower-case word
            written = [t for t, _, _ in tokens[i : i + len(run)]]
            mode = _case(run, written)
            value = bool(run) and (_is_value(run[0]) or _tagged(tokens, i))
            if mode and value and len(run) > best and (i or len(tokens) > 1):
                best, at, case = len(run), j, mode
        if not best:
            i += 1
            continue
        anchor: list[str] = []
        for w in reversed(words[max(at - ANCHOR, 0) : at]):
            if _is_value(w):
                break  # names, ids and dates change from one context to the next
            anchor.insert(0, w.casefold())
        after = tuple(anchor)
        value_shape = tuple(shape(w) for w in words[at : at + best])
        slots.append(Slot(after=after, shape=value_shape, case=case))
        out.append(template[last : tokens[i][1]] + "{" + str(len(slots) - 1) + "}")
        last = tokens[i + best - 1][2]
        i += best
    out.append(template[last:])
    if not slots and not tail:
        return None
    return "".join(out) + tail, slots


def mine(draft: str, final: str, context: str) -> list[StoredOperation]:
    """Template candidates from the lines ``final`` adds: greeting, first, last line."""
    before, after = lay.parse(draft), lay.parse(final)
    kept = {ln.strip() for ln in before.body} | {before.greeting or ""}
    lines = [ln.strip() for ln in after.body if ln.strip()]
    places: list[tuple[Literal["greeting", "first", "last"], str]] = []
    if after.greeting and after.greeting != before.greeting:
        places.append(("greeting", after.greeting))
    if lines and lines[0] not in kept:
        places.append(("first", lines[0]))
    if len(lines) > 1 and lines[-1] not in kept:
        places.append(("last", lines[-1]))
    found: list[StoredOperation] = []
    for where, line in places:
        made = _template(line, final, context)
        if made is not None:
            op = TemplateLine(template=made[0], slots=tuple(made[1]), where=where)
            found.append(op.dump())
    return found
