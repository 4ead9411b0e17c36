"""Preferences: what Tailor learned about a user, with provenance and history.

A preference is identified within a user by (source, key): when a learner
produces the same key again, the existing row gains support and evidence
instead of a duplicate appearing. Edits through the API bump ``version`` and
keep the replaced text in ``preference_versions``. A preference the user
disabled stays disabled when new evidence arrives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from store.db import Store
from store.errors import NotFoundError
from store.records import Evidence, Preference, dumps, loads, new_id, now


def upsert_preference(
    db: Any,
    *,
    tenant: str,
    user: str,
    text: str,
    source: str,
    kind: str,
    key: str,
    task: str | None,
    scope: str,
    operation: dict[str, Any] | None,
    evidence: Sequence[Evidence],
    stats: dict[str, Any] | None = None,
    status: str = "active",
) -> str:
    """Insert a preference or update the one with the same key; return its id.

    Support is the number of distinct evidence items. A learner's new text only
    replaces the stored one while the user has not edited it (version 1).
    """
    stamp = now()
    row = db.execute(
        "SELECT id FROM preferences WHERE tenant = ? AND user = ? AND source = ? AND key = ?",
        [tenant, user, source, key],
    ).fetchone()
    if row is None:
        pref_id = new_id("pref")
        db.execute(
            "INSERT INTO preferences (id, tenant, user, text, source, kind, key, task, scope, "
            "operation, support, disabled, version, created_at, updated_at, status, stats) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 1, ?, ?, ?, ?)",
            [
                pref_id,
                tenant,
                user,
                text,
                source,
                kind,
                key,
                task,
                scope,
                dumps(operation),
                stamp,
                stamp,
                status,
                dumps(stats),
            ],
        )
    else:
        pref_id = row[0]
        db.execute(
            "UPDATE preferences SET text = CASE WHEN version = 1 THEN ? ELSE text END, "
            "operation = ?, stats = ?, status = ?, updated_at = ? WHERE id = ?",
            [text, dumps(operation), dumps(stats), status, stamp, pref_id],
        )
    for item in evidence:
        db.execute(
            "INSERT OR IGNORE INTO preference_evidence "
            "(preference_id, tenant, user, item_type, item_id, created_at, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                pref_id,
                tenant,
                user,
                item.item_type,
                item.item_id,
                item.created_at or stamp,
                item.detail,
            ],
        )
    db.execute(
        "UPDATE preferences SET support = max(1, (SELECT count(*) FROM preference_evidence "
        "WHERE preference_id = ?)) WHERE id = ?",
        [pref_id, pref_id],
    )
    return str(pref_id)


def _evidence(store: Store, pref_ids: Iterable[str]) -> dict[str, tuple[Evidence, ...]]:
    ids = list(pref_ids)
    found: dict[str, list[Evidence]] = defaultdict(list)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for pref_id, item_type, item_id, detail, created_at in store.db.execute(
            f"SELECT preference_id, item_type, item_id, detail, created_at "
            f"FROM preference_evidence WHERE preference_id IN ({marks}) "
            f"ORDER BY created_at, item_id",
            chunk,
        ).fetchall():
            found[pref_id].append(Evidence(item_type, item_id, detail, created_at))
    return {pref_id: tuple(items) for pref_id, items in found.items()}


def _with_evidence(store: Store, rows: list[dict[str, Any]]) -> list[Preference]:
    evidence = _evidence(store, (row["id"] for row in rows))
    return [Preference.from_row(row, evidence.get(row["id"], ())) for row in rows]


def get_preference(store: Store, tenant: str, user: str, pref_id: str) -> Preference:
    rows = list(
        store.db.query(
            "SELECT * FROM preferences WHERE tenant = ? AND user = ? AND id = ?",
            [tenant, user, pref_id],
        )
    )
    if not rows:
        raise NotFoundError(f"no preference {pref_id!r} for this user")
    return _with_evidence(store, rows)[0]


def list_preferences(
    store: Store,
    tenant: str,
    user: str,
    *,
    source: str | None = None,
    include_disabled: bool = True,
) -> list[Preference]:
    sql = "SELECT * FROM preferences WHERE tenant = ? AND user = ?"
    params: list[Any] = [tenant, user]
    if source is not None:
        sql += " AND source = ?"
        params.append(source)
    if not include_disabled:
        sql += " AND disabled = 0"
    return _with_evidence(store, list(store.db.query(sql + " ORDER BY created_at, id", params)))


def preferences_for_items(
    store: Store,
    tenant: str,
    user: str,
    items: Sequence[tuple[str, str]],
    *,
    source: str | None = None,
    include_retired: bool = False,
) -> list[Preference]:
    """Enabled preferences supported by any of these items (interactions or feedback).

    Each comes with the evidence among ``items`` only (not its whole history),
    which is what ranking around a context needs and keeps this query cheap for
    rules with hundreds of supporting edits.
    """
    if not items:
        return []
    extra = "" if include_retired else " AND p.status = 'active'"
    params: list[Any] = [tenant, user]
    if source is not None:
        extra += " AND p.source = ?"
        params.append(source)
    clauses = " OR ".join("(e.item_type = ? AND e.item_id = ?)" for _ in items)
    for item_type, item_id in items:
        params += [item_type, item_id]
    rows = list(
        store.db.query(
            "SELECT p.*, e.item_type AS e_type, e.item_id AS e_id, e.detail AS e_detail, "
            "e.created_at AS e_created FROM preferences p JOIN preference_evidence e "
            "ON e.preference_id = p.id WHERE e.tenant = ? AND e.user = ? AND p.disabled = 0"
            f"{extra} AND ({clauses}) ORDER BY p.created_at, p.id, e.created_at",
            params,
        )
    )
    found: dict[str, tuple[dict[str, Any], list[Evidence]]] = {}
    for row in rows:
        evidence = Evidence(
            row.pop("e_type"), row.pop("e_id"), row.pop("e_detail"), row.pop("e_created")
        )
        found.setdefault(row["id"], (row, []))[1].append(evidence)
    return [Preference.from_row(row, tuple(ev)) for row, ev in found.values()]


def get_preferences(store: Store, tenant: str, user: str, ids: Sequence[str]) -> list[Preference]:
    """These preferences, in the given order, without their evidence."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = {
        row["id"]: row
        for row in store.db.query(
            f"SELECT * FROM preferences WHERE tenant = ? AND user = ? AND id IN ({marks})",
            [tenant, user, *ids],
        )
    }
    return [Preference.from_row(rows[i]) for i in ids if i in rows]


