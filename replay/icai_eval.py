"""Synthetic preference data with planted principles and the ICAI evaluation.

Findeis et al., "Inverse Constitutional AI" (arXiv 2406.06560), Section 4.1,
test the algorithm on synthetic pairs whose preferred text follows known
principles: "orthogonal" ones a default annotator has no opinion on,
"aligned" ones it already holds and "unaligned" ones opposite to its
preferences. A good constitution lets the annotator reconstruct all three;
without it the annotator scores about chance, high and low respectively.

Here the texts are passages of the packaged replay corpus (license-clean,
``replay/data/corpus.jsonl``) rendered in controlled styles, and the planted
principles are executable, so whether ICAI recovered them is checked by key.
Every pair plants one principle: the preferred text follows it, the other
does not. Other planted styles of the same set are equal in both texts;
"nuisance" styles (exclamation marks, a sign-off, and in the aligned and
unaligned sets emojis, a closing question and hashtags) are drawn at random
per text, so principles proposed from them must be rejected by testing. A
share of pairs (``noise``) gets a random label.

The paper's orthogonal set is about content: which animal, colour and
ice-cream flavour the preferred text mentions. The ``content`` set is built
like it: short texts from varied templates, each mentioning an animal, a
colour and a flavour (and a weekday, at random per text), every pair planting
one preference ("cats rather than dogs") while the other two are the same in
both texts; wording, length and the weekday are drawn per text, so only the
planted words tell the texts apart. The ``random`` set draws everything per
text and labels at random: no principle should be kept from it.

The default judge stands in for an LLM annotator without a constitution. It
has three biases reported for LLM judges: verbosity (the longer text, by at
least 25%; Zheng et al., arXiv 2306.05685, section 3.3), formatting (a list)
and a polite frame (a greeting line). Each bias votes; the majority decides;
a tie abstains (scored 0.5, like a coin flip).

    python -m replay.icai_eval --pairs 200 --seed 0
    python -m replay.icai_eval --csv pairs.csv [--llm openai/gpt-4o-mini]
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from learners.backends.embeddings import Embedder
from learners.backends.llm import LLM
from learners.icai.csvfile import read_icai_csv
from learners.icai.method import PREFIX, Constitution, agreement, build_constitution, judge
from learners.icai.pairs import Pair, Vote
from learners.signals import FIRST, PLURAL, SECOND, features
from replay import corpus
from store.errors import InvalidInputError

Kind = Literal["orthogonal", "aligned", "unaligned", "content", "random"]
#: the paper's three style sets (planted styles, ``PLANTED``)
KINDS: tuple[Kind, ...] = ("orthogonal", "aligned", "unaligned")
#: the content set (planted mentions, ``MENTIONS``) and its random-preference control
CONTENT_KINDS: tuple[Kind, ...] = ("content", "random")
ALL_KINDS: tuple[Kind, ...] = KINDS + CONTENT_KINDS

#: styles the default judge has an opinion on
JUDGED = ("long", "bullets", "greeting")
#: styles no principle is planted on in any set
NUISANCE = ("exclaim", "signoff")


@dataclass(frozen=True)
class Planted:
    """A planted principle: the preferred text has ``style`` set to ``value``."""

    key: str  # the style-signal key ICAI should recover (``learners.signals``)
    style: str
    value: bool


PLANTED: dict[Kind, tuple[Planted, ...]] = {
    "orthogonal": (
        Planted("emoji=none", "emoji", False),
        Planted("questions=more", "question", True),
        Planted("hashtags=none", "hashtags", False),
    ),
    "aligned": (
        Planted("length=longer", "long", True),
        Planted("structure=bullets", "bullets", True),
        Planted("greeting=hello,", "greeting", True),
    ),
    "unaligned": (
        Planted("length=shorter", "long", False),
        Planted("structure=prose", "bullets", False),
        Planted("greeting=none", "greeting", False),
    ),
}

STYLES = ("long", "bullets", "greeting", "emoji", "question", "hashtags", *NUISANCE)


def default_judge(pair: Pair) -> Vote:
    """An annotator's defaults: the longer text, the list, the greeting; a tie abstains."""
    fa, fb = features(pair.a), features(pair.b)
    score = 0
    if fa.words >= 1.25 * fb.words:
        score += 1
    elif fb.words >= 1.25 * fa.words:
        score -= 1
    score += (fa.bullets + fa.numbered >= 2) - (fb.bullets + fb.numbered >= 2)
    score += bool(fa.greeting) - bool(fb.greeting)
    return "a" if score > 0 else "b" if score < 0 else None


