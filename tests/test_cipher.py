"""CIPHER through the real service and litellm, against a provider on 127.0.0.1.

The provider (tests/fakellm.py) answers over real HTTP like an OpenAI-compatible
API, so the retries, timeouts and strict parsing run exactly as in production.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import METRICS_KEY, bearer, log, scrape
from tests.fakellm import Provider, serve_provider
from tests.live import Server

USER = "ana"
DRAFT = "Hi Sam!!! 🎉 The report is ready 😀. Thanks so much!!!"
FINAL = "Hi Sam, the report is ready. Thanks."


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def provider_url(provider: Provider) -> Iterator[str]:
    with serve_provider(provider) as url:
        yield url


@pytest.fixture
def llm_app(make_app: Callable[..., FastAPI], provider_url: str) -> Callable[..., FastAPI]:
    def make(**overrides: Any) -> FastAPI:
        settings = {
            "learner": "feedback,edits,rules,cipher-5",
            "llm_model": "openai/fake-model",
            "llm_api_base": provider_url,
            "llm_api_key": "sk-test",
            "llm_timeout": 1.0,
            "llm_retries": 0,
            "job_max_attempts": 2,
            "job_retry_seconds": 0.05,
            "metrics_key": METRICS_KEY,
        }
        return make_app(**(settings | overrides))

    return make


def wait_for(
    client: TestClient, path: str, done: Callable[[dict[str, Any]], bool], timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(path).json()
        if done(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting on {path}: {body}")
        time.sleep(0.05)


def settled(body: dict[str, Any]) -> bool:
    return body["inference"] in {"done", "error"}


def log_edit(client: TestClient, n: int = 0) -> dict[str, Any]:
    return log(
        client,
        USER,
        context=f"Email to Sam about the quarterly report, version {n}",
        draft=DRAFT,
        final=FINAL,
        task="email",
    )


def test_a_provider_answering_in_plain_text_still_teaches_cipher(
    llm_app: Callable[..., FastAPI], key: str, provider: Provider
) -> None:
    provider.mode = "plain"
    with TestClient(llm_app(learner="feedback,cipher-1"), headers=bearer(key)) as client:
        first = log_edit(client, 1)
        done = wait_for(client, f"/v1/users/{USER}/interactions/{first['id']}", settled)
        assert done["inference"] == "done", done["inference_error"]
        assert [p["text"] for p in done["learned"] if p["source"] == "cipher"] == ["avoids emojis"]
    # litellm reports structured output for this OpenAI-compatible model: it was asked for.
    assert provider.calls[0].get("response_format") == {"type": "json_object"}


def test_cipher_preference_is_learned_in_background_and_used_by_the_policy(
    llm_app: Callable[..., FastAPI], key: str, provider: Provider
) -> None:
    with TestClient(llm_app(), headers=bearer(key)) as client:
        first = log_edit(client, 1)
        # The offline learners answer at once; the LLM's work is queued.
        assert first["inference"] == "pending"
        assert first["learned"] and all(p["source"] != "cipher" for p in first["learned"])
        done = wait_for(client, f"/v1/users/{USER}/interactions/{first['id']}", settled)
        assert done["inference"] == "done" and done["inference_error"] is None
        cipher = [p for p in done["learned"] if p["source"] == "cipher"]
        assert [p["text"] for p in cipher] == ["avoids emojis"]

        second = log_edit(client, 2)
        wait_for(client, f"/v1/users/{USER}/interactions/{second['id']}", settled)
        prefs = client.get(f"/v1/users/{USER}/preferences").json()["data"]
        assert sum(p["source"] == "cipher" for p in prefs) == 2

        policy = client.post(
            f"/v1/users/{USER}/policy",
            json={"context": "Email to Sam about the quarterly report", "task": "email"},
        ).json()
        used = [p for p in policy["preferences"] if p["source"] == "cipher"]
        # CIPHER-5 aggregated the two retrieved phrases with one more LLM call.
        assert [p["text"] for p in used] == ["combined: avoids emojis"]
        assert "combined: avoids emojis" in policy["system_prompt"]
        metrics = scrape(client)
        assert 'tailor_jobs{kind="inference"' not in metrics  # no backlog, no failure
        tokens = next(ln for ln in metrics.splitlines() if ln.startswith("tailor_llm_tokens "))
        assert float(tokens.split()[1]) == 3 * 49  # two inferences and one aggregation
        inference_prompts = [c for c in provider.calls if "Changes measured" in str(c)]
        assert len(inference_prompts) == 2
        assert (
            "Hi Sam, the report is ready. Thanks."
            in inference_prompts[0]["messages"][-1]["content"]
        )


def test_cipher_1_uses_the_nearest_phrase_without_aggregating(
    llm_app: Callable[..., FastAPI], key: str, provider: Provider
) -> None:
    with TestClient(llm_app(learner="feedback,cipher-1"), headers=bearer(key)) as client:
        for n in (1, 2):
            item = log_edit(client, n)
            wait_for(client, f"/v1/users/{USER}/interactions/{item['id']}", settled)
        calls = len(provider.calls)
        policy = client.post(
            f"/v1/users/{USER}/policy", json={"context": "Email to Sam about the report"}
        ).json()
        assert [p["text"] for p in policy["preferences"] if p["source"] == "cipher"] == [
            "avoids emojis"
        ]
        assert len(provider.calls) == calls


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("500", "llm_error"),
        ("429", "llm_rate_limited"),
        ("timeout", "llm_timeout"),
        ("malformed", "llm_malformed_output"),
    ],
)
def test_provider_failures_are_retried_then_visible_and_nothing_is_lost(
    llm_app: Callable[..., FastAPI], key: str, provider: Provider, mode: str, code: str
) -> None:
    provider.mode, provider.delay = mode, 3.0
    with TestClient(llm_app(), headers=bearer(key)) as client:
        item = log_edit(client)
        path = f"/v1/users/{USER}/interactions/{item['id']}"
        failed = wait_for(client, path, settled)
        assert failed["inference"] == "error"
        assert failed["inference_error"].startswith(code + ":")
        # The interaction and what the offline learners learned are all kept.
        assert failed["final"] == FINAL and failed["learned"]
        assert all(p["source"] != "cipher" for p in failed["learned"])
        [job] = [
            c
            for c in [client.get(f"/v1/jobs/{j}").json() for j in job_ids(client, item["id"])]
            if c["kind"] == "inference"
        ]
        assert (job["state"], job["attempts"]) == ("error", 2)
        assert 'tailor_jobs{kind="inference",state="error"} 1.0' in scrape(client)

        # The provider recovers; retrying the failed job completes the inference.
        provider.mode = "ok"
        retried = client.post(f"/v1/jobs/{job['id']}/retry")
        assert retried.status_code == 200 and retried.json()["state"] == "pending"
        done = wait_for(client, path, settled)
        assert done["inference"] == "done" and done["inference_error"] is None
        assert any(p["source"] == "cipher" for p in done["learned"])


def job_ids(client: TestClient, item_id: str) -> list[str]:
    export = client.get(f"/v1/users/{USER}/export").text.splitlines()
    rows = [json.loads(line) for line in export]
    return [r["id"] for r in rows if r["type"] == "job" and r["item_id"] == item_id]


def test_pending_work_completes_when_the_provider_recovers(
    llm_app: Callable[..., FastAPI], key: str, provider: Provider
) -> None:
    provider.mode = "500"
    app = llm_app(job_max_attempts=50, job_retry_seconds=0.1)
    with TestClient(app, headers=bearer(key)) as client:
        item = log_edit(client)
        path = f"/v1/users/{USER}/interactions/{item['id']}"
        retrying = wait_for(client, path, lambda b: b["inference_error"] is not None)
        assert retrying["inference"] == "pending"  # still being retried, error visible
        assert "500" in retrying["inference_error"]
        provider.mode = "ok"
        done = wait_for(client, path, settled)
        assert done["inference"] == "done" and done["inference_error"] is None


def test_pending_jobs_finish_after_a_restart(
    llm_app: Callable[..., FastAPI], key: str, provider: Provider
) -> None:
    provider.mode = "500"
    # A long backoff: the job is still pending when the service stops.
    with TestClient(llm_app(job_max_attempts=5, job_retry_seconds=3600), headers=bearer(key)) as c:
        item = log_edit(c)
        path = f"/v1/users/{USER}/interactions/{item['id']}"
        wait_for(c, path, lambda b: b["inference_error"] is not None)
    provider.mode = "ok"
    # Started again on the same data dir, the worker finds the job and runs it
    # at once (a restart ends the backoff).
    with TestClient(llm_app(), headers=bearer(key)) as c:
        done = wait_for(c, path, settled)
        assert done["inference"] == "done"
        assert any(p["source"] == "cipher" for p in done["learned"])


@pytest.mark.slow  # a real server killed and restarted: ~20-30 s
def test_a_killed_server_resumes_the_job_it_was_running(
    data_dir: Path, provider: Provider, provider_url: str
) -> None:
    """kill -9 while the LLM call is in flight: the job is not left running."""
    provider.mode, provider.delay = "timeout", 30.0
    env = {
        "TAILOR_LEARNER": "feedback,edits,rules,cipher-5",
        "TAILOR_LLM_MODEL": "openai/fake-model",
        "TAILOR_LLM_API_BASE": provider_url,
        "TAILOR_LLM_API_KEY": "sk-test",
        "TAILOR_LLM_TIMEOUT": "60",
    }
    server = Server(data_dir, env)
    key = server.printed_keys()[0]
    try:
        item = httpx.post(
            f"{server.url}/v1/users/{USER}/interactions",
            json={"context": "Email to Sam", "draft": DRAFT, "final": FINAL},
            headers=bearer(key),
            timeout=10,
        ).json()
        deadline = time.monotonic() + 30
        while not any("Changes measured" in str(c) for c in provider.calls):
            assert time.monotonic() < deadline, "the worker never called the provider"
            time.sleep(0.05)
    finally:
        server.kill()
    provider.mode = "ok"
    server = Server(data_dir, env)
    try:
        path = f"{server.url}/v1/users/{USER}/interactions/{item['id']}"
        deadline = time.monotonic() + 60
        while (body := httpx.get(path, headers=bearer(key)).json())["inference"] == "pending":
            assert time.monotonic() < deadline, body
            time.sleep(0.1)
        assert body["inference"] == "done"
        assert any(p["source"] == "cipher" for p in body["learned"])
    finally:
        server.kill()


def test_logging_does_not_wait_for_the_llm(
    llm_app: Callable[..., FastAPI], key: str, provider: Provider
) -> None:
    # The provider holds every request until the test releases it (30 s at most, a
    # safety limit): logging that waited for the LLM would come back only after an
    # answer, so ``answered`` would not be 0 when it returns.
    provider.mode, provider.delay = "hold", 30.0
    with TestClient(llm_app(llm_timeout=60.0), headers=bearer(key)) as client:
        item = log_edit(client, 1)
        assert provider.answered == 0  # the response came back; the LLM has not answered
        assert item["inference"] == "pending"
        path = f"/v1/users/{USER}/interactions/{item['id']}"
        stored = client.get(path).json()
        assert (stored["final"], stored["inference"]) == (FINAL, "pending")
        # The inference is running in the background, held by the provider.
        assert provider.received.wait(30)
        assert provider.in_flight == 1 and provider.answered == 0
        assert client.get(path).json()["inference"] == "pending"
        provider.release.set()
        done = wait_for(client, path, settled)
        assert done["inference"] == "done" and provider.answered == 1


def test_accepted_drafts_queue_no_llm_work(llm_app: Callable[..., FastAPI], key: str) -> None:
    with TestClient(llm_app(), headers=bearer(key)) as client:
        item = log(client, USER, draft="Fine as is.", final="Fine as is.")
        assert item["inference"] is None
        assert job_ids(client, item["id"]) == []


def test_generate_drafts_with_the_llm_and_applies_verified_rules(
    llm_app: Callable[..., FastAPI], key: str
) -> None:
    with TestClient(llm_app(learner="feedback,edits,rules"), headers=bearer(key)) as client:
        for n in range(4):
            log_edit(client, n)
        answer = client.post(
            f"/v1/users/{USER}/generate",
            json={"context": "Email to Sam about the quarterly report", "task": "email"},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model"] == "fake-model"
        assert body["usage"] == {"prompt_tokens": 42, "completion_tokens": 7}
        # The provider's draft has emojis; the user's verified rule removed them.
        assert "🎉" not in body["text"] and body["applied"]
        assert body["policy"]["rules"]


def test_generate_without_an_llm_is_a_clear_503(client: TestClient) -> None:
    answer = client.post(f"/v1/users/{USER}/generate", json={"context": "Email to Sam"})
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "llm_not_configured" and "TAILOR_LLM_MODEL" in error["message"]


def test_generate_reports_a_failing_provider_as_503(
    llm_app: Callable[..., FastAPI], key: str, provider: Provider
) -> None:
    provider.mode = "429"
    with TestClient(llm_app(), headers=bearer(key)) as client:
        answer = client.post(f"/v1/users/{USER}/generate", json={"context": "Email to Sam"})
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "llm_rate_limited"


def test_cipher_without_an_llm_fails_at_start_up(make_app: Callable[..., FastAPI]) -> None:
    with (
        pytest.raises(Exception, match="TAILOR_LLM_MODEL"),
        TestClient(make_app(learner="edits,cipher-5")),
    ):
        pass


def test_a_failed_aggregation_is_reported_on_the_policy(
    llm_app: Callable[..., FastAPI], key: str, provider: Provider
) -> None:
    with TestClient(llm_app(learner="feedback,cipher-5"), headers=bearer(key)) as client:
        for n in (1, 2):
            item = log_edit(client, n)
            wait_for(client, f"/v1/users/{USER}/interactions/{item['id']}", settled)
        provider.mode = "500"
        policy = client.post(
            f"/v1/users/{USER}/policy", json={"context": "Email to Sam about the report"}
        ).json()
    # Both retrieved phrases are still used, and the response says why they are not merged.
    cipher = [p for p in policy["preferences"] if p["source"] == "cipher"]
    assert [p["text"] for p in cipher] == ["avoids emojis"]  # the two equal phrases, merged
    assert len(policy["warnings"]) == 1 and "llm_error" in policy["warnings"][0]


# -- one retry layer ----------------------------------------------------------------


def inference_calls(provider: Provider) -> int:
    return sum("Changes measured" in str(c) for c in provider.calls)


def test_a_steady_429_costs_one_provider_call_per_job_attempt(
    llm_app: Callable[..., FastAPI], key: str, provider: Provider
) -> None:
    """Queued inference has one retry layer, the job's: no in-call retries on top."""
    provider.mode = "429"
    app = llm_app(llm_retries=2, job_max_attempts=3, job_retry_seconds=0.05)
    with TestClient(app, headers=bearer(key)) as client:
        item = log_edit(client)
        failed = wait_for(client, f"/v1/users/{USER}/interactions/{item['id']}", settled)
        assert failed["inference"] == "error"
        assert failed["inference_error"].startswith("llm_rate_limited:")
    assert inference_calls(provider) == 3  # job_max_attempts, not 3 x (2 + 1)


