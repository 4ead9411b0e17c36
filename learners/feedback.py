"""Verbal feedback as preferences, verbatim.

"No emojis in emails to my boss" is already a preference description, so it is
stored as written (source ``feedback``). Feedback given with a context (or
attached to an interaction) is scoped to that context and retrieved for
similar ones; feedback with no context holds for every context of the user
(or of its ``task``). C3PO (Stephan et al., arXiv 2402.10893) later turns
such feedback into adapters; here it conditions the prompt policy.
"""

from __future__ import annotations

from typing import Literal

from learners.base import History, Learned, Learner
from learners.style.text import normalize
from store.records import Feedback, Interaction


class FeedbackLearner(Learner):
    name = "feedback"
    source = "feedback"

    def learn_feedback(self, feedback: Feedback) -> list[Learned]:
        scope: Literal["context", "user"] = "context" if feedback.context else "user"
        return [_learned(feedback.text, scope, feedback.task)]

    def learn_interaction(self, interaction: Interaction, history: History) -> list[Learned]:
        if not interaction.feedback or not interaction.feedback.strip():
            return []
        return [_learned(interaction.feedback, "context", interaction.task)]


def _learned(text: str, scope: Literal["context", "user"], task: str | None) -> Learned:
    # The same words said for one task and said for every task are different rules.
    key = f"{scope}:{task or '*'}:{normalize(text)}"
    return Learned(text=text.strip(), key=key, scope=scope, task=task)
