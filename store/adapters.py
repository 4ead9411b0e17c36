"""Per-user LoRA adapters (C3PO): their records, and where their files live.

Files are written by the training job into a temporary folder inside the
user's adapter folder and renamed into place in the same step that inserts
the row, so a listed adapter always has its files and a crash leaves at most
an orphan temporary folder (removed at the next start).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store.db import Store
from store.errors import NotFoundError
from store.records import dumps, loads

TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class Adapter:
    id: str
    tenant: str
    user: str
    job_id: str | None
    base_model: str
    feedback: str
    params: dict[str, Any]
    counts: dict[str, int]
    metrics: dict[str, Any]
    path: str
    created_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Adapter:
        return cls(
            **{k: row[k] for k in ("id", "tenant", "user", "job_id", "base_model", "feedback")},
            params=loads(row["params"]),
            counts=loads(row["counts"]),
            metrics=loads(row["metrics"]),
            path=row["path"],
            created_at=row["created_at"],
        )


def adapters_root(store: Store) -> Path:
    return store.data_dir / "adapters"


def user_dir(store: Store, tenant: str, user: str) -> Path:
    # Tenant names and user ids are restricted to path-safe characters upstream,
    # but never trust that here: refuse anything that would leave the root.
    root = adapters_root(store)
    path = (root / tenant / user).resolve()
    if root.resolve() not in path.parents:
        raise NotFoundError("invalid adapter location")
    return path


def insert_adapter(db: Any, adapter: Adapter) -> None:
    db.execute(
        "INSERT INTO adapters (id, tenant, user, job_id, base_model, feedback, params, counts, "
        "metrics, path, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            adapter.id,
            adapter.tenant,
            adapter.user,
            adapter.job_id,
            adapter.base_model,
            adapter.feedback,
            dumps(adapter.params),
            dumps(adapter.counts),
            dumps(adapter.metrics),
            adapter.path,
            adapter.created_at,
        ],
    )


def list_adapters(store: Store, tenant: str, user: str) -> list[Adapter]:
    rows = store.db.query(
        "SELECT * FROM adapters WHERE tenant = ? AND user = ? ORDER BY created_at DESC, id",
        [tenant, user],
    )
    return [Adapter.from_row(r) for r in rows]


def get_adapter(store: Store, tenant: str, user: str, adapter_id: str) -> Adapter:
    rows = list(
        store.db.query(
            "SELECT * FROM adapters WHERE tenant = ? AND user = ? AND id = ?",
            [tenant, user, adapter_id],
        )
    )
    if not rows:
        raise NotFoundError(f"no adapter {adapter_id!r} for this user", code="adapter_not_found")
    return Adapter.from_row(rows[0])


def adapter_path(store: Store, adapter: Adapter) -> Path:
    return store.data_dir / adapter.path


def remove_user_files(store: Store, tenant: str, user: str) -> None:
    shutil.rmtree(user_dir(store, tenant, user), ignore_errors=True)


def remove_orphans(store: Store) -> int:
    """Temporary folders left by a training job that died; returns how many were removed."""
    root = adapters_root(store)
    if not root.exists():
        return 0
    orphans = [p for p in root.glob(f"*/*/{TMP_PREFIX}*") if p.is_dir()]
    for path in orphans:
        shutil.rmtree(path, ignore_errors=True)
    return len(orphans)
