"""A user's constitution: ICAI run as a background job, its principles kept as preferences.

Inverse Constitutional AI (Findeis et al., arXiv 2406.06560; ``learners.icai.method``)
compresses the user's pairwise choices into a few principles that reconstruct
them. The pairs are the user's explicit ones (``POST .../pairs``, CSV import)
plus, by default, one per edited interaction (what the user wrote preferred
over the draft). The job stores each kept principle as a user-wide preference
with source ``principle`` (so it can be read, edited, disabled and deleted like
any preference, and every policy uses it) with its for / against / relevance
counts as ``stats``; principles of an earlier constitution that are not kept
any more are retired, and a text the user edited is never overwritten.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from learners.backends.embeddings import Embedder
from learners.backends.llm import LLM, no_in_call_retries, require_llm
from learners.icai.method import (
    PREFIX,
    Constitution,
    PrincipleResult,
    build_constitution,
    pairs_from_edits,
)
from learners.icai.pairs import Pair
from learners.jobs.worker import JobControl
from store.db import Store
from store.errors import InvalidInputError
from store.interactions import count_edited, edited_interactions
from store.pairs import list_pairs
from store.preferences import retire_others, upsert_preference
from store.records import Job

PRINCIPLES_JOB = "principles"
SOURCE = "principle"
#: fewer pairs than this give no constitution worth the name
MIN_PAIRS = 4
#: the most recent edits turned into pairs
MAX_EDITS = 2000


class PrinciplesRequest(BaseModel):
    """What ``POST .../principles`` accepts (stored as the job's params)."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field(
        "offline",
        pattern="^(offline|llm)$",
        description="offline: principles from Tailor's edit signals, tested exactly; "
        "llm: the configured LLM also proposes principles and votes (costs tokens).",
    )
    include_edits: bool = Field(True, description="Also use the user's edits as pairs.")
    max_principles: int = Field(5, ge=1, le=20)
    min_relevance: float = Field(0.1, ge=0.0, le=1.0)


def instruction(principle_text: str) -> str:
    """ "Select the response that uses bullet points" -> an instruction for a writer."""
    if principle_text.startswith(PREFIX):
        return "Write so that the text " + principle_text[len(PREFIX) :].rstrip(".") + "."
    return principle_text


def user_pairs(store: Store, tenant: str, user: str, include_edits: bool) -> list[Pair]:
    explicit, _ = list_pairs(store, tenant, user)
    pairs = [Pair(p.a, p.b, p.preferred, p.context, p.id) for p in explicit]  # type: ignore[arg-type]
    if include_edits:
        edits = edited_interactions(store, tenant, user, limit=MAX_EDITS)
        pairs += pairs_from_edits(
            [(i.context, i.draft, i.final) for i in edits], ids=[i.id for i in edits]
        )
    return pairs


def count_pairs(store: Store, tenant: str, user: str, include_edits: bool) -> int:
    """How many pairs ``user_pairs`` would give, from two counts (no rows loaded)."""
    _, explicit = list_pairs(store, tenant, user, limit=0)
    edits = min(count_edited(store, tenant, user), MAX_EDITS) if include_edits else 0
    return explicit + edits


def check_enough(n_pairs: int) -> None:
    if n_pairs < MIN_PAIRS:
        raise InvalidInputError(
            f"a constitution needs at least {MIN_PAIRS} preference pairs; this user has "
            f"{n_pairs} (send pairs to POST .../pairs, or log edited interactions)",
            code="not_enough_data",
        )


class PrinciplesHandler:
    def __init__(self, store: Store, embedder: Embedder, llm: LLM | None) -> None:
        self.store, self.embedder, self.llm = store, embedder, llm

    def run(self, job: Job, control: JobControl) -> Constitution:
        request = PrinciplesRequest.model_validate(job.params)
        llm = require_llm(self.llm, "method 'llm'") if request.method == "llm" else None
        pairs = user_pairs(self.store, job.tenant, job.user, request.include_edits)
        check_enough(len(pairs))
        control.progress(0.1, {"pairs": len(pairs)})
        # The queue retries the job with backoff: no in-call retries on top of it.
        with no_in_call_retries():
            return build_constitution(
                pairs,
                embedder=self.embedder,
                llm=llm,
                max_principles=request.max_principles,
                min_relevance=request.min_relevance,
            )

    def commit(self, db: Any, job: Job, constitution: Constitution) -> dict[str, Any]:
        kept: list[str] = []
        for p in constitution.principles:
            kept.append(
                upsert_preference(
                    db,
                    tenant=job.tenant,
                    user=job.user,
                    text=instruction(p.text),
                    source=SOURCE,
                    kind="instruction",
                    key=p.key,
                    task=None,
                    scope="user",
                    operation=None,
                    evidence=[],
                    stats=stats_of(p),
                )
            )
        retire_others(db, job.tenant, job.user, SOURCE, kept)
        return constitution.to_dict() | {"preference_ids": kept}

    def failed(self, db: Any, job: Job, error: str, final: bool) -> None:
        return None  # the job carries the error; nothing else was touched


def stats_of(p: PrincipleResult) -> dict[str, Any]:
    return {
        "for": p.votes_for,
        "against": p.votes_against,
        "relevant": p.relevant,
        "pairs": p.pairs,
        "relevance": round(p.relevance, 4),
        "principle": p.text,
        "key": p.key,
    }
