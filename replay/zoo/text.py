"""The zoo's own text helpers: a letter's parts, sentences, phrase cuts, swaps and lists.

Plain ``re`` and ``str`` code, written apart from ``learners/`` on purpose: the
zoo's users must edit the way a person with a few macros would, not in the
learners' operation vocabulary (issue 12). Every helper is idempotent on its
own output, so a user built from them accepts a draft that already conforms.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

#: a first line that opens a message ("Hi Daniel,", "Hey team!", "Dear Ms Silva,")
GREETING = re.compile(
    r"^(hi|hello|hey|dear|hiya|greetings|good (morning|afternoon|evening)|morning)\b[^\n]{0,50}$",
    re.I,
)
#: the first line of a closing block ("Best regards,", "Cheers,", "Thanks everyone!", "— Ben")
CLOSING = re.compile(
    r"^((best|kind|warm)( regards| wishes)?|regards|many thanks|thanks|thank you|cheers|"
    r"sincerely|all the best|take care|talk soon)\b[^\n]{0,20}$|^(—|--) ?\w+$",
    re.I,
)
#: a list line: "- x", "* x", "• x", "1. x", "2) x"
ITEM = re.compile(r"^([-*•]|\d+[.)])\s+")


@dataclass
class Letter:
    """A message in three parts; ``body`` is its paragraphs (a list is one paragraph)."""

    greeting: str = ""
    body: list[str] = field(default_factory=list)
    signoff: list[str] = field(default_factory=list)

    def text(self) -> str:
        blocks = [self.greeting, *self.body, "\n".join(self.signoff)]
        return tidy("\n\n".join(b for b in blocks if b.strip()))


def tidy(text: str) -> str:
    """One space between words, no blank line runs, no space before punctuation."""
    lines = [re.sub(r"[ \t]{2,}", " ", line).strip() for line in text.strip().split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return re.sub(r"(\w) +([.,!?;:])(?=\s|$)", r"\1\2", text).strip()


def split(text: str) -> Letter:
    lines = [line.strip() for line in tidy(text).split("\n")]
    letter = Letter()
    if lines and GREETING.match(lines[0]):
        letter.greeting = lines.pop(0)
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    paragraphs = [p for p in paragraphs if p]
    if paragraphs:
        last = paragraphs[-1]
        for i in range(max(0, len(last) - 3), len(last)):
            if CLOSING.match(last[i]):
                letter.signoff, paragraphs[-1] = last[i:], last[:i]
                break
    letter.body = ["\n".join(p) for p in paragraphs if p]
    return letter


def sentences(paragraph: str) -> list[str]:
    """The items of a list paragraph (markers off), else its sentences."""
    lines = [line for line in paragraph.split("\n") if line.strip()]
    if lines and all(ITEM.match(line) for line in lines):
        return [ITEM.sub("", line).strip() for line in lines]
    prose = " ".join(lines).strip()
    return [s for s in re.split(r"(?<=[.!?])\s+", prose) if s] if prose else []


def all_sentences(letter: Letter) -> list[str]:
    return [s for p in letter.body for s in sentences(p)]


def phrase(words: str) -> str:
    """A phrase as a regex that allows any run of spaces or a line break between words."""
    return r"\s+".join(words.split(" "))


def drop(text: str, *patterns: str) -> str:
    """Remove whole sentences matching any pattern, in any casing, with any end punctuation."""
    for p in patterns:
        text = re.sub(rf"(?i)(?<![\w'])(?:{phrase(p)})[ \t]*[.!?]*", "", text)
    return tidy(text)


def cut(sentence: str, *patterns: str) -> str:
    """Remove words (hedges, filler openers) from a sentence and re-capitalise its start."""
    for p in patterns:
        sentence = re.sub(rf"(?i),?\s*\b(?:{phrase(p)})\b,?", " ", sentence)
    sentence = re.sub(r"\s+([.,!?;:])", r"\1", re.sub(r"\s{2,}", " ", sentence)).strip()
    return sentence[:1].upper() + sentence[1:]


def swap(text: str, pairs: Mapping[str, str]) -> str:
    """Replace words or phrases, keeping a capital first letter where the old one had it."""

    def one(new: str) -> Callable[[re.Match[str]], str]:
        def keep_case(m: re.Match[str]) -> str:
            found = m.group(0)
            if len(found) > 1 and found.isupper():
                return new.upper()
            return new[:1].upper() + new[1:] if found[:1].isupper() else new

        return keep_case

    for old, new in pairs.items():
        text = re.sub(rf"(?i)(?<![\w-]){phrase(old)}(?![\w-])", one(new), text)
    return text


def greet(text: str, line: str) -> str:
    """The greeting line replaced (or added) with ``line``; ``""`` removes it."""
    letter = split(text)
    letter.greeting = line
    return letter.text()


def sign(text: str, lines: Iterable[str]) -> str:
    """The closing block replaced (or added) with ``lines``; no lines removes it."""
    letter = split(text)
    letter.signoff = list(lines)
    return letter.text()


def pull(letter: Letter, prefix: str) -> None:
    """Remove body lines that start with ``prefix`` (any casing), e.g. an old "Ref:" line."""
    kept = []
    for paragraph in letter.body:
        lines = [x for x in paragraph.split("\n") if not x.lower().startswith(prefix.lower())]
        if lines:
            kept.append("\n".join(lines))
    letter.body = kept


def listed(items: Iterable[str], marker: str = "-", period: bool = False) -> str:
    """Items as list lines; marker "1." numbers them; no end period unless ``period``."""
    out = []
    for n, item in enumerate(items, 1):
        item = item.strip() if period else re.sub(r"[.!?]+$", "", item.strip())
        out.append(f"{n}. {item}" if marker == "1." else f"{marker} {item}")
    return "\n".join(out)


def end_period(sentence: str) -> str:
    return sentence if re.search(r"[.!?]$", sentence) else sentence + "."