def user_wide_preferences(
    store: Store, tenant: str, user: str, task: str | None
) -> list[Preference]:
    """Enabled preferences that hold in every context (of ``task``, when given)."""
    sql = "SELECT * FROM preferences WHERE tenant = ? AND user = ? AND scope = 'user' "
    sql += "AND disabled = 0 AND status = 'active'"
    params: list[Any] = [tenant, user]
    if task is not None:
        sql += " AND (task = ? OR task IS NULL)"
        params.append(task)
    return _with_evidence(store, list(store.db.query(sql + " ORDER BY created_at", params)))


def update_preference(
    store: Store,
    tenant: str,
    user: str,
    pref_id: str,
    *,
    text: str | None = None,
    disabled: bool | None = None,
) -> Preference:
    """Change text and/or the disabled flag, keeping the replaced version."""
    with store.transaction() as db:
        current = get_preference(store, tenant, user, pref_id)
        db.execute(
            "INSERT INTO preference_versions "
            "(preference_id, version, text, disabled, operation, replaced_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                pref_id,
                current.version,
                current.text,
                int(current.disabled),
                dumps(current.operation),
                now(),
            ],
        )
        db.execute(
            "UPDATE preferences SET text = ?, disabled = ?, version = version + 1, "
            "updated_at = ? WHERE id = ?",
            [
                current.text if text is None else text,
                int(current.disabled if disabled is None else disabled),
                now(),
                pref_id,
            ],
        )
    return get_preference(store, tenant, user, pref_id)


def preference_versions(store: Store, pref_id: str) -> list[dict[str, Any]]:
    """The replaced versions of a preference, oldest first, JSON-ready."""
    return [
        {**v, "operation": loads(v["operation"]), "disabled": bool(v["disabled"])}
        for v in store.db.query(
            "SELECT version, text, disabled, operation, replaced_at FROM preference_versions "
            "WHERE preference_id = ? ORDER BY version",
            [pref_id],
        )
    ]


def delete_preference(store: Store, tenant: str, user: str, pref_id: str) -> None:
    with store.transaction() as db:
        cursor = db.execute(
            "DELETE FROM preferences WHERE tenant = ? AND user = ? AND id = ?",
            [tenant, user, pref_id],
        )
        if cursor.rowcount == 0:
            raise NotFoundError(f"no preference {pref_id!r} for this user")


def retire_others(db: Any, tenant: str, user: str, source: str, keep: Sequence[str]) -> int:
    """Retire the user's active preferences of ``source`` not in ``keep`` (in ``db``'s
    transaction); returns how many were retired."""
    marks = ",".join("?" * len(keep)) or "''"
    cursor = db.execute(
        f"UPDATE preferences SET status = 'retired', updated_at = ? WHERE tenant = ? "
        f"AND user = ? AND source = ? AND status = 'active' AND id NOT IN ({marks})",
        [now(), tenant, user, source, *keep],
    )
    return int(cursor.rowcount)


def retire_weakest(db: Any, tenant: str, user: str, source: str, keep: int) -> list[str]:
    """Retire the user's enabled active preferences of ``source`` beyond the ``keep``
    strongest (in ``db``'s transaction); returns the ids retired.

    Strongest = helped on the most edits at its last verification (a rule's
    ``stats.helped``: edits it brought closer to what the user wrote), then the
    newest (a new habit beats an old one that helps as much: the user's drafts may
    no longer need the old one), then the most support. Disabled preferences are
    the user's to manage: they neither count nor get retired.
    """
    rows = db.execute(
        "SELECT id FROM preferences WHERE tenant = ? AND user = ? AND source = ? "
        "AND status = 'active' AND disabled = 0 "
        "ORDER BY COALESCE(json_extract(stats, '$.helped'), 0) DESC, created_at DESC, "
        "support DESC, id LIMIT -1 OFFSET ?",
        [tenant, user, source, keep],
    ).fetchall()
    ids = [str(row[0]) for row in rows]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        db.execute(
            f"UPDATE preferences SET status = 'retired', updated_at = ? "
            f"WHERE id IN ({','.join('?' * len(chunk))})",
            [now(), *chunk],
        )
    return ids
