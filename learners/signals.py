"""Edit analysis: style signals that tell a draft from what the user made of it.

PRELUDE (Gao et al., arXiv 2404.15269) asks an LLM to name the latent
preference behind each (draft, edit) pair; CIPHER stores that description.
Here the same question is answered deterministically: measure a handful of
style features on both texts and report each one the user changed, with its
evidence ("emojis 2 -> 0") and, where the change can be redone exactly, an
executable operation (``learners.style.operations``). The ``edits`` learner stores
the descriptions; the ``rules`` learner verifies the operations.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, replace

from learners.base import History, Learned, Learner
from learners.style import layout as lay
from learners.style import operations as ops
from learners.style.text import word_tokens
from store.records import Interaction

FIRST = re.compile(r"\b(I|me|my|mine)\b")
PLURAL = re.compile(r"\b(we|us|our|ours)\b", re.IGNORECASE)
SECOND = re.compile(r"\b(you|your|yours)\b", re.IGNORECASE)
HEADING = re.compile(r"^\s*(#{1,6}\s+\S|[A-Z][^.!?]{0,40}:\s*$)")


@dataclass(frozen=True)
class Features:
    words: int
    sentences: int
    bullets: int
    numbered: int
    headings: int
    paragraphs: int
    emojis: int
    exclamations: int
    contractions: int
    expanded: int
    greeting: str | None
    signoff: tuple[str, ...]
    first_person: int
    plural: int
    second_person: int
    questions: int
    hashtags: int
    prefix: str | None

    @property
    def sentence_words(self) -> float:
        return self.words / max(self.sentences, 1)


def features(text: str) -> Features:
    layout = lay.parse(text)
    body = [ln for ln in layout.body if ln.strip()]
    body_text = "\n".join(layout.body)
    numbered = sum(1 for ln in body if lay.NUMBERED.match(ln))
    return Features(
        words=sum(1 for t in word_tokens(body_text) if t[0].isalnum()),
        sentences=len(lay.sentences(lay.main_lines(text))),
        bullets=sum(1 for ln in body if lay.BULLET.match(ln)) - numbered,
        numbered=numbered,
        headings=sum(1 for ln in body if HEADING.match(ln) and not lay.PREFIX_LINE.match(ln)),
        paragraphs=len([p for p in re.split(r"\n\s*\n", body_text) if p.strip()]),
        emojis=len(lay.EMOJI.findall(text)),
        exclamations=text.count("!"),
        contractions=len(lay.CONTRACTED.findall(text)),
        expanded=len(lay.EXPANDED_RE.findall(text)),
        greeting=layout.greeting,
        signoff=tuple(layout.signoff),
        first_person=len(FIRST.findall(body_text)),
        plural=len(PLURAL.findall(body_text)),
        second_person=len(SECOND.findall(body_text)),
        questions=body_text.count("?"),
        hashtags=len(lay.HASHTAG.findall(text)),
        prefix=lay.prefix_label(layout.body),
    )


@dataclass(frozen=True)
class Signal:
    """One style change: ``key`` is ``slot=value``; ``op`` redoes it exactly, if it can."""

    key: str
    text: str
    evidence: str
    op: ops.StoredOperation | None = None


def _greeting_template(draft: str | None, final: str) -> str:
    name = lay.greeting_name(draft)
    if name and name in final:
        return final.replace(name, "{name}", 1)
    final_name = lay.greeting_name(final)
    return final.replace(final_name, "{name}", 1) if final_name else final


def analyze(draft: str, final: str) -> list[Signal]:
    """Every style feature the user changed, most telling first."""
    # Copies of the cached operations, so no caller can alter another's.
    return [replace(s, op=copy.deepcopy(s.op)) for s in _analyze(draft, final)]


@functools.lru_cache(maxsize=256)
def _analyze(draft: str, final: str) -> tuple[Signal, ...]:
    # Cached: the edits and rules learners both analyse each new edit.
    return tuple(_signals(draft, final))


def _signals(draft: str, final: str) -> list[Signal]:
    if draft.strip() == final.strip():
        return []
    a, b = features(draft), features(final)
    found: list[Signal] = []
    op: ops.StoredOperation | None

    def add(key: str, text: str, evidence: str, op: ops.StoredOperation | None = None) -> None:
        found.append(Signal(key, text, evidence, op))

    # The frame: greeting, sign-off, summary line.
    if b.greeting and b.greeting != a.greeting:
        template = _greeting_template(a.greeting, b.greeting)
        op = {"op": "set_greeting", "template": template}
        add(
            "greeting=" + template.lower(),
            ops.describe(op),
            f"greeting {a.greeting!r} -> {b.greeting!r}",
            op,
        )
    elif a.greeting and not b.greeting:
        add(
            "greeting=none",
            "starts without a greeting line",
            f"removed {a.greeting!r}",
            {"op": "remove_greeting"},
        )
    if b.signoff and b.signoff != a.signoff:
        op = {"op": "set_signoff", "lines": list(b.signoff)}
        add(
            "signoff=" + " ".join(b.signoff).lower(),
            ops.describe(op),
            f"sign-off {' '.join(a.signoff) or 'none'!r} -> {' '.join(b.signoff)!r}",
            op,
        )
    elif a.signoff and not b.signoff:
        add(
            "signoff=none",
            "ends without a sign-off",
            f"removed {' '.join(a.signoff)!r}",
            {"op": "remove_signoff"},
        )
    if b.prefix and not a.prefix:
        op = {"op": "add_prefix", "label": b.prefix}
        add(f"prefix={b.prefix.lower()}", ops.describe(op), f"added a {b.prefix!r} line", op)

    # Structure.
    if b.numbered >= 2 and a.numbered < 2:
        op = {"op": "to_numbered", "max_items": b.numbered}
        add(
            "structure=numbered",
            ops.describe(op),
            f"numbered items {a.numbered} -> {b.numbered}",
            op,
        )
    elif b.bullets >= 2 and a.bullets < 2:
        marker = next(
            (
                ln.strip()[0]
                for ln in lay.parse(final).body
                if lay.BULLET.match(ln) and not lay.NUMBERED.match(ln)
            ),
            "-",
        )
        op = {"op": "to_bullets", "marker": marker}
        add("structure=bullets", ops.describe(op), f"bullets {a.bullets} -> {b.bullets}", op)
    elif a.bullets + a.numbered >= 2 and b.bullets + b.numbered == 0:
        add(
            "structure=prose",
            "prefers prose paragraphs over lists",
            f"list items {a.bullets + a.numbered} -> 0",
            {"op": "to_prose"},
        )
    if b.headings > a.headings:
        add("headings=more", "uses section headings", f"headings {a.headings} -> {b.headings}")
    elif a.headings > b.headings:
        add("headings=fewer", "avoids section headings", f"headings {a.headings} -> {b.headings}")

    # Length.
    if a.words >= 20 and b.words <= 0.75 * a.words:
        pct = round(100 * b.words / a.words)
        op = None
        if b.sentences < a.sentences:
            op = {"op": "limit_sentences", "n": max(b.sentences, 1)}
        add(
            "length=shorter",
            f"prefers shorter texts (about {pct}% of the draft; {b.sentences} sentences)",
            f"words {a.words} -> {b.words}",
            op,
        )
    elif a.words >= 10 and b.words >= 1.33 * a.words:
        add("length=longer", "prefers longer, more detailed texts", f"words {a.words} -> {b.words}")
    if a.sentences >= 2 and b.sentences >= 2:
        if b.sentence_words <= 0.75 * a.sentence_words:
            add(
                "sentences=short",
                f"prefers short sentences (about {round(b.sentence_words)} words)",
                f"words per sentence {a.sentence_words:.0f} -> {b.sentence_words:.0f}",
            )
        elif b.sentence_words >= 1.33 * a.sentence_words:
            add(
                "sentences=long",
                "prefers longer, flowing sentences",
                f"words per sentence {a.sentence_words:.0f} -> {b.sentence_words:.0f}",
            )
    if b.paragraphs >= a.paragraphs + 2:
        add(
            "paragraphs=more",
            "prefers short paragraphs",
            f"paragraphs {a.paragraphs} -> {b.paragraphs}",
        )
    elif a.paragraphs >= b.paragraphs + 2:
        add(
            "paragraphs=fewer",
            "prefers fewer, longer paragraphs",
            f"paragraphs {a.paragraphs} -> {b.paragraphs}",
        )

    # Tone.
    if a.emojis and not b.emojis:
        add("emoji=none", "avoids emojis", f"emojis {a.emojis} -> 0", {"op": "remove_emojis"})
    elif b.emojis > a.emojis:
        add("emoji=more", "likes emojis", f"emojis {a.emojis} -> {b.emojis}")
    if a.exclamations and not b.exclamations:
        add(
            "exclamation=none",
            "avoids exclamation marks",
            f"exclamation marks {a.exclamations} -> 0",
            {"op": "remove_exclamations"},
        )
    elif b.exclamations > a.exclamations:
        add(
            "exclamation=more",
            "uses exclamation marks",
            f"exclamation marks {a.exclamations} -> {b.exclamations}",
        )
    if a.contractions and b.contractions < a.contractions and b.expanded > a.expanded:
        add(
            "contractions=none",
            "writes formally, without contractions",
            f"contractions {a.contractions} -> {b.contractions}",
            {"op": "expand_contractions"},
        )
    elif a.expanded and b.expanded < a.expanded and b.contractions > a.contractions:
        add(
            "contractions=use",
            "writes casually, with contractions",
            f"contractions {a.contractions} -> {b.contractions}",
            {"op": "use_contractions"},
        )
    if a.hashtags and not b.hashtags:
        add(
            "hashtags=none",
            "avoids hashtags",
            f"hashtags {a.hashtags} -> 0",
            {"op": "remove_hashtags"},
        )
    elif b.hashtags > a.hashtags:
        add("hashtags=more", "uses hashtags", f"hashtags {a.hashtags} -> {b.hashtags}")
    if a.questions and not b.questions:
        add("questions=none", "avoids questions", f"questions {a.questions} -> 0")
    elif b.questions > a.questions:
        add(
            "questions=more",
            "asks the reader questions",
            f"questions {a.questions} -> {b.questions}",
        )
    person = _person_shift(a, b)
    if person:
        add(f"person={person[0]}", person[1], person[2])
    return found


def _person_shift(a: Features, b: Features) -> tuple[str, str, str] | None:
    counts = {
        "i": (a.first_person, b.first_person, "writes in the first person singular (I)"),
        "we": (a.plural, b.plural, "writes as a team (we)"),
        "you": (a.second_person, b.second_person, "addresses the reader directly (you)"),
    }
    for name, (before, after, text) in counts.items():
        others_before = sum(v[0] for k, v in counts.items() if k != name)
        others_after = sum(v[1] for k, v in counts.items() if k != name)
        if after >= 2 and after > before and others_after < others_before:
            return name, text, f"{name!r} {before} -> {after}"
    return None


class EditSignalsLearner(Learner):
    """Describes each style change the user made; repeats add support."""

    name = "edits"
    source = "edit"
    slotted = True
    #: a style signal seen in a single edit is kept (visible) but not yet used
    min_support = 2

    def learn_interaction(self, interaction: Interaction, history: History) -> list[Learned]:
        return [
            Learned(text=s.text, key=s.key, task=interaction.task, detail=s.evidence)
            for s in analyze(interaction.draft, interaction.final)
        ]
