"""C3PO training: a per-user LoRA adapter from one piece of verbal feedback.

Stephan et al., "RLVF: Learning from Verbal Feedback without Overgeneralization",
ICML 2024 (arXiv 2402.10893), section 4: the C3PO objective is DPO on the
in-scope preference pairs plus supervised fine-tuning on the base model's own
answers to near- and out-of-scope prompts, which holds the adapter to the base
model wherever the feedback does not apply:

    L = L_DPO(in-scope) + near_weight * L_SFT(near-scope) + out_weight * L_SFT(out-of-scope)

with the reference code's weights (0.1 near, 0.2 out, beta 0.1; its trainer's
distillation term has weight 0 there, so the regulariser is plain SFT). The DPO term is
Rafailov et al. 2023 (arXiv 2305.18290) eq. 7, written by hand; the reference
policy is the same network with the adapter switched off, so no second copy of
the model is held, and its log-probabilities are computed once before training.

    python -c "from pathlib import Path; from learners.c3po.adapters import ensure_base_model; \
print(ensure_base_model(Path('/tmp/tailor-models')))"
    python bench/adapter_train.py --steps 3

torch, transformers and peft are imported inside the functions that need them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pydantic import Field

from learners.c3po.batch import (
    Tree,
    adapter_off,
    checkpointing,
    chunks,
    collate,
    device_of,
    encode,
    encode_pair,
    is_peft,
    kept_logits,
    pad_token_id,
    prompt_tokens,
    shares_prefixes,
    token_logps,
)
from learners.c3po.dataset import C3PODataset, Pair, Target
from learners.c3po.options import TrainingFields
from store.errors import TailorError

if TYPE_CHECKING:
    import torch

LLAMA_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class TrainOptions(TrainingFields):
    """Everything training reads: ``steps``, ``rank`` and ``seed`` come from
    ``learners.c3po.options.TrainingFields`` (the options a client sets, declared once);
    the fields below are set only by code (the job, benchmarks, tests)."""

    alpha: int = Field(16, gt=0, description="LoRA alpha (the update is scaled by alpha / r)")
    dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout")
    lr: float = Field(5e-4, gt=0, description="AdamW learning rate (LoRA weights only)")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping norm")
    beta: float = Field(0.1, gt=0, description="DPO beta: strength of the pull to the reference")
    near_weight: float = Field(0.1, ge=0, description="weight of the near-scope SFT loss")
    out_weight: float = Field(0.2, ge=0, description="weight of the out-of-scope SFT loss")
    batch_size: int = Field(4, ge=1, description="in-scope pairs per step")
    sft_batch_size: int = Field(2, ge=1, description="near-scope and out-of-scope targets per step")
    micro_batch_size: int = Field(
        4,
        ge=1,
        description="sequences per forward/backward (a pair counts as two); gradients are "
        "accumulated, so only memory and speed depend on it. SmolLM2 on 2 CPU cores: 4 = "
        "~12-15 s/step and 4.4 GB, 2 = ~15-16 s/step and 2.8 GB; a GPU wants 16 or more",
    )
    max_length: int = Field(256, ge=16, description="tokens per sequence (prompt + completion)")
    max_new_tokens: int = Field(64, ge=1, description="length of the base model's completions")
    device: str = Field("auto", description="'auto' (CUDA in bf16 when present), 'cpu', 'cuda'")
    target_modules: list[str] = Field(
        default_factory=lambda: list(LLAMA_PROJECTIONS),
        description="modules that get a LoRA (default: every linear projection of Llama)",
    )
    gradient_checkpointing: bool = Field(
        False, description="recompute activations in backward: less memory, ~30% slower"
    )


class TrainingCancelled(TailorError):
    """``should_stop`` asked training to end; no adapter was produced."""

    code = "cancelled"


@dataclass
class TrainResult:
    #: the peft model (base weights untouched, the adapter trained)
    model: Any
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


# -- base completions -------------------------------------------------------------------


def fill_targets(
    model: Any,
    tokenizer: Any,
    dataset: C3PODataset,
    options: TrainOptions,
    should_stop: Callable[[], bool] | None = None,
) -> C3PODataset:
    """A copy of ``dataset`` whose near- and out-of-scope targets hold the base model's
    greedy completion (targets that already have one are kept as they are)."""
    import torch

    todo = sorted(
        {t.prompt for t in dataset.near_scope + dataset.out_scope if t.completion is None}
    )
    device, pad = device_of(model), pad_token_id(tokenizer)
    answers: dict[str, str] = {}
    was_training = model.training
    model.eval()
    try:
        for chunk in chunks(todo, max(options.batch_size * 2, 1)):
            if should_stop is not None and should_stop():
                raise TrainingCancelled("cancelled while generating the base model's completions")
            rows = [prompt_tokens(tokenizer, p)[-options.max_length :] for p in chunk]
            width = max(len(r) for r in rows)
            ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
            with torch.no_grad(), adapter_off(model):
                out = model.generate(
                    input_ids=ids,
                    attention_mask=mask.to(device),
                    max_new_tokens=options.max_new_tokens,
                    do_sample=False,
                    pad_token_id=pad,
                    eos_token_id=tokenizer.eos_token_id,
                )
            for prompt, row in zip(chunk, out[:, width:].tolist(), strict=True):
                answers[prompt] = tokenizer.decode(row, skip_special_tokens=True).strip()
    finally:
        model.train(was_training)

    def filled(targets: list[Target]) -> list[Target]:
        return [
            t if t.completion is not None else replace(t, completion=answers[t.prompt])
            for t in targets
        ]

    return replace(
        dataset, near_scope=filled(dataset.near_scope), out_scope=filled(dataset.out_scope)
    )


# -- training ----------------------------------------------------------------------------


def wrap_lora(model: Any, options: TrainOptions) -> Any:
    """``model`` with a fresh LoRA adapter (its base weights frozen; modified in place)."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(options.seed)  # LoRA A matrices are initialised randomly
    config = LoraConfig(
        r=options.rank,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=list(options.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


class _Cycle:
    """Endless seeded shuffles of ``range(n)``: a deterministic batch order."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.rng = n, random.Random(seed)
        self.queue: list[int] = []

    def take(self, k: int) -> list[int]:
        picked: list[int] = []
        while len(picked) < min(k, self.n):
            if not self.queue:
                self.queue = list(range(self.n))
                self.rng.shuffle(self.queue)
            picked.append(self.queue.pop())
        return picked


def _pair_logps(model: Any, pairs: Sequence[Tree], pad: int) -> torch.Tensor:
    """(2, N) summed log-probs of where chosen (row 0) and rejected (row 1) differ."""
    device = device_of(model)
    if shares_prefixes(model):
        return token_logps(model, collate(pairs, pad, device)).sum(-1).T  # (2, N)
    rows = [Tree(p.shared, (p.branches[b],)) for b in (0, 1) for p in pairs]
    logps = token_logps(model, collate(rows, pad, device)).sum((-1, -2))  # (2N,)
    return logps.view(2, len(pairs))


def _pairs_per_forward(options: TrainOptions) -> int:
    return max(options.micro_batch_size // 2, 1)


# Both losses below are sums over examples divided by a count known before the first
# forward, so backpropagating micro-batch by micro-batch accumulates exactly the full
# batch's gradient while only one micro-batch's activations are alive.


def _dpo_backward(
    model: Any, pairs: Sequence[Tree], ref: torch.Tensor, pad: int, options: TrainOptions
) -> tuple[float, torch.Tensor]:
    """Backpropagate the DPO loss of ``pairs`` (Rafailov et al. eq. 7):
    -log sigmoid(beta * ((log pi_c - log ref_c) - (log pi_r - log ref_r))).

    ``ref`` is (2, B). Returns the loss and the (B,) reward margins, on the CPU.
    """
    import torch
    import torch.nn.functional as F

    margins, loss_sum, size = torch.zeros(len(pairs)), 0.0, _pairs_per_forward(options)
    for start in range(0, len(pairs), size):
        policy = _pair_logps(model, pairs[start : start + size], pad)  # (2, b)
        logratios = policy - ref[:, start : start + size]  # beta * this = implicit rewards
        chunk = options.beta * (logratios[0] - logratios[1])  # (b,)
        loss = -F.logsigmoid(chunk).sum() / len(pairs)
        loss.backward()  # type: ignore[no-untyped-call]
        loss_sum += float(loss.detach())
        margins[start : start + len(chunk)] = chunk.detach().float().cpu()
    return loss_sum, margins


def _sft_backward(
    model: Any, near: Sequence[Tree], out: Sequence[Tree], pad: int, options: TrainOptions
) -> tuple[float, float]:
    """Backpropagate near_weight * NLL(near) + out_weight * NLL(out), per-token means over
    each group's completion tokens (the base model's own answers: paper section 4).

    Returns the two NLLs.
    """
    import torch

    rows = [(t, 0) for t in near] + [(t, 1) for t in out]
    weights = (options.near_weight, options.out_weight)
    tokens = [sum(len(t.branches[0]) for t, g in rows if g == group) for group in (0, 1)]
    nll = [0.0, 0.0]
    device = device_of(model)
    for start in range(0, len(rows), options.micro_batch_size):
        chunk = rows[start : start + options.micro_batch_size]
        sums = -token_logps(model, collate([t for t, _ in chunk], pad, device)).sum((1, 2))
        groups = torch.tensor([g for _, g in chunk], device=device)
        loss = torch.zeros((), device=device)
        for g in (0, 1):
            if tokens[g]:
                part = sums[groups == g].sum() / tokens[g]  # this chunk's share of the mean
                loss = loss + weights[g] * part
                nll[g] += float(part.detach())
        if loss.requires_grad:  # False only when no target has a token to score
            loss.backward()  # type: ignore[no-untyped-call]
    return nll[0], nll[1]


def train(
    model: Any,
    tokenizer: Any,
    dataset: C3PODataset,
    options: TrainOptions,
    progress: Callable[[dict[str, float]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train a LoRA adapter on ``dataset`` with the C3PO objective.

    Near- and out-of-scope targets need completions (:func:`fill_targets`).
    ``model`` is wrapped in place; the result holds the peft model. ``progress``
    gets one dict per step; ``should_stop`` is polled before every step and a
    True answer raises :class:`TrainingCancelled`.
    """
    import torch

    if not dataset.in_scope:
        raise ValueError("the dataset has no in-scope pairs to learn from")
    targets = dataset.near_scope + dataset.out_scope
    if any(t.completion is None for t in targets):
        raise ValueError("near/out-of-scope targets without completions: call fill_targets first")
    started = time.perf_counter()
    pad, n = pad_token_id(tokenizer), options.max_length
    pairs = [encode_pair(tokenizer, p, n) for p in dataset.in_scope]
    near = [encode(tokenizer, t.prompt, [t.completion or ""], n) for t in dataset.near_scope]
    out = [encode(tokenizer, t.prompt, [t.completion or ""], n) for t in dataset.out_scope]

    peft_model = model if is_peft(model) else wrap_lora(model, options)
    if options.gradient_checkpointing:
        checkpointing(peft_model, on=True)

    # Reference log-probs, once: pi_ref(y|x) never changes during training.
    peft_model.eval()
    with torch.no_grad(), adapter_off(peft_model):
        ref = torch.cat(
            [_pair_logps(peft_model, c, pad) for c in chunks(pairs, _pairs_per_forward(options))],
            dim=1,
        )  # (2, N)

    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=options.lr, weight_decay=options.weight_decay)
    pair_order = _Cycle(len(pairs), options.seed)
    near_order = _Cycle(len(near), options.seed + 1)
    out_order = _Cycle(len(out), options.seed + 2)
    history: list[dict[str, float]] = []
    peft_model.train()
    try:
        for step in range(1, options.steps + 1):
            if should_stop is not None and should_stop():
                raise TrainingCancelled(f"training cancelled before step {step} of {options.steps}")
            t0 = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            idx = pair_order.take(options.batch_size)
            dpo_loss, margins = _dpo_backward(
                peft_model, [pairs[i] for i in idx], ref[:, idx], pad, options
            )
            near_nll, out_nll = _sft_backward(
                peft_model,
                [near[i] for i in near_order.take(options.sft_batch_size)],
                [out[i] for i in out_order.take(options.sft_batch_size)],
                pad,
                options,
            )
            torch.nn.utils.clip_grad_norm_(params, options.max_grad_norm)
            optimizer.step()
            sft_loss = options.near_weight * near_nll + options.out_weight * out_nll
            record = {
                "step": step,
                "steps": options.steps,
                "loss": dpo_loss + sft_loss,
                "dpo_loss": dpo_loss,
                "sft_loss": sft_loss,
                "near_nll": near_nll,
                "out_nll": out_nll,
                "margin": float(margins.mean()),
                "reward_accuracy": float((margins > 0).float().mean()),
                "seconds": time.perf_counter() - t0,
            }
            history.append(record)
            if progress is not None:
                progress(record)
    finally:
        peft_model.eval()
        if options.gradient_checkpointing:
            checkpointing(peft_model, on=False)
    return TrainResult(model=peft_model, history=history, seconds=time.perf_counter() - started)


