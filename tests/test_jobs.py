"""The durable job queue on a real SQLite store: claim, backoff, recovery, cancel."""

from __future__ import annotations

import threading

import pytest

from store.db import Store
from store.errors import ConflictError
from store.jobs import (
    cancel,
    claim,
    enqueue,
    fail,
    finish,
    get_job,
    later,
    recover,
    requeue,
    retry,
    seconds_until_due,
)


def add(store: Store, n: int, kind: str = "inference") -> list[str]:
    with store.transaction() as db:
        return [enqueue(db, tenant="t", user="u", kind=kind).id for _ in range(n)]


def test_each_job_is_claimed_by_exactly_one_worker(store: Store) -> None:
    ids = add(store, 40)
    taken: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        while (job := claim(store, ["inference"])) is not None:
            with lock:
                taken.append(job.id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == sorted(ids)  # every job once, none twice
    assert {get_job(store, "t", i).attempts for i in ids} == {1}


def test_a_failed_attempt_waits_out_its_backoff(store: Store) -> None:
    [job_id] = add(store, 1)
    assert claim(store, ["other-kind"]) is None
    job = claim(store, ["inference"])
    assert job is not None and job.state == "running"
    with store.transaction() as db:
        assert fail(db, job_id, "llm_timeout: slow", retry_at=later(3600))
    assert claim(store, ["inference"]) is None
    assert 3500 < (seconds_until_due(store, ["inference"]) or 0) <= 3600
    pending = get_job(store, "t", job_id)
    assert (pending.state, pending.error) == ("pending", "llm_timeout: slow")
    # A restart ends the backoff.
    recover(store)
    again = claim(store, ["inference"])
    assert again is not None and again.attempts == 2
    with store.transaction() as db:
        assert fail(db, job_id, "llm_timeout: slow again")  # final
        assert not finish(db, job_id)  # no longer running: nothing changes
    assert get_job(store, "t", job_id).state == "error"
    assert retry(store, "t", job_id).state == "pending"


def test_recover_puts_running_jobs_back_and_requeue_returns_the_attempt(store: Store) -> None:
    first, second = add(store, 2)
    claim(store, ["inference"])
    claim(store, ["inference"])
    with store.transaction() as db:
        assert requeue(db, second)
    assert get_job(store, "t", second).attempts == 0
    assert [j.id for j in recover(store)] == [first]
    assert get_job(store, "t", first).state == "pending"


def test_cancel(store: Store) -> None:
    [job_id] = add(store, 1)
    assert cancel(store, "t", job_id).state == "cancelled"
    assert claim(store, ["inference"]) is None
    with pytest.raises(ConflictError, match="already cancelled"):
        cancel(store, "t", job_id)
    with pytest.raises(ConflictError, match="only failed jobs"):
        retry(store, "t", job_id)
