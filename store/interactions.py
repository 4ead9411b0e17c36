"""Interactions (draft -> final edits) and verbal feedback, per tenant and user."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

from store.db import Store
from store.errors import NotFoundError
from store.records import Feedback, Interaction, dumps

#: states of an interaction's offline learning when it did not happen in the request
LearningState = Literal["deferred", "done", "error"]
LEARNING_STATES: tuple[str, ...] = get_args(LearningState)


@dataclass(frozen=True)
class StoredInteraction(Interaction):
    """An interaction as stored, with the state of its offline learning.

    ``learning`` is None when the request that logged it learned from it;
    ``deferred`` when that was left to a background ``learn`` job (the edit was over
    the inline budget, or the tenant's learner slots were busy), then ``done`` or
    ``error``. (A subclass here, not a field of ``store.records.Interaction``, only so
    that this column's change stays in this module.)
    """

    learning: LearningState | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StoredInteraction:
        base = Interaction.from_row(row)
        values = {f.name: getattr(base, f.name) for f in fields(Interaction)}
        return cls(**values, learning=row.get("learning"))


def learning_state(item: Interaction) -> LearningState | None:
    """The ``learning`` state of any interaction record (None for a plain one)."""
    return item.learning if isinstance(item, StoredInteraction) else None


def insert_interaction(db: Any, item: Interaction) -> None:
    db.execute(
        "INSERT INTO interactions (id, tenant, user, context, draft, final, task, feedback, "
        "client_id, metadata, edit_distance, accepted, created_at, inference, learning) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            item.id,
            item.tenant,
            item.user,
            item.context,
            item.draft,
            item.final,
            item.task,
            item.feedback,
            item.client_id,
            dumps(item.metadata),
            item.edit_distance,
            int(item.accepted),
            item.created_at,
            item.inference,
            learning_state(item),
        ],
    )


def find_by_client_id(store: Store, tenant: str, user: str, client_id: str) -> Interaction | None:
    rows = list(
        store.db.query(
            "SELECT * FROM interactions WHERE tenant = ? AND user = ? AND client_id = ?",
            [tenant, user, client_id],
        )
    )
    return StoredInteraction.from_row(rows[0]) if rows else None


def get_interaction(store: Store, tenant: str, user: str, interaction_id: str) -> Interaction:
    rows = list(
        store.db.query(
            "SELECT * FROM interactions WHERE tenant = ? AND user = ? AND id = ?",
            [tenant, user, interaction_id],
        )
    )
    if not rows:
        raise NotFoundError(f"no interaction {interaction_id!r} for this user")
    return StoredInteraction.from_row(rows[0])


def get_interactions(
    store: Store, tenant: str, user: str, ids: Sequence[str]
) -> dict[str, Interaction]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = store.db.query(
        f"SELECT * FROM interactions WHERE tenant = ? AND user = ? AND id IN ({marks})",
        [tenant, user, *ids],
    )
    return {row["id"]: StoredInteraction.from_row(row) for row in rows}


def list_interactions(
    store: Store, tenant: str, user: str, *, limit: int, offset: int
) -> tuple[list[Interaction], int]:
    """One page, newest first, and the total count."""
    total = store.db.execute(
        "SELECT count(*) FROM interactions WHERE tenant = ? AND user = ?", [tenant, user]
    ).fetchone()[0]
    rows = store.db.query(
        "SELECT * FROM interactions WHERE tenant = ? AND user = ? "
        "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
        [tenant, user, limit, offset],
    )
    return [StoredInteraction.from_row(row) for row in rows], int(total)


def insert_feedback(db: Any, item: Feedback) -> None:
    db.execute(
        "INSERT INTO feedback (id, tenant, user, text, task, context, interaction_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            item.id,
            item.tenant,
            item.user,
            item.text,
            item.task,
            item.context,
            item.interaction_id,
            item.created_at,
        ],
    )


def items_for_vectors(
    store: Store, tenant: str, user: str, vector_ids: Sequence[int]
) -> dict[int, tuple[str, str]]:
    """Map index ids back to (item_type, item_id), only for this user's rows."""
    if not vector_ids:
        return {}
    marks = ",".join("?" * len(vector_ids))
    rows = store.db.execute(
        f"SELECT id, item_type, item_id FROM embeddings WHERE tenant = ? AND user = ? "
        f"AND id IN ({marks})",
        [tenant, user, *vector_ids],
    ).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def vector_ids_for_task(store: Store, tenant: str, user: str, model: str, task: str) -> list[int]:
    """Index ids of this user's items logged for ``task`` or with no task."""
    rows = store.db.execute(
        "SELECT id FROM embeddings WHERE tenant = ? AND user = ? AND model = ? "
        "AND (task = ? OR task IS NULL)",
        [tenant, user, model, task],
    ).fetchall()
    return [row[0] for row in rows]


def set_learning(db: Any, tenant: str, interaction_id: str, state: LearningState) -> None:
    """Record the state of an interaction's background offline learning."""
    if state not in LEARNING_STATES:
        raise ValueError(f"unknown learning state {state!r}")
    db.execute(
        "UPDATE interactions SET learning = ? WHERE tenant = ? AND id = ?",
        [state, tenant, interaction_id],
    )


def set_inference(db: Any, tenant: str, interaction_id: str, state: str, error: str | None) -> None:
    """Record the state of an interaction's background LLM inference (and its last error)."""
    db.execute(
        "UPDATE interactions SET inference = ?, inference_error = ? WHERE tenant = ? AND id = ?",
        [state, error, tenant, interaction_id],
    )


def count_edited(store: Store, tenant: str, user: str) -> int:
    row = store.db.execute(
        "SELECT count(*) FROM interactions WHERE tenant = ? AND user = ? AND accepted = 0",
        [tenant, user],
    ).fetchone()
    return int(row[0])


def edited_interactions(store: Store, tenant: str, user: str, *, limit: int) -> list[Interaction]:
    """The user's most recent ``limit`` edited (not accepted) interactions, oldest first."""
    rows = store.db.query(
        "SELECT * FROM interactions WHERE tenant = ? AND user = ? AND accepted = 0 "
        "ORDER BY created_at DESC, id DESC LIMIT ?",
        [tenant, user, limit],
    )
    return [Interaction.from_row(row) for row in rows][::-1]


def get_feedback(store: Store, tenant: str, user: str, feedback_id: str) -> Feedback:
    rows = list(
        store.db.query(
            "SELECT * FROM feedback WHERE tenant = ? AND user = ? AND id = ?",
            [tenant, user, feedback_id],
        )
    )
    if not rows:
        raise NotFoundError(f"no feedback {feedback_id!r} for this user", code="feedback_not_found")
    return Feedback.from_row(rows[0])


def interactions_with_vectors(
    store: Store, tenant: str, user: str, model: str, *, limit: int
) -> list[tuple[Interaction, bytes]]:
    """The user's most recent ``limit`` interactions with their context vector (raw float32)."""
    rows = store.db.execute(
        "SELECT i.*, e.vector AS _vector FROM interactions i JOIN embeddings e "
        "ON e.item_type = 'interaction' AND e.item_id = i.id AND e.tenant = i.tenant "
        "AND e.user = i.user AND e.model = ? WHERE i.tenant = ? AND i.user = ? "
        "ORDER BY i.created_at DESC, i.id DESC LIMIT ?",
        [model, tenant, user, limit],
    )
    names = [d[0] for d in rows.description]
    out = []
    for values in rows.fetchall():
        row = dict(zip(names, values, strict=True))
        out.append((Interaction.from_row(row), row["_vector"]))
    return out[::-1]