# -- evaluation --------------------------------------------------------------------------


def evaluate(
    peft_model: Any,
    tokenizer: Any,
    held_out: Sequence[Pair],
    out_scope: Sequence[Target],
    options: TrainOptions,
) -> dict[str, float | int | None]:
    """In-scope adherence and out-of-scope drift of a trained adapter (the paper's two
    axes, section 5), measured against the same network with the adapter off.

    - ``reward_accuracy`` / ``reward_margin``: on held-out pairs, how often and by how
      much the implicit DPO reward beta * (log pi - log pi_ref) of the chosen text
      beats the rejected one's (``chosen_reward`` / ``rejected_reward`` count the tokens
      after their common beginning, which adds the same to both);
    - ``base_preference_accuracy`` / ``preference_accuracy``: how often the base
      model / the adapted model gives the chosen text the higher log-probability;
    - ``out_scope_kl``: mean per-token KL(policy || base) over the completion tokens
      of ``out_scope`` targets (0 means no overgeneralization at all), and
      ``out_scope_logp_change`` the mean per-token change of their log-probability.
    """
    import torch

    if any(t.completion is None for t in out_scope):
        raise ValueError("out-of-scope targets without completions: call fill_targets first")
    pad, n, size = pad_token_id(tokenizer), options.max_length, options.micro_batch_size
    device = device_of(peft_model)
    peft_model.eval()
    result: dict[str, float | int | None] = {"held_out": len(held_out), "out_scope": len(out_scope)}

    policy_parts, ref_parts = [], []
    encoded = [encode_pair(tokenizer, p, n) for p in held_out]
    with torch.no_grad():
        for chunk in chunks(encoded, max(size // 2, 1)):
            policy_parts.append(_pair_logps(peft_model, chunk, pad))
            with adapter_off(peft_model):
                ref_parts.append(_pair_logps(peft_model, chunk, pad))
    if encoded:
        policy, ref = torch.cat(policy_parts, dim=1), torch.cat(ref_parts, dim=1)  # (2, N)
        rewards = options.beta * (policy - ref)  # (2, N)
        margins = rewards[0] - rewards[1]
        result |= {
            "reward_accuracy": float((margins > 0).float().mean()),
            "reward_margin": float(margins.mean()),
            "chosen_reward": float(rewards[0].mean()),
            "rejected_reward": float(rewards[1].mean()),
            "preference_accuracy": float((policy[0] > policy[1]).float().mean()),
            "base_preference_accuracy": float((ref[0] > ref[1]).float().mean()),
        }
    else:
        for key in ("reward_accuracy", "reward_margin", "chosen_reward", "rejected_reward"):
            result[key] = None
        result["preference_accuracy"] = result["base_preference_accuracy"] = None

    kl_sum = delta_sum = tokens = 0.0
    rows = [encode(tokenizer, t.prompt, [t.completion or ""], n) for t in out_scope]
    with torch.no_grad():
        for chunk in chunks(rows, size):
            batch = collate(chunk, pad, device)
            c = batch["labels"].shape[-1]  # one branch: kept position j predicts token j
            policy_lp = kept_logits(peft_model, batch)[:, :c].log_softmax(-1)  # (B, C, V)
            with adapter_off(peft_model):
                base_lp = kept_logits(peft_model, batch)[:, :c].log_softmax(-1)
            mask = batch["label_mask"][:, 0]  # (B, C)
            kl = (policy_lp.exp() * (policy_lp - base_lp)).sum(-1)  # (B, C)
            label = batch["labels"][:, 0].unsqueeze(-1)
            delta = (policy_lp.gather(-1, label) - base_lp.gather(-1, label)).squeeze(-1)
            kl_sum += float((kl * mask).sum())
            delta_sum += float((delta * mask).sum())
            tokens += float(mask.sum())
    result["out_scope_tokens"] = int(tokens)
    result["out_scope_kl"] = kl_sum / tokens if tokens else None
    result["out_scope_logp_change"] = delta_sum / tokens if tokens else None
    return result
