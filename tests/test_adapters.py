"""C3PO adapters through the real service: jobs, restart, evaluation, PEFT export."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import bearer, log
from tests.tinymodel import make_tiny_llama

USER = "lee"
FEEDBACK = "Use bullet points in emails"
TOPICS = ["the budget", "the offsite", "the hiring plan", "the release", "the office move"]
TOPICS += ["the vendor", "the audit", "the survey"]
OTHER = ["Recipe for banana bread", "A poem about autumn leaves", "Python code to parse CSV"]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    make_tiny_llama(root / "tiny")
    return root


@pytest.fixture
def app(make_app: Callable[..., FastAPI], models_dir: Path) -> FastAPI:
    return make_app(models_dir=models_dir, job_retry_seconds=0.05)


def wait_job(
    client: TestClient, job_id: str, done: Callable[[dict[str, Any]], bool] | None = None
) -> dict[str, Any]:
    done = done or (lambda j: j["state"] in {"done", "error", "cancelled"})
    deadline = time.monotonic() + 120
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if done(job):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def seed_user(client: TestClient) -> str:
    """Email edits from prose to bullets, some unrelated accepted drafts, and the feedback."""
    for t in TOPICS:
        log(
            client,
            USER,
            context=f"Write an email to the team about {t}",
            draft=f"Hi team, {t} is on track and the next steps are below. Thanks",
            final=f"Hi team,\n\n- {t} is on track\n- next steps below\n\nThanks",
            task="email",
        )
    for text in OTHER:
        log(client, USER, context=text, draft="Here it is.", final="Here it is.")
    answer = client.post(f"/v1/users/{USER}/feedback", json={"text": FEEDBACK})
    assert answer.status_code == 201
    feedback_id: str = answer.json()["id"]
    return feedback_id


def test_an_adapter_is_trained_evaluated_listed_and_downloaded(
    client: TestClient, models_dir: Path, tmp_path: Path
) -> None:
    feedback_id = seed_user(client)
    started = client.post(
        f"/v1/users/{USER}/adapters",
        json={"feedback_id": feedback_id, "base_model": "tiny", "steps": 3, "threshold": 0.25},
    )
    assert started.status_code == 202, started.text
    job = wait_job(client, started.json()["id"])
    assert job["state"] == "done", job
    assert 4 <= job["result"]["counts"]["in_scope"] <= len(TOPICS)  # only the emails

    listed = client.get(f"/v1/users/{USER}/adapters").json()
    [adapter] = listed["data"]
    assert adapter["id"] == job["result"]["adapter_id"] and adapter["feedback"] == FEEDBACK
    assert adapter["counts"]["held_out"] >= 1 and adapter["counts"]["out_scope"] > 0
    for metric in ("reward_accuracy", "reward_margin", "out_scope_kl"):
        assert isinstance(adapter["metrics"][metric], float), adapter["metrics"]

    download = client.get(f"/v1/users/{USER}/adapters/{adapter['id']}/download")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(download.content), mode="r:gz") as tar:
        names = sorted(tar.getnames())
        assert names == ["README.md", "adapter_config.json", "adapter_model.safetensors"]
        tar.extractall(tmp_path / "adapter", filter="data")
    assert FEEDBACK in (tmp_path / "adapter" / "README.md").read_text()

    # It loads in peft on the base model and changes the base model's outputs.
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(models_dir / "tiny"))
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        plain = base(ids).logits.clone()
        tuned = PeftModel.from_pretrained(base, str(tmp_path / "adapter"))(ids).logits
    assert not torch.allclose(plain, tuned)

    # Deleting the user deletes its adapters, files and jobs.
    folder = client.app.state.store.data_dir / "adapters"  # type: ignore[attr-defined]
    assert any(folder.rglob("adapter_model.safetensors"))
    assert client.delete(f"/v1/users/{USER}").status_code == 200
    assert client.get(f"/v1/users/{USER}/adapters").json()["count"] == 0
    assert not any(folder.rglob("adapter_model.safetensors"))
    assert client.get(f"/v1/jobs/{job['id']}").status_code == 404


def test_too_little_in_scope_data_is_a_clear_400(client: TestClient) -> None:
    log(client, USER, context="Write an email to Sam", draft="Hi Sam, ok.", final="Hi Sam,\n- ok")
    feedback = client.post(f"/v1/users/{USER}/feedback", json={"text": FEEDBACK}).json()
    answer = client.post(
        f"/v1/users/{USER}/adapters", json={"feedback_id": feedback["id"], "base_model": "tiny"}
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "not_enough_data" and "found 1 among 1" in error["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"feedback_id": "fb_nope"}, 404, "feedback_not_found"),
        ({}, 422, "validation_error"),
        ({"feedback_id": "x", "preference_ids": ["y"]}, 422, "validation_error"),
        ({"preference_ids": ["pref_nope"]}, 400, "preference_not_found"),
        ({"feedback_id": "FB", "base_model": "../../etc"}, 422, "validation_error"),
        ({"feedback_id": "FB", "base_model": "no-such-folder"}, 400, "invalid_base_model"),
        ({"feedback_id": "FB", "rank": 0}, 422, "validation_error"),
    ],
)
def test_bad_requests_are_refused_before_any_job(
    client: TestClient, body: dict[str, Any], status: int, code: str
) -> None:
    feedback_id = seed_user(client)
    if body.get("feedback_id") == "FB":
        body = body | {"feedback_id": feedback_id}
    answer = client.post(f"/v1/users/{USER}/adapters", json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert client.get(f"/v1/users/{USER}/adapters").json()["count"] == 0


def test_a_job_interrupted_by_a_restart_resumes_and_can_be_cancelled(
    make_app: Callable[..., FastAPI], models_dir: Path, key: str
) -> None:
    settings = {"models_dir": models_dir, "job_retry_seconds": 0.05}
    with TestClient(make_app(**settings), headers=bearer(key)) as client:
        feedback_id = seed_user(client)
        body = {"feedback_id": feedback_id, "base_model": "tiny", "steps": 5000, "threshold": 0.25}
        job_id = client.post(f"/v1/users/{USER}/adapters", json=body).json()["id"]
        wait_job(client, job_id, lambda j: j["state"] == "running" and j["progress"] > 0.05)
    # Shut down mid-training: the job went back to the queue, not left running.
    with TestClient(make_app(**settings), headers=bearer(key)) as client:
        job = wait_job(client, job_id, lambda j: j["state"] == "running" and j["progress"] > 0.05)
        assert job["attempts"] == 1  # the interrupted attempt was given back
        cancelled = client.post(f"/v1/jobs/{job_id}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        # One background worker runs adapter jobs one at a time, so a second job can
        # start only once the cancelled training has really stopped (5,000 steps would
        # hold the worker for many minutes).
        second = client.post(f"/v1/users/{USER}/adapters", json=body | {"steps": 2}).json()
        assert wait_job(client, second["id"])["state"] == "done"
        stopped = client.get(f"/v1/jobs/{job_id}").json()
        assert stopped["state"] == "cancelled" and stopped["progress"] < 0.5
        # The cancelled attempt stored nothing: the only adapter is the second job's.
        adapters = client.get(f"/v1/users/{USER}/adapters").json()["data"]
        assert [a["job_id"] for a in adapters] == [second["id"]]
        again = client.post(f"/v1/jobs/{job_id}/cancel")
        assert again.status_code == 409 and again.json()["error"]["code"] == "job_finished"


def test_cli_trains_lists_and_exports(
    client: TestClient, data_dir: Path, models_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from click.testing import CliRunner

    from service.cli import cli

    feedback_id = seed_user(client)
    monkeypatch.setenv("TAILOR_MODELS_DIR", str(models_dir))
    common = ["--user", USER, "--tenant", "acme", "--data-dir", str(data_dir)]
    trained = CliRunner().invoke(
        cli,
        ["adapters", "train", *common, "--feedback-id", feedback_id, "--base-model", "tiny",
         "--steps", "2", "--threshold", "0.25"],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    adapter_id = trained.stdout.strip().splitlines()[-1]
    assert adapter_id.startswith("adp_")
    listed = CliRunner().invoke(cli, ["adapters", "list", *common])
    assert listed.exit_code == 0 and adapter_id in listed.output
    out = tmp_path / "a.tar.gz"
    exported = CliRunner().invoke(
        cli, ["adapters", "export", adapter_id, *common, "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    with tarfile.open(out) as tar:
        assert "adapter_model.safetensors" in tar.getnames()
    # The service sees what the CLI trained.
    assert client.get(f"/v1/users/{USER}/adapters").json()["data"][0]["id"] == adapter_id
