"""Simulated users that hold PRELUDE's latent preferences.

The latent preference per source is the one of PRELUDE (Gao et al., arXiv
2404.15269, Table 1). The ``rule`` engine makes each one a set of executable
style operations with detectors (``learners.style.operations``): the user accepts a
draft whose detectors all pass, and otherwise edits it by applying the
operations whose detectors fail, in phase order. The mapping from the paper's
words to operations is Tailor's; it keeps what can be checked exactly (a list
structure, brevity, a greeting, a closing, a question to the reader) and
drops what cannot (playful, skillful foreshadowing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from learners.style import operations as ops
from store.errors import InvalidInputError

ME = "Alex"


@dataclass(frozen=True)
class Latent:
    task: str
    source: str
    text: str  # the paper's words
    operations: tuple[ops.StoredOperation, ...]


# fmt: off
LATENT: tuple[Latent, ...] = (
    # Summarization (PRELUDE Table 1, "summarization" rows).
    Latent("summarization", "news",
           "targeted to young children, storytelling, short sentences, playful language, "
           "interactive, positive",
           ({"op": "limit_sentences", "n": 3},
            {"op": "append_line", "line": "What do you think happens next?"})),
    Latent("summarization", "forum",
           "second person narrative, brief, show emotions, invoke personal reflection, immersive",
           ({"op": "limit_sentences", "n": 2},
            {"op": "prepend_line", "line": "Imagine you are in their shoes."},
            {"op": "append_line", "line": "How would you feel?"})),
    Latent("summarization", "encyclopedia", "bullet points, parallel structure, brief",
           ({"op": "limit_sentences", "n": 4}, {"op": "to_bullets", "marker": "-"})),
    Latent("summarization", "abstract",
           "tweet style, simple English, inquisitive, skillful foreshadowing, with emojis",
           ({"op": "limit_sentences", "n": 2},
            {"op": "prepend_line", "line": "Ever wondered about this? 🤔"},
            {"op": "append_line", "line": "Stay tuned for more! 🚀"})),
    Latent("summarization", "movie_review", "question answering style",
           ({"op": "limit_sentences", "n": 3},
            {"op": "prepend_line", "line": "Q: Is it worth watching? A: Read on."})),
    # Email writing (PRELUDE Table 1, "email writing" rows).
    Latent("email", "forum_problem", "informal, conversational, short, no closing",
           ({"op": "set_greeting", "template": "Hey {name},"},
            {"op": "limit_sentences", "n": 3},
            {"op": "use_contractions"},
            {"op": "remove_signoff"})),
    Latent("email", "peer_review", "casual tone, positive, clear, call to action",
           ({"op": "set_greeting", "template": "Hi {name},"},
            {"op": "use_contractions"},
            {"op": "append_line", "line": "Could you send me your thoughts by Friday?"})),
    Latent("email", "paper_tweet",
           "engaging, personalized, professional tone, thankful closing",
           ({"op": "set_greeting", "template": "Dear {name},"},
            {"op": "remove_exclamations"},
            {"op": "set_signoff", "lines": ["Thank you so much,", ME]})),
    Latent("email", "paper_notes",
           "structured, straight to the points, respectful, professional greeting and closing",
           ({"op": "set_greeting", "template": "Dear {name},"},
            {"op": "to_numbered", "max_items": 4},
            {"op": "set_signoff", "lines": ["Kind regards,", ME]})),
)
# fmt: on


def known_sources(task: str) -> list[str]:
    return [latent.source for latent in LATENT if latent.task == task]


def latent_for(task: str, source: str) -> Latent:
    """The latent preference of ``source``; a source no simulated user knows is an error.

    (A user for an unknown source would accept every draft, and every learner
    would score 0 on it.)
    """
    for latent in LATENT:
        if latent.task == task and latent.source == source:
            return latent
    raise InvalidInputError(
        f"no simulated user knows source {source!r} of task {task!r}; the known {task} "
        f"sources are {', '.join(known_sources(task))}"
    )


def check_sources(sources: Iterable[tuple[str, str]]) -> None:
    """Every (task, source) must have a simulated user: else one error naming them all."""
    unknown = sorted({(t, s) for t, s in sources if s not in known_sources(t)})
    if unknown:
        tasks = dict.fromkeys(t for t, _ in unknown)
        known = "; ".join(f"{t}: {', '.join(known_sources(t))}" for t in tasks)
        names = ", ".join(f"{s!r} ({t})" for t, s in unknown)
        raise InvalidInputError(
            f"no simulated user knows the corpus source(s) {names}; known sources are {known}"
        )


class RuleUser:
    """Accepts a draft whose detectors all pass; otherwise fixes what fails."""

    engine = "rule"

    def edit(self, latent: Latent, draft: str) -> str:
        failing = [op for op in latent.operations if not ops.holds(op, draft)]
        if not failing:
            return draft
        text = ops.apply_all(failing, draft)
        # A later operation can undo an earlier one's effect (e.g. limiting
        # sentences after a prefix line): settle in at most a few passes.
        for _ in range(3):
            failing = [op for op in latent.operations if not ops.holds(op, text)]
            if not failing:
                break
            text = ops.apply_all(failing, text)
        return text
