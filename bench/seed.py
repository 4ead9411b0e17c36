"""Seed a Tailor data directory directly through the store (not over HTTP).

Builds a pool of a few thousand synthetic contexts, embeds it once with the
packaged MiniLM (cached under ``bench/out/cache`` so reruns skip the ~40 s),
then stores USERS x PER_USER interactions for tenant ``bench``:

* all but the last ENGINE_PER_USER of each user's interactions go straight
  into the store in big transactions (``insert_interaction``,
  ``insert_embedding``, ``upsert_preference`` through the engine's
  ``store_learned``), learned by every configured learner without history
  (``NoHistory``; the rule learner, which cannot learn without history, is
  skipped): verbal feedback (about one in four) and edit signals;
* the last ENGINE_PER_USER go through ``Engine.log_interaction`` itself, so the
  learners that need the user's history (rules) learn from real neighbours;
* each user also gets one or two user-wide verbal preferences
  (``Engine.add_feedback`` with no context).

The engine is the one the app's lifespan builds (``create_app`` with the
current settings), given the pool's precomputed vectors instead of a model.
Each user's FAISS index is written while seeding (the engine writes it on
``add``); ``--no-prebuild`` deletes the files at the end so that the server
builds them lazily from SQLite on first use.

No target of its own; it reports its speed. Reused by ``policy_latency.py``
and ``ingest.py``: a directory holding a ``bench-seed.json`` with the same
parameters is not seeded again.

    python bench/seed.py --data-dir /tmp/tailor-bench-1000x200 --users 1000 --per-user 200
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sqlite3
import sys
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
from _common import OUT_DIR
from _corpus import FEEDBACK, context_pool, draft_and_final

from learners.backends.embeddings import DEFAULT_MODEL_NAME, SentenceTransformerEmbedder
from learners.base import NoHistory
from learners.core.engine import Engine, NewInteraction
from learners.style.text import edit_distance
from service.app import create_app
from service.settings import Settings
from store.interactions import insert_feedback, insert_interaction
from store.keys import ensure_tenant
from store.records import Evidence, Feedback, Interaction, new_id, now
from store.vectors import content_hash, insert_embedding

TENANT = "bench"
MARKER = "bench-seed.json"


def user_id(n: int) -> str:
    return f"u{n:05d}"


def embed_pool(texts: list[str]) -> np.ndarray:
    """Vectors of the pool, from the on-disk cache when the same pool was embedded before."""
    digest = hashlib.sha256("\0".join([DEFAULT_MODEL_NAME, *texts]).encode()).hexdigest()[:16]
    cache = OUT_DIR / "cache" / f"pool-{len(texts)}-{digest}.npy"
    if cache.exists():
        return np.load(cache)
    start = time.perf_counter()
    vectors = SentenceTransformerEmbedder().embed(texts)
    took = time.perf_counter() - start
    print(f"embedded pool of {len(texts)} in {took:.1f} s ({len(texts) / took:.0f} texts/s)")
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


class PoolEmbedder:
    """The ``Embedder`` interface over the pool's precomputed vectors (runs no model)."""

    model_name = DEFAULT_MODEL_NAME
    max_chars = 2048

    def __init__(self, texts: list[str], vectors: np.ndarray) -> None:
        self.dim = int(vectors.shape[1])
        self._rows = {text: i for i, text in enumerate(texts)}
        self._vectors = vectors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vectors[self._rows[t]] for t in texts])


def _bulk_user(
    engine: Engine,
    db: Any,
    user: str,
    rows: int,
    rng: random.Random,
    favourites: list[str],
    pool: list[tuple[str, str]],
    vectors: np.ndarray,
    digests: list[str],
) -> None:
    """Insert ``rows`` interactions of one user straight into the store."""
    # The rule learner needs past edits to confirm a rule (min_support >= 2), so with
    # NoHistory it never learns anything: skipping it halves the bulk time.
    learners = [lr for lr in engine.learners if lr.name != "rules"]
    for _ in range(rows):
        j = rng.randrange(len(pool))
        task, ctx = pool[j]
        draft, final = draft_and_final(rng, ctx)
        feedback = rng.choice(favourites) if rng.random() < 0.25 else None
        item = Interaction(
            id=new_id("int"),
            tenant=TENANT,
            user=user,
            context=ctx,
            draft=draft,
            final=final,
            task=task,
            feedback=feedback,
            client_id=None,
            metadata=None,
            edit_distance=edit_distance(draft, final),
            accepted=draft == final,
            created_at=now(),
        )
        insert_interaction(db, item)
        insert_embedding(
            db,
            tenant=TENANT,
            user=user,
            item_type="interaction",
            item_id=item.id,
            task=task,
            model=DEFAULT_MODEL_NAME,
            digest=digests[j],
            vector=vectors[j],
        )
        if feedback:
            insert_feedback(
                db,
                Feedback(new_id("fb"), TENANT, user, feedback, task, ctx, item.id, item.created_at),
            )
        learned = [(lr, p) for lr in learners for p in lr.learn_interaction(item, NoHistory())]
        engine.store_learned(db, TENANT, user, learned, Evidence("interaction", item.id))


