"""The LLM back-ends: strict parsing, litellm over real HTTP, the local GGUF model."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

import learners.backends.llm as llm_module
from learners.backends.llm import (
    LiteLLMBackend,
    LLMError,
    LocalBackend,
    build_llm,
    local_gguf_path,
    no_in_call_retries,
    parse_json_answer,
    parse_phrase_answer,
)
from tests.fakellm import DRAFT, Provider, serve_provider

HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.mark.parametrize(
    "answer",
    [
        '{"preference": "short, plain emails"}',
        '```json\n{"preference": "short, plain emails"}\n```',
    ],
)
def test_a_json_answer_is_accepted(answer: str) -> None:
    assert parse_json_answer(answer, "preference") == "short, plain emails"


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("The user likes short emails.", "not JSON"),
        ('Sure! {"preference": "short"}', "not JSON"),
        ('{"pref": "short"}', 'string "preference"'),
        ('{"preference": 3}', 'string "preference"'),
        ('["short"]', "expected a JSON object"),
        ('{"preference": "   "}', "is empty"),
        ('{"preference": "' + "x" * 400 + '"}', "longer than 300"),
    ],
)
def test_anything_else_is_a_visible_malformed_answer(answer: str, why: str) -> None:
    with pytest.raises(LLMError, match=why) as caught:
        parse_json_answer(answer, "preference")
    assert caught.value.code == "llm_malformed_output" and caught.value.retryable
    assert " ".join(answer.split())[:20] in caught.value.message  # its start is shown


@pytest.mark.parametrize(
    "answer",
    [
        "short, plain emails",
        'Preference: "short, plain emails"',
        "**Preference:** short, plain emails",
        "The user's preference is: 'short, plain emails'",
        "- `short, plain emails`",
        "“short, plain emails”\n",
        '{"preference": "short, plain emails"}',
    ],
)
def test_a_phrase_may_come_as_one_plain_line(answer: str) -> None:
    assert parse_phrase_answer(answer, "preference") == "short, plain emails"


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("Sure! Here it is:\nshort, plain emails", "one line"),
        ('Sure! {"preference": "short"}', "not JSON"),
        ('{"pref": "short"}', 'string "preference"'),
        ('Preference: ""', "empty"),
        ("x" * 400, "longer than 300"),
        ("", "one line"),
    ],
)
def test_a_phrase_answer_that_is_not_one_line_fails_visibly(answer: str, why: str) -> None:
    with pytest.raises(LLMError, match=why) as caught:
        parse_phrase_answer(answer, "preference")
    assert caught.value.code == "llm_malformed_output"


def test_build_llm_picks_the_back_end() -> None:
    assert build_llm("") is None
    assert isinstance(build_llm("local"), LocalBackend)
    remote = build_llm("openai/gpt-4o-mini", api_base="http://127.0.0.1:9/v1", timeout=5)
    assert isinstance(remote, LiteLLMBackend) and remote.timeout == 5


@pytest.fixture
def provider() -> Provider:
    return Provider(delay=2.0)


@pytest.fixture
def url(provider: Provider) -> Iterator[str]:
    with serve_provider(provider) as base:
        yield base


def backend(url: str, retries: int = 2, timeout: float = 5.0) -> LiteLLMBackend:
    return LiteLLMBackend(
        "openai/fake-model",
        api_base=url,
        api_key="sk-test",
        timeout=timeout,
        retries=retries,
        backoff=0.05,
    )


def test_litellm_completes_over_http(url: str, provider: Provider) -> None:
    answer = backend(url).complete(HELLO, max_tokens=20)
    assert (answer.text, answer.model) == (DRAFT, "fake-model")
    assert (answer.prompt_tokens, answer.completion_tokens) == (42, 7)
    [call] = provider.calls
    assert call["messages"] == HELLO and call["max_tokens"] == 20 and call["temperature"] == 0


@pytest.mark.parametrize(("mode", "code"), [("429", "llm_rate_limited"), ("500", "llm_error")])
def test_litellm_retries_with_backoff_then_raises(
    url: str, provider: Provider, mode: str, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider.mode = mode
    waits: list[float] = []
    # Only the back-end's own ``time`` is replaced: the waits are recorded, not slept.
    monkeypatch.setattr(llm_module, "time", SimpleNamespace(sleep=waits.append))
    with pytest.raises(LLMError) as caught:
        backend(url, retries=2).complete(HELLO)
    assert caught.value.code == code and caught.value.retryable
    assert len(provider.calls) == 3  # the call and two retries
    assert waits == [0.05, 0.1]  # backoff 0.05 s, then twice that


def test_queued_work_gets_no_in_call_retries_and_other_threads_keep_theirs(
    url: str, provider: Provider
) -> None:
    import threading

    provider.mode = "429"
    llm = backend(url, retries=2)
    with no_in_call_retries(), pytest.raises(LLMError):
        llm.complete(HELLO)
    assert len(provider.calls) == 1  # tried once: the job queue is the retry layer

    # The block is per thread: a request thread calling meanwhile still retries.
    errors: list[LLMError] = []

    def request_thread() -> None:
        try:
            llm.complete(HELLO)
        except LLMError as exc:
            errors.append(exc)

    with no_in_call_retries():
        other = threading.Thread(target=request_thread)
        other.start()
        other.join()
    assert len(errors) == 1 and len(provider.calls) == 1 + 3
    with pytest.raises(LLMError):
        llm.complete(HELLO)  # and after the block, this thread retries again
    assert len(provider.calls) == 4 + 3


def test_litellm_times_out(url: str, provider: Provider) -> None:
    # The provider holds the request (until released, or 30 s as a safety limit): only
    # the client's 0.5 s timeout can end the call with an error before it answers.
    provider.mode, provider.delay = "hold", 30.0
    try:
        with pytest.raises(LLMError) as caught:
            backend(url, retries=0, timeout=0.5).complete(HELLO)
        assert caught.value.code == "llm_timeout"
        assert provider.answered == 0 and len(provider.calls) == 1
    finally:
        provider.release.set()


def test_an_unreachable_provider_is_a_retryable_error() -> None:
    with pytest.raises(LLMError) as caught:
        backend("http://127.0.0.1:9/v1", retries=0, timeout=2).complete(HELLO)
    assert caught.value.retryable and caught.value.code in {"llm_unreachable", "llm_error"}


def test_the_local_model_file_is_found_without_importing_its_package() -> None:
    path = local_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


@pytest.mark.slow  # loads and runs the real 93 MB GGUF model: ~20 s on 2 cores
def test_the_local_back_end_answers_offline() -> None:
    """SmolLM2-135M for real (weak: only the structure of the answer is checked)."""
    answer = LocalBackend().complete(
        [{"role": "user", "content": "Name one color."}], max_tokens=12
    )
    assert isinstance(answer.text, str) and answer.text.strip()
    assert answer.model == "local/SmolLM2-135M-Instruct"
    assert answer.prompt_tokens > 5 and 0 < answer.completion_tokens <= 12
