"""The PRELUDE protocol with an LLM: a drafter, and simulated users that judge and revise.

Gao et al., "Aligning LLM Agents by Learning Latent Preference from User
Edits" (arXiv 2404.15269), section 4.1: the simulated user is an LLM that is
told its latent preference; each round it is first asked whether the agent's
output already satisfies that preference (yes / no), and only if not, asked to
revise the output to satisfy it. The agent drafts with an LLM, conditioned on
the preference its learner inferred for the context. Everything runs at
temperature 0 through Tailor's LLM back-ends, so a run is repeatable with a
deterministic provider. The prompts are Tailor's wording of the paper's.

Preference accuracy with LLM users follows the paper too: the agent's
preference text counts as correct when, among the task's latent preferences,
the one nearest to it by embedding is the user's true one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from learners.backends.embeddings import Embedder
from learners.backends.llm import LLM, LLMError, Messages
from learners.style import operations as ops
from replay.agents import Agent, Round, TailorAgent, recipient
from replay.corpus import Document
from replay.users import LATENT, ME, Latent

NOUN = {"summarization": "summary", "email": "email"}


def draft_messages(doc: Document, preference: str) -> Messages:
    if doc.task == "summarization":
        ask = f"Summarize the following document.\n\nDocument:\n{doc.text}"
    else:
        ask = (
            f"Write an email to {recipient(doc)} based on the following notes, signed "
            f"{ME}.\n\nNotes:\n{doc.text}"
        )
    if preference:
        ask += f"\n\nThe {NOUN[doc.task]} should follow this preference: {preference}"
    ask += f"\n\nAnswer with the {NOUN[doc.task]} only."
    return [{"role": "user", "content": ask}]


class Counted:
    """An LLM wrapper that adds up the tokens spent through it."""

    def __init__(self, llm: LLM) -> None:
        self.llm, self.model, self.tokens = llm, llm.model, 0

    def complete(self, messages: Messages, *, max_tokens: int = 512) -> str:
        completion = self.llm.complete(messages, max_tokens=max_tokens, temperature=0.0)
        self.tokens += completion.tokens
        return completion.text.strip()


class LLMUser:
    """The paper's LLM user: "is this satisfying?" then, if not, "revise it"."""

    engine = "llm"

    def __init__(self, llm: LLM) -> None:
        self.llm = Counted(llm)

    @property
    def tokens(self) -> int:
        return self.llm.tokens

    def satisfied(self, latent: Latent, text: str) -> bool:
        noun = NOUN.get(latent.task, "text")
        answer = self.llm.complete(
            [
                {
                    "role": "user",
                    "content": f"{noun.capitalize()}:\n{text}\n\nIs this {noun} consistent "
                    f"with the following preference: {latent.text}? Answer only yes or no.",
                }
            ],
            max_tokens=4,
        )
        word = answer.strip().strip(".!").lower().split()[:1]
        if word not in (["yes"], ["no"]):
            raise LLMError(
                f"the simulated user answered {answer[:80]!r} to a yes/no question",
                code="llm_malformed_output",
            )
        return word == ["yes"]

    def edit(self, latent: Latent, draft: str) -> str:
        if not latent.text or self.satisfied(latent, draft):
            return draft
        noun = NOUN.get(latent.task, "text")
        revised = self.llm.complete(
            [
                {
                    "role": "user",
                    "content": f"{noun.capitalize()}:\n{draft}\n\nRevise this {noun} so that it "
                    f"follows this preference: {latent.text}. Keep its content. Answer with the "
                    f"revised {noun} only.",
                }
            ]
        )
        if not revised:
            raise LLMError("the simulated user returned an empty revision", code="llm_bad_answer")
        return revised


class LLMAgent(Agent):
    """Drafts with the LLM, conditioned on what the wrapped agent knows of the context.

    ``none`` conditions on nothing, ``oracle`` on the latent preference, Tailor's
    agents (CIPHER included) on their policy's preference text and then apply
    their verified rules, the offline baselines on descriptions of the
    operations they would apply.
    """

    def __init__(self, inner: Agent, llm: LLM) -> None:
        super().__init__()
        self.inner, self.name, self.drafter = inner, inner.name, Counted(llm)
        self.preference = ""

    @property
    def tokens(self) -> int:
        return self.drafter.tokens + self.inner.tokens

    def propose(self, r: Round) -> str:
        policy = None
        if isinstance(self.inner, TailorAgent):
            policy = self.inner.engine.policy("replay", "user", r.context, task=r.doc.task)
            self.preference = policy.preference
        elif self.inner.name == "none":
            self.preference = ""
        elif self.inner.name == "oracle":
            self.preference = r.latent.text
        else:
            self.inner.propose(r)  # sets the operations it would apply here
            self.preference = "; ".join(ops.describe(op) for op in self.inner.last_operations)
        draft = self.drafter.complete(draft_messages(r.doc, self.preference))
        if policy is not None and isinstance(self.inner, TailorAgent):
            draft, _ = self.inner.engine.apply_rules(policy, draft)
        return draft

    def observe(self, r: Round, shown: str, final: str) -> None:
        self.inner.observe(r, shown, final)

    def close(self) -> None:
        self.inner.close()


class LatentMatcher:
    """Preference accuracy for LLM users: is the nearest latent preference the true one?"""

    def __init__(self, embedder: Embedder, task: str, latents: Sequence[Latent] = LATENT) -> None:
        self.latents = [lt for lt in latents if lt.task == task]
        self.embedder = embedder
        self.vectors = embedder.embed([lt.text for lt in self.latents])

    def accuracy(self, preference: str, true: Latent) -> float:
        if not preference.strip():
            return 0.0
        scores = self.vectors @ self.embedder.embed([preference])[0]
        return float(self.latents[int(np.argmax(scores))].source == true.source)
