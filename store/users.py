"""Everything stored for one user: export as records, delete in one transaction."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from store.db import Store
from store.preferences import preference_versions
from store.records import loads

# Tables holding per-user rows, children before parents so foreign keys hold.
USER_TABLES = (
    "preference_evidence",
    "preferences",
    "embeddings",
    "feedback",
    "interactions",
    "jobs",
    "pairs",
    "adapters",
)


def export_user(store: Store, tenant: str, user: str) -> Iterator[dict[str, Any]]:
    """Yield one JSON-ready record per stored row, each tagged with its ``type``."""
    db = store.db
    where = "WHERE tenant = ? AND user = ?"
    for row in db.query(
        f"SELECT * FROM interactions {where} ORDER BY created_at, id", [tenant, user]
    ):
        row["metadata"] = loads(row["metadata"])
        row["accepted"] = bool(row["accepted"])
        yield {"type": "interaction", **row}
    for row in db.query(f"SELECT * FROM feedback {where} ORDER BY created_at, id", [tenant, user]):
        yield {"type": "feedback", **row}
    for row in db.query(
        f"SELECT * FROM preferences {where} ORDER BY created_at, id", [tenant, user]
    ):
        row["operation"] = loads(row["operation"])
        row["disabled"] = bool(row["disabled"])
        row["stats"] = loads(row["stats"])
        row["evidence"] = [
            {"type": e["item_type"], "id": e["item_id"], "detail": e["detail"]}
            for e in db.query(
                "SELECT item_type, item_id, detail FROM preference_evidence "
                "WHERE preference_id = ? "
                "ORDER BY created_at, item_id",
                [row["id"]],
            )
        ]
        row["versions"] = preference_versions(store, row["id"])
        yield {"type": "preference", **row}
    for row in db.query(f"SELECT * FROM embeddings {where} ORDER BY id", [tenant, user]):
        row["vector"] = base64.b64encode(row["vector"]).decode("ascii")
        yield {"type": "embedding", **row}
    for row in db.query(f"SELECT * FROM pairs {where} ORDER BY created_at, id", [tenant, user]):
        yield {"type": "pair", **row}
    for row in db.query(f"SELECT * FROM adapters {where} ORDER BY created_at, id", [tenant, user]):
        for field in ("params", "counts", "metrics"):
            row[field] = loads(row[field])
        yield {"type": "adapter", **row}
    for row in db.query(f"SELECT * FROM jobs {where} ORDER BY created_at, id", [tenant, user]):
        row["params"] = loads(row["params"])
        row["result"] = loads(row["result"])
        yield {"type": "job", **row}


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