# -- synthetic pairs ------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Z][^?!#:;\"“”()\[\]]*\.$")


def _plain(sentence: str) -> bool:
    # No questions, exclamations, quotes or pronouns: the styles alone set those.
    return (
        bool(_PLAIN.match(sentence))
        and 10 <= len(sentence.split()) <= 30
        and not any(r.search(sentence) for r in (FIRST, PLURAL, SECOND))
    )


@functools.lru_cache(maxsize=1)
def passages() -> tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]:
    """(source, five plain sentences, two of them) per corpus document that has them.

    The two are the pair whose mean length is closest to the five's, so a shorter
    rendering differs in length, not in words per sentence.
    """
    found = []
    for doc in corpus.packaged():
        lines = [ln.strip() for ln in doc.text.split("\n") if ln.strip()]
        sentences = [s for ln in lines for s in re.split(r"(?<=\.)\s+(?=[A-Z])", ln)]
        plain = [s for s in sentences if _plain(s)][:5]
        if len(plain) < 5:
            continue
        mean = sum(len(s.split()) for s in plain) / 5
        two = min(
            ((i, j) for i in range(5) for j in range(i + 1, 5)),
            key=lambda ij: abs((len(plain[ij[0]].split()) + len(plain[ij[1]].split())) / 2 - mean),
        )
        found.append((doc.source, tuple(plain), (plain[two[0]], plain[two[1]])))
    return tuple(found)


def render(passage: tuple[str, tuple[str, ...], tuple[str, ...]], style: dict[str, bool]) -> str:
    """One passage in one style; each style changes one thing ``learners.signals`` measures."""
    source, five, two = passage
    sentences = list(five if style["long"] else two)
    if style["exclaim"]:
        sentences[0] = sentences[0][:-1] + "!"
    if style["question"]:
        # A tag on the last sentence, not a new one: words per sentence barely move.
        sentences[-1] = sentences[-1][:-1] + ", what do you think?"
    if style["emoji"]:
        # At the very end: an emoji between two sentences would join them into one.
        sentences[-1] += " 🎉"
    if style["hashtags"]:
        sentences[-1] += f" #{source.replace('_', '')} #update"
    body = "\n".join(f"- {s}" for s in sentences) if style["bullets"] else " ".join(sentences)
    if style["greeting"]:
        body = "Hello,\n\n" + body
    if style["signoff"]:
        body += "\n\nBest regards,\nSam"
    return body


def synthetic_pairs(kind: Kind, n_pairs: int, seed: int = 0, noise: float = 0.1) -> list[Pair]:
    """``n_pairs`` pairs of ``kind``, the planted principles in turn, a/b placed at random."""
    if kind in CONTENT_KINDS:
        return content_pairs(kind, n_pairs, seed, noise)
    if kind not in PLANTED:
        raise InvalidInputError(f"unknown kind {kind!r}; expected one of {', '.join(ALL_KINDS)}")
    rng = random.Random(f"icai-{kind}-{seed}")
    planted = PLANTED[kind]
    held = {p.style for p in planted} | set(JUDGED)
    pool = passages()
    pairs: list[Pair] = []
    for i in range(n_pairs):
        plant = planted[i % len(planted)]
        chosen: dict[str, bool] = {}
        other: dict[str, bool] = {}
        for style in STYLES:
            if style == plant.style:
                chosen[style], other[style] = plant.value, not plant.value
            elif style in held:
                chosen[style] = other[style] = rng.random() < 0.5
            else:
                chosen[style], other[style] = rng.random() < 0.5, rng.random() < 0.5
        passage = rng.choice(pool)
        good, bad = render(passage, chosen), render(passage, other)
        preferred: Literal["a", "b"] = "a" if rng.random() < 0.5 else "b"
        a, b = (good, bad) if preferred == "a" else (bad, good)
        if rng.random() < noise:
            preferred = "a" if rng.random() < 0.5 else "b"
        pairs.append(Pair(a, b, preferred, f"Write about: {passage[0]}", f"{kind}-{i}"))
    return pairs


# -- the content set ----------------------------------------------------------------------


@dataclass(frozen=True)
class Mention:
    """A planted content preference: the preferred text names ``prefer`` for ``slot``,
    the other ``avoid``; ``key`` is the principle ``learners.icai.lexical`` should find."""

    key: str
    slot: str
    prefer: str
    avoid: str


