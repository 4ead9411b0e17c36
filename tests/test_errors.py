"""Bad input: a clear 4xx with a stable code, the same error shape, nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.settings import Settings
from store.db import Store
from store.keys import list_keys, revoke_key
from tests.conftest import bearer

OK = {"context": "c", "draft": "d", "final": "f"}


def error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert "Traceback" not in response.text
    return str(body["error"]["message"])


def stored(client: TestClient) -> int:
    return int(client.get("/v1/users/dana/interactions").json()["count"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"draft": "d", "final": "f"}, "context"),
        (OK | {"draft": 5}, "draft"),
        (OK | {"context": ""}, "context"),
        (OK | {"metadata": [1, 2]}, "metadata"),
        (OK | {"task": "has spaces"}, "task"),
        (OK | {"client_id": "x" * 129}, "client_id"),
        (OK | {"unexpected": 1}, "unexpected"),
    ],
)
def test_wrong_types_and_missing_fields_are_422(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    message = error(client.post("/v1/users/dana/interactions", json=body), 422, "validation_error")
    assert field in message
    assert stored(client) == 0


def test_bad_json_is_400(client: TestClient) -> None:
    r = client.post(
        "/v1/users/dana/interactions",
        content=b'{"context": ',
        headers={"Content-Type": "application/json"},
    )
    error(r, 400, "invalid_json")
    assert stored(client) == 0


def test_oversize_bodies_are_413(make_app: Callable[..., FastAPI], key: str) -> None:
    with TestClient(make_app(max_body_bytes=2048), headers=bearer(key)) as client:
        big = OK | {"draft": "x" * 4000}
        error(client.post("/v1/users/dana/interactions", json=big), 413, "payload_too_large")

        def chunks() -> Any:  # no Content-Length: counted while streaming
            yield b'{"context": "c", "final": "f", "draft": "'
            for _ in range(10):
                yield b"x" * 500
            yield b'"}'

        r = client.post(
            "/v1/users/dana/interactions",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        error(r, 413, "payload_too_large")
        assert client.post("/v1/users/dana/interactions", json=OK).status_code == 201
        assert stored(client) == 1


def test_text_over_the_configured_limit_is_400(make_app: Callable[..., FastAPI], key: str) -> None:
    with TestClient(make_app(max_text_chars=100), headers=bearer(key)) as client:
        r = client.post("/v1/users/dana/interactions", json=OK | {"final": "y" * 101})
        assert "final" in error(r, 400, "text_too_long")
        assert stored(client) == 0


@pytest.mark.parametrize("user", ["has space", "x" * 129, "semi;colon", "über"])
def test_bad_user_ids_are_400(client: TestClient, user: str) -> None:
    error(client.post(f"/v1/users/{user}/interactions", json=OK), 400, "invalid_user_id")


def test_user_ids_with_allowed_punctuation_work(client: TestClient) -> None:
    for user in ["a.b_c-d@example.com", "x" * 128, "...", "-"]:
        assert client.post(f"/v1/users/{user}/interactions", json=OK).status_code == 201


def test_unknown_ids_and_routes_are_404(client: TestClient) -> None:
    error(client.get("/v1/users/dana/interactions/int_nope"), 404, "not_found")
    error(
        client.patch("/v1/users/dana/preferences/pref_nope", json={"text": "x"}), 404, "not_found"
    )
    error(client.delete("/v1/users/dana/preferences/pref_nope"), 404, "not_found")
    error(client.get("/v1/nothing-here"), 404, "not_found")
    error(client.put("/v1/users/dana/policy", json={}), 405, "method_not_allowed")


def test_empty_patch_is_422(client: TestClient) -> None:
    error(client.patch("/v1/users/dana/preferences/pref_x", json={}), 422, "validation_error")


def test_missing_bad_and_revoked_keys_are_401(app: FastAPI, key: str, data_dir: Any) -> None:
    with TestClient(app) as client:
        error(client.post("/v1/users/dana/policy", json={"context": "c"}), 401, "unauthorized")
        r = client.post("/v1/users/dana/policy", json={"context": "c"}, headers=bearer("tlr_x"))
        error(r, 401, "unauthorized")
        r = client.get("/v1/users/dana/export", headers={"Authorization": f"Basic {key}"})
        error(r, 401, "unauthorized")
        assert client.get("/v1/users/dana/export", headers=bearer(key)).status_code == 200
        store = Store.open(data_dir)
        revoke_key(store, list_keys(store)[0].id)
        store.close()
        error(client.get("/v1/users/dana/export", headers=bearer(key)), 401, "unauthorized")


def test_unsafe_settings_fail_fast(make_app: Callable[..., FastAPI]) -> None:
    from pydantic import ValidationError

    from store.errors import InvalidInputError

    with pytest.raises(ValidationError):
        Settings(max_body_bytes=10)
    with pytest.raises(ValidationError):
        Settings(policy_k=0)
    with pytest.raises(ValidationError):
        Settings(learner=" , ")
    with pytest.raises(InvalidInputError, match="unknown learner"):
        make_app(learner="feedback,no-such-learner")


def test_rate_limit_per_key_is_429_with_retry_after(
    make_app: Callable[..., FastAPI], make_key: Callable[[str], str]
) -> None:
    fast, other = make_key("acme"), make_key("acme")
    with TestClient(make_app(rate_limit=0.5, rate_burst=3)) as client:
        codes = [
            client.get("/v1/users/dana/preferences", headers=bearer(fast)).status_code
            for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        r = client.get("/v1/users/dana/preferences", headers=bearer(fast))
        error(r, 429, "rate_limited")
        assert int(r.headers["Retry-After"]) >= 1
        # Limits are per key.
        assert client.get("/v1/users/dana/preferences", headers=bearer(other)).status_code == 200
