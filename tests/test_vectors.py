"""Per-user FAISS indexes: isolation, filtering before ranking, rebuilds."""

from __future__ import annotations

import numpy as np
import pytest

from store.db import Store
from store.vectors import VectorIndex, insert_embedding

DIM = 8


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def add(store: Store, index: VectorIndex, tenant: str, user: str, seeds: list[int]) -> list[int]:
    with store.transaction() as db:
        ids = [
            insert_embedding(
                db,
                tenant=tenant,
                user=user,
                item_type="interaction",
                item_id=f"i{s}",
                task=None,
                model="m",
                digest=str(s),
                vector=unit(s),
            )
            for s in seeds
        ]
    index.add(tenant, user, ids, np.stack([unit(s) for s in seeds]))
    index.flush()
    return ids


@pytest.fixture
def index(store: Store) -> VectorIndex:
    return VectorIndex(store, model="m", dim=DIM)


def test_search_ranks_only_the_users_own_vectors(store: Store, index: VectorIndex) -> None:
    mine = add(store, index, "t1", "u", [1, 2, 3])
    # Other users hold the exact query vector; they must never appear.
    add(store, index, "t2", "u", [4])
    add(store, index, "t1", "v", [4])
    hits = index.search("t1", "u", unit(4), k=10)
    assert {vid for vid, _ in hits} == set(mine)
    assert all(score < 0.999 for _, score in hits)
    assert index.search("t1", "nobody", unit(4), k=10) == []


def test_allow_list_filters_before_ranking(store: Store, index: VectorIndex) -> None:
    ids = add(store, index, "t", "u", [1, 2, 3, 4])
    # k=1 with the best match excluded still returns one (filtered, not post-dropped).
    hits = index.search("t", "u", unit(1), k=1, allowed_ids=[ids[2]])
    assert [vid for vid, _ in hits] == [ids[2]]
    assert index.search("t", "u", unit(1), k=3, allowed_ids=[]) == []


def test_best_match_scores_one(store: Store, index: VectorIndex) -> None:
    ids = add(store, index, "t", "u", [1, 2, 3])
    vid, score = index.search("t", "u", unit(2), k=1)[0]
    assert vid == ids[1] and score == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("damage", ["missing", "corrupt", "stale"])
def test_damaged_index_files_are_rebuilt_from_sqlite(
    store: Store, index: VectorIndex, damage: str
) -> None:
    ids = add(store, index, "t", "u", [1, 2])
    path = index.path_for("t", "u")
    stale = path.read_bytes()
    add(store, index, "t", "u", [3])
    if damage == "missing":
        path.unlink()
    elif damage == "corrupt":
        path.write_bytes(b"not a faiss index")
    else:
        path.write_bytes(stale)  # a file from before the last write
    fresh = VectorIndex(store, model="m", dim=DIM)
    hits = fresh.search("t", "u", unit(3), k=3)
    assert fresh.rebuilds == 1
    assert hits[0][0] == ids[-1] + 1 and len(hits) == 3
    # The rebuilt file is good: a third process loads it without rebuilding.
    third = VectorIndex(store, model="m", dim=DIM)
    assert third.count("t", "u") == 3 and third.rebuilds == 0


def test_writes_leave_no_temporary_files(store: Store, index: VectorIndex) -> None:
    add(store, index, "t", "u", [1])
    add(store, index, "t", "u", [2])
    assert [p.name for p in store.index_dir.iterdir()] == [index.path_for("t", "u").name]


def test_user_ids_cannot_name_paths(store: Store, index: VectorIndex) -> None:
    add(store, index, "t", "..", [1])
    assert index.path_for("t", "..").parent == store.index_dir


def test_files_are_written_on_flush_and_eviction(store: Store) -> None:
    index = VectorIndex(store, model="m", dim=DIM, max_loaded=1)
    assert index.search("t", "a", unit(0), k=1) == []  # loaded, empty
    with store.transaction() as db:
        ids = [
            insert_embedding(
                db,
                tenant="t",
                user=u,
                item_type="interaction",
                item_id=u,
                task=None,
                model="m",
                digest=u,
                vector=unit(i),
            )
            for i, u in enumerate(["a", "b"])
        ]
    index.add("t", "a", ids[:1], unit(0)[None, :])
    assert not index.path_for("t", "a").exists()  # not yet: written lazily
    index.search("t", "b", unit(1), k=1)  # loading "b" evicts "a", which is written
    assert index.path_for("t", "a").exists()
    reloaded = VectorIndex(store, model="m", dim=DIM)
    assert reloaded.search("t", "a", unit(0), k=1)[0][0] == ids[0]
    assert reloaded.rebuilds == 0


def test_drop_forgets_memory_and_file(store: Store, index: VectorIndex) -> None:
    add(store, index, "t", "u", [1])
    store.db.execute("DELETE FROM embeddings")
    index.drop("t", "u")
    assert not index.path_for("t", "u").exists()
    assert index.search("t", "u", unit(1), k=1) == []
