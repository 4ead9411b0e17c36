"""Per-user adapters in /generate: peft on the local base model, and vLLM's dynamic LoRA
loading against the scripted provider (tests/fakellm.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from learners.backends.llm import LocalBackend
from learners.backends.lora import lora_name
from store.adapters import Adapter, insert_adapter, user_dir
from store.records import new_id, now
from tests.conftest import bearer
from tests.fakellm import DRAFT, Provider, serve_provider
from tests.test_adapters import USER, seed_user, wait_job
from tests.tinymodel import make_tiny_llama

CONTEXT = "Recipe for banana bread"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    make_tiny_llama(root / "tiny")
    return root


def generate(client: TestClient, user: str = USER, **body: Any) -> dict[str, Any]:
    answer = client.post(f"/v1/users/{user}/generate", json={"context": CONTEXT} | body)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def peft_draft(models_dir: Path, folder: Path, messages: list[dict[str, str]]) -> str:
    """What the adapter drafts when loaded here by hand (greedy, like Tailor)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(models_dir / "tiny"))
    base = AutoModelForCausalLM.from_pretrained(str(models_dir / "tiny"))
    model = PeftModel.from_pretrained(base, str(folder))
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    n = int(inputs["input_ids"].shape[1])
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=24, do_sample=False)
    text: str = tokenizer.decode(out[0][n:], skip_special_tokens=True)
    return text


def test_the_local_model_drafts_with_the_users_newest_adapter(
    make_app: Callable[..., FastAPI], models_dir: Path, key: str
) -> None:
    app = make_app(models_dir=models_dir, job_retry_seconds=0.05, llm_model="local")
    with TestClient(app, headers=bearer(key)) as client:
        feedback_id = seed_user(client)
        body = {"feedback_id": feedback_id, "base_model": "tiny", "steps": 2, "threshold": 0.25}
        job = wait_job(client, client.post(f"/v1/users/{USER}/adapters", json=body).json()["id"])
        assert job["state"] == "done", job
        adapter_id = job["result"]["adapter_id"]
        engine = app.state.engine
        engine.generate_max_tokens = 24

        drafted = generate(client)
        assert drafted["adapter"] == adapter_id
        assert drafted["model"] == f"local/tiny+{adapter_id}"
        assert drafted["applied"] == []
        messages = [
            {"role": "system", "content": drafted["policy"]["system_prompt"]},
            {"role": "user", "content": CONTEXT},
        ]
        folder = user_dir(engine.store, "acme", USER) / adapter_id
        assert drafted["text"] == peft_draft(models_dir, folder, messages).strip()

        # The (base, adapter) model stays loaded: a second draft loads nothing.
        assert generate(client, adapter=adapter_id)["text"] == drafted["text"]
        assert engine.adapters.loads == 1
        # "none": the packaged local model, no adapter (not run here: it loads in ~25 s).
        llm, used = engine.llm_for_user("acme", USER, "none")
        assert used is None and isinstance(llm, LocalBackend)

        # Another user has no adapter; a foreign or unknown id is a 404, before any LLM.
        missing = client.post(
            "/v1/users/someone-else/generate", json={"context": CONTEXT, "adapter": adapter_id}
        )
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "adapter_not_found"


def fake_adapter(client: TestClient, user: str, base_model: str) -> Adapter:
    """A finished adapter's row and folder (the fake server never reads the weights)."""
    store = client.app.state.store  # type: ignore[attr-defined]
    adapter_id = new_id("adp")
    folder = user_dir(store, "acme", user) / adapter_id
    folder.mkdir(parents=True)
    adapter = Adapter(
        id=adapter_id, tenant="acme", user=user, job_id=None, base_model=base_model,
        feedback="Use bullet points", params={}, counts={}, metrics={},
        path=str(folder.relative_to(store.data_dir)), created_at=now(),
    )  # fmt: skip
    with store.transaction() as db:
        insert_adapter(db, adapter)
    return adapter


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def vllm(make_app: Callable[..., FastAPI], provider: Provider, key: str) -> Iterator[TestClient]:
    with serve_provider(provider) as url:
        app = make_app(
            llm_model="openai/fake-model",
            llm_api_base=url,
            llm_api_key="sk-test",
            llm_retries=0,
            llm_lora="vllm",
            llm_lora_dir="/srv/tailor",
            adapter_cache=1,
        )
        with TestClient(app, headers=bearer(key)) as client:
            yield client


def test_vllm_loads_the_adapter_and_drafts_with_it_by_name(
    vllm: TestClient, provider: Provider
) -> None:
    assert generate(vllm)["adapter"] is None  # no adapter yet: the base model
    assert provider.calls[-1]["model"] == "fake-model" and provider.lora_calls == []

    other_base = fake_adapter(vllm, USER, "some/other-model")
    assert generate(vllm)["adapter"] is None  # the server cannot serve that one
    refused = vllm.post(
        f"/v1/users/{USER}/generate", json={"context": CONTEXT, "adapter": other_base.id}
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "adapter_not_servable"

    adapter = fake_adapter(vllm, USER, "fake-model")
    name = lora_name(adapter)
    assert USER not in name and "acme" not in name
    drafted = generate(vllm)
    assert drafted["adapter"] == adapter.id
    assert provider.lora_calls == [
        ("load", {"lora_name": name, "lora_path": f"/srv/tailor/{adapter.path}"})
    ]
    assert provider.calls[-1]["model"] == name
    assert drafted["text"] == f"[{name} from /srv/tailor/{adapter.path}] {DRAFT}"
    models = vllm.app.state.engine.adapters  # type: ignore[attr-defined]
    assert models.loaded.keys() == [name]

    # Loaded once: the next draft only completes.
    generate(vllm)
    assert len(provider.lora_calls) == 1

    # "none" drafts with the base model.
    plain = generate(vllm, adapter="none")
    assert plain["adapter"] is None and plain["text"] == DRAFT


def test_vllm_reloads_an_adapter_the_server_forgot_once(
    vllm: TestClient, provider: Provider
) -> None:
    adapter = fake_adapter(vllm, USER, "fake-model")
    name = lora_name(adapter)
    generate(vllm)
    provider.restart()
    drafted = generate(vllm)
    assert drafted["adapter"] == adapter.id and drafted["text"].startswith(f"[{name} ")
    assert [c for c, _ in provider.lora_calls] == ["load", "load"]
    assert [c["model"] for c in provider.calls] == [name, name, name]  # 200, 404, 200


def test_vllm_unloads_the_adapter_pushed_out_of_its_cache(
    vllm: TestClient, provider: Provider
) -> None:
    first = fake_adapter(vllm, "ann", "fake-model")
    second = fake_adapter(vllm, "bob", "fake-model")
    generate(vllm, user="ann")
    generate(vllm, user="bob")  # adapter_cache=1: 4 loaded at most
    assert set(provider.loras) == {lora_name(first), lora_name(second)}
    for n in range(3):
        fake_adapter(vllm, f"u{n}", "fake-model")
        generate(vllm, user=f"u{n}")
    assert lora_name(first) not in provider.loras and len(provider.loras) == 4
    assert ("unload", {"lora_name": lora_name(first)}) in provider.lora_calls
