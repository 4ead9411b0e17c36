"""The HTTP contract at its edges: a 500 that keeps the connection, JSON for requests the
HTTP parser rejects, ``Allow`` naming every method of a path, an OpenAPI document that
lists the error answers, and docs pages that work offline."""

from __future__ import annotations

import http.client
import json
import re
import socket
import sqlite3
import time
from typing import Any

import httpx
from fastapi.testclient import TestClient

from service.openapi import EXTRA, WITHOUT
from store.db import DB_FILENAME
from tests.conftest import bearer
from tests.live import Server


def is_error(body: Any, code: str) -> bool:
    return isinstance(body, dict) and set(body) == {"error"} and body["error"]["code"] == code


def test_a_500_leaves_the_keep_alive_connection_usable(live_server: Server) -> None:
    key = live_server.key_for("keepalive")
    user = "kim"
    logged = httpx.post(
        f"{live_server.url}/v1/users/{user}/interactions",
        json={"context": "c", "draft": "d", "final": "d", "metadata": {"a": 1}},
        headers=bearer(key),
    )
    assert logged.status_code == 201, logged.text
    # A real 500: a row whose JSON was damaged outside Tailor (a hand edit, a bad restore).
    with sqlite3.connect(live_server.data_dir / DB_FILENAME) as db:
        db.execute(
            "UPDATE interactions SET metadata = '{broken' WHERE tenant = 'keepalive' AND user = ?",
            [user],
        )
    conn = http.client.HTTPConnection("127.0.0.1", live_server.port, timeout=10)
    try:
        for _ in range(3):
            conn.request("GET", f"/v1/users/{user}/interactions", headers=bearer(key))
            failed = conn.getresponse()
            body = json.loads(failed.read())
            assert failed.status == 500 and is_error(body, "internal_error"), body
            assert failed.getheader("connection", "").lower() != "close"
            # Before the fix uvicorn closed the connection right after the 500; waiting
            # makes that close land before the next request instead of racing it.
            time.sleep(0.2)
            conn.request("GET", "/healthz")
            ok = conn.getresponse()
            assert ok.status == 200 and json.loads(ok.read()) == {"status": "ok"}
    finally:
        conn.close()


def raw_request(server: Server, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):  # the server closes after a malformed request
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


def test_a_malformed_content_length_gets_the_json_error(live_server: Server) -> None:
    for length in (b"abc", b"-1", b"1, 2", b"99999999999999999999999x"):
        status, headers, body = raw_request(
            live_server,
            b"POST /v1/users/u/policy HTTP/1.1\r\nHost: x\r\nContent-Length: "
            + length
            + b"\r\nContent-Type: application/json\r\n\r\n{}",
        )
        assert status == 400, (length, body)
        assert headers["content-type"] == "application/json"
        assert is_error(json.loads(body), "bad_request"), body
    # A broken request line is the same kind of error.
    status, headers, body = raw_request(live_server, b"NOT HTTP AT ALL\r\n\r\n")
    assert status == 400 and is_error(json.loads(body), "bad_request"), body


def test_405_allows_every_method_of_the_path(client: TestClient) -> None:
    cases = {
        "/v1/users/u/pairs": {"GET", "POST"},
        "/v1/users/u/principles": {"GET", "POST"},
        "/v1/users/u/interactions": {"GET", "POST"},
        "/v1/users/u/preferences/p1": {"PATCH", "DELETE"},
        "/v1/users/u": {"DELETE"},
    }
    for path, methods in cases.items():
        response = client.put(path, json={})
        assert response.status_code == 405, (path, response.text)
        assert is_error(response.json(), "method_not_allowed")
        allowed = set(response.headers["allow"].split(", "))
        # HEAD is listed exactly where the framework serves it (it varies by version).
        assert allowed - {"HEAD"} == methods, path
        for method in allowed:
            assert client.request(method, path).status_code != 405, (method, path)


def test_openapi_documents_the_error_answers_of_every_route(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]  # never sent
    ref = {"$ref": "#/components/schemas/Error"}
    operations = {
        (method.upper(), path): op
        for path, item in schema["paths"].items()
        for method, op in item.items()
    }
    for (method, path), op in operations.items():
        responses = op["responses"]
        errors = {int(s) for s in responses if int(s) >= 400}
        assert "500" in responses, (method, path)
        for status in errors:
            assert responses[str(status)]["content"]["application/json"]["schema"] == ref
        if path.startswith("/v1/"):
            assert {401, 429} <= errors, (method, path)
        if "{user}" in path:
            assert 400 in errors, (method, path)
        if re.search(r"\{\w+_id\}", path):
            assert 404 in errors, (method, path)
        if "requestBody" in op:
            assert {400, 413, 422} <= errors, (method, path)
    assert operations["GET", "/healthz"]["responses"].keys() == {"200", "500"}
    assert operations["GET", "/metrics"]["responses"].keys() == {"200", "401", "403", "404", "500"}
    logging = operations["POST", "/v1/users/{user}/interactions"]["responses"]
    assert {"200", "201", "409"} <= logging.keys()  # 200: the same client_id again
    assert logging["200"]["content"] == logging["201"]["content"]
    assert "503" in operations["POST", "/v1/users/{user}/generate"]["responses"]


def test_the_error_tables_name_real_operations(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for (method, path), statuses in EXTRA.items():
        operation = paths.get(path, {}).get(method.lower())
        assert operation is not None, (method, path)
        assert {str(s) for s in statuses} <= set(operation["responses"])
    for (method, path), statuses in WITHOUT.items():
        operation = paths.get(path, {}).get(method.lower())
        assert operation is not None, (method, path)
        assert not {str(s) for s in statuses} & set(operation["responses"])


def test_the_documented_error_shape_is_what_the_api_sends(client: TestClient) -> None:
    from service.errors import ErrorResponse

    answers = [
        client.get("/v1/users/u/interactions", headers={"Authorization": "Bearer nope"}),
        client.get("/v1/users/bad%20id/interactions"),
        client.get("/v1/users/u/interactions/i_missing"),
        client.post("/v1/users/u/policy", content=b"{", headers={"content-type": "x/json"}),
        client.post("/v1/users/u/policy", json={}),
        client.put("/v1/users/u/policy"),
    ]
    for response in answers:
        assert response.status_code >= 400
        ErrorResponse.model_validate(response.json())


EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)


def test_docs_pages_load_their_assets_from_tailor(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        anonymous = client.get(page, headers={"Authorization": ""})
        assert anonymous.status_code == 200
        html = anonymous.text
        assert not EXTERNAL.search(html), html
        assert "googleapis" not in html and "cdn." not in html
        assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
        assert any(a.endswith(".js") for a in assets), html
        for asset in assets:
            fetched = client.get(asset, headers={"Authorization": ""})
            assert fetched.status_code == 200, asset
            assert len(fetched.content) > 100, asset
    assert client.get("/static/nothing.js").status_code == 404
    assert client.get("/static/../app.py").status_code == 404
