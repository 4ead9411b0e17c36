"""Everything stored for one user: export as records, delete in one transaction."""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from store.db import Store
from store.records import canonical_times, canonical_timestamp, loads

# Tables holding per-user rows, children before parents so foreign keys hold.
USER_TABLES = (
    "preference_evidence",
    "feedback_scopes",
    "preferences",
    "embeddings",
    "feedback",
    "interactions",
    "jobs",
    "pairs",
    "adapters",
)

#: rows read per query while exporting
EXPORT_PAGE = 500

Row = dict[str, Any]


def export_user(
    store: Store, tenant: str, user: str, *, page_size: int = EXPORT_PAGE
) -> Iterator[dict[str, Any]]:
    """Yield one JSON-ready record per stored row, each tagged with its ``type``.

    Lazy and thread-agnostic, for streaming: rows are read ``page_size`` at a time by
    keyset (each page one short read on the connection of the thread that asks for
    it, fully fetched: no cursor, connection or transaction is held between
    records), so a streamed response may resume it on any thread of a pool. Rows
    written while an export runs may or may not be in it; none is repeated or missed.
    """
    tables: list[tuple[str, str, Callable[[Store, list[Row]], list[Row]]]] = [
        ("interaction", "interactions", _interactions),
        ("feedback", "feedback", _plain),
        ("preference", "preferences", _preferences),
        ("embedding", "embeddings", _embeddings),
        ("pair", "pairs", _plain),
        ("adapter", "adapters", _adapters),
        ("job", "jobs", _jobs),
    ]
    for kind, table, shape in tables:
        for page in _pages(store, table, tenant, user, page_size):
            for row in shape(store, page):
                for key in [k for k in row if k.endswith("_at") and isinstance(row[k], str)]:
                    row[key] = canonical_timestamp(row[key])
                yield {"type": kind, **row}


def _pages(store: Store, table: str, tenant: str, user: str, size: int) -> Iterator[list[Row]]:
    """The user's rows of ``table`` in pages, oldest first (embeddings: by id)."""
    if size < 1:
        raise ValueError(f"page_size must be at least 1, got {size}")
    by_id = table == "embeddings"  # integer ids in insertion order; no per-user time index
    order = "id" if by_id else "created_at, id"
    after: tuple[Any, ...] = ()
    while True:
        keyset = ""
        if after:
            keyset = "AND id > ?" if by_id else "AND (created_at, id) > (?, ?)"
        page = list(
            store.db.query(  # the asking thread's connection, read to the end at once
                f"SELECT * FROM {table} WHERE tenant = ? AND user = ? {keyset} "
                f"ORDER BY {order} LIMIT ?",
                [tenant, user, *after, size],
            )
        )
        if page:
            last = page[-1]
            after = (last["id"],) if by_id else (last["created_at"], last["id"])
            yield page
        if len(page) < size:
            return


def _plain(store: Store, rows: list[Row]) -> list[Row]:
    return rows


def _interactions(store: Store, rows: list[Row]) -> list[Row]:
    for row in rows:
        row["metadata"] = loads(row["metadata"])
        row["accepted"] = bool(row["accepted"])
    return rows


def _in(store: Store, sql: str, ids: Sequence[str]) -> list[Row]:
    """``sql`` with ``{marks}`` for the placeholders of ``ids`` (a page: at most 500)."""
    return list(store.db.query(sql.format(marks=",".join("?" * len(ids))), list(ids)))


def _preferences(store: Store, rows: list[Row]) -> list[Row]:
    ids = [row["id"] for row in rows]
    evidence: defaultdict[str, list[Row]] = defaultdict(list)
    for e in _in(
        store,
        "SELECT preference_id, item_type, item_id, detail FROM preference_evidence "
        "WHERE preference_id IN ({marks}) ORDER BY created_at, item_id",
        ids,
    ):
        evidence[e["preference_id"]].append(
            {"type": e["item_type"], "id": e["item_id"], "detail": e["detail"]}
        )
    versions: defaultdict[str, list[Row]] = defaultdict(list)
    for v in _in(
        store,
        "SELECT preference_id, version, text, disabled, operation, replaced_at "
        "FROM preference_versions WHERE preference_id IN ({marks}) ORDER BY version",
        ids,
    ):
        pref_id = v.pop("preference_id")
        v["operation"] = loads(v["operation"])
        v["disabled"] = bool(v["disabled"])
        v["replaced_at"] = canonical_timestamp(v["replaced_at"])
        versions[pref_id].append(v)
    # A feedback preference's scope (derived; its vector is not exported).
    scopes = {
        s["preference_id"]: {"scope": s["scope"], "origin": s["origin"]}
        for s in _in(
            store,
            "SELECT preference_id, scope, origin FROM feedback_scopes "
            "WHERE preference_id IN ({marks})",
            ids,
        )
    }
    for row in rows:
        row["operation"] = loads(row["operation"])
        row["disabled"] = bool(row["disabled"])
        row["stats"] = canonical_times(loads(row["stats"]))
        row["evidence"] = evidence[row["id"]]
        row["versions"] = versions[row["id"]]
        if row["id"] in scopes:
            row["applies_to"] = scopes[row["id"]]
    return rows


def _embeddings(store: Store, rows: list[Row]) -> list[Row]:
    for row in rows:
        row["vector"] = base64.b64encode(row["vector"]).decode("ascii")
    return rows


def _adapters(store: Store, rows: list[Row]) -> list[Row]:
    for row in rows:
        for field in ("params", "counts", "metrics"):
            row[field] = loads(row[field])
    return rows


def _jobs(store: Store, rows: list[Row]) -> list[Row]:
    for row in rows:
        row["params"] = loads(row["params"])
        row["result"] = canonical_times(loads(row["result"]))
    return rows


def delete_user(store: Store, tenant: str, user: str) -> dict[str, int]:
    """Delete every row of the user in one transaction; return counts per table.

    The caller drops the user's derived index files afterwards.
    """
    counts: dict[str, int] = {}
    with store.transaction() as db:
        db.execute(
            "DELETE FROM preference_versions WHERE preference_id IN "
            "(SELECT id FROM preferences WHERE tenant = ? AND user = ?)",
            [tenant, user],
        )
        for table in USER_TABLES:
            cursor = db.execute(
                f"DELETE FROM {table} WHERE tenant = ? AND user = ?", [tenant, user]
            )
            counts[table] = cursor.rowcount
    return counts


def content_hashes(store: Store, tenant: str, user: str) -> list[str]:
    return [
        row[0]
        for row in store.db.execute(
            "SELECT DISTINCT content_hash FROM embeddings WHERE tenant = ? AND user = ?",
            [tenant, user],
        ).fetchall()
    ]
