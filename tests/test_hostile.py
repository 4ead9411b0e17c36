"""Hostile ids and inputs: nothing a client sends can address a file, break a later
read, overflow a column, or tell one tenant about another's traffic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from learners.jobs.worker import JobControl, JobWorker
from service.cli import cli
from store.adapters import (
    Adapter,
    adapters_root,
    insert_adapter,
    relocate_legacy,
    user_dir,
)
from store.db import Store
from store.errors import InvalidInputError
from store.jobs import claim, enqueue, get_job
from store.keys import create_key, ensure_tenant
from store.pairs import list_pairs
from store.records import Job, new_id, now, valid_id
from tests.conftest import bearer, log
from tests.test_errors import error

OK = {"context": "Email to a colleague", "draft": "Hi", "final": "Hello"}


def fake_adapter(store: Store, tenant: str, user: str, folder: Path | None = None) -> Adapter:
    """An adapter row with files, laid out where training puts them (or in ``folder``)."""
    adapter_id = new_id("adp")
    target = folder or user_dir(store, tenant, user) / adapter_id
    target.mkdir(parents=True)
    (target / "adapter_config.json").write_text("{}")
    adapter = Adapter(
        id=adapter_id,
        tenant=tenant,
        user=user,
        job_id=None,
        base_model="m",
        feedback="f",
        params={},
        counts={},
        metrics={},
        path=str(target.relative_to(store.data_dir)),
        created_at=now(),
    )
    with store.transaction() as db:
        insert_adapter(db, adapter)
    return adapter


# -- ids that could address a file tree ------------------------------------------------


@pytest.mark.parametrize("user", [".", "..", "%2E", "%2E%2E", "a%2Fb", "a%5Cb", "a%00b"])
def test_dot_and_separator_user_ids_are_refused_before_anything_is_removed(
    client: TestClient, app: FastAPI, user: str
) -> None:
    store: Store = app.state.store
    log(client, "dana", **OK)
    other = fake_adapter(store, "acme", "dana")
    response = client.delete(f"/v1/users/{user}")
    assert response.status_code in (400, 404, 422), response.text
    if response.status_code != 404:
        assert response.json()["error"]["code"] == "invalid_user_id"
    # Dana's rows and her adapter's files are all still there.
    assert client.get("/v1/users/dana/interactions").json()["count"] == 1
    assert (store.data_dir / other.path / "adapter_config.json").is_file()
    assert client.get("/v1/users/dana/adapters").json()["count"] == 1


@pytest.mark.parametrize("tenant", ["A/x", "a\\b", ".", "..", "", "x" * 129, "a\x00b", "é"])
def test_tenant_names_follow_the_user_id_rule(store: Store, tenant: str) -> None:
    with pytest.raises(InvalidInputError) as raised:
        create_key(store, tenant)
    assert raised.value.code == "invalid_tenant"
    with pytest.raises(InvalidInputError):
        ensure_tenant(store, tenant)
    result = CliRunner().invoke(
        cli, ["keys", "create", "--tenant", tenant, "--data-dir", str(store.data_dir)]
    )
    assert result.exit_code != 0
    assert "tlr_" not in result.output
    assert store.db.execute("SELECT count(*) FROM tenants").fetchone()[0] == 0


def test_adapter_folders_are_digests_that_no_name_can_steer(store: Store) -> None:
    root = adapters_root(store)
    seen = set()
    for tenant, user in [("A", "x"), ("A/x", "y"), ("A", "x/y"), ("A", ".."), ("..", "..")]:
        folder = user_dir(store, tenant, user)
        assert folder.parent == root
        assert tenant not in folder.name and user not in folder.name
        seen.add(folder)
    assert len(seen) == 5


def test_deleting_a_user_removes_only_that_users_adapter_files(
    client: TestClient, app: FastAPI, make_key: Any
) -> None:
    store: Store = app.state.store
    mine = fake_adapter(store, "acme", "x")
    theirs = fake_adapter(store, "acme", "y")
    assert client.delete("/v1/users/x").status_code == 200
    assert not (store.data_dir / mine.path).exists()
    assert (store.data_dir / theirs.path / "adapter_config.json").is_file()


def test_legacy_adapter_folders_move_to_their_digest_folder(store: Store) -> None:
    legacy = adapters_root(store) / "acme" / "dana"
    adapter = fake_adapter(store, "acme", "dana", legacy / "adp_legacy")
    other = fake_adapter(store, "acme", "eve", adapters_root(store) / "acme" / "eve" / "adp_e")
    # A crash after the rename but before the row's update: the next run finishes it.
    half = user_dir(store, "acme", "eve") / other.id
    half.parent.mkdir(parents=True)
    (adapters_root(store) / "acme" / "eve" / "adp_e").rename(half)

    assert relocate_legacy(store) == 2
    rows = dict(store.db.execute("SELECT id, path FROM adapters").fetchall())
    assert rows[adapter.id] == str(
        (user_dir(store, "acme", "dana") / adapter.id).relative_to(store.data_dir)
    )
    assert (store.data_dir / rows[adapter.id] / "adapter_config.json").is_file()
    assert (store.data_dir / rows[other.id] / "adapter_config.json").is_file()
    assert not (adapters_root(store) / "acme").exists()  # emptied legacy folders go
    assert relocate_legacy(store) == 0  # idempotent


def test_the_id_rule() -> None:
    assert all(valid_id(v) for v in ["a", "a.b", "...", ".a", "a..", "x@y.z", "_-", "1" * 128])
    bad = [".", "..", "", "a/b", "a\\b", "a b", "a\n", "1" * 129, "é"]
    assert not any(valid_id(v) for v in bad)


# -- input that would be stored and then break ---------------------------------------


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "raw_metadata",
    [
        json.dumps(nested(256)),
        json.dumps(nested(33)),
        '{"note": "\\ud800"}',
        '{"\\udfff": 1}',
        '{"list": ["ok", "\\ud83d"]}',
        '{"x": NaN}',
        '{"x": Infinity}',
        json.dumps({"big": "x" * 20_000}),
    ],
)
def test_metadata_that_cannot_come_back_is_refused_and_nothing_is_stored(
    client: TestClient, raw_metadata: str
) -> None:
    body = json.dumps(OK)[:-1] + f', "metadata": {raw_metadata}}}'
    response = client.post(
        "/v1/users/dana/interactions",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    listed = client.get("/v1/users/dana/interactions")
    assert listed.status_code == 200 and listed.json()["count"] == 0
    assert client.get("/v1/users/dana/export").status_code == 200


def test_metadata_within_the_limits_round_trips(client: TestClient) -> None:
    metadata = {"deep": nested(31), "emoji": "😀", "n": 1.5, "none": None, "list": [1, "a"]}
    created = client.post("/v1/users/dana/interactions", json=OK | {"metadata": metadata})
    assert created.status_code == 201, created.text
    [item] = client.get("/v1/users/dana/interactions").json()["data"]
    assert item["metadata"] == metadata


@pytest.mark.parametrize(
    "field", ["context", "draft", "final", "feedback", "client_id"], ids=lambda f: f
)
def test_lone_surrogates_in_any_text_are_refused(client: TestClient, field: str) -> None:
    body = json.dumps(OK | {field: "PLACEHOLDER"}).replace("PLACEHOLDER", "a\\udc80b")
    response = client.post(
        "/v1/users/dana/interactions", content=body, headers={"Content-Type": "application/json"}
    )
    error(response, 422, "validation_error")
    assert client.get("/v1/users/dana/interactions").json()["count"] == 0


@pytest.mark.parametrize("route", ["interactions", "pairs"])
@pytest.mark.parametrize("offset", [2**63, 2**70, 10**9 + 1, -1])
def test_offsets_out_of_range_are_4xx(client: TestClient, route: str, offset: int) -> None:
    error(client.get(f"/v1/users/dana/{route}", params={"offset": offset}), 422, "validation_error")


def test_the_largest_offset_is_an_empty_page(client: TestClient) -> None:
    page = client.get("/v1/users/dana/interactions", params={"offset": 10**9})
    assert page.status_code == 200 and page.json()["data"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"feedback_id": "fb_x", "seed": 2**70},
        {"feedback_id": "fb_x", "seed": -1},
        {"feedback_id": "fb_x", "seed": True},
        {"feedback_id": "fb_x", "steps": True},
        {"feedback_id": "fb_x", "threshold": False},
        {"feedback_id": "fb_x", "base_model": "a\x00b"},
        {"feedback_id": "fb_x", "base_model": "../../etc"},
        {"feedback_id": "fb_\x00"},
        {"preference_ids": ["p\ud800"]},
    ],
)
def test_adapter_requests_are_bounded_and_strictly_typed(
    client: TestClient, app: FastAPI, body: dict[str, Any]
) -> None:
    raw = json.dumps(body)  # ASCII escapes: a lone surrogate travels as \ud800
    response = client.post(
        "/v1/users/dana/adapters", content=raw, headers={"Content-Type": "application/json"}
    )
    error(response, 422, "validation_error")
    assert app.state.store.db.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("policy", {"context": "c", "k": True}),
        ("policy", {"context": "c", "k": "3"}),
        ("policy", {"context": 5}),
        ("rewrite", {"context": "c", "draft": False}),
        ("pairs", {"a": "x", "b": "y", "preferred": "a", "client_id": 1}),
    ],
)
def test_no_coercion_of_types(client: TestClient, route: str, body: dict[str, Any]) -> None:
    error(client.post(f"/v1/users/dana/{route}", json=body), 422, "validation_error")


# -- no server paths or raw exception texts ------------------------------------------------


def test_an_unknown_base_model_names_no_server_path(
    client: TestClient, app: FastAPI, data_dir: Path
) -> None:
    for n in range(5):
        log(client, "dana", context=f"Email to my manager about item {n}", draft="Hi", final="Yo")
    feedback = client.post("/v1/users/dana/feedback", json={"text": "be brief in emails"})
    fb_id = feedback.json()["id"]
    response = client.post(
        "/v1/users/dana/adapters", json={"feedback_id": fb_id, "base_model": "no-such-model"}
    )
    assert error(response, 400, "invalid_base_model")
    assert str(data_dir) not in response.text and "/models" not in response.text


class _Crashes:
    """A job handler with a bug whose message holds a server path."""

    def run(self, job: Job, control: JobControl) -> object:
        raise RuntimeError("could not open /srv/tailor/secret/file.bin")

    def commit(self, db: Any, job: Job, outcome: object) -> dict[str, Any]:
        return {}

    def failed(self, db: Any, job: Job, error: str, final: bool) -> None:
        return None


def test_a_crashing_job_keeps_its_trace_out_of_the_job_record(store: Store) -> None:
    ensure_tenant(store, "acme")
    with store.transaction() as db:
        job = enqueue(db, tenant="acme", user="dana", kind="crash", params={})
    worker = JobWorker(store, {"crash": _Crashes()}, name="t", max_attempts=1)
    worker.run_one(_claimed(store, job.id))
    failed = get_job(store, "acme", job.id)
    assert failed.state == "error"
    assert failed.error is not None and failed.error.startswith("internal_error")
    assert "/srv" not in failed.error and "secret" not in failed.error


def _claimed(store: Store, job_id: str) -> Job:
    job = claim(store, ["crash"])
    assert job is not None and job.id == job_id
    return job


# -- no side channel between tenants --------------------------------------------------------


def test_one_tenants_cached_contexts_are_not_anothers(
    app: FastAPI, make_key: Any, client: TestClient
) -> None:
    other = make_key("globex")
    text = "Quarterly results for the board, strictly confidential"
    assert client.post("/v1/users/dana/policy", json={"context": text}).status_code == 200
    embedder = app.state.engine.embedder
    misses = embedder.misses
    response = client.post("/v1/users/eve/policy", json={"context": text}, headers=bearer(other))
    assert response.status_code == 200
    # The other tenant's request found nothing cached: the model ran again.
    assert embedder.misses == misses + 1
    # The same tenant's second request is served from its own cache.
    client.post("/v1/users/dana/policy", json={"context": text})
    assert embedder.misses == misses + 1


# -- principles import -------------------------------------------------------------------


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def import_csv(data_dir: Path, path: Path, tenant: str = "acme") -> Any:
    return CliRunner().invoke(
        cli,
        [
            *("principles", "import", str(path), "--user", "dana"),
            *("--tenant", tenant, "--data-dir", str(data_dir)),
        ],
    )


def test_principles_import_needs_an_existing_tenant(tmp_path: Path, data_dir: Path) -> None:
    csv_file = write_csv(tmp_path / "p.csv", "text_a,text_b,preferred_text\nx,y,text_a\n")
    result = import_csv(data_dir, csv_file, tenant="nobody")
    assert result.exit_code != 0 and "no tenant 'nobody'" in result.output
    store = Store.open(data_dir)
    try:
        assert list_pairs(store, "nobody", "dana", limit=10, offset=0)[1] == 0
    finally:
        store.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("text_a,text_a,text_b,preferred_text\nx,x,y,text_a\n", "line 1: column(s) text_a"),
        ("text_a,text_b,preferred_text\nx,y,text_a\nx\x00,y,text_b\n", "line 3: a NUL byte"),
        (
            'text_a,text_b,preferred_text\nx,y,text_a\n"multi\nline",y,text_a\n'
            + "z,"
            + "w" * 200_001
            + ",text_b\n",
            "row 3 (line 5): text_b is 200001 characters",
        ),
        (
            "text_a,text_b,preferred_text\nx,y,text_a\n" + "z," + "w" * 140_000 + ",text_b\n",
            None,
        ),
    ],
)
def test_principles_import_validates_the_file(
    tmp_path: Path, data_dir: Path, text: str, expected: str | None
) -> None:
    store = Store.open(data_dir)
    ensure_tenant(store, "acme")
    store.close()
    result = import_csv(data_dir, write_csv(tmp_path / "p.csv", text))
    store = Store.open(data_dir)
    try:
        count = list_pairs(store, "acme", "dana", limit=10, offset=0)[1]
    finally:
        store.close()
    if expected is None:
        assert result.exit_code == 0, result.output
        assert count == 2
    else:
        assert result.exit_code != 0 and expected in result.output, result.output
        assert count == 0