def test_calls_a_user_waits_on_keep_their_in_call_retries(
    llm_app: Callable[..., FastAPI], key: str, provider: Provider
) -> None:
    with TestClient(llm_app(llm_retries=1), headers=bearer(key)) as client:
        for n in (1, 2):
            item = log_edit(client, n)
            wait_for(client, f"/v1/users/{USER}/interactions/{item['id']}", settled)
        provider.mode = "500"
        before = len(provider.calls)
        policy = client.post(
            f"/v1/users/{USER}/policy", json={"context": "Email to Sam about the report"}
        ).json()
        assert len(policy["warnings"]) == 1  # the aggregation failed: once and one retry
        assert len(provider.calls) - before == 2

        provider.mode = "429"
        before = len(provider.calls)
        answer = client.post(f"/v1/users/{USER}/generate", json={"context": "Email to Sam"})
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "llm_rate_limited"
        drafts = [c for c in provider.calls[before:] if "preferences were inferred" not in str(c)]
        assert len(drafts) == 2  # /generate: the call and its one in-call retry


# -- the token counter ----------------------------------------------------------------


def test_the_token_counter_loses_no_update_across_threads() -> None:
    import threading

    from learners.cipher import CipherLearner
    from tests.fakellm import ScriptedLLM

    learner = CipherLearner(llm=ScriptedLLM())
    threads, adds = 8, 5000
    barrier = threading.Barrier(threads)

    def work() -> None:
        barrier.wait()
        for _ in range(adds):
            learner.add_tokens(3)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert learner.tokens == threads * adds * 3
