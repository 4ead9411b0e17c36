"""Policy latency over HTTP against a real ``tailor serve``, and the server's RSS.

Seeds USERS x PER_USER interactions through the store (``seed.py``), starts
``tailor serve`` on a free port of 127.0.0.1, and asks ``POST
/v1/users/{user}/policy`` from one keep-alive ``httpx.Client``:

* uncached: a context never seen before (a model run) for a random user;
* cached: the same (user, context) pairs again, in another order, so the
  context's embedding comes from the server's LRU.

Targets (DESIGN.md "Quality and speed bar", one 2-core machine, 1,000 users x
200 interactions): uncached p50 <= 20 ms and p99 <= 60 ms; cached p50 <= 5 ms;
server RSS with the embedder loaded and no LLM <= 1 GB. Latency is measured in
the client, so it includes HTTP and JSON both ways.

    python bench/policy_latency.py                       # full size, temp data dir
    python bench/policy_latency.py --users 50 --per-user 20 --requests 100   # quick
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

import httpx
from _common import (
    OUT_DIR,
    CpuWatch,
    PySpy,
    Report,
    Server,
    Stress,
    add_server_bench_args,
    create_key,
    parse_env,
    proc_status,
    run_seeded,
    wait_for_idle,
)
from _common import summary_ms as summarize
from _corpus import novel_context
from seed import add_seed_args, ensure_seeded, user_id


def ask(client: httpx.Client, user: str, context: str, task: str | None) -> tuple[float, Any]:
    body: dict[str, Any] = {"context": context}
    if task is not None:
        body["task"] = task
    start = time.perf_counter()
    response = client.post(f"/v1/users/{user}/policy", json=body)
    took = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"policy for {user}: HTTP {response.status_code} {response.text[:300]}")
    return took, response.json()


NOISY = 0.2  # cores used by other processes above which a measurement is repeated


def measure(
    args: argparse.Namespace,
    server: Server,
    client: httpx.Client,
    work: list[tuple[str, str, str | None]],
    rng: random.Random,
) -> dict[str, Any]:
    """Uncached then cached phase over ``work``; figures by label."""
    floor = []
    for _ in range(50):
        start = time.perf_counter()
        client.get("/healthz").raise_for_status()
        floor.append(time.perf_counter() - start)
    hits0 = server.metric(client, "tailor_embedding_cache_hits")
    misses0 = server.metric(client, "tailor_embedding_cache_misses")
    spy = args.py_spy
    with (
        PySpy(server.pid, OUT_DIR / "policy-uncached.pyspy.txt", spy),
        CpuWatch(server.pid) as cpu_uncached,
    ):
        uncached = [ask(client, u, c, t) for u, c, t in work]
    misses1 = server.metric(client, "tailor_embedding_cache_misses")
    hits1 = server.metric(client, "tailor_embedding_cache_hits")
    again = work[:]
    rng.shuffle(again)
    with (
        PySpy(server.pid, OUT_DIR / "policy-cached.pyspy.txt", spy),
        CpuWatch(server.pid) as cpu_cached,
    ):
        cached = [ask(client, u, c, t) for u, c, t in again]
    hits2 = server.metric(client, "tailor_embedding_cache_hits")
    prefs = [len(body["preferences"]) for _, body in uncached]
    retrieved = sum(any(p["score"] < 1.0 for p in body["preferences"]) for _, body in uncached)
    return {
        "HTTP floor GET /healthz": summarize(floor),
        "model runs during uncached phase": f"{misses1 - misses0:.0f} of {len(work)}",
        "cache hits during uncached phase": f"{hits1 - hits0:.0f}",
        "cache hits during cached phase": f"{hits2 - hits1:.0f} of {len(work)}",
        "preferences per policy (mean)": round(sum(prefs) / len(prefs), 1),
        "policies with a context-retrieved preference": f"{retrieved} of {len(work)}",
        "uncached latency": summarize([t for t, _ in uncached]),
        "uncached CPU (cores busy)": cpu_uncached.result,
        "cached latency": summarize([t for t, _ in cached]),
        "cached CPU (cores busy)": cpu_cached.result,
    }


def run(args: argparse.Namespace, data_dir: Path, report: Report) -> None:
    seeded = ensure_seeded(data_dir, args)
    report.figures["seed"] = seeded
    key = create_key(data_dir)
    rng = random.Random(args.seed + 1)
    serial = 0

    def pairs(n: int) -> list[tuple[str, str, str | None]]:
        nonlocal serial
        out = []
        for _ in range(n):
            serial += 1
            task, ctx = novel_context(rng, serial)
            use_task = args.task_mode == "task" or (args.task_mode == "mix" and serial % 2 == 0)
            out.append((user_id(rng.randrange(args.users)), ctx, task if use_task else None))
        return out

    log = OUT_DIR / "policy_latency-server.log"
    with Server(data_dir, log, parse_env(args.server_env)) as server:
        report.info("server startup (model load) s", round(server.startup_s, 1))
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            for user, ctx, task in pairs(args.warmup):  # model, threads, connections warm
                ask(client, user, ctx, task)
                ask(client, user, ctx, task)
            for attempt in range(1, args.attempts + 1):
                report.info("busy cores before measuring", round(wait_for_idle(args.wait_idle), 2))
                with Stress(args.stress):
                    figures = measure(args, server, client, pairs(args.requests), rng)
                other = max(
                    figures["uncached CPU (cores busy)"]["other_cores"],
                    figures["cached CPU (cores busy)"]["other_cores"],
                )
                if args.stress or other <= NOISY:
                    break
                print(f"WARNING: other processes kept {other:.2f} cores busy (attempt {attempt})")
            status = proc_status(server.pid)
    for label, value in figures.items():
        report.info(label, value)
    report.info("server status after load (kB)", status)
    report.info("attempts", attempt)
    u = report.figures["uncached latency"]
    c = report.figures["cached latency"]
    report.check("policy uncached p50", u["p50_ms"], "<=", 20, "ms")
    report.check("policy uncached p99", u["p99_ms"], "<=", 60, "ms")
    report.check("policy cached p50", c["p50_ms"], "<=", 5, "ms")
    report.check("server RSS", status["VmRSS"] / 1024, "<=", 1024, "MB")
    if not args.stress and other > NOISY:
        print("WARNING: the machine was not idle during the last attempt; figures are noisy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_bench_args(parser)
    add_seed_args(parser)
    parser.add_argument("--requests", type=int, default=300, help="measured requests per phase")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument(
        "--task-mode",
        choices=["none", "task", "mix"],
        default="mix",
        help="send the context's task with none, all or half of the requests",
    )
    parser.add_argument(
        "--py-spy",
        action="store_true",
        help="record the server with py-spy during each phase (bench/out/)",
    )
    args = parser.parse_args()
    run_seeded("policy_latency", args, run)


if __name__ == "__main__":
    main()
