"""Explicit pairwise preferences ("a or b, and which one the user preferred"), per user.

The input of Inverse Constitutional AI (Findeis et al., arXiv 2406.06560): sent
through the API one by one, or imported in bulk from ICAI's CSV format. A
``client_id`` makes a send idempotent, as for interactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from store.db import Store
from store.errors import ConflictError
from store.records import new_id, now


@dataclass(frozen=True)
class StoredPair:
    id: str
    tenant: str
    user: str
    context: str | None
    a: str
    b: str
    preferred: str
    client_id: str | None
    origin: str
    created_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StoredPair:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class NewPair:
    a: str
    b: str
    preferred: str
    context: str | None = None
    client_id: str | None = None


def add_pairs(
    store: Store, tenant: str, user: str, pairs: Sequence[NewPair], *, origin: str = "api"
) -> list[tuple[StoredPair, bool]]:
    """Store pairs in one transaction; each comes back with True when it is new.

    A ``client_id`` already used for the same pair returns the stored one; used
    for a different pair it is a conflict, and nothing of the batch is stored.
    """
    out: list[tuple[StoredPair, bool]] = []
    with store.transaction() as db:
        for new in pairs:
            if new.client_id is not None:
                rows = list(
                    db.query(
                        "SELECT * FROM pairs WHERE tenant = ? AND user = ? AND client_id = ?",
                        [tenant, user, new.client_id],
                    )
                )
                if rows:
                    found = StoredPair.from_row(rows[0])
                    if (found.a, found.b, found.preferred, found.context) != (
                        new.a,
                        new.b,
                        new.preferred,
                        new.context,
                    ):
                        raise ConflictError(
                            f"client_id {new.client_id!r} was already used for a different pair",
                            code="idempotency_conflict",
                        )
                    out.append((found, False))
                    continue
            pair = StoredPair(
                new_id("pair"),
                tenant,
                user,
                new.context,
                new.a,
                new.b,
                new.preferred,
                new.client_id,
                origin,
                now(),
            )
            db.execute(
                "INSERT INTO pairs (id, tenant, user, context, a, b, preferred, client_id, "
                "origin, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    pair.id,
                    tenant,
                    user,
                    pair.context,
                    pair.a,
                    pair.b,
                    pair.preferred,
                    pair.client_id,
                    origin,
                    pair.created_at,
                ],
            )
            out.append((pair, True))
    return out


def list_pairs(
    store: Store, tenant: str, user: str, *, limit: int | None = None, offset: int = 0
) -> tuple[list[StoredPair], int]:
    """The user's pairs, oldest first, and how many there are in all."""
    where = "WHERE tenant = ? AND user = ?"
    total = store.db.execute(f"SELECT count(*) FROM pairs {where}", [tenant, user]).fetchone()[0]
    sql = f"SELECT * FROM pairs {where} ORDER BY created_at, id"
    args: list[Any] = [tenant, user]
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        args += [limit, offset]
    return [StoredPair.from_row(r) for r in store.db.query(sql, args)], int(total)
