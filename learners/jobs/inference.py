"""Background LLM inference on logged interactions (the CIPHER learners' job).

Logging an interaction runs the offline learners at once and queues one
``inference`` job for the LLM learners (``Engine.log_interaction``); this
handler runs that job in a server worker thread (``learners.jobs.worker``). The
preferences it infers are stored in the same transaction that marks the job
and the interaction ``done``; a failed attempt leaves the interaction
``pending`` with the error text, a final failure marks it ``error``. The
interaction itself is never touched otherwise, so nothing is lost.

The job's retries are the only ones: the LLM calls of a run get no in-call retries
(``learners.backends.llm.no_in_call_retries``), so a provider answering 429 costs
one call per attempt, ``TAILOR_JOB_MAX_ATTEMPTS`` in all.
"""

from __future__ import annotations

from typing import Any

from learners.backends.llm import no_in_call_retries
from learners.base import Learned, Learner
from learners.core.engine import Engine, UserHistory
from learners.jobs.worker import JobControl, job_interaction
from store.errors import UnavailableError
from store.interactions import set_inference
from store.records import Evidence, Job


class InferenceHandler:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def run(self, job: Job, control: JobControl) -> list[tuple[Learner, Learned]]:
        engine = self.engine
        item = job_interaction(engine.store, job)
        names = job.params.get("learners", [])
        learners = [engine.deferred[n] for n in names if n in engine.deferred]
        if not learners:
            raise UnavailableError(
                f"none of the learners {names} is configured now; "
                "set TAILOR_LEARNER and retry the job",
                code="learner_not_configured",
            )
        _, vector = engine.vector(job.tenant, job.user, item.context)
        history = UserHistory(engine, job.tenant, job.user, vector, item.task)
        # One retry layer: the queue retries this job with backoff, so each LLM call is
        # tried once here (learners.backends.llm).
        with no_in_call_retries():
            return [(lr, pref) for lr in learners for pref in lr.learn_interaction(item, history)]

    def commit(self, db: Any, job: Job, outcome: list[tuple[Learner, Learned]]) -> dict[str, Any]:
        item_id = job.item_id or ""
        ids = self.engine.store_learned(
            db, job.tenant, job.user, outcome, Evidence("interaction", item_id)
        )
        set_inference(db, job.tenant, item_id, "done", None)
        return {"preferences": ids}

    def failed(self, db: Any, job: Job, error: str, final: bool) -> None:
        set_inference(db, job.tenant, job.item_id or "", "error" if final else "pending", error)
