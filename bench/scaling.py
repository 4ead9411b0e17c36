"""How cost grows with the number of users and with one user's history (issue 16, item 6).

For each size, a data directory seeded through the store (``seed.py``: the
pool's precomputed vectors, the real learners) and a real ``tailor serve`` on
it; then, over HTTP:

* policy: ``POST /v1/users/{user}/policy`` with contexts never seen before
  (every request runs the embedding model), for random seeded users, from one
  keep-alive client: p50 / p99;
* ingest: ``POST /v1/users/{user}/interactions`` with new contexts from 4
  concurrent clients: interactions/s;
* the server's RSS after both, and the disk the data takes (the data directory,
  plus the database's own size on PostgreSQL).

Two series: USERS x 200 interactions for 100, 1,000 and 10,000 users, and one
user with 200, 2,000 and 20,000 interactions. ``--database-url`` runs the same
on PostgreSQL (``TAILOR_DATABASE_URL``; each size gets its own database, created
when missing). The table goes to stdout and ``bench/out/scaling.json``, the plot
to ``bench/out/scaling-<store>.png``.

Targets (issue 16): 10x the users costs at most 1.5x the policy p99 (10,000 vs
1,000 users); a user with 20,000 interactions gets a policy under 60 ms p99.

    python bench/scaling.py                                  # both series, SQLite (long)
    python bench/scaling.py --quick                          # 100/300 users, 200/2,000 rows
    python bench/scaling.py --series users --sizes 100,1000  # part of a series
    python bench/scaling.py --database-url postgresql://localhost/tailor_bench
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from _common import (
    OUT_DIR,
    TAILOR,
    Report,
    Server,
    proc_status,
    wait_for_idle,
)
from _common import summary_ms as summarize
from _corpus import novel_context
from ingest import make_bodies, timed_run
from policy_latency import ask
from seed import add_seed_args, ensure_seeded, user_id

USER_SIZES = (100, 1000, 10_000)
HISTORY_SIZES = (200, 2000, 20_000)
PER_USER = 200


def dir_mb(path: Path) -> float:
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return round(total / 2**20, 1)


def database_mb(url: str) -> float | None:
    """PostgreSQL's own size of the database behind ``url`` (None when unknown)."""
    try:
        import psycopg
    except ImportError:
        return None
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return round(int(row[0]) / 2**20, 1) if row else None