def _seed(
    engine: Engine, args: argparse.Namespace, pool: list[tuple[str, str]], vectors: np.ndarray
) -> dict[str, float]:
    digests = [content_hash(DEFAULT_MODEL_NAME, text) for _, text in pool]
    ensure_tenant(engine.store, TENANT)
    engine_rows = min(args.engine_per_user, args.per_user)
    t_bulk = t_engine = 0.0
    for first in range(0, args.users, 50):
        chunk = range(first, min(first + 50, args.users))
        rngs = {n: random.Random(args.seed * 1_000_003 + n) for n in chunk}
        favourites = {n: rngs[n].sample(FEEDBACK, 6) for n in chunk}
        start = time.perf_counter()
        with engine.store.transaction() as db:
            for n in chunk:
                _bulk_user(
                    engine,
                    db,
                    user_id(n),
                    args.per_user - engine_rows,
                    rngs[n],
                    favourites[n],
                    pool,
                    vectors,
                    digests,
                )
        t_bulk += time.perf_counter() - start
        start = time.perf_counter()
        for n in chunk:
            rng, user = rngs[n], user_id(n)
            others = [f for f in FEEDBACK if f not in favourites[n]]
            for text in rng.sample(others, rng.randint(1, 2)):
                engine.add_feedback(
                    TENANT, user, text, task=rng.choice([None, "email"]), context=None
                )
            for _ in range(engine_rows):
                task, ctx = pool[rng.randrange(len(pool))]
                draft, final = draft_and_final(rng, ctx)
                feedback = rng.choice(favourites[n]) if rng.random() < 0.25 else None
                engine.log_interaction(
                    TENANT, user, NewInteraction(ctx, draft, final, task, feedback)
                )
            if args.prebuild:
                engine.index.count(TENANT, user)  # writes the index if no add() did
        t_engine += time.perf_counter() - start
        print(f"  seeded {chunk[-1] + 1}/{args.users} users", end="\r", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return {
        "bulk_s": round(t_bulk, 1),
        "engine_s": round(t_engine, 1),
        "bulk_rows_per_s": round(args.users * (args.per_user - engine_rows) / t_bulk)
        if t_bulk
        else 0,
    }


def seed(data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Seed ``data_dir`` (which must hold no Tailor data yet); return timings."""
    t0 = time.perf_counter()
    pool = context_pool(args.pool_size, args.seed)
    texts = [text for _, text in pool]
    vectors = embed_pool(texts)
    t_pool = time.perf_counter() - t0
    app = create_app(Settings(data_dir=data_dir), embedder=PoolEmbedder(texts, vectors))

    async def in_lifespan() -> dict[str, float]:
        async with app.router.lifespan_context(app):
            return _seed(app.state.engine, args, pool, vectors)

    timings = asyncio.run(in_lifespan())
    if not args.prebuild:
        for path in (data_dir / "index").glob("*.faiss"):
            path.unlink()
    with closing(sqlite3.connect(data_dir / "tailor.db")) as conn:
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("interactions", "feedback", "preferences", "preference_evidence")
        }
        by_source = conn.execute(
            "SELECT source || '/' || status, count(*), round(avg(support), 1) "
            "FROM preferences GROUP BY 1"
        ).fetchall()
    return {
        "users": args.users,
        "per_user": args.per_user,
        "pool_size": args.pool_size,
        "seed": args.seed,
        "engine_per_user": args.engine_per_user,
        "prebuild": args.prebuild,
        "learners": [lr.name for lr in app.state.engine.learners],
        "pool_s": round(t_pool, 1),
        **timings,
        "rows": counts,
        "preferences (count, mean support)": {k: [c, s] for k, c, s in by_source},
        "db_mb": round((data_dir / "tailor.db").stat().st_size / 2**20, 1),
    }


def ensure_seeded(data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Seed ``data_dir`` unless it already holds exactly this seed; return its stats."""
    marker = data_dir / MARKER
    keys = ("users", "per_user", "pool_size", "seed", "engine_per_user")
    wanted = {k: getattr(args, k) for k in keys}
    if marker.exists():
        stats: dict[str, Any] = json.loads(marker.read_text())
        if {k: stats.get(k) for k in keys} == wanted:
            print(f"reusing seeded data in {data_dir} ({args.users} users x {args.per_user})")
            return {**stats, "reused": True}
        raise SystemExit(f"{data_dir} holds another seed ({stats}); use another --data-dir")
    if (data_dir / "tailor.db").exists():
        raise SystemExit(f"{data_dir} already holds Tailor data; use an empty --data-dir")
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"seeding {args.users} users x {args.per_user} interactions into {data_dir}")
    start = time.perf_counter()
    stats = seed(data_dir, args)
    stats["total_s"] = round(time.perf_counter() - start, 1)
    (data_dir / MARKER).write_text(json.dumps(stats, indent=2) + "\n")
    print(f"seeded in {stats['total_s']} s: {json.dumps(stats)}")
    return {**stats, "reused": False}


def add_seed_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--per-user", type=int, default=200)
    parser.add_argument("--pool-size", type=int, default=3000, help="distinct stored contexts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--engine-per-user",
        type=int,
        default=5,
        help="last interactions of each user logged through the engine",
    )
    parser.add_argument(
        "--no-prebuild",
        dest="prebuild",
        action="store_false",
        help="leave the FAISS indexes to be built lazily by the server",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    add_seed_args(parser)
    args = parser.parse_args()
    ensure_seeded(args.data_dir.resolve(), args)


if __name__ == "__main__":
    main()