MENTIONS: tuple[Mention, ...] = (
    Mention("mentions=cat>dog", "animal", "cat", "dog"),
    Mention("mentions=green>blue", "colour", "green", "blue"),
    Mention("mentions=vanilla>chocolate", "flavour", "vanilla", "chocolate"),
)

#: each slot's values (singular; templates add a plural "s" where they say "{animal}s")
VALUES: dict[str, tuple[str, ...]] = {
    "animal": ("cat", "dog", "horse", "rabbit", "parrot", "hamster"),
    "colour": ("green", "blue", "red", "yellow", "purple", "pink"),
    "flavour": ("vanilla", "chocolate", "strawberry", "mint", "pistachio", "mango"),
    "day": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}

TEMPLATES: dict[str, tuple[str, ...]] = {
    "animal": (
        "Our {animal} spent the whole morning asleep by the window.",
        "A neighbour's {animal} wandered into the garden again.",
        "The children could not stop talking about the {animal} at the farm.",
        "Two {animal}s were playing in the yard when we arrived.",
        "Everyone at the shelter wanted to adopt the little {animal}.",
        "My sister finally got the {animal} she had wanted for years.",
    ),
    "colour": (
        "The front door has just been painted {colour}.",
        "She wore a bright {colour} scarf to the market.",
        "Most of the balloons at the party were {colour}.",
        "We picked a {colour} tablecloth for the picnic.",
        "The new bicycle is a deep shade of {colour}.",
        "Grandpa keeps his tools in an old {colour} box.",
    ),
    "flavour": (
        "Afterwards we shared a tub of {flavour} ice cream.",
        "The kiosk by the harbour sells the best {flavour} gelato in town.",
        "He ordered two scoops of {flavour}, as always.",
        "A {flavour} milkshake was the perfect end to the afternoon.",
        "The shop had run out of everything except {flavour}.",
        "Dessert was a small bowl of {flavour} sorbet.",
    ),
    "filler": (
        "It was a quiet {day} and the sun was out.",
        "On {day} the town square was full of people.",
        "The walk home took longer than expected.",
        "Later we phoned our grandparents to tell them everything.",
        "Nobody wanted the day to end.",
        "The forecast had promised rain, but it stayed dry.",
    ),
}


MENTIONS_SLOTS = ("animal", "colour", "flavour")


def content_text(rng: random.Random, values: dict[str, str]) -> str:
    """One short text naming ``values``'s animal, colour and flavour, in varied wording."""
    sentences = [rng.choice(TEMPLATES[slot]) for slot in MENTIONS_SLOTS]
    rng.shuffle(sentences)
    for _ in range(rng.randrange(3)):  # 0-2 fillers: length varies at random
        sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(TEMPLATES["filler"]))
    return " ".join(s.format(**values) for s in sentences)


def content_pairs(kind: Kind, n_pairs: int, seed: int = 0, noise: float = 0.1) -> list[Pair]:
    """The ``content`` set (``MENTIONS`` in turn) or the ``random`` one (random labels)."""
    rng = random.Random(f"icai-{kind}-{seed}")
    pairs: list[Pair] = []
    for i in range(n_pairs):
        shared = {slot: rng.choice(VALUES[slot]) for slot in MENTIONS_SLOTS}
        chosen, other = dict(shared), dict(shared)
        if kind == "random":
            other = {slot: rng.choice(VALUES[slot]) for slot in MENTIONS_SLOTS}
        else:
            plant = MENTIONS[i % len(MENTIONS)]
            chosen[plant.slot], other[plant.slot] = plant.prefer, plant.avoid
        chosen["day"], other["day"] = rng.choice(VALUES["day"]), rng.choice(VALUES["day"])
        good, bad = content_text(rng, chosen), content_text(rng, other)
        preferred: Literal["a", "b"] = "a" if rng.random() < 0.5 else "b"
        a, b = (good, bad) if preferred == "a" else (bad, good)
        if kind == "random" or rng.random() < noise:
            preferred = "a" if rng.random() < 0.5 else "b"
        pairs.append(Pair(a, b, preferred, "Write a few lines about your weekend", f"{kind}-{i}"))
    return pairs


