"""Where a piece of verbal feedback applies: the scope clause of its sentence.

C3PO (Stephan et al., "RLVF: Learning from Verbal Feedback without
Overgeneralization", arXiv 2402.10893) observes that feedback such as "Be more
concise when emailing my boss Jared" names its own scope, and that applying it
everywhere is the typical failure of learning from feedback. The paper asks an
LLM for the scope; offline this module finds it with clause patterns:

* a condition clause: "when/whenever/while/if ..." ("... when emailing my boss
  Jared" -> "emailing my boss Jared"), before or after the instruction;
* a leading adverbial: "For my LinkedIn posts, no hashtags" -> "my LinkedIn posts";
* a trailing place phrase: "in/on/for ..." ("No emojis in emails to my boss
  Jared" -> "emails to my boss Jared"), unless it names a manner rather than a
  place ("in a formal tone", "in bullet points", "for now").

What it returns is a short text that is embedded and compared with a new
context (``learners.core.scopes``). None means the sentence names no scope: the
feedback then holds where it was said (its context) or for the whole user.
"""

from __future__ import annotations

import re

from store.scopes import ScopeOrigin


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: words after in/on/for that name a manner, an amount or a time, not where text goes
_MANNER = _words(
    """
    tone style voice manner way words word language english french spanish german plain
    simple short brief full detail details general particular person tense terms form
    format capitals caps lowercase uppercase bold italics bullet bullets points list lists
    paragraph paragraphs sentence sentences order mind case advance future past time now
    addition fact long total contrast summary one two three few less more most first second
    third example instance sure return reply response turn public private writing
    """
)
_DETERMINERS = frozenset(
    [
        "a",
        "an",
        "the",
        "my",
        "our",
        "your",
        "their",
        "his",
        "her",
        "its",
        "any",
        "all",
        "every",
        "each",
    ]
)
_CONDITION = re.compile(
    r"\b(?:when(?:ever)?|while|if|whenever)\s+(?P<scope>[^.;!?]+)", re.IGNORECASE
)
_LEADING = re.compile(
    r"^\s*(?:(?:when(?:ever)?|while|if)\s+(?P<cond>[^,]+)|(?:for|in|on|with)\s+(?P<place>[^,]+)),"
    r"\s*\S",
    re.IGNORECASE,
)
_PLACE = re.compile(r"\b(?:in|on|for)\s+(?=(?P<scope>[^.;!?]+))", re.IGNORECASE)
#: openings of a condition that carry no meaning of their own ("when I'm writing ...")
_SUBJECT = re.compile(
    r"^(?:(?:i|we)(?:'m|\u2019m| am| are|'re)?\s+|it(?:'s|\u2019s| is)\s+"
    r"|(?:i|we)\s+(?:write|send|draft)\s+(?=\S)|there(?:'s| is)\s+)",
    re.IGNORECASE,
)
MAX_SCOPE_CHARS = 300


def _clean(text: str) -> str:
    text = text.strip(" \t\n,:;-\u2013\u2014\"'")
    text = _SUBJECT.sub("", text).strip()
    return text[:MAX_SCOPE_CHARS]


#: nouns of manner that may follow an adjective ("in a formal tone", "in plain language")
_MANNER_NOUNS = frozenset(
    ["tone", "style", "voice", "manner", "way", "language", "format", "form", "terms", "register"]
)


def _is_manner(phrase: str) -> bool:
    words = [w for w in re.findall(r"[a-z0-9']+", phrase.lower()) if w not in _DETERMINERS]
    if not words:
        return True
    head = words[0]
    return head in _MANNER or head.isdigit() or any(w in _MANNER_NOUNS for w in words[1:3])


def extract_scope(text: str) -> str | None:
    """The clause of ``text`` that names where it applies, or None if it names none."""
    sentence = " ".join(text.split())
    if not sentence:
        return None
    leading = _LEADING.match(sentence)
    if leading:
        if leading.group("cond"):
            return _clean(leading.group("cond")) or None
        place = leading.group("place")
        if not _is_manner(place):
            return _clean(place) or None
    condition = _CONDITION.search(sentence)
    if condition:
        found = _clean(condition.group("scope"))
        if found:
            return found
    places = [m for m in _PLACE.finditer(sentence) if not _is_manner(m.group("scope"))]
    if places:
        # The last place phrase: "Ask for feedback in code reviews" scopes to code reviews.
        return _clean(places[-1].group("scope")) or None
    return None


def derive(text: str, context: str | None) -> tuple[str | None, ScopeOrigin]:
    """The scope of a feedback sentence: its own clause, else where it was said, else none."""
    clause = extract_scope(text)
    if clause:
        return clause, "clause"
    if context and context.strip():
        return " ".join(context.split())[:2000], "context"
    return None, "none"
