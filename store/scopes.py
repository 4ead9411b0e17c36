"""Where each piece of verbal feedback applies: its scope text and that text's vector.

One row per feedback preference (``preferences.source = 'feedback'``), keyed by
the preference: ``scope`` is the clause that names where the feedback applies
(C3PO, arXiv 2402.10893: in-scope vs near- and out-of-scope contexts), NULL when
it applies to every context of the user (or of its task). ``origin`` says where
the scope came from: ``clause`` (found in the sentence), ``context`` (the
context the feedback was given in), ``llm``, ``user`` (edited through the API)
or ``none``. ``vector`` is the scope's embedding (float32 bytes) under ``model``;
retrieval compares it with a new context (``learners.core.scopes``).

Rows are derived, and filled lazily: a feedback preference without one gets it
the first time a policy needs it, so feedback stored before scopes existed is
migrated on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from store.db import Store
from store.records import Preference, now

ScopeOrigin = Literal["clause", "context", "llm", "user", "none"]
ORIGINS: tuple[str, ...] = get_args(ScopeOrigin)


@dataclass(frozen=True)
class Scope:
    preference_id: str
    scope: str | None
    origin: str
    model: str | None
    vector: np.ndarray | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Scope:
        blob = row.get("s_vector")
        vector = np.frombuffer(blob, dtype=np.float32).copy() if blob is not None else None
        return cls(
            preference_id=row["s_preference_id"],
            scope=row["s_scope"],
            origin=row["s_origin"],
            model=row["s_model"],
            vector=vector,
        )


def put_scope(
    db: Any,
    *,
    tenant: str,
    user: str,
    preference_id: str,
    scope: str | None,
    origin: ScopeOrigin,
    model: str | None,
    vector: np.ndarray | None,
) -> None:
    """Insert or replace the scope of one feedback preference (in the caller's transaction)."""
    blob = None
    if vector is not None:
        blob = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1).tobytes()
    db.execute(
        'INSERT INTO feedback_scopes (preference_id, tenant, "user", scope, origin, model, '
        "vector, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (preference_id) DO "
        "UPDATE SET scope = excluded.scope, origin = excluded.origin, model = excluded.model, "
        "vector = excluded.vector, updated_at = excluded.updated_at",
        [preference_id, tenant, user, scope, origin, model, blob, now()],
    )


_COLUMNS = (
    "s.preference_id AS s_preference_id, s.scope AS s_scope, s.origin AS s_origin, "
    "s.model AS s_model, s.vector AS s_vector"
)


def feedback_with_scopes(
    store: Store, tenant: str, user: str, task: str | None
) -> list[tuple[Preference, Scope | None]]:
    """The user's enabled, active feedback preferences (of ``task`` or none), with scopes.

    A preference whose scope was not derived yet comes with None.
    """
    sql = (
        f"SELECT p.*, {_COLUMNS} FROM preferences p LEFT JOIN feedback_scopes s "
        'ON s.preference_id = p.id WHERE p.tenant = ? AND p."user" = ? '
        "AND p.source = 'feedback' AND p.disabled = 0 AND p.status = 'active'"
    )
    params: list[Any] = [tenant, user]
    if task is not None:
        sql += " AND (p.task = ? OR p.task IS NULL)"
        params.append(task)
    out: list[tuple[Preference, Scope | None]] = []
    for row in store.db.query(sql + " ORDER BY p.created_at, p.id", params):
        scope = Scope.from_row(row) if row["s_preference_id"] is not None else None
        plain = {k: v for k, v in row.items() if not k.startswith("s_")}
        out.append((Preference.from_row(plain), scope))
    return out


def scopes_of(store: Store, tenant: str, user: str, ids: Sequence[str]) -> dict[str, Scope]:
    """The stored scopes of these preferences (those that have one)."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = store.db.query(
        f'SELECT {_COLUMNS} FROM feedback_scopes s WHERE s.tenant = ? AND s."user" = ? '
        f"AND s.preference_id IN ({marks})",
        [tenant, user, *ids],
    )
    return {row["s_preference_id"]: Scope.from_row(row) for row in rows}


def said_in(store: Store, tenant: str, user: str, preference_id: str) -> str | None:
    """The context the feedback behind a preference was first given in, if any."""
    rows = list(
        store.db.query(
            "SELECT COALESCE(f.context, i.context) AS context FROM preference_evidence e "
            "LEFT JOIN feedback f ON e.item_type = 'feedback' AND f.id = e.item_id "
            "LEFT JOIN interactions i ON e.item_type = 'interaction' AND i.id = e.item_id "
            'WHERE e.preference_id = ? AND e.tenant = ? AND e."user" = ? '
            "AND COALESCE(f.context, i.context) IS NOT NULL ORDER BY e.created_at LIMIT 1",
            [preference_id, tenant, user],
        )
    )
    return str(rows[0]["context"]) if rows else None
