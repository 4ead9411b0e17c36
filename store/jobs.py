"""Durable background jobs: a work queue in SQLite that survives restarts.

Background LLM inference on logged interactions, adapter training and
constitution building all go through this one table. A job moves
``pending -> running -> done | error | cancelled``; a failed attempt that may
succeed later goes back to ``pending`` with ``run_after`` set (backoff), and a
job found ``running`` at start-up (the process died under it) goes back to
``pending``, so work is resumed, never lost and never left ``running``.

Claiming is one ``BEGIN IMMEDIATE`` transaction, so two workers never take
the same job. Every state change after the claim is conditional on the job
still being ``running``: a job cancelled, or deleted with its user, while its
worker was busy stays that way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from store.db import Store
from store.errors import ConflictError, NotFoundError
from store.records import Job, dumps, new_id, now, timestamp

STATES = ("pending", "running", "done", "error", "cancelled")
FINAL_STATES = frozenset({"done", "error", "cancelled"})


def later(seconds: float) -> str:
    """A timestamp ``seconds`` from now, in the store's sortable format."""
    return timestamp(datetime.now(UTC) + timedelta(seconds=seconds))


def enqueue(
    db: Any,
    *,
    tenant: str,
    user: str,
    kind: str,
    params: dict[str, Any] | None = None,
    item_id: str | None = None,
) -> Job:
    """Add a pending job inside the caller's transaction (so it commits with its item)."""
    stamp = now()
    job = Job(
        id=new_id("job"),
        tenant=tenant,
        user=user,
        kind=kind,
        state="pending",
        progress=0.0,
        params=params or {},
        result=None,
        error=None,
        attempts=0,
        run_after=None,
        item_id=item_id,
        created_at=stamp,
        updated_at=stamp,
    )
    db.execute(
        "INSERT INTO jobs (id, tenant, user, kind, state, progress, params, attempts, item_id, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, 'pending', 0, ?, 0, ?, ?, ?)",
        [job.id, tenant, user, kind, dumps(job.params), item_id, stamp, stamp],
    )
    return job


def claim(store: Store, kinds: Sequence[str]) -> Job | None:
    """Take the oldest due pending job of these kinds and mark it running (+1 attempt)."""
    marks = ",".join("?" * len(kinds))
    with store.transaction() as db:
        rows = list(
            db.query(
                f"SELECT * FROM jobs WHERE state = 'pending' AND kind IN ({marks}) "
                "AND (run_after IS NULL OR run_after <= ?) ORDER BY created_at, id LIMIT 1",
                [*kinds, now()],
            )
        )
        if not rows:
            return None
        row = rows[0]
        stamp = now()
        db.execute(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ? "
            "WHERE id = ?",
            [stamp, row["id"]],
        )
        row.update(state="running", attempts=row["attempts"] + 1, updated_at=stamp)
    return Job.from_row(row)


def seconds_until_due(store: Store, kinds: Sequence[str]) -> float | None:
    """How long until the next pending job of these kinds is due; None when there is none."""
    marks = ",".join("?" * len(kinds))
    row = store.db.execute(
        f"SELECT MIN(COALESCE(run_after, '')) FROM jobs WHERE state = 'pending' "
        f"AND kind IN ({marks})",
        list(kinds),
    ).fetchone()
    if row is None or row[0] is None:
        return None
    if row[0] == "":
        return 0.0
    due = datetime.fromisoformat(row[0].replace("Z", "+00:00"))
    return max(0.0, (due - datetime.now(UTC)).total_seconds())


def is_running(db: Any, job_id: str) -> bool:
    row = db.execute("SELECT state FROM jobs WHERE id = ?", [job_id]).fetchone()
    return row is not None and row[0] == "running"


def finish(db: Any, job_id: str, result: dict[str, Any] | None = None) -> bool:
    """Mark a running job done; False when it is no longer running (cancelled, deleted)."""
    cursor = db.execute(
        "UPDATE jobs SET state = 'done', progress = 1, result = ?, error = NULL, "
        "run_after = NULL, updated_at = ? WHERE id = ? AND state = 'running'",
        [dumps(result), now(), job_id],
    )
    return bool(cursor.rowcount)


