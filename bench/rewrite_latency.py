"""``POST /v1/users/{user}/rewrite`` latency over HTTP against a real ``tailor serve``.

Uses the seeded data directory of ``seed.py`` (users with ~200 interactions,
their learned rules included) and asks each random user to rewrite a typical
draft for a context never seen before (a model run), then for the same
contexts again (embedding cached).

Target (issue 3, one 2-core machine, model warm): /rewrite p99 <= 30 ms.

    python bench/rewrite_latency.py --data-dir /tmp/tailor-bench-1000x200
    python bench/rewrite_latency.py --users 50 --per-user 20 --requests 100   # quick
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import httpx
from _common import (
    OUT_DIR,
    Report,
    Server,
    create_key,
    run_seeded,
    summary_ms,
    wait_for_idle,
)
from _corpus import draft_and_final, novel_context
from seed import add_seed_args, ensure_seeded, user_id


def run(args: argparse.Namespace, data_dir: Path, report: Report) -> None:
    report.figures["seed"] = ensure_seeded(data_dir, args)
    key = create_key(data_dir)
    rng = random.Random(args.seed + 7)
    work = []
    for serial in range(args.warmup + args.requests):
        _, ctx = novel_context(rng, 500_000 + serial)
        draft, _ = draft_and_final(rng, ctx)
        work.append((user_id(rng.randrange(args.users)), ctx, draft))
    timings: dict[str, list[float]] = {"uncached": [], "cached": []}
    applied = 0
    with Server(data_dir, OUT_DIR / "rewrite_latency-server.log") as server:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            for user, ctx, draft in work[: args.warmup]:
                client.post(f"/v1/users/{user}/rewrite", json={"context": ctx, "draft": draft})
            report.info("busy cores before measuring", round(wait_for_idle(args.wait_idle), 2))
            for phase in ("uncached", "cached"):
                for user, ctx, draft in work[args.warmup :]:
                    start = time.perf_counter()
                    r = client.post(
                        f"/v1/users/{user}/rewrite", json={"context": ctx, "draft": draft}
                    )
                    timings[phase].append(time.perf_counter() - start)
                    r.raise_for_status()
                    applied += bool(r.json()["applied"])
    for phase, values in timings.items():
        report.info(f"{phase} latency", summary_ms(values))
    report.info("rewrites that applied a rule", f"{applied} of {2 * args.requests}")
    for phase in timings:
        p99 = report.figures[f"{phase} latency"]["p99_ms"]
        report.check(f"rewrite {phase} p99", p99, "<=", 30, "ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temp data dir")
    add_seed_args(parser)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--wait-idle", type=float, default=60.0)
    run_seeded("rewrite_latency", parser.parse_args(), run)


if __name__ == "__main__":
    main()
