"""Agents of the replay simulation: a base drafter plus a way of learning.

PRELUDE (Gao et al., arXiv 2404.15269, section 4) compares an agent that does
not learn, an oracle that knows the latent preference, explore-then-exploit
and continual preference induction, ICL-edit (the nearest raw edits as
examples) and CIPHER. Offline, every agent drafts the same way (lead
sentences for summaries, a plain email from the notes) and differs in how it
rewrites the draft before the user sees it:

- ``none``: shows the base draft.
- ``oracle``: applies the user's latent operations (a lower bound on cost).
- ``tailor`` (or any learner names of ``learners.registry``): Tailor's engine
  in-process, with a real SQLite store, FAISS index and embedding model;
  rewrites with the rules verified for the context, learns from each edit.
- ``icl-edit``: operations mined from the k nearest past edits, unverified.
- ``continual``: rules mined and verified on the last 5 edits, context-free.
- ``explore-exploit``: rules mined and verified on the first 5 edits, frozen.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from learners import registry
from learners.backends.embeddings import Embedder
from learners.backends.llm import LLM
from learners.core.config import EngineConfig
from learners.core.engine import INFERENCE_JOB, NewInteraction
from learners.jobs.inference import InferenceHandler
from learners.jobs.worker import JobWorker
from learners.registry import DEFAULT_LEARNERS
from learners.rules import RuleOptions, candidates, prepare, select, verify
from learners.style import layout
from learners.style import operations as ops
from replay.corpus import Document
from replay.scratch import ScratchEngine
from replay.users import ME, Latent, RuleUser
from store.errors import InvalidInputError
from store.jobs import claim
from store.records import Interaction, Preference, now

#: Whole documents as contexts score lower under MiniLM than the short context
#: descriptions apps send (same source ~0.19 on average, other sources ~0.07 on
#: the packaged corpus), so the simulation runs the engine with this
#: TAILOR_POLICY_MIN_SCORE instead of the service default 0.25.
DOCUMENT_MIN_SCORE = 0.1

RECIPIENTS = ["Maria", "Tom", "Priya", "Chen", "Olga", "Ravi", "Lena", "Omar", "Kate", "Ben"]
INSTRUCTION = {
    "summarization": "Summarize this document",
    "email": "Write an email based on this document",
}


@dataclass(frozen=True)
class Round:
    number: int
    doc: Document
    latent: Latent
    context: str
    draft: str


def recipient(doc: Document) -> str:
    digest = int(hashlib.sha256(doc.id.encode()).hexdigest(), 16)
    return RECIPIENTS[digest % len(RECIPIENTS)]


def base_draft(doc: Document) -> str:
    """The offline drafter: lead sentences, framed as an email for the email task."""
    lead = " ".join(layout.sentences([doc.text.replace("\n", " ")])[:4])
    if doc.task == "summarization":
        return lead
    return (
        f"Hello {recipient(doc)},\n\nI am writing about the following. {lead}\n\n"
        f"Best regards,\n{ME}"
    )


def make_round(number: int, doc: Document, latent: Latent) -> Round:
    context = f"{INSTRUCTION[doc.task]}: {doc.text}"
    return Round(number, doc, latent, context, base_draft(doc))


class Agent:
    """Turns a base draft into what the user is shown, and learns from the edit."""

    name = "agent"

    def __init__(self) -> None:
        self.last_operations: list[ops.StoredOperation] = []

    @property
    def tokens(self) -> int:
        """LLM tokens this agent spent so far."""
        return 0

    def propose(self, r: Round) -> str:
        return r.draft

    def observe(self, r: Round, shown: str, final: str) -> None:
        return None

    def close(self) -> None:
        return None

    @classmethod
    def create(cls, embedder: Embedder | None) -> Agent:
        """The agent with its default options (what the registry builds by name)."""
        return cls()


class NoLearning(Agent):
    name = "none"


class Oracle(Agent):
    name = "oracle"

    def propose(self, r: Round) -> str:
        self.last_operations = list(r.latent.operations)
        return RuleUser().edit(r.latent, r.draft)


class TailorAgent(Agent):
    """Tailor's engine with the named learners, on its own temporary data directory."""

    def __init__(
        self,
        embedder: Embedder,
        learners: Sequence[str],
        name: str,
        *,
        min_score: float = DOCUMENT_MIN_SCORE,
        llm: LLM | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        config = EngineConfig(learners=tuple(learners), min_score=min_score)
        self._scratch = ScratchEngine(embedder, config, llm=llm)
        self.store, self.engine = self._scratch.store, self._scratch.engine
        # LLM learners (CIPHER) run right after each edit here, not in a background
        # thread: the next round must see what they learned, as in the paper.
        handlers = {INFERENCE_JOB: InferenceHandler(self.engine)}
        self._inference = JobWorker(self.store, handlers, name="replay", max_attempts=1)

    @property
    def tokens(self) -> int:
        return sum(int(getattr(learner, "tokens", 0)) for learner in self.engine.learners)

    def propose(self, r: Round) -> str:
        policy = self.engine.policy("replay", "user", r.context, task=r.doc.task)
        text, applied = self.engine.apply_rules(policy, r.draft)
        ids = set(applied)
        self.last_operations = [p.operation for p in policy.rules if p.id in ids and p.operation]
        return text

    def observe(self, r: Round, shown: str, final: str) -> None:
        self.engine.log_interaction(
            "replay",
            "user",
            NewInteraction(context=r.context, draft=shown, final=final, task=r.doc.task),
        )
        while (job := claim(self.store, [INFERENCE_JOB])) is not None:
            self._inference.run_one(job)  # a failure is stored on the interaction

    def close(self) -> None:
        self._scratch.close()


class HttpAgent(Agent):
    """A running Tailor server as the agent: ``/rewrite`` to draft, ``/interactions`` to learn.

    Each run uses a fresh user id, deleted at the end, so a deployment can be
    measured while it serves (``tailor replay simulate --url --key``).
    """

    def __init__(self, url: str, key: str, name: str = "server") -> None:
        import httpx

        super().__init__()
        self.name = name
        self.user = f"replay-{uuid.uuid4().hex[:12]}"
        self.client = httpx.Client(
            base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {key}"}, timeout=60
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, f"/v1/users/{self.user}{path}", **kwargs)
        if response.status_code >= 400:
            raise InvalidInputError(
                f"{method} {path} answered {response.status_code}: {response.text[:300]}"
            )
        return response.json()

    def propose(self, r: Round) -> str:
        result = self._call("POST", "/rewrite", json={"context": r.context, "draft": r.draft})
        applied = set(result["applied"])
        self.last_operations = []
        if applied:
            prefs = self._call("GET", "/preferences", params={"source": "rule"})["data"]
            self.last_operations = [p["operation"] for p in prefs if p["id"] in applied]
        return str(result["text"])

    def observe(self, r: Round, shown: str, final: str) -> None:
        self._call(
            "POST",
            "/interactions",
            json={"context": r.context, "draft": shown, "final": final, "task": r.doc.task},
        )

    def close(self) -> None:
        try:
            self._call("DELETE", "")
        finally:
            self.client.close()


@dataclass
class _Past:
    interaction: Interaction
    vector: np.ndarray


@dataclass
class WindowRules(Agent):
    """Context-free rules from a window of edits: the last ``window`` or the first ones."""

    name: str = "continual"
    window: int = 5
    freeze: bool = False
    options: RuleOptions = field(default_factory=RuleOptions)
    past: list[Interaction] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def _pairs(self) -> list[Interaction]:
        return self.past[: self.window] if self.freeze else self.past[-self.window :]

    def propose(self, r: Round) -> str:
        window = self._pairs()
        pairs = prepare([(i, 1.0) for i in window], self.options.half_life)
        found: dict[str, ops.StoredOperation] = {}
        for i in window:
            for op in candidates(i.draft, i.final, self.options):
                found.setdefault(ops.key(op), op)
        rules = []
        for key, op in found.items():
            verdict = verify(op, pairs)
            if len(verdict.helped) >= self.options.min_support and verdict.gain > 0:
                rules.append(_rule(key, op))
        self.last_operations = [p.operation for p, _ in select(rules, pairs) if p.operation]
        return ops.apply_all(self.last_operations, r.draft)

    def observe(self, r: Round, shown: str, final: str) -> None:
        if not (self.freeze and len(self.past) >= self.window):
            self.past.append(_interaction(r, shown, final))


class IclEdit(Agent):
    """The k nearest past edits' operations, applied without verification."""

    name = "icl-edit"

    def __init__(self, embedder: Embedder, k: int = 5) -> None:
        super().__init__()
        self.embedder, self.k = embedder, k
        self.options = RuleOptions()
        self.past: list[_Past] = []

    @classmethod
    def create(cls, embedder: Embedder | None) -> Agent:
        if embedder is None:
            raise InvalidInputError("agent 'icl-edit' needs the embedding model")
        return cls(embedder)

    def propose(self, r: Round) -> str:
        if not self.past:
            return r.draft
        query = self.embedder.embed([r.context])[0]
        scores = np.stack([p.vector for p in self.past]) @ query
        nearest = [self.past[int(i)] for i in np.argsort(-scores)[: self.k]]
        chosen: dict[str, ops.StoredOperation] = {}
        for p in nearest:  # most similar first: it wins its slot
            for op in candidates(p.interaction.draft, p.interaction.final, self.options):
                chosen.setdefault(ops.slot(op), op)
        self.last_operations = list(chosen.values())
        return ops.apply_all(self.last_operations, r.draft)

    def observe(self, r: Round, shown: str, final: str) -> None:
        vector = self.embedder.embed([r.context])[0]
        self.past.append(_Past(_interaction(r, shown, final), vector))


def _interaction(r: Round, shown: str, final: str) -> Interaction:
    return Interaction(
        id=f"round-{r.number}",
        tenant="replay",
        user="user",
        context=r.context,
        draft=shown,
        final=final,
        task=r.doc.task,
        feedback=None,
        client_id=None,
        metadata=None,
        edit_distance=0,
        accepted=shown == final,
        created_at=now(),
    )


def _rule(key: str, op: ops.StoredOperation) -> Preference:
    stamp = now()
    return Preference(
        id=key,
        tenant="replay",
        user="user",
        text=ops.describe(op),
        source="rule",
        kind="rule",
        key=key,
        task=None,
        scope="user",
        operation=op,
        support=1,
        disabled=False,
        version=1,
        created_at=stamp,
        updated_at=stamp,
    )


@dataclass
class Continual(WindowRules):
    """Continual preference induction: rules mined and verified on the last 5 edits."""

    name: str = "continual"


@dataclass
class ExploreExploit(WindowRules):
    """Explore-then-exploit: rules mined and verified on the first 5 edits, then frozen."""

    name: str = "explore-exploit"
    freeze: bool = True


#: the baselines, in the registry's order (``learners.registry`` resolves them by name)
BASELINES = tuple(registry.names("baseline"))
DEFAULT_AGENTS = (*BASELINES, "tailor")


def build_agent(name: str, embedder: Embedder | None, llm: LLM | None = None) -> Agent:
    """A registered baseline, ``tailor``, or registered learner names joined by '+'.

    ``llm`` is given to learners that need one (``cipher-1``, ``cipher-5``).
    """
    if name in BASELINES:
        cls = registry.resolve("baseline", name)
        if not (isinstance(cls, type) and issubclass(cls, Agent)):
            raise InvalidInputError(f"baseline {name!r} is not a replay Agent")
        return cls.create(embedder)
    if embedder is None:
        raise InvalidInputError(f"agent {name!r} needs the embedding model")
    learners = list(DEFAULT_LEARNERS) if name == "tailor" else name.split("+")
    try:
        return TailorAgent(embedder, learners, name, llm=llm)
    except InvalidInputError as exc:
        raise InvalidInputError(
            f"unknown agent {name!r}: use {', '.join(DEFAULT_AGENTS)} or learner names "
            f"joined by '+' ({exc.message})"
        ) from exc
