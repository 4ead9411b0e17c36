"""Content principles from lexical contrast: what the preferred texts mention.

Inverse Constitutional AI (Findeis et al., arXiv 2406.06560) proposes
principles per pair with an LLM; on the paper's synthetic "orthogonal" data
(which animal, colour and ice-cream flavour the preferred text mentions) its
constitutions name the planted content. The offline proposals of
``learners.icai.method`` only see style, so this module adds candidates a
word count can find and a word match can test:

1. every text is cut into terms: words and 2-3 word phrases within a clause,
   lowercased, plurals folded ("cats" -> "cat", "cherries" -> "cherry"),
   never starting or ending on a stop word, hashtags left to the style tests;
2. a term is *differential* in a pair when exactly one of the two texts has it;
   over all pairs it is counted in the preferred text (``n_plus``) and in the
   rejected one (``n_minus``);
3. a term is kept when it is differential in at least ``min_pairs`` pairs, not
   in most texts (``max_df``: a document-frequency guard for function words the
   stop list misses), with precision >= ``min_precision`` and a one-sided sign
   test below ``alpha`` Bonferroni-corrected over the terms counted that could
   reach it (Tarone's correction for discrete tests; both
   directions), so random preferences propose nothing (a family-wise 5% by
   default);
4. a longer phrase and a word inside it are one candidate: the phrase when it
   is differential in >= 90% of the word's pairs, the word when >= 80% of the
   phrase's pairs are the word's;
5. a preferred and an avoided term that substitute for each other (the chosen
   text has X where the rejected one has Y, in most of their pairs) become
   one candidate, "mentions cats rather than dogs".

Each candidate carries an executable test, ``{"kind": "mentions", "prefer":
[...], "avoid": [...]}``: a text satisfies it when it mentions a preferred term
(or there are none) and no avoided one; the test votes for the only text of a
pair that satisfies it and abstains otherwise. Testing and selection are
``learners.icai.method``'s.

    python -m replay.icai_eval --pairs 200 --seed 0   # the content and random rows
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from learners.icai.pairs import Pair, Vote
from store.errors import InvalidInputError

#: the longest phrase a term may be, in words
MAX_WORDS = 3
#: the most terms one side of a stored test may list
MAX_TERMS = 20

# Function words and fillers (an English list in the spirit of the usual IR stop lists).
_STOP_TEXT = """
    a about above after again against all almost also although always am among an and
    another any anyone anything are aren't around as at away back be became because been
    before being below between both but by can can't cannot could couldn't did didn't do
    does doesn't doing don't done down during each either else enough even ever every
    few for from further get gets getting got had hadn't has hasn't have haven't having
    he he'd he'll he's her here here's hers herself him himself his how how's however i
    i'd i'll i'm i've if in into is isn't it it's its itself just least less let let's
    like made make many may me might more most much must mustn't my myself near need
    neither never no nor not now of off often on once one only onto or other others
    ought our ours ourselves out over own per perhaps quite rather really same shall
    shan't she she'd she'll she's should shouldn't since so some something still such
    than that that's the their theirs them themselves then there there's these they
    they'd they'll they're they've this those though through thus to together too
    toward towards under until up upon us very via was wasn't we we'd we'll we're we've
    well were weren't what what's when when's where where's whether which while who
    who's whom whose why why's will with within without won't would wouldn't yet you
    you'd you'll you're you've your yours yourself yourselves
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

# Clause breaks: punctuation, quotes, dashes, slashes, line breaks.
_CLAUSE = re.compile(
    '[.!?;:,()\\[\\]{}"\u201c\u201d\u2018\u00ab\u00bb\u2026\u2013\u2014/|*\n\r\t]+'
)
# A word: letters and inner apostrophes; not part of a hashtag, an @handle or a number.
_WORD = re.compile(r"(?<![#@\w])[^\W\d_](?:[^\W\d_]|'(?=[^\W\d_]))*(?![\w])")


