"""Per-key request rate limiting (token bucket), off unless configured, and per-tenant
bounds on the requests in flight (``TenantSlots``).

``TAILOR_RATE_LIMIT`` requests per second per API key, with bursts up to
``TAILOR_RATE_BURST``; beyond that a request gets 429 ``rate_limited`` with a
``Retry-After`` header. In memory, per process: one server process serves a
data directory.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.errors import RateLimitedError


class RateLimiter:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last time)
        self._lock = threading.Lock()

    def take(self, key: str) -> None:
        """Spend one token of ``key``'s bucket or raise ``RateLimitedError``."""
        if self.rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / self.rate)
                raise RateLimitedError(
                    f"more than {self.rate:g} requests per second for this key; retry in {wait} s",
                    retry_after=wait,
                )
            self._buckets[key] = (tokens - 1.0, now)


class TenantSlots:
    """At most ``limit`` requests of one tenant handled at a time; the rest wait their turn.

    Rate limiting counts requests; this bounds the work in flight. A tenant's request
    holds a slot from authentication until its response is sent (``deps.get_tenant``),
    so one tenant's burst occupies at most ``limit`` worker threads, and the event loop
    and other tenants keep the interpreter most of the time (``bench/fairness.py``).
    Requests over ``limit`` wait, without a thread; beyond ``queue`` waiting ones a
    request gets 429 ``rate_limited`` at once rather than piling up. All state is
    touched on the event loop only (the dependency is ``async``), so no lock is needed.

    Heavy requests (large bodies: 32k-character edits) are counted apart, against
    ``heavy_limit``: a tenant's big writes queue behind each other, not its policies.
    """

    def __init__(self, limit: int, queue: int, *, heavy_limit: int | None = None) -> None:
        self.limit = limit
        self.queue = queue
        self.heavy_limit = limit if heavy_limit is None else heavy_limit
        self._busy: dict[tuple[str, bool], int] = {}
        self._waiting: dict[tuple[str, bool], deque[asyncio.Future[None]]] = {}

    @asynccontextmanager
    async def slot(self, tenant: str, *, heavy: bool = False) -> AsyncIterator[None]:
        limit = self.heavy_limit if heavy else self.limit
        if limit <= 0:
            yield
            return
        key = (tenant, heavy)
        await self._acquire(key, limit)
        try:
            yield
        finally:
            self._release(key)

    async def _acquire(self, tenant: tuple[str, bool], limit: int) -> None:
        if self._busy.get(tenant, 0) < limit:
            self._busy[tenant] = self._busy.get(tenant, 0) + 1
            return
        waiting = self._waiting.setdefault(tenant, deque())
        if len(waiting) >= self.queue:
            raise RateLimitedError(
                f"this tenant already has {limit} such requests running and {self.queue} "
                "waiting; retry in 1 s",
                retry_after=1,
            )
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting.append(turn)
        try:
            await turn  # the slot is handed over by _release, already counted
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release(tenant)  # handed over as the client went away: pass it on
            else:
                waiting.remove(turn)
            raise

    def _release(self, tenant: tuple[str, bool]) -> None:
        waiting = self._waiting.get(tenant)
        while waiting:
            turn = waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot passes to the next in line
                return
        self._waiting.pop(tenant, None)
        busy = self._busy.get(tenant, 1) - 1
        if busy:
            self._busy[tenant] = busy
        else:
            self._busy.pop(tenant, None)
