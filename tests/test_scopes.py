"""Verbal feedback stays in its scope (issue 13, item 1): clause extraction, scoped
retrieval in /policy, the scope shown and edited through the preferences API, lazy
migration of feedback stored before scopes, export and deletion, and C3PO's data
selection by the same scope. Real app, real store, real embedding model."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from learners.style.scope import derive, extract_scope
from store.db import Store

BOSS_RULE = "No emojis in emails to my boss Jared"
BOSS_EMAIL = "Write an email to Jared, my boss, asking to move Thursday's budget review"
POEM = "Write a short birthday poem for my niece who loves horses"


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("Be more concise when emailing my boss Jared", "emailing my boss Jared"),
        ("No emojis in emails to my boss Jared", "emails to my boss Jared"),
        ("When I write cover letters, keep it under 300 words", "write cover letters"),
        ("For my LinkedIn posts, no hashtags", "my LinkedIn posts"),
        ("If it's an email to my landlord, be firm", "an email to my landlord"),
        ("Ask for feedback in code reviews", "code reviews"),
        ("Write in a formal tone", None),
        ("Use plain language", None),
        ("In general, be brief", None),
        ("Never use the word synergy", None),
        ("Keep it short for now", None),
    ],
)
def test_the_scope_clause_of_a_feedback_sentence(text: str, scope: str | None) -> None:
    assert extract_scope(text) == scope


def test_without_a_clause_feedback_holds_where_it_was_said_else_everywhere() -> None:
    assert derive("Shorter, please", "Reply to a customer about a late parcel") == (
        "Reply to a customer about a late parcel",
        "context",
    )
    assert derive("Shorter, please", None) == (None, "none")
    assert derive(BOSS_RULE, "Anything at all") == ("emails to my boss Jared", "clause")


def feedback(client: TestClient, user: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/v1/users/{user}/feedback", json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def policy(client: TestClient, user: str, context: str) -> dict[str, dict[str, Any]]:
    response = client.post(f"/v1/users/{user}/policy", json={"context": context})
    assert response.status_code == 200, response.text
    return {p["text"]: p for p in response.json()["preferences"]}


def test_feedback_applies_in_its_scope_only(client: TestClient) -> None:
    answer = feedback(client, "ana", text=BOSS_RULE)
    assert answer["applies_to"] == "emails to my boss Jared"
    feedback(client, "ana", text="Never use the word synergy")
    in_scope = policy(client, "ana", BOSS_EMAIL)
    assert in_scope[BOSS_RULE]["scope"] == "emails to my boss Jared"
    assert 0 < in_scope[BOSS_RULE]["score"] < 1
    # Feedback that names no scope holds everywhere, as before.
    assert in_scope["Never use the word synergy"]["score"] == 1.0
    assert in_scope["Never use the word synergy"]["scope"] is None
    elsewhere = policy(client, "ana", POEM)
    assert BOSS_RULE not in elsewhere
    assert "Never use the word synergy" in elsewhere


def test_the_user_edits_where_feedback_applies(client: TestClient) -> None:
    pref_id = feedback(client, "ben", text=BOSS_RULE)["preference"]["id"]
    listed = client.get("/v1/users/ben/preferences").json()["data"]
    assert [(p["applies_to"], p["applies_to_origin"]) for p in listed] == [
        ("emails to my boss Jared", "clause")
    ]
    moved = client.patch(
        f"/v1/users/ben/preferences/{pref_id}", json={"applies_to": "birthday poems for family"}
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["applies_to"], moved.json()["applies_to_origin"]) == (
        "birthday poems for family",
        "user",
    )
    assert BOSS_RULE in policy(client, "ben", POEM)
    assert BOSS_RULE not in policy(client, "ben", BOSS_EMAIL)
    # An edited text keeps the user's own scope.
    client.patch(f"/v1/users/ben/preferences/{pref_id}", json={"text": "No emojis at all"})
    assert "No emojis at all" in policy(client, "ben", POEM)
    everywhere = client.patch(f"/v1/users/ben/preferences/{pref_id}", json={"applies_to": None})
    assert everywhere.json()["applies_to"] is None
    assert policy(client, "ben", BOSS_EMAIL)["No emojis at all"]["score"] == 1.0


def test_a_scope_only_belongs_to_verbal_feedback(client: TestClient) -> None:
    response = client.post(
        "/v1/users/cy/interactions",
        json={
            "context": BOSS_EMAIL,
            "draft": "Hi Jared! 😀 Can we move it?",
            "final": "Hi Jared, can we move it?",
        },
    )
    learned = [p for p in response.json()["learned"] if p["source"] != "feedback"]
    assert learned, response.json()
    refused = client.patch(
        f"/v1/users/cy/preferences/{learned[0]['id']}", json={"applies_to": "emails"}
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_input"
    empty = client.patch(f"/v1/users/cy/preferences/{learned[0]['id']}", json={})
    assert empty.status_code == 422


def test_feedback_stored_before_scopes_is_migrated_on_first_use(
    client: TestClient, app: Any
) -> None:
    feedback(client, "dee", text=BOSS_RULE)
    store: Store = app.state.engine.store
    with store.transaction() as db:
        db.execute("DELETE FROM feedback_scopes")
    assert BOSS_RULE in policy(client, "dee", BOSS_EMAIL)
    assert BOSS_RULE not in policy(client, "dee", POEM)
    rows = list(store.db.query("SELECT scope, origin FROM feedback_scopes"))
    assert rows == [{"scope": "emails to my boss Jared", "origin": "clause"}]


def test_export_shows_the_scope_and_deletion_removes_it(client: TestClient, app: Any) -> None:
    feedback(client, "eve", text=BOSS_RULE)
    feedback(client, "fay", text=BOSS_RULE)
    lines = [line for line in client.get("/v1/users/eve/export").text.splitlines() if line]
    prefs = [line for line in lines if '"type":"preference"' in line.replace(" ", "")]
    assert prefs and '"applies_to"' in prefs[0] and "emails to my boss Jared" in prefs[0]
    assert client.delete("/v1/users/eve").status_code in (200, 204)
    store: Store = app.state.engine.store
    users = [row["user"] for row in store.db.query('SELECT "user" FROM feedback_scopes')]
    assert users == ["fay"]
