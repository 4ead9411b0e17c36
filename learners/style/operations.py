"""Executable style operations: what a learned rewrite rule does to a text.

An operation is a small JSON-able dict such as ``{"op": "set_signoff",
"lines": ["Cheers,", "Dana"]}``. Each kind has an ``apply`` (rewrite a text
deterministically), a ``holds`` detector (does the text already satisfy it?),
a natural-language ``describe``, a conflict ``slot`` (two operations in one
slot contradict each other: bullets vs prose, one sign-off vs another) and a
``phase`` that orders application (phrase edits, then tone, then length and
structure, then the frame: greeting, sign-off, prefix line).

The rule learner (``learners.rules``) mines and verifies these; the replay
simulation's rule users (PRELUDE, Gao et al., arXiv 2404.15269) are built
from the same operations and detectors.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Operation = dict[str, Any]

# -- text layout: greeting line, body, sign-off block -----------------------------

GREETING = re.compile(
    r"^(hi|hello|hey|dear|greetings|hiya|howdy|good (morning|afternoon|evening)|morning|yo)\b",
    re.IGNORECASE,
)
CLOSING = re.compile(
    r"^(best|regards|kind regards|best regards|warm regards|warmly|cheers|thanks|thank you|"
    r"many thanks|thanks again|sincerely|yours|all the best|take care|talk soon|speak soon|"
    r"love|respectfully|with thanks)\b[ ,.!]*",
    re.IGNORECASE,
)
BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
NUMBERED = re.compile(r"^\s*\d{1,2}[.)]\s+")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f900-\U0001f9ff\u2b50\u2b06\u2934"
    "\u2935\u3030\u303d\u3297\u3299\ufe0f\u200d]"
)
HASHTAG = re.compile(r"(?<![\w#])#(\w+)")


@dataclass
class Layout:
    greeting: str | None
    body: list[str]  # lines, blank lines kept as ""
    signoff: list[str]


def _words(line: str) -> int:
    return len(line.split())


def parse(text: str) -> Layout:
    """Greeting line, body lines and sign-off block of a text (a fresh, mutable copy)."""
    greeting, body, signoff = _parse(text)
    return Layout(greeting, list(body), list(signoff))


@functools.lru_cache(maxsize=2048)
def _parse(text: str) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    # Cached: verifying rules parses the same past drafts and finals many times.
    lines = [ln.rstrip() for ln in text.strip().split("\n")]
    greeting = None
    # A greeting is a short first line of a longer text ("Hi Maria," above the body).
    if len(lines) > 1 and _words(lines[0]) <= 6 and GREETING.match(lines[0].strip()):
        greeting = lines.pop(0).strip()
    signoff: list[str] = []
    filled = [i for i, ln in enumerate(lines) if ln.strip()]
    for i in filled[-3:]:
        line = lines[i].strip()
        if _words(line) <= 5 and CLOSING.match(line) and not line.endswith("?"):
            tail = [ln.strip() for ln in lines[i:] if ln.strip()]
            if all(_words(t) <= 5 for t in tail):
                signoff = tail
                lines = lines[:i]
            break
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return greeting, tuple(lines), tuple(signoff)


def render(layout: Layout) -> str:
    parts = []
    if layout.greeting:
        parts.append(layout.greeting)
    if layout.body:
        parts.append("\n".join(layout.body))
    if layout.signoff:
        parts.append("\n".join(layout.signoff))
    return "\n\n".join(parts)


def sentences(lines: list[str]) -> list[str]:
    """Body sentences: list items count as one each, prose is split at sentence ends."""
    found: list[str] = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if BULLET.match(line):
            found.append(BULLET.sub("", line).strip())
        else:
            found += [s.strip() for s in SENTENCE_END.split(line) if s.strip()]
    return found


def _with_body(text: str, change: Callable[[list[str]], list[str]]) -> str:
    layout = parse(text)
    layout.body = change(layout.body)
    return render(layout)


def _end(sentence: str) -> str:
    return sentence if sentence.endswith((".", "!", "?", ":")) else sentence + "."


# -- phrases -----------------------------------------------------------------------

_TOKEN = re.compile(r"\w+|[^\w\s]")


@functools.lru_cache(maxsize=4096)
def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """Match ``phrase`` token by token, with any spacing, never inside a word."""
    tokens = _TOKEN.findall(phrase)
    parts = []
    for i, tok in enumerate(tokens):
        if i:
            both_words = tokens[i - 1][-1].isalnum() and tok[0].isalnum()
            parts.append(r"\s+" if both_words else r"\s*")
        parts.append(re.escape(tok))
    lead = r"(?<!\w)" if tokens and tokens[0][0].isalnum() else ""
    trail = r"(?!\w)" if tokens and tokens[-1][-1].isalnum() else ""
    return re.compile(lead + "".join(parts) + trail)


def _replace_phrase(text: str, src: str, dst: str) -> str:
    return phrase_pattern(src).sub(lambda _: dst, text)


def _delete_phrase(text: str, phrase: str) -> str:
    out = phrase_pattern(phrase).sub("", text)
    out = re.sub(r"[ \t]{2,}", " ", out)
    out = re.sub(r"[ \t]+([,.!?;:])", r"\1", out)
    out = re.sub(r"(?m)^[ \t]+|[ \t]+$", "", out)
    return re.sub(r"\n{3,}", "\n\n", out).strip()


# -- tone ---------------------------------------------------------------------------

CONTRACTIONS = {
    "don't": "do not",
    "doesn't": "does not",
    "didn't": "did not",
    "can't": "cannot",
    "won't": "will not",
    "wouldn't": "would not",
    "shouldn't": "should not",
    "couldn't": "could not",
    "isn't": "is not",
    "aren't": "are not",
    "wasn't": "was not",
    "weren't": "were not",
    "haven't": "have not",
    "hasn't": "has not",
    "hadn't": "had not",
    "i'm": "I am",
    "i've": "I have",
    "i'll": "I will",
    "i'd": "I would",
    "you're": "you are",
    "you've": "you have",
    "you'll": "you will",
    "we're": "we are",
    "we've": "we have",
    "we'll": "we will",
    "they're": "they are",
    "they've": "they have",
    "they'll": "they will",
    "it's": "it is",
    "that's": "that is",
    "there's": "there is",
    "let's": "let us",
    "what's": "what is",
}
_CONTRACTED = re.compile(
    r"(?<!\w)(" + "|".join(re.escape(c) for c in CONTRACTIONS) + r")(?!\w)", re.IGNORECASE
)
_EXPANDED = {v.lower(): k for k, v in CONTRACTIONS.items() if k not in {"let's"}}
_EXPANDED_RE = re.compile(
    r"(?<!\w)(" + "|".join(re.escape(e) for e in _EXPANDED) + r")(?!\w)", re.IGNORECASE
)


def _match_case(source: str, target: str) -> str:
    return target[0].upper() + target[1:] if source[0].isupper() else target


def expand_contractions(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        expanded = CONTRACTIONS[m.group(0).lower()]
        return _match_case(m.group(0), expanded)

    return _CONTRACTED.sub(repl, text)


def use_contractions(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        contracted = _EXPANDED[m.group(0).lower()]
        if contracted.startswith("i'"):
            contracted = "I" + contracted[1:]
        return _match_case(m.group(0), contracted)

    return _EXPANDED_RE.sub(repl, text)


def remove_emojis(text: str) -> str:
    out = EMOJI.sub("", text)
    out = re.sub(r"[ \t]{2,}", " ", out)
    out = re.sub(r"[ \t]+([,.!?;:])", r"\1", out)
    return re.sub(r"(?m)[ \t]+$", "", out)


def remove_exclamations(text: str) -> str:
    return re.sub(r"!+", ".", text).replace("?.", "?")


def remove_hashtags(text: str) -> str:
    out = HASHTAG.sub("", text)
    out = re.sub(r"[ \t]{2,}", " ", out)
    return re.sub(r"(?m)[ \t]+$|^[ \t]+", "", out).strip()


# -- length and structure ---------------------------------------------------------------


def paragraphs(body: list[str]) -> list[list[str]]:
    """Runs of non-blank lines."""
    found: list[list[str]] = [[]]
    for line in body:
        if line.strip():
            found[-1].append(line)
        elif found[-1]:
            found.append([])
    return [p for p in found if p]


def _main(paras: list[list[str]]) -> int:
    """The main paragraph: the longest one that is not a prefix line (TL;DR: ...)."""
    best, size = -1, -1
    for i, para in enumerate(paras):
        words = sum(_words(ln) for ln in para)
        if not _has_prefix_line(para) and words > size:
            best, size = i, words
    return best


def main_lines(text: str) -> list[str]:
    paras = paragraphs(parse(text).body)
    i = _main(paras)
    return paras[i] if i >= 0 else []


def _with_main(text: str, change: Callable[[list[str]], list[str]]) -> str:
    """Change only the main paragraph; lines added around it stay as they are."""
    layout = parse(text)
    paras = paragraphs(layout.body)
    i = _main(paras)
    if i < 0:
        return text
    paras[i] = change(paras[i])
    layout.body = [ln for j, para in enumerate(paras) for ln in ([""] if j else []) + para]
    return render(layout)


def limit_sentences(text: str, n: int) -> str:
    def change(lines: list[str]) -> list[str]:
        kept = sentences(lines)[:n]
        markers = [m for m in (BULLET.match(ln) for ln in lines if ln.strip()) if m]
        if markers:
            return [f"{m.group(0)}{s}" for m, s in zip(markers, kept, strict=False)]
        return [" ".join(kept)] if kept else []

    return _with_main(text, change)


def _has_prefix_line(body: list[str], label: str | None = None) -> str | None:
    first = next((ln.strip() for ln in body if ln.strip()), "")
    m = PREFIX_LINE.match(first)
    if m and (label is None or m.group(1).lower() == label.lower()):
        return m.group(1)
    return None


# A short label ending in a colon at the start of the body: "TL;DR:", "Summary:", "Q&A:".
PREFIX_LINE = re.compile(r"^((?:TL;?DR|Q&A|[A-Z][a-z]+(?: [a-z]+){0,2}):)\s+\S")


def to_bullets(text: str, marker: str = "-") -> str:
    return _with_main(text, lambda lines: [f"{marker} {s}" for s in sentences(lines)])


def to_numbered(text: str, max_items: int | None = None) -> str:
    def change(lines: list[str]) -> list[str]:
        items = sentences(lines)[:max_items] if max_items else sentences(lines)
        return [f"{i}. {s}" for i, s in enumerate(items, 1)]

    return _with_main(text, change)


def to_prose(text: str) -> str:
    return _with_main(text, lambda lines: [" ".join(_end(s) for s in sentences(lines))])


def _is_list(lines: list[str], numbered: bool | None = None) -> bool:
    filled = [ln for ln in lines if ln.strip()]
    if len(filled) < 2 or not all(BULLET.match(ln) for ln in filled):
        return False
    if numbered is None:
        return True
    return all(bool(NUMBERED.match(ln)) == numbered for ln in filled)


# -- frame: greeting, sign-off, prefix line -------------------------------------------------


def greeting_name(greeting: str | None) -> str:
    """The addressee in 'Hi Maria,' -> 'Maria' (may be '')."""
    if not greeting:
        return ""
    rest = GREETING.sub("", greeting.strip(), count=1)
    return rest.strip(" ,!.:;-")


def set_greeting(text: str, template: str) -> str:
    layout = parse(text)
    name = greeting_name(layout.greeting)
    line = template.replace("{name}", name) if name else template.replace(" {name}", "")
    layout.greeting = re.sub(r"\s+([,!.:])", r"\1", line.replace("{name}", "")).strip()
    return render(layout)


def remove_greeting(text: str) -> str:
    layout = parse(text)
    layout.greeting = None
    return render(layout)


def set_signoff(text: str, lines: list[str]) -> str:
    layout = parse(text)
    layout.signoff = list(lines)
    return render(layout)


def remove_signoff(text: str) -> str:
    layout = parse(text)
    layout.signoff = []
    return render(layout)


def add_prefix(text: str, label: str) -> str:
    layout = parse(text)
    if _has_prefix_line(layout.body, label):
        return text
    first = sentences(main_lines(text))[:1]
    if not first:
        return text
    layout.body = [f"{label} {_end(first[0])}", "", *layout.body]
    return render(layout)


def prepend_line(text: str, line: str) -> str:
    layout = parse(text)
    if _first_line("\n".join(layout.body)) == line:
        return text
    layout.body = [line, "", *layout.body]
    return render(layout)


def append_line(text: str, line: str) -> str:
    layout = parse(text)
    if line in (ln.strip() for ln in layout.body):
        return text
    layout.body = [*layout.body, "", line]
    return render(layout)


# -- the registry of operation kinds ----------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    apply: Callable[..., str]
    holds: Callable[..., bool]
    describe: Callable[..., str]
    slot: Callable[..., str]
    phase: int


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.split("\n") if ln.strip()), "")


KINDS: dict[str, Kind] = {
    "replace_phrase": Kind(
        _replace_phrase,
        lambda text, src, dst: not phrase_pattern(src).search(text),
        lambda src, dst: f"writes '{dst}' instead of '{src}'",
        lambda src, dst: f"phrase:{src.lower()}",
        1,
    ),
    "delete_phrase": Kind(
        _delete_phrase,
        lambda text, phrase: not phrase_pattern(phrase).search(text),
        lambda phrase: f"removes '{phrase}'",
        lambda phrase: f"phrase:{phrase.lower()}",
        1,
    ),
    "remove_emojis": Kind(
        remove_emojis,
        lambda text: not EMOJI.search(text),
        lambda: "avoids emojis",
        lambda: "emoji",
        2,
    ),
    "remove_exclamations": Kind(
        remove_exclamations,
        lambda text: "!" not in text,
        lambda: "avoids exclamation marks",
        lambda: "exclamation",
        2,
    ),
    "expand_contractions": Kind(
        expand_contractions,
        lambda text: not _CONTRACTED.search(text),
        lambda: "avoids contractions (writes 'do not', not 'don't')",
        lambda: "contractions",
        2,
    ),
    "use_contractions": Kind(
        use_contractions,
        lambda text: not _EXPANDED_RE.search(text),
        lambda: "uses contractions (writes 'don't', not 'do not')",
        lambda: "contractions",
        2,
    ),
    "remove_hashtags": Kind(
        remove_hashtags,
        lambda text: not HASHTAG.search(text),
        lambda: "avoids hashtags",
        lambda: "hashtags",
        2,
    ),
    "limit_sentences": Kind(
        limit_sentences,
        lambda text, n: len(sentences(main_lines(text))) <= n,
        lambda n: f"keeps it brief: at most {n} sentence{'s' if n != 1 else ''}",
        lambda n: "length",
        3,
    ),
    "to_bullets": Kind(
        to_bullets,
        lambda text, marker="-": _is_list(main_lines(text), numbered=False),
        lambda marker="-": "prefers bullet points",
        lambda marker="-": "structure",
        4,
    ),
    "to_numbered": Kind(
        to_numbered,
        lambda text, max_items=None: (
            _is_list(parse(text).body, numbered=True)
            and (max_items is None or len(sentences(parse(text).body)) <= max_items + 1)
        ),
        lambda max_items=None: (
            "prefers numbered lists" + (f" of at most {max_items} items" if max_items else "")
        ),
        lambda max_items=None: "structure",
        4,
    ),
    "to_prose": Kind(
        to_prose,
        lambda text: not any(BULLET.match(ln) for ln in main_lines(text)),
        lambda: "prefers prose paragraphs over lists",
        lambda: "structure",
        4,
    ),
    "set_greeting": Kind(
        set_greeting,
        lambda text, template: (
            (parse(text).greeting or "").split(" ")[:1] == template.split(" ")[:1]
        ),
        lambda template: f"opens with '{template.replace('{name}', '<name>')}'",
        lambda template: "greeting",
        5,
    ),
    "remove_greeting": Kind(
        remove_greeting,
        lambda text: parse(text).greeting is None,
        lambda: "starts without a greeting line",
        lambda: "greeting",
        5,
    ),
    "set_signoff": Kind(
        set_signoff,
        lambda text, lines: parse(text).signoff == list(lines),
        lambda lines: "closes with '" + " ".join(lines) + "'",
        lambda lines: "signoff",
        5,
    ),
    "remove_signoff": Kind(
        remove_signoff,
        lambda text: not parse(text).signoff,
        lambda: "ends without a sign-off",
        lambda: "signoff",
        5,
    ),
    "prepend_line": Kind(
        prepend_line,
        lambda text, line: _first_line("\n".join(parse(text).body)) == line,
        lambda line: f"starts with the line '{line}'",
        lambda line: f"prepend:{line.lower()}",
        5,
    ),
    "append_line": Kind(
        append_line,
        lambda text, line: line in (ln.strip() for ln in parse(text).body),
        lambda line: f"adds the line '{line}'",
        lambda line: f"append:{line.lower()}",
        5,
    ),
    "add_prefix": Kind(
        add_prefix,
        lambda text, label: _has_prefix_line(parse(text).body, label) is not None,
        lambda label: f"starts with a '{label}' summary line",
        lambda label: "prefix",
        6,
    ),
}


def _params(op: Operation) -> dict[str, Any]:
    return {k: v for k, v in op.items() if k != "op"}


def kind(op: Operation) -> Kind:
    try:
        return KINDS[op["op"]]
    except KeyError as exc:
        raise ValueError(f"unknown operation {op.get('op')!r}") from exc


def apply(op: Operation, text: str) -> str:
    return kind(op).apply(text, **_params(op))


def holds(op: Operation, text: str) -> bool:
    return bool(kind(op).holds(text, **_params(op)))


def describe(op: Operation) -> str:
    return kind(op).describe(**_params(op))


def slot(op: Operation) -> str:
    return kind(op).slot(**_params(op))


def phase(op: Operation) -> int:
    return kind(op).phase


def key(op: Operation) -> str:
    """A stable identity: the slot and the canonical parameters."""
    params = ",".join(f"{k}={op[k]!r}" for k in sorted(op) if k != "op")
    return f"{slot(op)}={op['op']}({params})"


def apply_all(ops: list[Operation], text: str) -> str:
    """Apply in phase order (phrases, tone, length, structure, frame, prefix)."""
    for op in sorted(ops, key=phase):
        text = apply(op, text)
    return text
