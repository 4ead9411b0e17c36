"""Tokenization and batching for C3PO training (``learners.c3po.train``).

Prompts are formatted with the tokenizer's chat template and the loss covers
completion tokens only. A preference pair shares one forward pass over the
prompt and the tokens its two completions have in common (a tree of two
branches under a 4D attention mask, where the attention implementation allows
it), which saves most of the prompt's compute in the DPO step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from learners.c3po.dataset import Pair

if TYPE_CHECKING:
    import torch


# -- tokenization ---------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    """Token ids of a shared prefix and of the continuations scored after it.

    A near/out-of-scope target is (prompt, [completion]). An in-scope pair is
    (prompt + the tokens chosen and rejected begin with, [rest of chosen, rest of
    rejected]): common tokens add the same log-probability to both responses, so
    they cancel in the DPO margin (Rafailov et al. eq. 7); computing them once
    saves a forward and backward over the prompt of every pair.
    """

    shared: tuple[int, ...]
    branches: tuple[tuple[int, ...], ...]


def prompt_tokens(tokenizer: Any, prompt: str) -> list[int]:
    """The chat-formatted user turn plus the assistant header."""
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode(tokenizer: Any, prompt: str, completions: Sequence[str], max_length: int) -> Tree:
    """Prompt + each completion (+ EOS) fits ``max_length``; common leading tokens shared."""
    prompt_ids = prompt_tokens(tokenizer, prompt)
    eos = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]
    # The completion carries the loss: it keeps at least half the budget, and the
    # prompt loses its beginning (the system header) first.
    budget = max(max_length - len(prompt_ids), max_length // 2)
    ids = [
        (list(tokenizer(c, add_special_tokens=False)["input_ids"]) + eos)[:budget]
        for c in completions
    ]
    prompt_ids = prompt_ids[-(max_length - max(len(c) for c in ids)) :]
    common = 0
    if len(ids) == 2:  # each branch keeps at least one token to score
        limit = min(len(ids[0]), len(ids[1])) - 1
        while common < limit and ids[0][common] == ids[1][common]:
            common += 1
    shared = prompt_ids + ids[0][:common]
    return Tree(tuple(shared), tuple(tuple(c[common:]) for c in ids))


def encode_pair(tokenizer: Any, pair: Pair, max_length: int) -> Tree:
    return encode(tokenizer, pair.prompt, (pair.chosen, pair.rejected), max_length)


def pad_token_id(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


def collate(trees: Sequence[Tree], pad_id: int, device: torch.device) -> dict[str, Any]:
    """One row per tree: ``[pad.. shared | branch 0 ..pad | branch 1 ..pad]``.

    Shared prefixes are right-aligned to column S, so every branch starts at the
    same column in every row, and only the last ``keep`` positions (S-1 onwards)
    reach the V=49k-wide output layer: prompts never do. With two branches a 4D
    mask keeps each branch from seeing the other; position ids restart after the
    prefix, so each branch is encoded exactly as if it followed the prefix alone.
    """
    import torch

    k = len(trees[0].branches)
    s = max(len(t.shared) for t in trees)
    widths = [max(len(t.branches[b]) for t in trees) for b in range(k)]
    offsets = [s + sum(widths[:b]) for b in range(k)]  # first column of branch b
    b_rows, width = len(trees), s + sum(widths)
    ids = torch.full((b_rows, width), pad_id, dtype=torch.long)
    segment = torch.zeros((b_rows, width), dtype=torch.long)  # 0 pad, 1 shared, 2+b
    positions = torch.zeros((b_rows, width), dtype=torch.long)
    labels = torch.full((b_rows, k, max(widths)), pad_id, dtype=torch.long)
    label_mask = torch.zeros((b_rows, k, max(widths)))
    for i, tree in enumerate(trees):
        n = len(tree.shared)
        ids[i, s - n : s] = torch.tensor(tree.shared)
        segment[i, s - n : s] = 1
        positions[i, s - n : s] = torch.arange(n)
        for b, branch in enumerate(tree.branches):
            cols = slice(offsets[b], offsets[b] + len(branch))
            ids[i, cols] = torch.tensor(branch)
            segment[i, cols] = 2 + b
            positions[i, cols] = torch.arange(n, n + len(branch))
            labels[i, b, : len(branch)] = torch.tensor(branch)
            label_mask[i, b, : len(branch)] = 1.0
    # Branch b's token j is predicted at column S-1 (j = 0) or offsets[b]+j-1; as an
    # index into the kept positions (S-1 onwards): 0, or offsets[b]-S+j (0 past the end).
    steps = torch.arange(max(widths))
    index = torch.stack(
        [
            torch.where((steps == 0) | (steps >= w), 0, o - s + steps)
            for o, w in zip(offsets, widths, strict=True)
        ]
    )  # (K, L)
    valid = segment > 0
    if k == 1:
        mask = valid.long()  # (B, T): the model builds its causal mask
    else:
        col = torch.arange(width)
        causal = col[None, :, None] >= col[None, None, :]  # (1, T, T): query >= key
        same = (segment[:, None, :] == 1) | (segment[:, None, :] == segment[:, :, None])
        mask = causal & valid[:, None, :] & same | torch.eye(width, dtype=torch.bool)
        mask = mask[:, None]  # (B, 1, T, T); the diagonal keeps pad rows from being empty
    return {
        "input_ids": ids.to(device),  # (B, T)
        "attention_mask": mask.to(device),
        "position_ids": positions.to(device),  # (B, T)
        "keep": sum(widths) + 1,
        "index": index.to(device),  # (K, L)
        "labels": labels.to(device),  # (B, K, L)
        "label_mask": label_mask.to(device),  # (B, K, L)
    }


def kept_logits(model: Any, batch: dict[str, Any]) -> torch.Tensor:
    """(B, keep, V) float logits from column S-1 on (see :func:`collate`)."""
    out = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        position_ids=batch["position_ids"],
        use_cache=False,
        logits_to_keep=batch["keep"],
    )
    logits: torch.Tensor = out.logits.float()
    return logits


def token_logps(model: Any, batch: dict[str, Any]) -> torch.Tensor:
    """(B, K, L) log-probability of each branch token, 0 at padding."""
    import torch

    logits = kept_logits(model, batch)  # (B, keep, V)
    # Indexing single logits and a logsumexp keep one (B, keep, V) tensor alive for
    # backward (log_softmax would keep two).
    lse = logits.logsumexp(-1)  # (B, keep)
    rows = torch.arange(logits.shape[0], device=logits.device)[:, None, None]
    index = batch["index"][None].expand_as(batch["labels"])  # (B, K, L)
    picked = logits[rows, index, batch["labels"]]  # (B, K, L)
    logps: torch.Tensor = picked - lse.gather(1, index.flatten(1)).view_as(picked)
    masked: torch.Tensor = logps * batch["label_mask"]
    return masked


def shares_prefixes(model: Any) -> bool:
    """Two branches in one row need a custom 4D mask, which only SDPA attention reads."""
    return getattr(model.config, "_attn_implementation", None) == "sdpa"


def is_peft(model: Any) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def adapter_off(model: Any) -> contextlib.AbstractContextManager[Any]:
    """The reference policy: the peft model with its adapter switched off."""
    return model.disable_adapter() if is_peft(model) else contextlib.nullcontext()


def device_of(model: Any) -> torch.device:
    device: torch.device = next(model.parameters()).device
    return device


def checkpointing(model: Any, *, on: bool) -> None:
    """Activation checkpointing on or off (transformers 5 renamed it from "gradient")."""
    base = model.get_base_model() if is_peft(model) else model
    if hasattr(base, "activation_checkpointing_enable"):
        if on:  # non-reentrant: works although the frozen embeddings need no gradient
            base.activation_checkpointing_enable({"use_reentrant": False})
        else:
            base.activation_checkpointing_disable()
    elif on:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        base.gradient_checkpointing_disable()


def chunks(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]
