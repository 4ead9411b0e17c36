"""Ingest: interactions logged per second over HTTP by one server process.

Starts ``tailor serve`` on a free port of 127.0.0.1 (on a data directory
seeded through the store like ``policy_latency.py``, so every POST appends to
an existing user's history and index; ``--per-user 0`` starts empty) and
POSTs ``/v1/users/{user}/interactions`` with contexts never seen before, so
every request runs the embedding model. About one request in four carries
verbal feedback, which the default ``feedback`` learner turns into a
preference. Two runs: one sequential keep-alive client, then THREADS
concurrent clients.

Targets (DESIGN.md "Quality and speed bar", one 2-core machine): >= 50
interactions/s sustained on one process (best of the two runs); logging p99
<= 60 ms (sequential client, where latency is not queueing); server RSS with
the embedder loaded and no LLM <= 1 GB after the load.

    python bench/ingest.py --data-dir /tmp/tb --users 1000 --per-user 200   # reuse a seed
    python bench/ingest.py --users 50 --per-user 20 --requests 200          # quick
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from _common import (
    OUT_DIR,
    CpuWatch,
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
from _corpus import FEEDBACK, draft_and_final, novel_context
from seed import add_seed_args, ensure_seeded, user_id

Body = tuple[str, dict[str, Any]]
#: (response bytes, preferences learned) of every logged interaction
RESPONSES: list[tuple[int, int]] = []
NOISY = 0.2  # cores used by other processes above which a measurement is repeated


def make_bodies(n: int, users: int, rng: random.Random, serial_base: int) -> list[Body]:
    bodies = []
    for i in range(n):
        task, ctx = novel_context(rng, serial_base + i)
        draft, final = draft_and_final(rng, ctx)
        body: dict[str, Any] = {"context": ctx, "draft": draft, "final": final, "task": task}
        if rng.random() < 0.25:
            body["feedback"] = rng.choice(FEEDBACK)
        bodies.append((user_id(rng.randrange(users)), body))
    return bodies


def post_all(url: str, key: str, bodies: list[Body], latencies: list[float]) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        for user, body in bodies:
            start = time.perf_counter()
            response = client.post(f"/v1/users/{user}/interactions", json=body)
            latencies.append(time.perf_counter() - start)
            if response.status_code != 201:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
            RESPONSES.append((len(response.content), len(response.json()["learned"])))


def timed_run(url: str, key: str, bodies: list[Body], threads: int) -> tuple[float, list[float]]:
    """(wall seconds, per-request latencies) of POSTing ``bodies`` from ``threads`` clients."""
    latencies: list[float] = []
    errors: list[BaseException] = []

    def worker(part: list[Body]) -> None:
        try:
            post_all(url, key, part, latencies)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(bodies[i::threads],)) for i in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - start
    if errors:
        raise errors[0]
    return wall, latencies


def run(args: argparse.Namespace, data_dir: Path, report: Report) -> None:
    if args.per_user > 0:
        report.figures["seed"] = ensure_seeded(data_dir, args)
    key = create_key(data_dir)
    # Ticket numbers from the clock: a rerun on the same data dir never repeats a context.
    rng = random.Random()
    serial = int(time.time() * 1000) % 10**12
    warm = make_bodies(args.warmup, args.users, rng, serial)
    log = OUT_DIR / "ingest-server.log"
    with Server(data_dir, log, parse_env(args.server_env)) as server:
        report.info("server startup (model load) s", round(server.startup_s, 1))
        timed_run(server.url, key, warm, 1)
        for attempt in range(1, args.attempts + 1):
            report.info("busy cores before measuring", round(wait_for_idle(args.wait_idle), 2))
            results: dict[str, tuple[float, list[float], dict[str, float]]] = {}
            with Stress(args.stress):
                for label, threads in (
                    ("sequential", 1),
                    (f"{args.threads} threads", args.threads),
                ):
                    serial += 10**6
                    bodies = make_bodies(args.requests, args.users, rng, serial)
                    with CpuWatch(server.pid) as cpu:
                        wall, latencies = timed_run(server.url, key, bodies, threads)
                    results[label] = (len(bodies) / wall, latencies, cpu.result)
            other = max(used["other_cores"] for _, _, used in results.values())
            if args.stress or other <= NOISY:
                break
            print(f"WARNING: other processes kept {other:.2f} cores busy (attempt {attempt})")
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=headers) as client:
            logged = server.metric(client, "tailor_interactions_logged_total")
        status = proc_status(server.pid)
    for label, (rate, latencies, used) in results.items():
        report.info(f"{label} throughput /s", round(rate, 1))
        report.info(f"{label} latency", summarize(latencies))
        report.info(f"{label} CPU (cores busy)", used)
    report.info("attempts", attempt)
    n = len(RESPONSES)
    report.info(
        "response size, mean / max bytes",
        f"{sum(r[0] for r in RESPONSES) / n:.0f} / {max(r[0] for r in RESPONSES)}",
    )
    report.info(
        "learned preferences per response (mean)", round(sum(r[1] for r in RESPONSES) / n, 1)
    )
    report.info("interactions logged by the server", f"{logged:.0f}")
    report.info("server status after load (kB)", status)
    best_label, (best, _, _) = max(results.items(), key=lambda kv: kv[1][0])
    seq_p99 = report.figures["sequential latency"]["p99_ms"]
    report.check(f"ingest throughput ({best_label})", best, ">=", 50, "interactions/s")
    report.check("ingest sequential p99", seq_p99, "<=", 60, "ms")
    report.check("server RSS", status["VmRSS"] / 1024, "<=", 1024, "MB")
    if not args.stress and other > NOISY:
        print("WARNING: the machine was not idle during the last attempt; figures are noisy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_server_bench_args(parser)
    add_seed_args(parser)
    parser.add_argument("--requests", type=int, default=500, help="POSTs per run")
    parser.add_argument("--threads", type=int, default=4, help="clients of the concurrent run")
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()
    run_seeded("ingest", args, run)


if __name__ == "__main__":
    main()
