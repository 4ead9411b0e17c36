"""Where a policy request's time goes, in-process (no HTTP): a diagnostic.

Runs the app's own lifespan (``create_app``, default settings) on a seeded
data directory, wraps the store, index, model and learner calls that
``Engine.policy`` makes with timers (inside this process only; no source file
is touched), and runs uncached and cached policies for random users in a
worker thread, as FastAPI runs sync routes. Prints the mean and p99 per step
next to the end-to-end figures: the gap to the HTTP numbers of
``policy_latency.py`` is the web stack's share.

The targets are the HTTP ones (uncached p50 <= 20 ms, cached p50 <= 5 ms);
here they are shown for reference only and do not fail the run.

    python bench/policy_breakdown.py --data-dir /tmp/tb --users 1000 --per-user 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
from _common import CpuWatch, Report, percentile, wait_for_idle
from _common import summary_ms as summarize
from _corpus import novel_context
from seed import TENANT, add_seed_args, ensure_seeded, user_id

import learners.core.engine as engine_module
from learners.core.engine import Engine
from service.app import create_app
from service.schemas import PolicyPublic
from service.settings import Settings
from store.keys import authenticate, create_key

TIMES: dict[str, list[float]] = defaultdict(list)


def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[name].append(time.perf_counter() - start)

    return wrapper


#: functions ``Engine.policy`` calls through the ``learners.core.engine`` namespace (when present)
STEPS = (
    "find_vector",
    "vector_ids_for_task",
    "items_for_vectors",
    "get_interactions",
    "preferences_for_items",
    "user_wide_preferences",
    "build_policy",
)


def instrument(engine: Engine) -> None:
    """Wrap the engine's store, index, model and learner calls with timers."""
    for name in STEPS:
        if hasattr(engine_module, name):
            setattr(engine_module, name, timed(name, getattr(engine_module, name)))
    model = engine.embedder.embedder
    model.embed = timed("model.embed", model.embed)  # type: ignore[method-assign]
    index = engine.index
    index.search = timed("index.search (incl. load)", index.search)  # type: ignore[method-assign]
    index._load = timed("index._load (LRU miss)", index._load)  # type: ignore[method-assign]
    for learner in engine.learners:
        learner.contribute = timed(f"{learner.name}.contribute", learner.contribute)  # type: ignore[method-assign]


def phase(engine: Engine, key: str, work: list[tuple[str, str, str | None]]) -> dict[str, Any]:
    TIMES.clear()
    totals = []
    for user, ctx, task in work:
        start = time.perf_counter()
        tenant = timed("authenticate", authenticate)(engine.store, key)
        policy = engine.policy(tenant, user, ctx, task=task)
        timed(
            "PolicyPublic.from_policy + json",
            lambda p: PolicyPublic.from_policy(p).model_dump_json(),
        )(policy)
        totals.append(time.perf_counter() - start)
    n = len(work)
    steps = {
        name: {
            "calls": len(ts),
            "mean_ms_per_request": round(sum(ts) / n * 1000, 2),
            "p99_ms": round(percentile(ts, 99) * 1000, 2),
        }
        for name, ts in sorted(TIMES.items(), key=lambda kv: -sum(kv[1]))
    }
    return {"total": summarize(totals), "steps": steps}


def measure(engine: Engine, args: argparse.Namespace, report: Report) -> None:
    instrument(engine)
    _, key = create_key(engine.store, TENANT)
    rng = random.Random(args.seed + 7)
    work = []
    for i in range(args.requests + 30):
        task, ctx = novel_context(rng, 900_000 + i)
        use_task = args.task_mode == "task" or (args.task_mode == "mix" and i % 2 == 0)
        work.append((user_id(rng.randrange(args.users)), ctx, task if use_task else None))
    phase(engine, key, work[:30])  # warm-up
    work = work[30:]
    print(f"busy cores before measuring: {wait_for_idle(args.wait_idle):.2f}")
    for label, items in (("uncached", work), ("cached", rng.sample(work, len(work)))):
        with CpuWatch(os.getpid()) as cpu:
            result = phase(engine, key, items)
        result["cpu"] = cpu.result
        if cpu.result["other_cores"] > 0.2:
            print(f"WARNING: other processes kept {cpu.result['other_cores']} cores busy")
        report.figures[label] = result
        print(f"{label}: end-to-end in-process {result['total']}")
        for name, step in result["steps"].items():
            print(
                f"  {name:<36} {step['mean_ms_per_request']:7.2f} ms/request mean "
                f"p99 {step['p99_ms']:6.2f} ms  ({step['calls']} calls)"
            )
    u, c = report.figures["uncached"]["total"], report.figures["cached"]["total"]
    print(
        f"in-process uncached p50 {u['p50_ms']:.1f} ms (HTTP target <= 20 ms), "
        f"cached p50 {c['p50_ms']:.1f} ms (HTTP target <= 5 ms); reference only"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="seeded (or to seed) dir")
    add_seed_args(parser)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--task-mode", choices=["none", "task", "mix"], default="mix")
    parser.add_argument("--wait-idle", type=float, default=120)
    args = parser.parse_args()
    data_dir = args.data_dir.resolve()
    ensure_seeded(data_dir, args)
    app = create_app(Settings(data_dir=data_dir))
    report = Report("policy_breakdown", {k: str(v) for k, v in vars(args).items()})

    async def in_lifespan() -> None:
        async with app.router.lifespan_context(app):
            # In a worker thread, as FastAPI runs sync routes: per-thread state (such as
            # OpenMP's thread count) is then what the server's requests see.
            await anyio.to_thread.run_sync(measure, app.state.engine, args, report)

    asyncio.run(in_lifespan())
    report.write()


if __name__ == "__main__":
    main()
