"""User-scoped API keys: a key that reaches only its own user's routes.

The every-route test walks ``app.routes``, so a route added later is covered too: a
route must take its user from its path (``TenantDep`` checks it), take it from its
body and call ``service.deps.require_user_access`` (listed in ``BODY_USER`` with a
body to send), or be listed here as tenant-only, operator-only, public or any-key.
An unclassified route fails the test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from service.cli import cli
from store.db import Store
from store.keys import authenticate_key, create_key, list_keys
from tests.conftest import METRICS_KEY, bearer

TENANT = "acme"
ME, OTHER, THIRD = "alice", "bob", "carol"

#: no key needed (the page itself asks for a key and sends it on each call it makes)
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/ui"),
    ("GET", "/ui/{asset}"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/openapi.json"),
}
#: the operator's key only (any API key: 403)
OPERATOR = {("GET", "/metrics")}
#: tenant keys only: a user key gets 403 even on its own user's path (``TenantKeyDep``, or
#: ``TenantDep`` on a path without ``{user}``)
TENANT_ONLY = {
    ("GET", "/v1/jobs/{job_id}"),
    ("POST", "/v1/jobs/{job_id}/cancel"),
    ("POST", "/v1/jobs/{job_id}/retry"),
    ("POST", "/v1/users/{user}/keys"),
    ("GET", "/v1/users/{user}/keys"),
    ("DELETE", "/v1/users/{user}/keys/{key_id}"),
}
#: any valid key: tells the key about itself, nothing of any user
ANY_KEY = {("GET", "/v1/key")}
#: routes whose user is in the body: a body for a given user, which must pass validation
#: so the route itself runs and calls ``require_user_access``
BODY_USER: dict[tuple[str, str], Callable[[str], dict[str, Any]]] = {
    ("POST", "/v1/chat/completions"): lambda user: {
        "model": "tailor",
        "messages": [{"role": "user", "content": "Write a short note to the team."}],
        "user": user,
    },
}


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app(metrics_key=METRICS_KEY)


@pytest.fixture
def keys(data_dir: Path) -> dict[str, str]:
    store = Store.open(data_dir)
    try:
        return {
            "tenant": create_key(store, TENANT)[1],
            "me": create_key(store, TENANT, ME)[1],
        }
    finally:
        store.close()


@pytest.fixture
def client(app: FastAPI, keys: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def operations(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, walked from ``app.routes`` (mounts: GET)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before 0.16x flattens included routers into app.routes
        routes = [(route, route) for route in app.routes]
    else:  # later ones keep each included router whole: walk into them
        routes = [(c, c.original_route) for c in iter_route_contexts(app.routes)]
    found = []
    for context, route in routes:
        path = context.path
        if isinstance(route, Mount):
            found.append(("GET", path + "/{path}"))
        elif isinstance(route, APIRoute | Route):
            methods = sorted((context.methods or set()) - {"HEAD"})
            found += [(method, path) for method in methods]
        else:
            pytest.fail(f"a route of an unknown kind: {route!r}")
    return found


def fill(path: str, user: str) -> str:
    path = path.replace("{user}", user).replace("{asset}", "app.js")
    return re.sub(r"\{(\w+)\}", lambda m: f"{m.group(1)}_missing", path)


def call(
    client: TestClient, method: str, path: str, key: str | None, body: Any = None
) -> tuple[int, Any]:
    headers = bearer(key) if key else {}
    if body is None and method in {"POST", "PUT", "PATCH"}:
        body = {}
    response = client.request(method, path, headers=headers, json=body)
    try:
        payload = response.json()
    except ValueError:
        payload = None
    return response.status_code, payload


def forbidden(status: int, payload: Any) -> bool:
    """403 with the stable ``forbidden`` code (and nothing but the error in the body)."""
    return (
        status == 403
        and isinstance(payload, dict)
        and payload.keys() == {"error"}
        and payload["error"]["code"] == "forbidden"
    )


def test_a_user_key_reaches_its_own_user_and_nothing_else_on_every_route(
    app: FastAPI, client: TestClient, keys: dict[str, str]
) -> None:
    me, tenant = keys["me"], keys["tenant"]
    bob = {"context": "Email to a colleague", "draft": "Hi", "final": "Hi there"}
    logged = client.post(f"/v1/users/{OTHER}/interactions", json=bob, headers=bearer(tenant))
    assert logged.status_code == 201  # bob has data to guard
    seen = operations(app)
    assert ("GET", "/v1/users/{user}/preferences") in seen  # the walk sees the user routes
    unclassified = []
    for method, path in seen:
        op = (method, path)
        if path.startswith("/static"):
            status, _ = call(client, "GET", "/static/swagger-ui/swagger-ui.css", None)
            assert status == 200
        elif op in PUBLIC:
            status, _ = call(client, method, fill(path, ME), None)
            assert status == 200, op
        elif op in OPERATOR:
            assert forbidden(*call(client, method, path, me)), op
            assert forbidden(*call(client, method, path, tenant)), op
        elif op in ANY_KEY:
            assert call(client, method, path, me)[0] == 200, op
        elif op in TENANT_ONLY:
            assert forbidden(*call(client, method, fill(path, ME), me)), op
            assert forbidden(*call(client, method, fill(path, OTHER), me)), op
            status, _ = call(client, method, fill(path, THIRD), tenant)
            assert status not in (401, 403), (op, status)
        elif op in BODY_USER:
            make = BODY_USER[op]
            assert forbidden(*call(client, method, path, me, make(OTHER))), op
            status, payload = call(client, method, path, me, make(ME))
            assert status not in (401, 403, 422), (op, status, payload)
            status, payload = call(client, method, path, tenant, make(OTHER))
            assert status not in (401, 403, 422), (op, status, payload)
        elif "{user}" in path:
            # Another user (with data, or none): 403, never their data or a 404.
            for user in (OTHER, "nobody"):
                status, payload = call(client, method, fill(path, user), me)
                assert forbidden(status, payload), (op, user, status, payload)
            status, payload = call(client, method, fill(path, ME), me)
            assert status not in (401, 403), (op, status, payload)
            status, payload = call(client, method, fill(path, THIRD), tenant)
            assert status not in (401, 403), (op, status, payload)
        else:
            unclassified.append(op)
    assert not unclassified, (
        f"routes not classified for user keys: {unclassified}; take the user from the path, "
        "or call require_user_access and list the route in BODY_USER, or list it as "
        "TENANT_ONLY/PUBLIC/ANY_KEY in tests/test_user_keys.py"
    )
    # Nothing of bob's was changed by alice's attempts (a DELETE of bob included).
    listed = client.get(f"/v1/users/{OTHER}/interactions", headers=bearer(tenant)).json()
    assert listed["count"] == 1


def test_the_classification_tables_name_real_routes(app: FastAPI) -> None:
    served = set(operations(app))
    for table in (PUBLIC, OPERATOR, TENANT_ONLY, ANY_KEY):
        assert table <= served, table - served
    assert not (PUBLIC | OPERATOR | ANY_KEY) & TENANT_ONLY


def test_a_user_key_works_on_its_own_routes(client: TestClient, keys: dict[str, str]) -> None:
    me = bearer(keys["me"])
    body = {
        "context": "Email to a colleague about the launch",
        "draft": "Hello team,\nThe launch is on Monday.\nBest regards,\nAnn",
        "final": "Hi team,\nThe launch is on Monday.\nAnn",
    }
    created = client.post(f"/v1/users/{ME}/interactions", json=body, headers=me)
    assert created.status_code == 201, created.text
    prefs = client.get(f"/v1/users/{ME}/preferences", headers=me).json()
    assert prefs["count"] >= 1
    pid = prefs["data"][0]["id"]
    patched = client.patch(f"/v1/users/{ME}/preferences/{pid}", json={"disabled": True}, headers=me)
    assert patched.status_code == 200 and patched.json()["disabled"] is True
    # The tenant key sees what the user key wrote: the same user of the same tenant.
    seen = client.get(f"/v1/users/{ME}/preferences", headers=bearer(keys["tenant"])).json()
    assert {p["id"] for p in seen["data"]} == {p["id"] for p in prefs["data"]}


def test_a_tenant_key_mints_lists_and_revokes_user_keys(
    client: TestClient, keys: dict[str, str], data_dir: Path
) -> None:
    tenant = bearer(keys["tenant"])
    minted = client.post(f"/v1/users/{OTHER}/keys", headers=tenant)
    assert minted.status_code == 201, minted.text
    body = minted.json()
    assert body["user"] == OTHER and body["tenant"] == TENANT
    assert body["key"].startswith(body["prefix"])
    secret = body["key"]
    # The new key: bob's routes only.
    assert client.get(f"/v1/users/{OTHER}/preferences", headers=bearer(secret)).status_code == 200
    assert client.get(f"/v1/users/{ME}/preferences", headers=bearer(secret)).status_code == 403
    own = client.get("/v1/key", headers=bearer(secret)).json()
    assert own["user"] == OTHER and own["id"] == body["id"] and "key" not in own
    # Listed without its secret; other users' keys are not in bob's list.
    listing = client.get(f"/v1/users/{OTHER}/keys", headers=tenant)
    assert listing.status_code == 200
    assert [k["id"] for k in listing.json()["data"]] == [body["id"]]
    assert secret not in listing.text
    # Revoked through bob's path only; then it stops at once.
    wrong_user = client.delete(f"/v1/users/{ME}/keys/{body['id']}", headers=tenant)
    assert wrong_user.status_code == 404
    assert client.delete(f"/v1/users/{OTHER}/keys/{body['id']}", headers=tenant).status_code == 204
    after = client.get(f"/v1/users/{OTHER}/preferences", headers=bearer(secret))
    assert after.status_code == 401
    assert client.get(f"/v1/users/{OTHER}/keys", headers=tenant).json()["data"][0]["revoked_at"]
    # Only a hash is stored.
    store = Store.open(data_dir)
    try:
        raw = store.path.read_bytes() + store.path.with_name("tailor.db-wal").read_bytes()
        assert secret.encode() not in raw
    finally:
        store.close()


def test_a_user_key_cannot_mint_keys_even_for_itself(
    client: TestClient, keys: dict[str, str]
) -> None:
    for user in (ME, OTHER):
        answer = client.post(f"/v1/users/{user}/keys", headers=bearer(keys["me"]))
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"


def test_minting_checks_the_user_id_and_the_key(client: TestClient, keys: dict[str, str]) -> None:
    bad = client.post("/v1/users/bad%20id/keys", headers=bearer(keys["tenant"]))
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_user_id"
    assert client.post(f"/v1/users/{ME}/keys").status_code == 401
    assert client.post(f"/v1/users/{ME}/keys", headers=bearer("tlr_nope")).status_code == 401


def test_a_tenant_key_says_it_reaches_every_user(client: TestClient, keys: dict[str, str]) -> None:
    own = client.get("/v1/key", headers=bearer(keys["tenant"]))
    assert own.status_code == 200
    assert own.json()["user"] is None and own.json()["tenant"] == TENANT


def test_require_user_access_is_the_one_check() -> None:
    from service.deps import require_user_access
    from service.errors import ForbiddenError
    from store.records import ApiKey

    tenant_key = ApiKey("key_1", TENANT, "tlr_abc", "t", None)
    user_key = ApiKey("key_2", TENANT, "tlr_def", "t", None, user=ME)
    require_user_access(tenant_key, OTHER)
    require_user_access(user_key, ME)
    with pytest.raises(ForbiddenError):
        require_user_access(user_key, OTHER)


def test_cli_creates_a_user_key(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["keys", "create", "--tenant", TENANT, "--user", ME, "--data-dir", str(tmp_path)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    secret = result.output.strip()
    store = Store.open(tmp_path)
    try:
        key = authenticate_key(store, secret)
        assert key is not None and key.tenant == TENANT and key.user == ME
    finally:
        store.close()
    listing = runner.invoke(cli, ["keys", "list", "--data-dir", str(tmp_path)]).output
    assert ME in listing and secret not in listing
    bad = runner.invoke(cli, ["keys", "create", "--tenant", TENANT, "--user", "no way"])
    assert bad.exit_code != 0 and "ids are" in bad.output


def test_tenant_keys_have_no_user(data_dir: Path) -> None:
    store = Store.open(data_dir)
    try:
        key, secret = create_key(store, TENANT)
        assert key.user is None
        found = authenticate_key(store, secret)
        assert found is not None and found.user is None
        assert [k.user for k in list_keys(store, TENANT)] == [None]
    finally:
        store.close()
