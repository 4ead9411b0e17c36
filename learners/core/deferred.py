"""The ``learn`` job: offline learning of an interaction whose request did not learn it.

An edit over the inline budget, or one whose tenant had no free learner slot
(``learners.core.pool``), is stored at once and learned here, in the background.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from learners.base import Learned, Learner
from learners.jobs.worker import JobControl, job_interaction
from store.interactions import set_learning
from store.records import Evidence, Job

if TYPE_CHECKING:
    from learners.core.engine import Engine


class DeferredLearning:
    """The ``learn`` job: the offline learners' work on an interaction logged without it.

    Runs as the request would have (``Engine._learn_inline``), with the stored
    interaction left out of its own neighbours; what it learns is stored in the
    transaction that marks the job and the interaction ``done`` (``error`` when it
    fails: learning is deterministic, so it is not retried).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def run(self, job: Job, control: JobControl) -> list[tuple[Learner, Learned]]:
        # The engine module builds this handler, so its history class is imported late.
        from learners.core.engine import UserHistory

        engine = self.engine
        item = job_interaction(engine.store, job)
        _, vector = engine.vector(job.tenant, job.user, item.context)
        history = UserHistory(engine, job.tenant, job.user, vector, item.task, exclude=item.id)
        return [(lr, pref) for lr in engine.inline for pref in lr.learn_interaction(item, history)]

    def commit(self, db: Any, job: Job, outcome: list[tuple[Learner, Learned]]) -> dict[str, Any]:
        item_id = job.item_id or ""
        ids = self.engine.store_learned(
            db, job.tenant, job.user, outcome, Evidence("interaction", item_id)
        )
        set_learning(db, job.tenant, item_id, "done")
        return {"preferences": ids}

    def failed(self, db: Any, job: Job, error: str, final: bool) -> None:
        if final:
            set_learning(db, job.tenant, job.item_id or "", "error")
