"""Learner slots shared fairly by tenants, and the background thread of deferred learning.

The offline learners are CPU-bound Python: two of them running at once already
fill what the interpreter gives to all threads, so every other request waits
behind them. Learning therefore takes a slot of ``LearnerSlots``: ``threads``
slots in all, of which one tenant holds at most ``share`` (half, at least one)
at a time. A tenant hammering the service with heavy edits thus never holds
every slot: the other tenants' learning always finds ``threads - share`` free,
and requests that do not learn (``/policy``, ``/healthz``) compete with at most
``threads`` learning threads, whatever the load.

The engine keeps a second ``LearnerSlots`` as intake: the request-side work of
an edit over the inline budget (its edit distance, storing it) runs in one of
its tenant's intake slots, so a flood of big edits keeps at most ``share``
request threads of that tenant busy. While background learning runs, the
interpreter's switch interval is lowered (``SWITCH_INTERVAL``, process-wide), so
threads blocked on SQLite or sockets get the interpreter back quickly.

Logging an interaction learns in the request when the edit is within the
inline budget and its tenant gets a slot within ``wait`` seconds; otherwise the
engine queues a ``learn`` job (``store.jobs``) in the transaction that stores
the interaction, and ``BackgroundRunner`` learns it later, on one thread (so
background learning holds at most one slot), started when there is work and
ending when the queue is empty. Jobs are claimed oldest first across tenants;
a job found running at start-up (the process died) runs again
(``learners.jobs.worker.recover_interrupted``).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from learners.jobs.worker import JobHandler, JobWorker
from store.db import Store
from store.jobs import claim

log = logging.getLogger("tailor.learning")

#: seconds a thread may hold the interpreter before one waiting for it asks for it
#: (CPython's default: 5 ms). A thread of a request that blocks on SQLite or a socket
#: must take the interpreter back after each call; while learning runs that waits up
#: to this long, so a policy request with twenty queries waited 100 ms. At 0.5 ms it
#: waits a tenth of that, for a few percent more switches while learning runs.
SWITCH_INTERVAL = 0.0005


class LearnerSlots:
    """``threads`` learner slots; one tenant holds at most ``share`` of them at a time."""

    def __init__(self, threads: int = 2, share: int | None = None) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.threads = threads
        self.share = max(1, threads // 2) if share is None else max(1, min(share, threads))
        self._held: Counter[str] = Counter()
        self._free = threading.Condition()

    def _fits(self, tenant: str) -> bool:
        return sum(self._held.values()) < self.threads and self._held[tenant] < self.share

    @contextmanager
    def slot(self, tenant: str, timeout: float | None = None) -> Iterator[bool]:
        """Hold one of ``tenant``'s slots for the block; yields False (holding nothing)
        when none came free within ``timeout`` seconds (None: wait as long as it takes)."""
        with self._free:
            got = self._free.wait_for(lambda: self._fits(tenant), timeout)
            if got:
                self._held[tenant] += 1
        try:
            yield got
        finally:
            if got:
                with self._free:
                    self._held[tenant] -= 1
                    if not self._held[tenant]:
                        del self._held[tenant]
                    self._free.notify_all()

    def held(self, tenant: str | None = None) -> int:
        """Slots held now, by ``tenant`` or in all (for tests and metrics)."""
        with self._free:
            return self._held[tenant] if tenant is not None else sum(self._held.values())


class BackgroundRunner:
    """Runs the queued jobs of one kind on one thread of its own, each in a slot of its
    tenant. ``kick`` after queueing one; ``drain`` runs them in the calling thread."""

    def __init__(self, store: Store, kind: str, handler: JobHandler, slots: LearnerSlots) -> None:
        self.store, self.kind, self.slots = store, kind, slots
        # The worker's claim-run-commit-or-fail logic, without its polling thread.
        self.worker = JobWorker(store, {kind: handler}, name=kind, max_attempts=1)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again = False
        self._closed = threading.Event()

    def close(self, timeout: float = 30.0) -> None:
        """Stop taking jobs and wait for the one running (the store closes after this).

        A job not yet taken stays queued for the next start; the one running finishes or,
        past ``timeout``, is recovered at the next start like any interrupted job.
        """
        self._closed.set()
        self.worker.close(timeout)
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def kick(self) -> None:
        """Make sure a thread is draining the queue (new work came, or none was started)."""
        if self._closed.is_set():
            return
        with self._lock:
            self._again = True
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._loop, name=f"tailor-{self.kind}", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)  # process-wide; see SWITCH_INTERVAL
        while True:
            with self._lock:
                self._again = False
            self.drain()
            with self._lock:
                if not self._again:  # nothing was queued while this pass ran
                    self._thread = None
                    return

    def drain(self, limit: int | None = None) -> int:
        """Run due jobs (at most ``limit``) until none is left; returns how many ran."""
        done = 0
        while (limit is None or done < limit) and not self._closed.is_set():
            job = claim(self.store, [self.kind])
            if job is None:
                break
            with self.slots.slot(job.tenant):
                self.worker.run_one(job)
            done += 1
        return done

    def idle(self) -> bool:
        """True when no thread of this runner is draining (for tests and shutdown)."""
        with self._lock:
            return self._thread is None or not self._thread.is_alive()
