"""Per-user LoRA adapters (C3PO): their records, and where their files live.

Files are written by the training job into a temporary folder inside the
user's adapter folder and renamed into place in the same step that inserts
the row, so a listed adapter always has its files and a crash leaves at most
an orphan temporary folder (removed at the next start).

A user's folder is named by a digest of (tenant, user), never by the raw names:
no id a client sends can address another folder (``.``, ``..``, a tenant ``a/b``).
Folders of older versions (``adapters/<tenant>/<user>/<id>``) are moved to their
digest folder at start-up by :func:`relocate_legacy`.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store.db import Store
from store.errors import NotFoundError
from store.records import dumps, loads

TMP_PREFIX = ".tmp-"

log = logging.getLogger(__name__)


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


def user_folder_name(tenant: str, user: str) -> str:
    """The folder of a user's adapters: a digest, so that no name can form a path."""
    return hashlib.sha256(f"adapters\0{tenant}\0{user}".encode()).hexdigest()[:40]


def user_dir(store: Store, tenant: str, user: str) -> Path:
    return adapters_root(store) / user_folder_name(tenant, user)


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
    orphans = [p for p in root.glob(f"*/{TMP_PREFIX}*") if p.is_dir()]
    for path in orphans:
        shutil.rmtree(path, ignore_errors=True)
    return len(orphans)


def relocate_legacy(store: Store) -> int:
    """Move adapters stored under raw names into their digest folder; return how many.

    Idempotent and safe to interrupt: each folder is renamed first and its row
    pointed at it after, so a crash in between is finished by the next start (the
    row's old path is gone, the new one exists). Old ``<tenant>/<user>`` folders
    left empty are removed, and nothing outside the adapters folder is touched.
    """
    root = adapters_root(store)
    moved = 0
    rows = store.db.execute("SELECT id, tenant, user, path FROM adapters").fetchall()
    for adapter_id, tenant, user, path in rows:
        target = user_dir(store, tenant, user) / adapter_id
        relative = str(target.relative_to(store.data_dir))
        if path == relative:
            continue
        source = store.data_dir / path
        inside = root.resolve() in source.resolve().parents
        if inside and source.is_dir() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            source.rename(target)
        if not target.is_dir():
            log.warning("adapter %s has no files at %s; its row is left as is", adapter_id, path)
            continue
        with store.transaction() as db:
            db.execute("UPDATE adapters SET path = ? WHERE id = ?", [relative, adapter_id])
        moved += 1
    for legacy in sorted(root.glob("*/*"), reverse=True) if root.exists() else []:
        _remove_if_empty(legacy)
        _remove_if_empty(legacy.parent)
    return moved


def _remove_if_empty(folder: Path) -> None:
    if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
        folder.rmdir()