def fold(word: str) -> str:
    """A simple plural fold: "cats" -> "cat", "cherries" -> "cherry", "boxes" -> "box"."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[list[str]]:
    """The words of each clause of ``text``, as written."""
    text = text.replace("\u2019", "'")  # a typographic apostrophe is an apostrophe
    return [_WORD.findall(clause) for clause in _CLAUSE.split(text)]


def term_key(term: str) -> str:
    """A term as tests compare it: its words, folded, joined by one space."""
    return " ".join(fold(w.lower()) for clause in words(term) for w in clause)


@dataclass(frozen=True)
class _Terms:
    every: frozenset[str]  # every folded 1-3 word n-gram: what a test matches against
    content: dict[str, str]  # candidate terms (no stop word at an edge) -> a surface form


@functools.lru_cache(maxsize=16384)
def _terms(text: str) -> _Terms:
    every: set[str] = set()
    content: dict[str, str] = {}
    for clause in words(text):
        lower = [w.lower() for w in clause]
        folded = [fold(w) for w in lower]
        for n in range(1, MAX_WORDS + 1):
            for i in range(len(clause) - n + 1):
                key = " ".join(folded[i : i + n])
                every.add(key)
                first, last = lower[i], lower[i + n - 1]
                if first in STOP_WORDS or last in STOP_WORDS or len(key) < 2:
                    continue
                surface = " ".join(clause[i : i + n])
                content.setdefault(key, surface[:-2] if surface.endswith("'s") else surface)
    return _Terms(frozenset(every), content)


# -- the executable test -------------------------------------------------------------------


def check_mentions(test: dict[str, Any]) -> None:
    """Raise ``InvalidInputError`` unless ``test`` is a well-formed ``mentions`` test."""
    if set(test) != {"kind", "prefer", "avoid"} or test["kind"] != "mentions":
        raise InvalidInputError(f"invalid principle test {test!r}: expected kind, prefer, avoid")
    keys: dict[str, set[str]] = {}
    for side in ("prefer", "avoid"):
        terms = test[side]
        if not isinstance(terms, list) or len(terms) > MAX_TERMS:
            raise InvalidInputError(
                f"invalid principle test {test!r}: {side} must be a list of at most "
                f"{MAX_TERMS} terms"
            )
        keys[side] = set()
        for term in terms:
            key = term_key(term) if isinstance(term, str) and len(term) <= 100 else ""
            if not key or len(key.split()) > MAX_WORDS:
                raise InvalidInputError(
                    f"invalid principle test {test!r}: {term!r} is not a 1-{MAX_WORDS} word term"
                )
            keys[side].add(key)
    if not keys["prefer"] and not keys["avoid"]:
        raise InvalidInputError(f"invalid principle test {test!r}: no term to look for")
    if keys["prefer"] & keys["avoid"]:
        raise InvalidInputError(f"invalid principle test {test!r}: a term both preferred and not")


def satisfies(test: dict[str, Any], text: str) -> bool:
    """The text mentions a preferred term (or none is listed) and no avoided one."""
    found = _terms(text).every
    prefer = [term_key(t) for t in test["prefer"]]
    if prefer and not any(t in found for t in prefer):
        return False
    return not any(term_key(t) in found for t in test["avoid"])


def mentions_vote(test: dict[str, Any], pair: Pair) -> Vote:
    """The only text of ``pair`` that satisfies ``test``; None when both or neither do."""
    in_a, in_b = satisfies(test, pair.a), satisfies(test, pair.b)
    return "a" if in_a and not in_b else "b" if in_b and not in_a else None


# -- mining ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contrast:
    """A content principle found by counting: preferred and avoided term forms."""

    prefer: tuple[str, ...]  # surface forms of the preferred term, most frequent first
    avoid: tuple[str, ...]
    prefer_key: str  # the folded term ("" when none)
    avoid_key: str
    support: int  # pairs whose choice it explains

    @property
    def key(self) -> str:
        if not self.prefer_key:
            return f"avoids={self.avoid_key}"
        return f"mentions={self.prefer_key}" + (f">{self.avoid_key}" if self.avoid_key else "")

    @property
    def text(self) -> str:
        if not self.prefer:
            return f"does not mention {self.avoid[0]}"
        return f"mentions {self.prefer[0]}" + (
            f" rather than {self.avoid[0]}" if self.avoid else ""
        )

    @property
    def test(self) -> dict[str, Any]:
        return {"kind": "mentions", "prefer": sorted(self.prefer), "avoid": sorted(self.avoid)}


def sign_test(successes: int, trials: int) -> float:
    """One-sided sign test: P(X >= successes) for X ~ Binomial(trials, 1/2)."""
    tail = sum(math.comb(trials, i) for i in range(successes, trials + 1))
    return tail / (1 << trials)


def tarone_threshold(trials: Sequence[int], alpha: float) -> float:
    """The per-term level that keeps the family-wise error of two-sided sign tests <= alpha.

    Bonferroni over the terms that could be significant at all (Tarone, "A modified
    Bonferroni method for discrete data", Biometrics 1990): a term seen in n pairs
    can reach no p-value below 2 * 2**-n, so the rare terms, most of them, do not
    count against the others. The two-sided p-value is twice the one-sided tail.
    """
    smallest = sorted(2.0 * 0.5**n for n in trials)  # (M,) ascending
    k = 1
    # m(k): terms whose smallest p-value could pass alpha / k; the least k with m(k) <= k.
    while bisect.bisect_right(smallest, alpha / k) > k:
        k += 1
    return alpha / k / 2  # compared with the one-sided tail


def _contains(longer: str, shorter: str) -> bool:
    return f" {shorter} " in f" {longer} " and longer != shorter


def mine(
    pairs: Sequence[Pair],
    *,
    min_pairs: int = 4,
    alpha: float = 0.05,
    min_precision: float = 0.7,
    max_df: float = 0.8,
    max_candidates: int = 20,
) -> list[Contrast]:
    """Terms the preferred texts mention and the rejected ones lack, or the reverse."""
    if max_candidates == 0:
        return []
    plus: dict[str, set[int]] = defaultdict(set)  # term -> pairs where only the chosen has it
    minus: dict[str, set[int]] = defaultdict(set)  # term -> pairs where only the rejected has it
    surface: dict[str, Counter[str]] = defaultdict(Counter)
    df: Counter[str] = Counter()
    for j, pair in enumerate(pairs):
        chosen, rejected = _terms(pair.chosen).content, _terms(pair.rejected).content
        df.update(chosen.keys())  # texts that have the term, of the 2 * len(pairs)
        df.update(rejected.keys())
        for own, other, side in ((chosen, rejected, plus), (rejected, chosen, minus)):
            for key in own.keys() - other.keys():
                side[key].add(j)
                surface[key][own[key]] += 1
    counted = [
        t
        for t in plus.keys() | minus.keys()
        if len(plus[t]) + len(minus[t]) >= min_pairs and df[t] <= max_df * 2 * len(pairs)
    ]
    threshold = tarone_threshold([len(plus[t]) + len(minus[t]) for t in counted], alpha)
    found: dict[str, tuple[int, set[int]]] = {}  # term -> (direction, pairs it explains)
    for t in sorted(counted):
        p, m = len(plus[t]), len(minus[t])
        k, n = max(p, m), p + m
        if p == m or k < min_precision * n or sign_test(k, n) > threshold:
            continue
        found[t] = (1, plus[t]) if p > m else (-1, minus[t])
    # A phrase and a word inside it that explain (nearly) the same pairs: keep one.
    dropped: set[str] = set()
    for long in sorted(found, key=lambda t: -len(t.split())):
        for short in found:
            if not _contains(long, short) or found[long][0] != found[short][0]:
                continue
            shared = len(found[long][1] & found[short][1])
            if shared >= 0.9 * len(found[short][1]):
                dropped.add(short)
            elif shared >= 0.8 * len(found[long][1]):
                dropped.add(long)
    kept = {t: v for t, v in found.items() if t not in dropped}

    def forms(term: str) -> tuple[str, ...]:
        return tuple(f for f, _ in sorted(surface[term].items(), key=lambda fc: (-fc[1], fc[0])))

    # Substitutions: the chosen text has X where the rejected one has Y.
    prefer = sorted(t for t, (d, _) in kept.items() if d > 0)
    avoid = sorted(t for t, (d, _) in kept.items() if d < 0)
    options = sorted(
        (
            (len(kept[x][1] & kept[y][1]), x, y)
            for x in prefer
            for y in avoid
            if not (_contains(x, y) or _contains(y, x))
        ),
        key=lambda sxy: (-sxy[0], sxy[1], sxy[2]),
    )
    used: set[str] = set()
    contrasts: list[Contrast] = []
    for shared, x, y in options:
        if x in used or y in used or shared < 0.5 * max(len(kept[x][1]), len(kept[y][1])):
            continue
        used |= {x, y}
        support = len(kept[x][1] | kept[y][1])
        contrasts.append(Contrast(forms(x), forms(y), x, y, support))
    for t in sorted(kept.keys() - used):
        direction, explained = kept[t]
        if direction > 0:
            contrasts.append(Contrast(forms(t), (), t, "", len(explained)))
        else:
            contrasts.append(Contrast((), forms(t), "", t, len(explained)))
    contrasts.sort(key=lambda c: (-c.support, c.key))
    return contrasts[:max_candidates]