def planted_keys(kind: Kind) -> list[str]:
    """The keys of the principles planted in ``kind`` (none in ``random``)."""
    if kind in CONTENT_KINDS:
        return [m.key for m in MENTIONS] if kind == "content" else []
    return [p.key for p in PLANTED[kind]]


# -- evaluation ------------------------------------------------------------------------


def evaluate(
    kind: Kind,
    n_pairs: int = 200,
    seed: int = 0,
    *,
    embedder: Embedder,
    llm: LLM | None = None,
    noise: float = 0.1,
    max_principles: int = 5,
) -> dict[str, Any]:
    """Build a constitution on half the pairs, measure the default judge on the other half.

    ``agreement_default`` is the default judge alone; ``agreement_constitution`` the
    default judge following the constitution (its principles decide, the default
    judge takes the pairs they abstain on); ``agreement_constitution_only`` the
    principles alone. Recovery is by key, so it needs executable principles: with
    an LLM, read ``principles`` instead.
    """
    pairs = synthetic_pairs(kind, n_pairs, seed, noise)
    train, held_out = pairs[: n_pairs // 2], pairs[n_pairs // 2 :]
    constitution = build_constitution(
        train, embedder=embedder, llm=llm, max_principles=max_principles, seed=seed
    )
    planted = planted_keys(kind)

    def with_constitution(pair: Pair) -> Vote:
        return judge(constitution, pair, llm, fallback=default_judge)

    def constitution_only(pair: Pair) -> Vote:
        return judge(constitution, pair, llm)

    kept = constitution.keys
    return {
        "kind": kind,
        "pairs": n_pairs,
        "train": len(train),
        "held_out": len(held_out),
        "noise": noise,
        "planted": planted,
        "recovered": [k for k in planted if k in kept],
        "missed": [k for k in planted if k not in kept],
        "noise_kept": [k for k in kept if k not in planted],
        "noise_rejected": all(k in planted for k in kept),
        "principles": [p.text for p in constitution.principles],
        "agreement_default": agreement(default_judge, held_out),
        "agreement_constitution": agreement(with_constitution, held_out),
        "agreement_constitution_only": agreement(constitution_only, held_out),
        "train_agreement": constitution.agreement,
        "counts": constitution.counts,
    }


def evaluation_table(
    n_pairs: int = 200,
    seed: int = 0,
    *,
    embedder: Embedder,
    llm: LLM | None = None,
    noise: float = 0.1,
    kinds: Sequence[Kind] = ALL_KINDS,
) -> list[dict[str, Any]]:
    """One ``evaluate`` row per kind: orthogonal, aligned, unaligned, content, random."""
    return [
        evaluate(kind, n_pairs, seed, embedder=embedder, llm=llm, noise=noise) for kind in kinds
    ]


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| data | held-out pairs | default judge | + constitution | recovered | noise kept "
        "| kept principles |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        recovered = f"{len(r['recovered'])}/{len(r['planted'])}"
        if r["recovered"]:
            recovered += f" ({', '.join(r['recovered'])})"
        kept = "; ".join(p.removeprefix(PREFIX) for p in r["principles"]) or "none"
        lines.append(
            f"| {r['kind']} | {r['held_out']} | {r['agreement_default']:.2f} | "
            f"{r['agreement_constitution']:.2f} | {recovered} | "
            f"{', '.join(r['noise_kept']) or 'none'} | {kept} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Print the synthetic evaluation table, or the constitution of an ICAI CSV."""
    import argparse
    import json

    from learners.backends.embeddings import SentenceTransformerEmbedder
    from learners.backends.llm import build_llm

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--pairs", type=int, default=200, help="pairs per synthetic set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.1, help="share of random labels")
    parser.add_argument("--csv", type=Path, help="build the constitution of this ICAI CSV")
    parser.add_argument("--llm", default="", help="litellm model string; offline when empty")
    parser.add_argument("--api-base", default=None, help="base URL of the LLM provider")
    args = parser.parse_args()
    embedder = SentenceTransformerEmbedder()
    llm = build_llm(args.llm, api_base=args.api_base)
    if args.csv:
        constitution: Constitution = build_constitution(
            read_icai_csv(args.csv), embedder=embedder, llm=llm, seed=args.seed
        )
        print(json.dumps(constitution.to_dict(), indent=2, ensure_ascii=False))
        return
    rows = evaluation_table(args.pairs, args.seed, embedder=embedder, llm=llm, noise=args.noise)
    print(format_table(rows))


if __name__ == "__main__":
    main()