def fail(db: Any, job_id: str, error: str, *, retry_at: str | None = None) -> bool:
    """Record a failed attempt: back to pending until ``retry_at``, or ``error`` for good."""
    state = "pending" if retry_at is not None else "error"
    cursor = db.execute(
        "UPDATE jobs SET state = ?, error = ?, run_after = ?, updated_at = ? "
        "WHERE id = ? AND state = 'running'",
        [state, error, retry_at, now(), job_id],
    )
    return bool(cursor.rowcount)


def requeue(db: Any, job_id: str) -> bool:
    """A running job the worker had to stop (shutdown) goes back to pending, attempt returned."""
    cursor = db.execute(
        "UPDATE jobs SET state = 'pending', attempts = max(attempts - 1, 0), run_after = NULL, "
        "progress = 0, updated_at = ? WHERE id = ? AND state = 'running'",
        [now(), job_id],
    )
    return bool(cursor.rowcount)


def report_progress(
    store: Store, job_id: str, progress: float, detail: dict[str, Any] | None = None
) -> bool:
    """Store a running job's progress (0..1) and latest figures; False once it is not running."""
    with store.transaction() as db:
        cursor = db.execute(
            "UPDATE jobs SET progress = ?, result = COALESCE(?, result), updated_at = ? "
            "WHERE id = ? AND state = 'running'",
            [min(max(progress, 0.0), 1.0), dumps(detail), now(), job_id],
        )
    return bool(cursor.rowcount)


def recover(store: Store) -> list[Job]:
    """At start-up: jobs left running by a dead process go back to pending.

    Pending jobs waiting out a backoff become due at once too: a restart is
    usually what fixed the cause (new settings, a provider back up).
    """
    with store.transaction() as db:
        rows = list(db.query("SELECT * FROM jobs WHERE state = 'running'"))
        db.execute(
            "UPDATE jobs SET state = 'pending', run_after = NULL, updated_at = ? "
            "WHERE state IN ('running', 'pending')",
            [now()],
        )
    return [Job.from_row(row) for row in rows]


def get_job(store: Store, tenant: str, job_id: str) -> Job:
    rows = list(store.db.query("SELECT * FROM jobs WHERE tenant = ? AND id = ?", [tenant, job_id]))
    if not rows:
        raise NotFoundError(f"no job {job_id!r}", code="job_not_found")
    return Job.from_row(rows[0])


def list_jobs(
    store: Store, tenant: str, user: str, *, kind: str | None = None, limit: int = 100
) -> list[Job]:
    sql = "SELECT * FROM jobs WHERE tenant = ? AND user = ?"
    args: list[Any] = [tenant, user]
    if kind is not None:
        sql += " AND kind = ?"
        args.append(kind)
    sql += " ORDER BY created_at DESC, id LIMIT ?"
    return [Job.from_row(row) for row in store.db.query(sql, [*args, limit])]


def cancel(store: Store, tenant: str, job_id: str) -> Job:
    """Cancel a pending or running job; a finished one is a conflict."""
    with store.transaction() as db:
        job = get_job(store, tenant, job_id)
        if job.state in FINAL_STATES:
            raise ConflictError(f"job {job_id!r} is already {job.state}", code="job_finished")
        db.execute(
            "UPDATE jobs SET state = 'cancelled', updated_at = ? WHERE id = ?", [now(), job_id]
        )
    return get_job(store, tenant, job_id)


def retry(store: Store, tenant: str, job_id: str) -> Job:
    """Put a job that ended in ``error`` back in the queue, attempts reset."""
    with store.transaction() as db:
        job = get_job(store, tenant, job_id)
        if job.state != "error":
            raise ConflictError(
                f"job {job_id!r} is {job.state}; only failed jobs can be retried",
                code="job_not_failed",
            )
        db.execute(
            "UPDATE jobs SET state = 'pending', attempts = 0, run_after = NULL, updated_at = ? "
            "WHERE id = ?",
            [now(), job_id],
        )
    return get_job(store, tenant, job_id)


def backlog(store: Store) -> list[tuple[str, str, int]]:
    """(kind, state, count) of jobs pending, running or failed, across tenants.

    Done jobs accumulate (one per edited interaction with CIPHER): only the
    backlog and the failures are counted, which the (state, created_at) index
    finds directly.
    """
    rows = store.db.execute(
        "SELECT kind, state, count(*) FROM jobs "
        "WHERE state IN ('pending', 'running', 'error') GROUP BY kind, state"
    ).fetchall()
    return [(str(kind), str(state), int(count)) for kind, state, count in rows]
