"""The SQLite store, against real database files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from store.db import Store
from store.errors import NotFoundError
from store.interactions import get_interaction, insert_interaction
from store.keys import authenticate, create_key, list_keys, revoke_key
from store.preferences import (
    get_preference,
    list_preferences,
    preference_versions,
    update_preference,
    upsert_preference,
)
from store.records import Evidence, Interaction, now


def interaction(tenant: str = "t", user: str = "u", id: str = "int_1") -> Interaction:
    return Interaction(
        id=id,
        tenant=tenant,
        user=user,
        context="c",
        draft="d",
        final="f",
        task=None,
        feedback=None,
        client_id=None,
        metadata={"app": "mail"},
        edit_distance=1,
        accepted=False,
        created_at=now(),
    )


def test_migrations_are_named_recorded_and_applied_once(data_dir: Path) -> None:
    store = Store.open(data_dir)
    assert store.applied_migrations() == [
        "0001_initial",
        "0002_rule_status_and_evidence_detail",
        "0003_durable_jobs_and_inference_status",
        "0004_preference_pairs",
        "0005_adapters",
        "0006_interaction_learning_state",
        "0008_user_scoped_keys",
        "0010_feedback_scopes",
    ]
    assert store.migrate() == []
    store.close()
    reopened = Store.open(data_dir)
    assert len(reopened.applied_migrations()) == 8
    assert reopened.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reopened.close()


def test_a_failed_transaction_stores_nothing(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as db:
        insert_interaction(db, interaction(id="int_a"))
        insert_interaction(db, interaction(id="int_a"))  # duplicate primary key
    assert store.db.execute("SELECT count(*) FROM interactions").fetchone()[0] == 0


def test_committed_rows_are_visible_from_another_connection(store: Store) -> None:
    with store.transaction() as db:
        insert_interaction(db, interaction(id="int_b"))
    other = Store(store.data_dir)
    assert get_interaction(other, "t", "u", "int_b").metadata == {"app": "mail"}
    with pytest.raises(NotFoundError):
        get_interaction(other, "t", "someone-else", "int_b")
    other.close()


def test_keys_are_random_hashed_listable_and_revocable(store: Store) -> None:
    key, secret = create_key(store, "acme")
    _, secret2 = create_key(store, "acme")
    assert secret != secret2 and len(secret) >= 40
    assert authenticate(store, secret) == "acme"
    raw = store.path.read_bytes() + store.path.with_name("tailor.db-wal").read_bytes()
    assert secret.encode() not in raw
    listed = list_keys(store)
    assert [k.id for k in listed] == [key.id, listed[1].id]
    assert all(secret not in repr(k) for k in listed)
    revoke_key(store, key.id)
    assert authenticate(store, secret) is None
    assert authenticate(store, secret2) == "acme"
    with pytest.raises(NotFoundError):
        revoke_key(store, "key_missing")


def test_same_key_adds_support_and_evidence_not_a_duplicate(store: Store) -> None:
    for item in ("int_1", "int_2", "int_2"):
        with store.transaction() as db:
            pref_id = upsert_preference(
                db,
                tenant="t",
                user="u",
                text="Be brief",
                source="feedback",
                kind="instruction",
                key="brief",
                task=None,
                scope="user",
                operation=None,
                evidence=[Evidence("interaction", item)],
            )
    prefs = list_preferences(store, "t", "u")
    assert len(prefs) == 1
    assert prefs[0].id == pref_id
    assert prefs[0].support == 2
    assert [e.item_id for e in prefs[0].evidence] == ["int_1", "int_2"]


def test_edits_keep_previous_versions(store: Store) -> None:
    with store.transaction() as db:
        pref_id = upsert_preference(
            db,
            tenant="t",
            user="u",
            text="Be brief",
            source="feedback",
            kind="instruction",
            key="brief",
            task=None,
            scope="user",
            operation=None,
            evidence=[],
        )
    update_preference(store, "t", "u", pref_id, text="Be very brief")
    updated = update_preference(store, "t", "u", pref_id, disabled=True)
    assert (updated.text, updated.disabled, updated.version) == ("Be very brief", True, 3)
    versions = preference_versions(store, pref_id)
    assert [(v["version"], v["text"], v["disabled"]) for v in versions] == [
        (1, "Be brief", 0),
        (2, "Be very brief", 0),
    ]
    with pytest.raises(NotFoundError):
        update_preference(store, "t", "other-user", pref_id, text="x")
    assert get_preference(store, "t", "u", pref_id).text == "Be very brief"