def ensure_database(base_url: str, name: str) -> str:
    """The URL of database ``name`` on ``base_url``'s server, created when missing."""
    import psycopg
    from psycopg import sql

    prefix, _, _ = base_url.rpartition("/")
    with psycopg.connect(base_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{prefix}/{name}"


def seed_args(args: argparse.Namespace, users: int, per_user: int) -> argparse.Namespace:
    ns = argparse.Namespace(**vars(args))
    ns.users, ns.per_user = users, per_user
    return ns


def measure_size(args: argparse.Namespace, label: str, users: int, per_user: int) -> dict[str, Any]:
    store = "postgres" if args.database_url else "sqlite"
    name = f"{store}-{users}x{per_user}-s{args.seed}"
    data_dir = (args.work_dir / name).resolve()
    env: dict[str, str] = {}
    if args.database_url:
        env["TAILOR_DATABASE_URL"] = ensure_database(
            args.database_url, f"tailor_scaling_{users}x{per_user}"
        )
    # seed.py opens the store through Settings, which reads the environment.
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        start = time.perf_counter()
        seeded = ensure_seeded(data_dir, seed_args(args, users, per_user))
        seed_s = time.perf_counter() - start
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    disk = dir_mb(data_dir)
    db = database_mb(env["TAILOR_DATABASE_URL"]) if env else None
    key = create_key_with(data_dir, env)
    rng = random.Random(args.seed + users * 7 + per_user)
    serial = int(time.time() * 1000) % 10**12
    log = OUT_DIR / f"scaling-{name}-server.log"
    with Server(data_dir, log, env) as server:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:

            def work(n: int) -> list[tuple[str, str, str | None]]:
                nonlocal serial
                out = []
                for _ in range(n):
                    serial += 1
                    task, ctx = novel_context(rng, serial)
                    out.append((user_id(rng.randrange(users)), ctx, task))
                return out

            for u, c, t in work(args.warmup):
                ask(client, u, c, t)
            idle = wait_for_idle(args.wait_idle)
            latencies = [ask(client, u, c, t)[0] for u, c, t in work(args.requests)]
        serial += 10**6
        bodies = make_bodies(args.ingest, users, rng, serial)
        wall, _ = timed_run(server.url, key, bodies, args.threads)
        status = proc_status(server.pid)
    policy = summarize(latencies)
    return {
        "series": label,
        "store": store,
        "users": users,
        "per_user": per_user,
        "interactions": users * per_user,
        "seed_s": round(seed_s, 1),
        "seed_reused": seeded.get("reused", False),
        "busy_cores_before": round(idle, 2),
        "policy_p50_ms": policy["p50_ms"],
        "policy_p99_ms": policy["p99_ms"],
        "ingest_per_s": round(len(bodies) / wall, 1),
        "rss_mb": round(status["VmRSS"] / 1024, 1),
        "disk_mb": disk,
        "database_mb": db,
    }


def create_key_with(data_dir: Path, env: dict[str, str]) -> str:
    """A key for tenant ``bench`` from the CLI, with the store the server will use."""
    out = subprocess.run(
        [TAILOR, "keys", "create", "--tenant", "bench", "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    ).stdout.strip()
    return out


COLUMNS = (
    ("series", "series", "{}"),
    ("users", "users", "{:,}"),
    ("per_user", "per user", "{:,}"),
    ("policy_p50_ms", "policy p50 ms", "{:.1f}"),
    ("policy_p99_ms", "policy p99 ms", "{:.1f}"),
    ("ingest_per_s", "ingest /s", "{:.1f}"),
    ("rss_mb", "RSS MB", "{:.0f}"),
    ("disk_mb", "disk MB", "{:.0f}"),
    ("database_mb", "db MB", "{}"),
)


def table(rows: list[dict[str, Any]]) -> str:
    cells = [[head for _, head, _ in COLUMNS]]
    for row in rows:
        cells.append(["-" if row.get(k) is None else fmt.format(row[k]) for k, _, fmt in COLUMNS])
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, series, x_key, x_label in (
        (axes[0], "users", "users", f"users (x {PER_USER} interactions)"),
        (axes[1], "history", "per_user", "interactions of one user"),
    ):
        part = [r for r in rows if r["series"] == series]
        if not part:
            ax.set_visible(False)
            continue
        xs = [r[x_key] for r in part]
        ax.plot(xs, [r["policy_p50_ms"] for r in part], "o-", label="policy p50 ms")
        ax.plot(xs, [r["policy_p99_ms"] for r in part], "s-", label="policy p99 ms")
        ax.set_xscale("log")
        ax.set_xlabel(x_label)
        ax.set_ylabel("ms")
        ax.grid(True, alpha=0.3)
        twin = ax.twinx()
        twin.plot(xs, [r["ingest_per_s"] for r in part], "^--", color="grey", label="ingest /s")
        twin.set_ylabel("interactions/s")
        lines = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8)
    fig.suptitle(f"Tailor: how cost grows ({rows[0]['store']})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_seed_args(parser)
    parser.add_argument("--series", choices=["users", "history", "both"], default="both")
    parser.add_argument("--sizes", default=None, help="comma-separated sizes of the series")
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server to measure")
    parser.add_argument("--work-dir", type=Path, default=OUT_DIR / "scaling")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--ingest", type=int, default=300, help="interactions posted")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--wait-idle", type=float, default=60)
    args = parser.parse_args()
    args.engine_per_user = min(args.engine_per_user, 2)  # seeding 10,000 users stays minutes
    picked = [int(s) for s in args.sizes.split(",")] if args.sizes else None
    plans: list[tuple[str, int, int]] = []
    if args.series in {"users", "both"}:
        sizes = picked or ([100, 300] if args.quick else list(USER_SIZES))
        plans += [("users", n, PER_USER) for n in sizes]
    if args.series in {"history", "both"}:
        sizes = picked or ([200, 2000] if args.quick else list(HISTORY_SIZES))
        plans += [("history", 1, n) for n in sizes]
    report = Report("scaling", {k: str(v) for k, v in vars(args).items()})
    rows = []
    for label, users, per_user in plans:
        print(f"\n=== {label}: {users} users x {per_user}", flush=True)
        rows.append(measure_size(args, label, users, per_user))
        print(table(rows[-1:]), flush=True)
    print("\n" + table(rows))
    report.info("rows", rows)
    by = {(r["series"], r["users"], r["per_user"]): r for r in rows}
    small, large = by.get(("users", 1000, PER_USER)), by.get(("users", 10_000, PER_USER))
    if small and large:
        report.check(
            "policy p99 at 10,000 users / at 1,000",
            round(large["policy_p99_ms"] / small["policy_p99_ms"], 2),
            "<=",
            1.5,
            "x",
        )
    big = by.get(("history", 1, 20_000))
    if big:
        report.check("policy p99, one user with 20,000", big["policy_p99_ms"], "<", 60, "ms")
    store = "postgres" if args.database_url else "sqlite"
    drawn = plot(rows, OUT_DIR / f"scaling-{store}.png")
    if drawn:
        print(f"plot: {drawn}")
    report.write()
    sys.exit(0 if report.ok else 3)


if __name__ == "__main__":
    main()
