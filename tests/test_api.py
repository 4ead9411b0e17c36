"""The v1 HTTP contract, through the real app, store, index and model."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import METRICS_KEY, bearer, log, scrape

BOSS = "Email to my boss Maria about moving the quarterly budget review"


def test_healthz_needs_no_key_and_docs_are_served(app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(app) as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        assert anonymous.get("/openapi.json").status_code == 200
        assert anonymous.get("/docs").status_code == 200


def test_logging_an_interaction_measures_and_learns(client: TestClient) -> None:
    r = client.post(
        "/v1/users/dana/interactions",
        json={
            "context": BOSS,
            "draft": "Hey boss! 😀 The review moves to Tuesday.",
            "final": "Hello Maria, the review moves to Tuesday.",
            "task": "email",
            "feedback": "no emojis in emails to my boss",
            "metadata": {"app": "mail", "thread": 7},
        },
    )
    assert r.status_code == 201
    body = r.json()
    assert body["accepted"] is False
    # Hey->Hello, boss->Maria, "!"->",", "😀" deleted, The->the
    assert body["edit_distance"] == 5
    learned = {p["source"]: p for p in body["learned"]}
    assert learned["feedback"]["text"] == "no emojis in emails to my boss"
    stored = client.get("/v1/users/dana/preferences", params={"source": "feedback"}).json()
    assert stored["data"][0]["evidence"] == [
        {"type": "interaction", "id": body["id"], "detail": None}
    ]
    signals = {p["text"] for p in body["learned"] if p["source"] == "edit"}
    assert {"avoids emojis", "avoids exclamation marks"} <= signals
    assert client.get(f"/v1/users/dana/interactions/{body['id']}").json()["metadata"] == {
        "app": "mail",
        "thread": 7,
    }


def test_accepted_draft_costs_nothing(client: TestClient) -> None:
    body = log(client, "dana", draft="Thanks!", final="Thanks!")
    assert (body["accepted"], body["edit_distance"], body["learned"]) == (True, 0, [])


def test_client_id_makes_logging_idempotent(client: TestClient) -> None:
    payload = {
        "context": BOSS,
        "draft": "a b",
        "final": "a c",
        "client_id": "evt-1",
        "feedback": "be formal",
    }
    first = client.post("/v1/users/dana/interactions", json=payload)
    again = client.post("/v1/users/dana/interactions", json=payload)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert client.get("/v1/users/dana/interactions").json()["count"] == 1
    assert client.get("/v1/users/dana/preferences").json()["data"][0]["support"] == 1
    changed = client.post("/v1/users/dana/interactions", json=payload | {"final": "a d"})
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "idempotency_conflict"
    # The same client_id under another user is a different event.
    assert client.post("/v1/users/eve/interactions", json=payload).status_code == 201


def test_interactions_are_paginated_newest_first(client: TestClient) -> None:
    ids = [log(client, "dana", context=f"note {i}")["id"] for i in range(5)]
    page = client.get("/v1/users/dana/interactions", params={"limit": 2, "offset": 1}).json()
    assert page["count"] == 5 and (page["limit"], page["offset"]) == (2, 1)
    assert [i["id"] for i in page["data"]] == [ids[3], ids[2]]


def test_unknown_user_reads_are_empty_not_404(client: TestClient) -> None:
    assert client.get("/v1/users/nobody/interactions").json()["count"] == 0
    assert client.get("/v1/users/nobody/preferences").json() == {"data": [], "count": 0}
    policy = client.post("/v1/users/nobody/policy", json={"context": BOSS}).json()
    assert policy["preference"] == "" and policy["preferences"] == [] and policy["rules"] == []
    assert policy["system_prompt"]
    assert client.get("/v1/users/nobody/export").text == ""


def test_policy_retrieves_preferences_of_similar_contexts_only(client: TestClient) -> None:
    log(client, "dana", context=BOSS, draft="x", final="y", feedback="no emojis for my boss")
    log(
        client,
        "dana",
        context="Summarize this news article about the football championship final",
        draft="x",
        final="y",
        feedback="use bullet points",
    )
    near = client.post(
        "/v1/users/dana/policy",
        json={"context": "Write an email to my manager Maria about the budget review date"},
    ).json()
    assert [p["text"] for p in near["preferences"]] == ["no emojis for my boss"]
    assert 0.3 < near["preferences"][0]["score"] <= 1.0
    assert "no emojis for my boss" in near["system_prompt"]
    assert near["preference"] == "no emojis for my boss."
    far = client.post(
        "/v1/users/dana/policy",
        json={"context": "Summarize the sports report on last night's championship match"},
    ).json()
    assert [p["text"] for p in far["preferences"]] == ["use bullet points"]


def test_task_restricts_retrieval(client: TestClient) -> None:
    log(client, "dana", context=BOSS, task="email", feedback="sign off with Best, Dana")
    log(client, "dana", context=BOSS + " (summary)", task="summary", feedback="one paragraph")
    as_email = client.post(
        "/v1/users/dana/policy", json={"context": BOSS, "task": "email", "k": 5}
    ).json()
    assert [p["text"] for p in as_email["preferences"]] == ["sign off with Best, Dana"]
    anything = client.post("/v1/users/dana/policy", json={"context": BOSS}).json()
    assert len(anything["preferences"]) == 2


def test_feedback_without_context_applies_everywhere(client: TestClient) -> None:
    r = client.post("/v1/users/dana/feedback", json={"text": "Never use exclamation marks"})
    assert r.status_code == 201
    assert r.json()["preference"]["scope"] == "user"
    scoped = client.post(
        "/v1/users/dana/feedback",
        json={"text": "Mention the ticket number", "context": "Reply to a support ticket"},
    ).json()
    assert scoped["preference"]["scope"] == "context"
    policy = client.post("/v1/users/dana/policy", json={"context": "A poem about autumn"}).json()
    assert [p["text"] for p in policy["preferences"]] == ["Never use exclamation marks"]
    assert policy["preferences"][0]["score"] == 1.0


def test_repeated_feedback_gains_support_and_ranks_first(client: TestClient) -> None:
    for _ in range(3):
        log(client, "dana", context=BOSS, feedback="keep it under five sentences")
    log(client, "dana", context=BOSS, feedback="mention the agenda")
    policy = client.post("/v1/users/dana/policy", json={"context": BOSS}).json()
    assert [p["text"] for p in policy["preferences"]] == [
        "keep it under five sentences",
        "mention the agenda",
    ]
    prefs = client.get("/v1/users/dana/preferences").json()["data"]
    assert {p["text"]: p["support"] for p in prefs} == {
        "keep it under five sentences": 3,
        "mention the agenda": 1,
    }


def test_preferences_can_be_edited_disabled_and_deleted(client: TestClient) -> None:
    log(client, "dana", context=BOSS, feedback="no emojis")
    pref = client.get("/v1/users/dana/preferences").json()["data"][0]
    edited = client.patch(
        f"/v1/users/dana/preferences/{pref['id']}", json={"text": "No emojis, ever"}
    ).json()
    assert (edited["text"], edited["version"]) == ("No emojis, ever", 2)
    policy = client.post("/v1/users/dana/policy", json={"context": BOSS}).json()
    assert policy["preference"] == "No emojis, ever."
    client.patch(f"/v1/users/dana/preferences/{pref['id']}", json={"disabled": True})
    assert client.post("/v1/users/dana/policy", json={"context": BOSS}).json()["preference"] == ""
    enabled_only = client.get("/v1/users/dana/preferences", params={"include_disabled": False})
    assert enabled_only.json()["count"] == 0
    # New evidence for a disabled preference does not re-enable it.
    log(client, "dana", context=BOSS, feedback="no emojis")
    assert client.get("/v1/users/dana/preferences").json()["data"][0]["disabled"] is True
    assert client.delete(f"/v1/users/dana/preferences/{pref['id']}").status_code == 204
    assert client.get("/v1/users/dana/preferences").json()["count"] == 0
    assert client.delete(f"/v1/users/dana/preferences/{pref['id']}").status_code == 404


def test_rewrite_returns_the_draft_when_no_rules_are_known(client: TestClient) -> None:
    log(client, "dana", context=BOSS, feedback="no emojis")
    r = client.post("/v1/users/dana/rewrite", json={"context": BOSS, "draft": "Hi 😀"})
    assert r.json() == {"text": "Hi 😀", "applied": []}


def test_export_is_ndjson_of_everything(client: TestClient) -> None:
    created = log(client, "dana", context=BOSS, feedback="no emojis", client_id="e1")
    client.post("/v1/users/dana/feedback", json={"text": "be brief"})
    pref = created["learned"][0]
    client.patch(f"/v1/users/dana/preferences/{pref['id']}", json={"text": "no emoji at all"})
    r = client.get("/v1/users/dana/export")
    assert r.headers["content-type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in r.text.splitlines()]
    types = [rec["type"] for rec in records]
    assert types.count("interaction") == 1 and types.count("preference") == 2
    assert types.count("feedback") == 2 and types.count("embedding") == 1
    edited = next(rec for rec in records if rec["id"] == pref["id"])
    assert edited["versions"][0]["text"] == "no emojis"
    assert edited["evidence"] == [{"type": "interaction", "id": created["id"], "detail": None}]
    assert all(rec["user"] == "dana" for rec in records)


def test_delete_user_removes_rows_vectors_and_files(client: TestClient, data_dir: Path) -> None:
    log(client, "dana", context=BOSS, feedback="no emojis")
    log(client, "erin", context=BOSS, feedback="be warm")
    client.app.state.engine.index.flush()  # type: ignore[attr-defined]
    index_files = set((data_dir / "index").iterdir())
    assert len(index_files) == 2
    r = client.delete("/v1/users/dana")
    assert r.status_code == 200
    assert r.json()["deleted"]["interactions"] == 1 and r.json()["deleted"]["embeddings"] == 1
    assert client.get("/v1/users/dana/export").text == ""
    assert client.post("/v1/users/dana/policy", json={"context": BOSS}).json()["preference"] == ""
    assert len(set((data_dir / "index").iterdir())) == 1
    # The other user is untouched.
    erin = client.post("/v1/users/erin/policy", json={"context": BOSS}).json()
    assert erin["preference"] == "be warm."


def test_metrics_count_requests_by_route(make_app: Callable[..., FastAPI], key: str) -> None:
    with TestClient(make_app(metrics_key=METRICS_KEY), headers=bearer(key)) as client:
        log(client, "dana")
        client.post("/v1/users/dana/policy", json={"context": BOSS})
        text = scrape(client)
        assert 'route="/v1/users/{user}/interactions",status="201"' in text
        assert 'route="/v1/users/{user}/policy"' in text
        assert "tailor_interactions_logged_total 1.0" in text
        # Service-wide figures are the operator's: a tenant's key is refused.
        assert client.get("/metrics").json()["error"]["code"] == "forbidden"
    with TestClient(client.app) as anonymous:
        assert anonymous.get("/metrics").status_code == 401
        wrong = anonymous.get("/metrics", headers=bearer("not-the-key"))
        assert wrong.status_code == 401


def test_metrics_are_off_without_a_metrics_key(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 404


# -- one timestamp format ---------------------------------------------------------

#: RFC 3339, UTC, microseconds, "Z": the only form a timestamp takes in a response
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def timestamps(value: Any, path: str = "$") -> list[tuple[str, Any]]:
    """Every ``*_at`` value (and a job's ``run_after``) anywhere in a JSON document."""
    found: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if (key.endswith("_at") or key == "run_after") and item is not None:
                found.append((f"{path}.{key}", item))
            else:
                found += timestamps(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += timestamps(item, f"{path}[{i}]")
    return found


def wait_done(client: TestClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while (job := client.get(f"/v1/jobs/{job_id}").json())["state"] not in {"done", "error"}:
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    assert job["state"] == "done", job
    return job  # type: ignore[no-any-return]


def test_every_timestamp_in_every_response_has_one_format(client: TestClient) -> None:
    from replay.icai_eval import synthetic_pairs
    from store.adapters import Adapter, insert_adapter

    logged = [
        log(client, "dana", context=f"{BOSS}, take {n}", draft="Hi boss! 😀 Done.",
            final="Hello Maria, done.", feedback="no emojis" if n == 0 else None)
        for n in range(3)
    ]  # fmt: skip
    for i, pair in enumerate(synthetic_pairs("orthogonal", 8, seed=0)):
        body = {"a": pair.a, "b": pair.b, "preferred": pair.preferred, "client_id": f"p{i}"}
        assert client.post("/v1/users/dana/pairs", json=body).status_code == 201
    started = client.post("/v1/users/dana/principles", json={"method": "offline"}).json()
    job = wait_done(client, started["id"])

    # Rows written before the format was unified (+00:00, whole seconds) are shown in it too.
    store = client.app.state.store  # type: ignore[attr-defined]
    legacy = "2025-01-02T03:04:05+00:00"
    with store.transaction() as db:
        insert_adapter(
            db,
            Adapter(
                id="adp_old", tenant="acme", user="dana", job_id=None, base_model="tiny",
                feedback="be brief", params={}, counts={}, metrics={}, path="nowhere",
                created_at=legacy,
            ),
        )  # fmt: skip
        result = dict(job["result"], built_at=legacy)
        db.execute("UPDATE jobs SET result = ? WHERE id = ?", [json.dumps(result), job["id"]])
        db.execute(
            "UPDATE preferences SET stats = ? WHERE user = 'dana' AND source = 'feedback'",
            [json.dumps({"verified_at": legacy})],
        )

    # An edited preference keeps its old text in the export's versions (replaced_at).
    first = client.get("/v1/users/dana/preferences").json()["data"][0]
    edited = client.patch(f"/v1/users/dana/preferences/{first['id']}", json={"text": "Be brief."})
    assert edited.status_code == 200, edited.text

    responses = {
        "interaction": logged[0],
        "interactions": client.get("/v1/users/dana/interactions").json(),
        "preferences": client.get("/v1/users/dana/preferences").json(),
        "job": client.get(f"/v1/jobs/{job['id']}").json(),
        "principles": client.get("/v1/users/dana/principles").json(),
        "pairs": client.get("/v1/users/dana/pairs").json(),
        "adapters": client.get("/v1/users/dana/adapters").json(),
        "export": [
            json.loads(line) for line in client.get("/v1/users/dana/export").text.splitlines()
        ],
    }
    found = timestamps(responses)
    keys = {path.rsplit(".", 1)[-1] for path, _ in found}
    assert {"created_at", "updated_at", "built_at", "verified_at", "replaced_at"} - keys == set()
    wrong = [(path, value) for path, value in found if not STAMP.fullmatch(str(value))]
    assert wrong == []
    assert responses["adapters"]["data"][0]["created_at"] == "2025-01-02T03:04:05.000000Z"
    assert responses["principles"]["built_at"] == "2025-01-02T03:04:05.000000Z"


# -- streamed export --------------------------------------------------------------


def test_a_large_export_is_streamed_page_by_page(client: TestClient) -> None:
    from store.interactions import insert_interaction
    from store.records import Interaction, new_id, now
    from store.users import export_user

    store = client.app.state.store  # type: ignore[attr-defined]
    with store.transaction() as db:
        for n in range(2000):
            insert_interaction(
                db,
                Interaction(
                    id=new_id("int"), tenant="acme", user="bulk", context=f"Email {n}",
                    draft="Hi", final="Hello", task=None, feedback=None, client_id=None,
                    metadata={"n": n}, edit_distance=1, accepted=False, created_at=now(),
                ),
            )  # fmt: skip

    # The generator reads one page per query, on demand: one page before the first record.
    reads: list[str] = []
    store.db.conn.set_trace_callback(
        lambda sql: reads.append(sql) if "FROM interactions" in sql else None
    )
    try:
        records = export_user(store, "acme", "bulk", page_size=100)
        first = next(records)
        assert first["type"] == "interaction" and first["metadata"] == {"n": 0}
        assert len(reads) == 1
        rest = list(records)
        assert len(reads) == 2000 // 100 + 1  # 20 full pages and the empty one that ends it
    finally:
        store.db.conn.set_trace_callback(None)
    assert [r["metadata"]["n"] for r in [first, *rest]] == list(range(2000))

    # Through the route: NDJSON sent as a stream (no Content-Length), every row once.
    with client.stream("GET", "/v1/users/bulk/export") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        assert "content-length" not in response.headers
        chunks = list(response.iter_bytes())
    lines = b"".join(chunks).decode().splitlines()
    assert len(lines) == 2000
    assert len({json.loads(line)["id"] for line in lines}) == 2000
