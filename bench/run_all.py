"""Run every benchmark with targets and exit non-zero if any target is missed.

Runs ``cli_latency.py``, ``policy_latency.py``, ``rewrite_latency.py``,
``ingest.py`` and ``fairness.py`` one after the other as subprocesses (their own
output streams through), the first four sharing one seeded data directory so the
seed is built once, then prints one line per benchmark. ``ingest`` runs after the
latency benchmarks because it appends rows to the seeded users; ``fairness`` starts
its own server on an empty data directory.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import EXIT_MISS

BENCH = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="seeded data dir to create or reuse (default: a temp dir, removed)",
    )
    parser.add_argument("--wait-idle", type=float, default=120)
    args = parser.parse_args()
    sizes = ["--users", "50", "--per-user", "20"] if args.quick else []
    requests = ["--requests", "100"] if args.quick else []
    temp = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="tailor-bench-")) if temp else args.data_dir.resolve()
    common = ["--wait-idle", str(args.wait_idle)]
    shared = ["--data-dir", str(data_dir), *sizes, *requests, *common]
    runs = {
        "cli_latency": [*common],
        "policy_latency": shared,
        "rewrite_latency": shared,
        "ingest": shared,
        "fairness": [*common, "--backlog-wait", "60"]
        + (["--clients", "4", "--seconds", "5"] if args.quick else []),
    }
    results: dict[str, tuple[int, float]] = {}
    try:
        for name, extra in runs.items():
            print(f"\n=== {name} {' '.join(extra)}", flush=True)
            start = time.perf_counter()
            code = subprocess.call([sys.executable, str(BENCH / f"{name}.py"), *extra])
            results[name] = (code, time.perf_counter() - start)
    finally:
        if temp:
            shutil.rmtree(data_dir, ignore_errors=True)
    print("\n=== summary")
    for name, (code, took) in results.items():
        state = "OK" if code == 0 else ("MISS" if code == EXIT_MISS else f"ERROR (exit {code})")
        print(f"{name:<16} {state:<6} {took:6.0f} s   details: bench/out/{name}.json")
    sys.exit(0 if all(code == 0 for code, _ in results.values()) else 1)


if __name__ == "__main__":
    main()
