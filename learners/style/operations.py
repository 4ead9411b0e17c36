"""Executable style operations: what a learned rewrite rule does to a text.

An operation is stored as a small JSON dict such as ``{"op": "set_signoff",
"lines": ["Cheers,", "Dana"]}``; in memory it is one of the frozen pydantic
models below, picked by its ``op``. Each kind has an ``apply`` (rewrite a text
deterministically), a ``holds`` detector (does the text already satisfy it?),
a natural-language ``describe``, a conflict ``slot`` (two operations in one
slot contradict each other: bullets vs prose, one sign-off vs another) and a
``phase`` that orders application (phrase edits, then tone, then length and
structure, then the frame: greeting, sign-off, prefix line). The text work
itself is in ``learners.style.layout``.

``parse_operation`` validates a stored dict: an unknown kind or a missing,
extra or wrong-typed parameter is an ``InvalidInputError`` (code
``invalid_operation``), not a ``TypeError`` at rewrite time. The module-level
``apply``, ``holds``, ``describe``, ``slot``, ``phase``, ``key`` and
``apply_all`` take either form; parsing a dict is cached, since the rule
learner verifies the same candidates on many past drafts.

The rule learner (``learners.rules``) mines and verifies these; the replay
simulation's rule users (PRELUDE, Gao et al., arXiv 2404.15269) are built
from the same operations and detectors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Iterable
from typing import Annotated, Any, ClassVar, Literal, TypeAlias, cast

from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from learners.style import layout as lay
from learners.style.opbase import AnyText, Count, Text
from learners.style.opbase import BaseOperation as BaseOperation  # re-exported
from learners.style.opbase import StoredOperation as StoredOperation  # re-exported
from learners.style.templates import TemplateLine
from store.errors import InvalidInputError

# -- phrases (phase 1) --------------------------------------------------------------


class ReplacePhrase(BaseOperation):
    op: Literal["replace_phrase"] = "replace_phrase"
    src: Text
    dst: AnyText
    phase: ClassVar[int] = 1

    def apply(self, text: str) -> str:
        return lay.replace_phrase(text, self.src, self.dst)

    def holds(self, text: str) -> bool:
        pattern = lay.phrase_pattern(self.src)
        if self.src.casefold() == self.dst.casefold():
            pattern = re.compile(pattern.pattern)  # a change of case: that casing only
        return not pattern.search(text)

    def describe(self) -> str:
        return f"writes '{self.dst}' instead of '{self.src}'"

    def slot(self) -> str:
        return f"phrase:{self.src.lower()}"


class DeletePhrase(BaseOperation):
    op: Literal["delete_phrase"] = "delete_phrase"
    phrase: Text
    phase: ClassVar[int] = 1

    def apply(self, text: str) -> str:
        return lay.delete_phrase(text, self.phrase)

    def holds(self, text: str) -> bool:
        return not lay.phrase_pattern(self.phrase).search(text)

    def describe(self) -> str:
        return f"removes '{self.phrase}'"

    def slot(self) -> str:
        return f"phrase:{self.phrase.lower()}"


# -- tone (phase 2) -----------------------------------------------------------------


class RemoveEmojis(BaseOperation):
    op: Literal["remove_emojis"] = "remove_emojis"
    phase: ClassVar[int] = 2

    def apply(self, text: str) -> str:
        return lay.remove_emojis(text)

    def holds(self, text: str) -> bool:
        return not lay.EMOJI.search(text)

    def describe(self) -> str:
        return "avoids emojis"

    def slot(self) -> str:
        return "emoji"


class RemoveExclamations(BaseOperation):
    op: Literal["remove_exclamations"] = "remove_exclamations"
    phase: ClassVar[int] = 2

    def apply(self, text: str) -> str:
        return lay.remove_exclamations(text)

    def holds(self, text: str) -> bool:
        return "!" not in text

    def describe(self) -> str:
        return "avoids exclamation marks"

    def slot(self) -> str:
        return "exclamation"


class ExpandContractions(BaseOperation):
    op: Literal["expand_contractions"] = "expand_contractions"
    phase: ClassVar[int] = 2

    def apply(self, text: str) -> str:
        return lay.expand_contractions(text)

    def holds(self, text: str) -> bool:
        return not lay.CONTRACTED.search(text)

    def describe(self) -> str:
        return "avoids contractions (writes 'do not', not 'don't')"

    def slot(self) -> str:
        return "contractions"


class UseContractions(BaseOperation):
    op: Literal["use_contractions"] = "use_contractions"
    phase: ClassVar[int] = 2

    def apply(self, text: str) -> str:
        return lay.use_contractions(text)

    def holds(self, text: str) -> bool:
        return not lay.EXPANDED_RE.search(text)

    def describe(self) -> str:
        return "uses contractions (writes 'don't', not 'do not')"

    def slot(self) -> str:
        return "contractions"


class RemoveHashtags(BaseOperation):
    op: Literal["remove_hashtags"] = "remove_hashtags"
    phase: ClassVar[int] = 2

    def apply(self, text: str) -> str:
        return lay.remove_hashtags(text)

    def holds(self, text: str) -> bool:
        return not lay.HASHTAG.search(text)

    def describe(self) -> str:
        return "avoids hashtags"

    def slot(self) -> str:
        return "hashtags"


# -- length (phase 3) and structure (phase 4) ------------------------------------------


class LimitSentences(BaseOperation):
    op: Literal["limit_sentences"] = "limit_sentences"
    n: Count
    phase: ClassVar[int] = 3

    def apply(self, text: str) -> str:
        return lay.limit_sentences(text, self.n)

    def holds(self, text: str) -> bool:
        return len(lay.sentences(lay.main_lines(text))) <= self.n

    def describe(self) -> str:
        return f"keeps it brief: at most {self.n} sentence{'s' if self.n != 1 else ''}"

    def slot(self) -> str:
        return "length"


class ToBullets(BaseOperation):
    op: Literal["to_bullets"] = "to_bullets"
    marker: Text = "-"
    phase: ClassVar[int] = 4

    def apply(self, text: str) -> str:
        return lay.to_bullets(text, self.marker)

    def holds(self, text: str) -> bool:
        return lay.is_list(lay.main_lines(text), numbered=False)

    def describe(self) -> str:
        return "prefers bullet points"

    def slot(self) -> str:
        return "structure"


class ToNumbered(BaseOperation):
    op: Literal["to_numbered"] = "to_numbered"
    max_items: Count | None = None
    phase: ClassVar[int] = 4

    def apply(self, text: str) -> str:
        return lay.to_numbered(text, self.max_items)

    def holds(self, text: str) -> bool:
        body = lay.parse(text).body
        return lay.is_list(body, numbered=True) and (
            self.max_items is None or len(lay.sentences(body)) <= self.max_items + 1
        )

    def describe(self) -> str:
        most = f" of at most {self.max_items} items" if self.max_items else ""
        return "prefers numbered lists" + most

    def slot(self) -> str:
        return "structure"


class ToProse(BaseOperation):
    op: Literal["to_prose"] = "to_prose"
    phase: ClassVar[int] = 4

    def apply(self, text: str) -> str:
        return lay.to_prose(text)

    def holds(self, text: str) -> bool:
        return not any(lay.BULLET.match(ln) for ln in lay.main_lines(text))

    def describe(self) -> str:
        return "prefers prose paragraphs over lists"

    def slot(self) -> str:
        return "structure"


# -- the frame: greeting, sign-off, added lines (phase 5), prefix line (phase 6) ----------


class SetGreeting(BaseOperation):
    op: Literal["set_greeting"] = "set_greeting"
    template: Text
    phase: ClassVar[int] = 5

    def apply(self, text: str) -> str:
        return lay.set_greeting(text, self.template)

    def holds(self, text: str) -> bool:
        greeting = lay.parse(text).greeting or ""
        return greeting.split(" ")[:1] == self.template.split(" ")[:1]

    def describe(self) -> str:
        return f"opens with '{self.template.replace('{name}', '<name>')}'"

    def slot(self) -> str:
        return "greeting"


class RemoveGreeting(BaseOperation):
    op: Literal["remove_greeting"] = "remove_greeting"
    phase: ClassVar[int] = 5

    def apply(self, text: str) -> str:
        return lay.remove_greeting(text)

    def holds(self, text: str) -> bool:
        return lay.parse(text).greeting is None

    def describe(self) -> str:
        return "starts without a greeting line"

    def slot(self) -> str:
        return "greeting"


class SetSignoff(BaseOperation):
    op: Literal["set_signoff"] = "set_signoff"
    lines: Annotated[tuple[AnyText, ...], Field(min_length=1)]
    phase: ClassVar[int] = 5

    def apply(self, text: str) -> str:
        return lay.set_signoff(text, self.lines)

    def holds(self, text: str) -> bool:
        return lay.parse(text).signoff == list(self.lines)

    def describe(self) -> str:
        return "closes with '" + " ".join(self.lines) + "'"

    def slot(self) -> str:
        return "signoff"


class RemoveSignoff(BaseOperation):
    op: Literal["remove_signoff"] = "remove_signoff"
    phase: ClassVar[int] = 5

    def apply(self, text: str) -> str:
        return lay.remove_signoff(text)

    def holds(self, text: str) -> bool:
        return not lay.parse(text).signoff

    def describe(self) -> str:
        return "ends without a sign-off"

    def slot(self) -> str:
        return "signoff"


class PrependLine(BaseOperation):
    op: Literal["prepend_line"] = "prepend_line"
    line: Text
    phase: ClassVar[int] = 5

    def apply(self, text: str) -> str:
        return lay.prepend_line(text, self.line)

    def holds(self, text: str) -> bool:
        return lay.first_line("\n".join(lay.parse(text).body)) == self.line

    def describe(self) -> str:
        return f"starts with the line '{self.line}'"

    def reverts(self, draft: str, final: str, context: str) -> bool:
        return not lay.keeps_line(self.line, final)

    def slot(self) -> str:
        return f"prepend:{self.line.lower()}"


class AppendLine(BaseOperation):
    op: Literal["append_line"] = "append_line"
    line: Text
    phase: ClassVar[int] = 5

    def apply(self, text: str) -> str:
        return lay.append_line(text, self.line)

    def holds(self, text: str) -> bool:
        return self.line in (ln.strip() for ln in lay.parse(text).body)

    def describe(self) -> str:
        return f"adds the line '{self.line}'"

    def reverts(self, draft: str, final: str, context: str) -> bool:
        return not lay.keeps_line(self.line, final)

    def slot(self) -> str:
        return f"append:{self.line.lower()}"


class AddPrefix(BaseOperation):
    op: Literal["add_prefix"] = "add_prefix"
    label: Text
    phase: ClassVar[int] = 6

    def apply(self, text: str) -> str:
        return lay.add_prefix(text, self.label)

    def holds(self, text: str) -> bool:
        return lay.prefix_label(lay.parse(text).body, self.label) is not None

    def describe(self) -> str:
        return f"starts with a '{self.label}' summary line"

    def slot(self) -> str:
        return "prefix"


# -- the union, parsing and the module-level API ---------------------------------------------

Operation: TypeAlias = Annotated[
    ReplacePhrase
    | DeletePhrase
    | RemoveEmojis
    | RemoveExclamations
    | ExpandContractions
    | UseContractions
    | RemoveHashtags
    | LimitSentences
    | ToBullets
    | ToNumbered
    | ToProse
    | SetGreeting
    | RemoveGreeting
    | SetSignoff
    | RemoveSignoff
    | PrependLine
    | AppendLine
    | AddPrefix
    | TemplateLine,
    Field(discriminator="op"),
]
ADAPTER: TypeAdapter[Operation] = TypeAdapter(Operation)
MODELS = (
    ReplacePhrase,
    DeletePhrase,
    RemoveEmojis,
    RemoveExclamations,
    ExpandContractions,
    UseContractions,
    RemoveHashtags,
    LimitSentences,
    ToBullets,
    ToNumbered,
    ToProse,
    SetGreeting,
    RemoveGreeting,
    SetSignoff,
    RemoveSignoff,
    PrependLine,
    AppendLine,
    AddPrefix,
    TemplateLine,
)
#: kind name -> model, in the order above
KINDS: dict[str, type[BaseOperation]] = {m.model_fields["op"].default: m for m in MODELS}


def _invalid(message: str) -> InvalidInputError:
    return InvalidInputError(message, code="invalid_operation")


def _problem(error: ErrorDetails) -> str:
    kind, names = (error["loc"][0], error["loc"][1:]) if error["loc"] else ("", ())
    name = ".".join(str(n) for n in names)
    takes = ", ".join(n for n in KINDS[kind].model_fields if n != "op") if kind in KINDS else ""
    if error["type"] == "union_tag_invalid":
        return f"unknown operation {error['ctx']['tag']!r} (known: {', '.join(KINDS)})"
    if error["type"] == "union_tag_not_found":
        return f"no 'op' naming its kind (one of: {', '.join(KINDS)})"
    if error["type"] == "missing":
        return f"'{kind}' needs the parameter '{name}' (it takes: {takes})"
    if error["type"] == "extra_forbidden":
        return f"'{kind}' has no parameter '{name}' (it takes: {takes or 'none'})"
    return f"'{kind}' parameter '{name}': {error['msg']}"


def _validate(data: dict[Any, Any]) -> Operation:
    try:
        canonical = json.dumps(data, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _invalid(f"invalid operation {data!r}: {exc}") from exc
    try:
        return ADAPTER.validate_json(canonical)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # A bad item also fails its container's length check: report the item only.
        errors = [
            e
            for e in errors
            if not any(o["loc"][: len(e["loc"])] == e["loc"] != o["loc"] for o in errors)
        ]
        problems = "; ".join(_problem(e) for e in errors)
        raise _invalid(f"invalid operation {canonical}: {problems}") from exc


def _frozen(data: dict[Any, Any]) -> Hashable:
    """An exact, hashable image of a stored dict: value types are part of it (1, True, 1.0)."""
    return tuple(
        (k, v.__class__, tuple((x.__class__, x) for x in v) if v.__class__ in _SEQ else v)
        for k, v in data.items()
    )


_SEQ = (list, tuple)
#: parsed stored dicts by their frozen image: the rule learner verifies the same few
#: candidates on many past drafts, and a dict is validated once, not per call
_PARSED: dict[Hashable, Operation] = {}
_PARSED_MAX = 8192


def parse_operation(data: object) -> Operation:
    """The model of a stored operation (a model is returned as it is).

    Raises ``InvalidInputError`` (code ``invalid_operation``) for anything that
    is not an operation: an unknown kind, a missing, extra or wrong-typed parameter.
    """
    if data.__class__ is dict:
        assert isinstance(data, dict)
        frozen = _frozen(data)
        try:
            return _PARSED[frozen]
        except KeyError:
            pass
        except TypeError:  # an unhashable value: never valid, so never cached
            return _validate(data)
        model = _PARSED[frozen] = _validate(data)
        if len(_PARSED) > _PARSED_MAX:
            _PARSED.clear()
        return model
    if isinstance(data, BaseOperation):
        return cast(Operation, data)
    if isinstance(data, dict):
        return _validate(data)
    raise _invalid(f"an operation is a JSON object with an 'op', not {data!r}")


def dump(op: Operation | StoredOperation) -> StoredOperation:
    """The stored form: ``parse_operation(dump(op)) == parse_operation(op)``."""
    return parse_operation(op).dump()


def apply(op: Operation | StoredOperation, text: str) -> str:
    return parse_operation(op).apply(text)


def holds(op: Operation | StoredOperation, text: str) -> bool:
    return parse_operation(op).holds(text)


def describe(op: Operation | StoredOperation) -> str:
    return parse_operation(op).describe()


def slot(op: Operation | StoredOperation) -> str:
    return parse_operation(op).slot()


def phase(op: Operation | StoredOperation) -> int:
    return parse_operation(op).phase


def key(op: Operation | StoredOperation) -> str:
    """A stable identity: the slot and the canonical parameters (stored in the database)."""
    return parse_operation(op).key()


def apply_all(ops: Iterable[Operation | StoredOperation], text: str, context: str = "") -> str:
    """Apply in phase order (phrases, tone, length, structure, frame, prefix, templates)."""
    for op in sorted((parse_operation(op) for op in ops), key=lambda m: m.phase):
        text = op.apply_in(text, context)
    return text
