"""Worker threads that run durable jobs (``store.jobs``) inside the server.

A handler does the slow part (an LLM call, a training run) outside any
transaction in ``run``, then the worker stores its outcome with ``commit`` in
the same transaction that marks the job done, so a crash in between leaves the
job pending and it simply runs again. A failure that may pass (an LLM timeout,
a 429, a malformed answer) goes back to the queue with exponential backoff
until ``max_attempts``; then, or at once for a failure that cannot pass, the
job ends in ``error`` with its message, and the handler's ``failed`` records
the error on the item (e.g. the interaction's ``inference_error``). Nothing is
dropped and nothing is hidden in a log line only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from store.db import Store
from store.errors import NotFoundError, TailorError
from store.interactions import get_interaction
from store.jobs import (
    claim,
    fail,
    finish,
    is_running,
    later,
    recover,
    report_progress,
    requeue,
)
from store.jobs import seconds_until_due as due_in
from store.records import Interaction, Job

log = logging.getLogger("tailor.jobs")


class JobCancelled(Exception):
    """Raised inside a handler once its job was cancelled or deleted."""


class JobInterrupted(Exception):
    """Raised inside a handler when the server shuts down: the job goes back to the queue."""


class JobControl:
    """What a running handler may do with its own job."""

    def __init__(self, store: Store, job: Job, stopping: threading.Event | None = None) -> None:
        self.store, self.job = store, job
        self._stopping = stopping or threading.Event()

    def progress(self, fraction: float, detail: dict[str, Any] | None = None) -> None:
        """Store progress; raise if the job was cancelled or the server is stopping."""
        if not report_progress(self.store, self.job.id, fraction, detail):
            raise JobCancelled(self.job.id)
        self.check()

    def cancelled(self) -> bool:
        return not is_running(self.store.db, self.job.id)

    def should_stop(self) -> bool:
        """For long loops: True once the job was cancelled or the server is stopping."""
        return self._stopping.is_set() or self.cancelled()

    def check(self) -> None:
        """Raise ``JobInterrupted`` or ``JobCancelled`` when the job must stop now."""
        if self._stopping.is_set():
            raise JobInterrupted(self.job.id)
        if self.cancelled():
            raise JobCancelled(self.job.id)


class JobHandler(Protocol):
    def run(self, job: Job, control: JobControl) -> Any:
        """Do the work; raise to fail the attempt (``retryable`` on the error decides)."""
        ...

    def commit(self, db: Any, job: Job, outcome: Any) -> dict[str, Any] | None:
        """Store the outcome inside the transaction that marks the job done."""
        ...

    def failed(self, db: Any, job: Job, error: str, final: bool) -> None:
        """Record a failed attempt on the job's item, inside the same transaction."""
        ...


def job_interaction(store: Store, job: Job) -> Interaction:
    """The interaction a job works on; ``JobCancelled`` when its user was deleted meanwhile."""
    try:
        return get_interaction(store, job.tenant, job.user, job.item_id or "")
    except NotFoundError as exc:
        raise JobCancelled(job.id) from exc


def is_retryable(exc: BaseException) -> bool:
    return bool(getattr(exc, "retryable", False))


def describe(exc: BaseException) -> str:
    if isinstance(exc, TailorError):
        return f"{exc.code}: {exc.message}"
    # A bug's own text can hold server paths or data: the job shows only its kind, and
    # the server log (``_failed``) keeps the trace.
    return f"internal_error: the job failed unexpectedly ({type(exc).__name__}); see the server log"


class JobWorker:
    """One thread taking jobs of some kinds, one at a time, oldest first."""

    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, JobHandler],
        *,
        name: str,
        max_attempts: int = 5,
        retry_seconds: float = 10.0,
        poll_seconds: float = 5.0,
    ) -> None:
        self.store = store
        self.handlers = handlers
        self.name = name
        self.max_attempts = max_attempts
        self.retry_seconds = retry_seconds
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: the job being run now (id), for tests and metrics
        self.current: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"tailor-{self.name}", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        """Stop: a long job stops at its next checkpoint and goes back to the queue.

        A job still running after ``timeout`` (one LLM call) is recovered at the next start.
        """
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        kinds = list(self.handlers)
        while not self._stop.is_set():
            job = claim(self.store, kinds)
            if job is None:
                wait = due_in(self.store, kinds)
                self._wake.wait(self.poll_seconds if wait is None else min(wait, self.poll_seconds))
                self._wake.clear()
                continue
            self.run_one(job)

    def run_one(self, job: Job) -> None:
        handler = self.handlers[job.kind]
        self.current = job.id
        try:
            outcome = handler.run(job, JobControl(self.store, job, self._stop))
            with self.store.transaction() as db:
                if is_running(db, job.id):
                    finish(db, job.id, handler.commit(db, job, outcome))
        except JobCancelled:
            log.info("job %s (%s) stopped: cancelled or deleted", job.id, job.kind)
        except JobInterrupted:
            with self.store.transaction() as db:
                requeue(db, job.id)
            log.warning("job %s (%s) interrupted by shutdown; it will run again", job.id, job.kind)
        except Exception as exc:
            self._failed(handler, job, exc)
        finally:
            self.current = None

    def _failed(self, handler: JobHandler, job: Job, exc: Exception) -> None:
        message = describe(exc)
        final = not is_retryable(exc) or job.attempts >= self.max_attempts
        if not isinstance(exc, TailorError):
            # A bug, not a provider hiccup: keep the trace for the operator.
            log.error("job %s (%s) crashed", job.id, job.kind, exc_info=exc)
        retry_at = None if final else later(self.retry_seconds * 2 ** (job.attempts - 1))
        with self.store.transaction() as db:
            if fail(db, job.id, message, retry_at=retry_at):
                handler.failed(db, job, message, final)
        log.warning(
            "job %s (%s) attempt %d failed%s: %s",
            job.id,
            job.kind,
            job.attempts,
            "" if final else f", retrying at {retry_at}",
            message,
        )


def recover_interrupted(store: Store) -> int:
    """Put jobs a dead process left running back in the queue; returns how many."""
    jobs = recover(store)
    for job in jobs:
        log.warning("job %s (%s) was interrupted; it will run again", job.id, job.kind)
    return len(jobs)
