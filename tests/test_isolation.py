"""No tenant or user ever sees another's data, by any route."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import bearer

CONTEXT = "Email to the team about the product launch date"


@pytest.fixture
def two_tenants(
    app: FastAPI, make_key: Callable[[str], str]
) -> tuple[TestClient, dict[str, str], dict[str, str]]:
    return TestClient(app), bearer(make_key("acme")), bearer(make_key("globex"))


def seed(client: TestClient, headers: dict[str, str], user: str, secret: str) -> str:
    r = client.post(
        f"/v1/users/{user}/interactions",
        json={
            "context": CONTEXT,
            "draft": "d",
            "final": secret,
            "feedback": secret,
            "client_id": "same-id",
        },
        headers=headers,
    )
    assert r.status_code == 201
    return str(r.json()["learned"][0]["id"])


def visible(client: TestClient, headers: dict[str, str], user: str) -> str:
    """Everything a caller can read about a user, as one string."""
    parts = [
        client.get(f"/v1/users/{user}/interactions", headers=headers).text,
        client.get(f"/v1/users/{user}/preferences", headers=headers).text,
        client.get(f"/v1/users/{user}/export", headers=headers).text,
        client.post(f"/v1/users/{user}/policy", json={"context": CONTEXT}, headers=headers).text,
    ]
    return "\n".join(parts)


def test_same_user_id_in_two_tenants(two_tenants) -> None:  # type: ignore[no-untyped-def]
    client, acme, globex = two_tenants
    with client:
        acme_pref = seed(client, acme, "sam", "ACME-SECRET")
        seed(client, globex, "sam", "GLOBEX-SECRET")
        assert "GLOBEX-SECRET" not in visible(client, acme, "sam")
        assert "ACME-SECRET" in visible(client, acme, "sam")
        assert "ACME-SECRET" not in visible(client, globex, "sam")
        # Another tenant's preference id is simply unknown.
        r = client.patch(
            f"/v1/users/sam/preferences/{acme_pref}", json={"disabled": True}, headers=globex
        )
        assert r.status_code == 404
        assert (
            client.delete(f"/v1/users/sam/preferences/{acme_pref}", headers=globex).status_code
            == 404
        )
        # Deleting the user in one tenant leaves the other's intact.
        client.delete("/v1/users/sam", headers=globex)
        assert "ACME-SECRET" in visible(client, acme, "sam")


def test_two_users_of_one_tenant(two_tenants) -> None:  # type: ignore[no-untyped-def]
    client, acme, _ = two_tenants
    with client:
        seed(client, acme, "sam", "SAM-ONLY")
        seed(client, acme, "kim", "KIM-ONLY")
        assert "KIM-ONLY" not in visible(client, acme, "sam")
        assert "SAM-ONLY" not in visible(client, acme, "kim")
        policy = client.post(
            "/v1/users/sam/policy", json={"context": CONTEXT, "k": 50}, headers=acme
        ).json()
        assert [p["text"] for p in policy["preferences"]] == ["SAM-ONLY"]
        sam_interaction = client.get("/v1/users/sam/interactions", headers=acme).json()["data"][0]
        r = client.get(f"/v1/users/kim/interactions/{sam_interaction['id']}", headers=acme)
        assert r.status_code == 404
