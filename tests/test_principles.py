"""Pairs and constitutions through the real service: API, background job, policy, CLI."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from replay.icai_eval import PLANTED, synthetic_pairs
from service.cli import cli
from tests.conftest import bearer, log
from tests.fakellm import Provider, serve_provider

USER = "kim"


def wait_job(client: TestClient, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in {"done", "error", "cancelled"}:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def send_pairs(client: TestClient, n: int, seed: int = 0) -> None:
    for i, pair in enumerate(synthetic_pairs("orthogonal", n, seed=seed)):
        body = {"a": pair.a, "b": pair.b, "preferred": pair.preferred, "client_id": f"p{i}"}
        assert client.post(f"/v1/users/{USER}/pairs", json=body).status_code == 201


def test_pairs_are_stored_idempotently(client: TestClient) -> None:
    body = {"a": "Short.", "b": "A much longer text.", "preferred": "a", "client_id": "x1"}
    first = client.post(f"/v1/users/{USER}/pairs", json=body)
    assert first.status_code == 201 and first.json()["origin"] == "api"
    again = client.post(f"/v1/users/{USER}/pairs", json=body)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    clash = client.post(f"/v1/users/{USER}/pairs", json=body | {"preferred": "b"})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "idempotency_conflict"
    bad = client.post(f"/v1/users/{USER}/pairs", json=body | {"preferred": "c"})
    assert bad.status_code == 422
    listed = client.get(f"/v1/users/{USER}/pairs").json()
    assert listed["count"] == 1 and listed["data"][0]["preferred"] == "a"


def test_too_few_pairs_is_a_clear_400(client: TestClient) -> None:
    client.post(f"/v1/users/{USER}/pairs", json={"a": "x", "b": "y", "preferred": "a"})
    answer = client.post(f"/v1/users/{USER}/principles", json={})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "not_enough_data" and "has 1" in error["message"]


def test_llm_method_without_an_llm_is_503(client: TestClient) -> None:
    send_pairs(client, 6)
    answer = client.post(f"/v1/users/{USER}/principles", json={"method": "llm"})
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "llm_not_configured"


def test_constitution_from_pairs_is_built_read_edited_and_used_by_the_policy(
    client: TestClient,
) -> None:
    send_pairs(client, 80)
    started = client.post(f"/v1/users/{USER}/principles", json={"include_edits": False})
    assert started.status_code == 202 and started.json()["kind"] == "principles"
    job = wait_job(client, started.json()["id"])
    assert job["state"] == "done", job

    constitution = client.get(f"/v1/users/{USER}/principles").json()
    keys = {p["stats"]["key"] for p in constitution["data"]}
    assert constitution["pairs"] == 80 and constitution["agreement"] > 0.8
    assert {p.key for p in PLANTED["orthogonal"]} <= keys, keys
    for p in constitution["data"]:
        assert p["source"] == "principle" and p["scope"] == "user"
        assert p["votes_for"] > p["votes_against"] and p["relevant"] >= 8
        assert p["text"].startswith("Write so that the text ")

    policy = client.post(f"/v1/users/{USER}/policy", json={"context": "Any new email"}).json()
    used = {p["id"] for p in policy["preferences"] if p["source"] == "principle"}
    assert used == {p["id"] for p in constitution["data"]}

    # Principles are preferences: disable one and the policy drops it.
    target = constitution["data"][0]["id"]
    patched = client.patch(f"/v1/users/{USER}/preferences/{target}", json={"disabled": True})
    assert patched.status_code == 200
    policy = client.post(f"/v1/users/{USER}/policy", json={"context": "Any new email"}).json()
    assert target not in {p["id"] for p in policy["preferences"]}


def test_constitution_from_edits(client: TestClient) -> None:
    for n in range(10):
        log(
            client,
            USER,
            context=f"Status email number {n}",
            draft=f"Hi all!!! 🎉 Update {n} is out 😀 and it works well.",
            final=f"Hi all, update {n} is out and it works well.",
        )
    job = wait_job(client, client.post(f"/v1/users/{USER}/principles").json()["id"])
    assert job["state"] == "done", job
    texts = [p["text"] for p in client.get(f"/v1/users/{USER}/principles").json()["data"]]
    assert any("emoji" in t for t in texts), texts


def test_rebuilding_retires_principles_no_longer_supported(client: TestClient) -> None:
    send_pairs(client, 80)
    first = wait_job(client, client.post(f"/v1/users/{USER}/principles", json={}).json()["id"])
    before = {p["id"] for p in client.get(f"/v1/users/{USER}/principles").json()["data"]}
    assert first["state"] == "done" and before
    # Many more pairs that contradict every planted principle (labels flipped).
    for i, pair in enumerate(synthetic_pairs("orthogonal", 300, seed=1, noise=0.0)):
        flipped = "b" if pair.preferred == "a" else "a"
        body = {"a": pair.a, "b": pair.b, "preferred": flipped, "client_id": f"f{i}"}
        client.post(f"/v1/users/{USER}/pairs", json=body)
    second = wait_job(client, client.post(f"/v1/users/{USER}/principles", json={}).json()["id"])
    assert second["state"] == "done"
    after = client.get(f"/v1/users/{USER}/principles").json()["data"]
    assert not before & {p["id"] for p in after}
    retired = client.get(f"/v1/users/{USER}/preferences", params={"source": "principle"}).json()
    assert {p["id"] for p in retired["data"] if p["status"] == "retired"} >= before


def test_cli_imports_icai_csv_pairs(
    data_dir: Path, make_app: Callable[..., FastAPI], key: str, tmp_path: Path
) -> None:
    path = tmp_path / "pairs.csv"
    pairs = synthetic_pairs("orthogonal", 60, seed=2)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text_a", "text_b", "preferred_text", "input"])
        for p in pairs:
            writer.writerow([p.a, p.b, "text_a" if p.preferred == "a" else "text_b", "a post"])
    result = CliRunner().invoke(
        cli,
        ["principles", "import", str(path), "--user", USER, "--tenant", "acme", "--data-dir",
         str(data_dir)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with TestClient(make_app(), headers=bearer(key)) as client:
        listed = client.get(f"/v1/users/{USER}/pairs", params={"limit": 500}).json()
        assert listed["count"] == 60
        assert {p["origin"] for p in listed["data"]} == {"csv"}
        assert listed["data"][0]["context"] == "a post"
        job = client.post(f"/v1/users/{USER}/principles", json={"include_edits": False})
        assert wait_job(client, job.json()["id"])["state"] == "done"


def test_cli_import_is_idempotent_and_skips_ties(
    data_dir: Path, make_app: Callable[..., FastAPI], key: str, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text(
        "text_a,text_b,preferred_text\n"
        "Short.,A longer answer.,text_a\n"
        "Cats.,Dogs.,tie\n"
        "Bad one.,Bad two.,tie (bothbad)\n"
        "Terse.,Wordy answer here.,text_a\n"
        "Short.,A longer answer.,text_a\n"  # the same pair twice in one file
    )
    with_ids = tmp_path / "ids.csv"
    with_ids.write_text(
        "id,text_a,text_b,preferred_text\nq1,Short.,A longer answer.,text_a\nq2,x,y,text_b\n"
    )
    args = ["--user", USER, "--tenant", "acme", "--data-dir", str(data_dir)]

    def run(path: Path) -> str:
        result = CliRunner().invoke(cli, ["principles", "import", str(path), *args])
        assert result.exit_code == 0, result.output
        return result.output

    first = run(plain)
    assert "imported 2 pairs" in first and "1 duplicates" in first and "2 ties" in first
    again = run(plain)
    assert "imported 0 pairs" in again and "3 duplicates" in again
    # An explicit id column keys the pairs by it: the same content under an id is new.
    assert "imported 2 pairs" in run(with_ids)
    assert "imported 0 pairs" in run(with_ids)
    with TestClient(make_app(), headers=bearer(key)) as client:
        assert client.get(f"/v1/users/{USER}/pairs").json()["count"] == 4
    # Reusing an id for different content is refused, and nothing of the file is stored.
    with_ids.write_text("id,text_a,text_b,preferred_text\nq3,p,q,text_a\nq1,changed,y,text_b\n")
    result = CliRunner().invoke(cli, ["principles", "import", str(with_ids), *args])
    assert result.exit_code == 1 and "already used for a different pair" in result.output
    with TestClient(make_app(), headers=bearer(key)) as client:
        assert client.get(f"/v1/users/{USER}/pairs").json()["count"] == 4


def test_cli_import_refuses_a_malformed_csv(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("text_a,text_b,preferred_text\nx,y,text_c\n")
    result = CliRunner().invoke(
        cli, ["principles", "import", str(path), "--user", USER, "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 1 and "row 1" in result.output


def test_a_malformed_llm_answer_fails_the_job_visibly_and_loses_nothing(
    make_app: Callable[..., FastAPI], key: str
) -> None:
    provider = Provider(mode="malformed")
    with serve_provider(provider) as url:
        app = make_app(
            llm_model="openai/fake-model",
            llm_api_base=url,
            llm_api_key="sk-test",
            llm_retries=0,
            job_max_attempts=2,
            job_retry_seconds=0.05,
        )
        with TestClient(app, headers=bearer(key)) as client:
            send_pairs(client, 8)
            started = client.post(f"/v1/users/{USER}/principles", json={"method": "llm"})
            job = wait_job(client, started.json()["id"])
            assert (job["state"], job["attempts"]) == ("error", 2)
            assert job["error"].startswith("llm_malformed_output: malformed LLM answer")
            assert client.get(f"/v1/users/{USER}/pairs").json()["count"] == 8
            constitution = client.get(f"/v1/users/{USER}/principles").json()
            assert constitution["data"] == [] and constitution["job"]["state"] == "error"


@pytest.mark.parametrize("kind", ["orthogonal"])
def test_cli_eval_prints_the_table(kind: str) -> None:
    result = CliRunner().invoke(cli, ["principles", "eval", "--pairs", "60"])
    assert result.exit_code == 0, result.output
    assert kind in result.output
