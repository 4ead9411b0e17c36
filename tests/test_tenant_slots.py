"""Per-tenant bounds on requests in flight: one tenant's burst waits its turn, others pass."""

from __future__ import annotations

import asyncio

import pytest

from service.errors import RateLimitedError
from service.ratelimit import TenantSlots


async def _hold(
    slots: TenantSlots, tenant: str, started: list[str], release: asyncio.Event
) -> None:
    async with slots.slot(tenant):
        started.append(tenant)
        await release.wait()


def test_a_tenant_over_its_slots_waits_and_others_do_not() -> None:
    async def scenario() -> None:
        slots = TenantSlots(limit=2, queue=1)
        release = asyncio.Event()
        started: list[str] = []
        heavy = [asyncio.create_task(_hold(slots, "heavy", started, release)) for _ in range(3)]
        await asyncio.sleep(0.01)
        assert started == ["heavy", "heavy"]  # the third one waits
        # A fourth would exceed the queue: refused at once with Retry-After.
        with pytest.raises(RateLimitedError) as refused:
            async with slots.slot("heavy"):
                pass
        assert refused.value.retry_after == 1
        # Another tenant is not behind the heavy one.
        async with slots.slot("light"):
            started.append("light")
        assert started[-1] == "light"
        release.set()
        await asyncio.gather(*heavy)
        assert started.count("heavy") == 3
        assert not slots._busy and not slots._waiting  # everything handed back

    asyncio.run(scenario())


def test_a_waiter_that_goes_away_loses_nothing_for_the_others() -> None:
    async def scenario() -> None:
        slots = TenantSlots(limit=1, queue=4)
        release = asyncio.Event()
        started: list[str] = []
        first = asyncio.create_task(_hold(slots, "t", started, release))
        await asyncio.sleep(0.01)
        gone = asyncio.create_task(_hold(slots, "t", started, release))
        last = asyncio.create_task(_hold(slots, "t", started, release))
        await asyncio.sleep(0.01)
        gone.cancel()  # the client disconnected while waiting
        release.set()
        await asyncio.gather(first, last)
        assert started == ["t", "t"]
        assert not slots._busy and not slots._waiting

    asyncio.run(scenario())


def test_heavy_requests_queue_apart_from_light_ones() -> None:
    async def scenario() -> None:
        slots = TenantSlots(limit=4, queue=8, heavy_limit=1)
        release = asyncio.Event()
        started: list[str] = []

        async def heavy() -> None:
            async with slots.slot("t", heavy=True):
                started.append("heavy")
                await release.wait()

        big = [asyncio.create_task(heavy()) for _ in range(3)]
        await asyncio.sleep(0.01)
        assert started == ["heavy"]  # one big write at a time
        async with slots.slot("t"):  # the same tenant's light request is not behind them
            started.append("light")
        assert started == ["heavy", "light"]
        release.set()
        await asyncio.gather(*big)
        assert started.count("heavy") == 3

    asyncio.run(scenario())


def test_no_bound_when_the_limit_is_zero() -> None:
    async def scenario() -> None:
        slots = TenantSlots(limit=0, queue=0)
        release = asyncio.Event()
        started: list[str] = []
        tasks = [asyncio.create_task(_hold(slots, "t", started, release)) for _ in range(8)]
        await asyncio.sleep(0.01)
        assert len(started) == 8
        release.set()
        await asyncio.gather(*tasks)

    asyncio.run(scenario())
