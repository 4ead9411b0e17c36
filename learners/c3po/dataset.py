"""C3PO data: turn one piece of verbal feedback into in-, near- and out-of-scope sets.

Stephan et al., "RLVF: Learning from Verbal Feedback without Overgeneralization",
ICML 2024 (arXiv 2402.10893). The paper asks GPT-4 for prompt categories the
feedback applies to and synthesises three sets (section 4, figure 3):

- in-scope prompts, each with a baseline response and a revision that follows
  the feedback (a preference pair for DPO);
- near-scope prompts, superficially related but where the feedback does not
  apply, and
- out-of-scope prompts (general ones), both answered with the base model's own
  response, so that training keeps the model's behaviour there.

Tailor has something better than synthetic in-scope data: the user's own logged
edits. A logged context whose embedding is close to the feedback's, and whose
draft the user changed, is an in-scope pair (chosen = what the user wrote,
rejected = the draft). The user's other contexts become near- or out-of-scope
prompts by similarity, and a packaged set of general prompts
(``learners/c3po/data/general_prompts.jsonl``) stands in for the paper's general
out-of-scope set. Everything here is pure and deterministic; the training that
consumes it lives in :mod:`learners.c3po.train`.

    from learners.c3po.dataset import UserItem, build_dataset
    dataset = build_dataset(feedback, feedback_vector, items)
    print(dataset.counts())
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TypeVar

import numpy as np

from learners.c3po.options import NEAR_THRESHOLD, default_of
from store.errors import InvalidInputError

T = TypeVar("T")


@dataclass(frozen=True)
class UserItem:
    """One logged interaction of the user, with the unit-norm embedding of its context."""

    context: str
    draft: str
    final: str
    #: (dim,) float32, unit length: inner product with another such vector is the cosine
    vector: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class Pair:
    """An in-scope preference pair: ``chosen`` follows the feedback, ``rejected`` does not."""

    prompt: str
    chosen: str
    rejected: str


@dataclass(frozen=True)
class Target:
    """A prompt whose behaviour should stay the base model's.

    ``completion`` is None until :func:`learners.c3po.train.fill_targets` writes the
    base model's own greedy answer into it (the paper's out-of-scope responses
    are the base model's, not an external model's: section 4).
    """

    prompt: str
    completion: str | None = None


@dataclass(frozen=True)
class C3PODataset:
    feedback: str
    in_scope: list[Pair]
    near_scope: list[Target]
    out_scope: list[Target]

    def counts(self) -> dict[str, int]:
        return {
            "in_scope": len(self.in_scope),
            "near_scope": len(self.near_scope),
            "out_scope": len(self.out_scope),
        }


@lru_cache(maxsize=1)
def _packaged_prompts() -> tuple[str, ...]:
    text = (
        resources.files("learners.c3po").joinpath("data/general_prompts.jsonl").read_text("utf-8")
    )
    prompts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        prompt = json.loads(line).get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"general_prompts.jsonl line {number}: no 'prompt' string")
        prompts.append(prompt)
    return tuple(prompts)


def load_general_prompts() -> list[str]:
    """The packaged general prompts (questions, code, recipes, emails, poems, summaries)."""
    return list(_packaged_prompts())


def build_dataset(
    feedback: str,
    feedback_vector: np.ndarray,
    items: Sequence[UserItem],
    *,
    threshold: float = default_of("threshold"),
    near_threshold: float = NEAR_THRESHOLD,
    min_in_scope: int = 4,
    general_prompts: Sequence[str] | None = None,
    general_vectors: np.ndarray | None = None,
    max_in_scope: int = 64,
    max_near_scope: int = 32,
    max_out_scope: int = 32,
    seed: int = 0,
) -> C3PODataset:
    """Split the user's logged items by how close their context is to ``feedback``.

    - in-scope: cosine >= ``threshold`` and the user changed the draft; the
      ``max_in_scope`` most similar are kept (each costs a reference forward pass);
    - near-scope: cosine in [``near_threshold``, ``threshold``), plus similar
      contexts whose draft the user accepted unchanged (nothing to prefer there,
      but the model should keep answering them as it does);
    - out-of-scope: the user's remaining contexts (at most half of
      ``max_out_scope``), topped up with general prompts (``general_prompts``,
      default the packaged ones) sampled with ``seed``.

    ``general_vectors`` (one unit-norm row per general prompt) drops general
    prompts that are themselves close to the feedback: "write an email ..." is not
    out of scope for feedback about emails. Without it every general prompt is
    eligible. Raises ``InvalidInputError(code="not_enough_data")`` when fewer
    than ``min_in_scope`` in-scope pairs are found.
    """
    feedback = feedback.strip()
    if not feedback:
        raise InvalidInputError("the feedback text is empty")
    if not 0.0 <= near_threshold <= threshold:
        raise ValueError(
            f"need 0 <= near_threshold <= threshold, got {near_threshold}, {threshold}"
        )
    query = np.asarray(feedback_vector, dtype=np.float32).reshape(-1)
    scores = _cosines(query, [item.vector for item in items])

    # Most similar first, so that caps keep the clearest examples; ties keep log order.
    order = sorted(range(len(items)), key=lambda i: -scores[i])
    pairs: list[Pair] = []
    near: list[Target] = []
    rest: list[Target] = []
    similar = accepted = 0
    seen_pairs: set[Pair] = set()
    seen_prompts: set[str] = set()
    for i in order:
        item, score = items[i], scores[i]
        if score >= threshold:
            similar += 1
            if item.final != item.draft:
                pair = Pair(prompt=item.context, chosen=item.final, rejected=item.draft)
                if pair not in seen_pairs and len(pairs) < max_in_scope:
                    seen_pairs.add(pair)
                    pairs.append(pair)
                continue
            accepted += 1
            bucket = near
        elif score >= near_threshold:
            bucket = near
        else:
            bucket = rest
        # A context already used as an in-scope prompt must not also be held to the base
        # model's answer: the two losses would pull in opposite directions.
        if item.context not in seen_prompts:
            seen_prompts.add(item.context)
            bucket.append(Target(prompt=item.context))

    if len(pairs) < min_in_scope:
        raise InvalidInputError(
            f"C3PO needs at least {min_in_scope} edited interactions whose context matches the "
            f"feedback (cosine >= {threshold:g}); found {len(pairs)} among {len(items)} "
            f"interactions ({similar} with a matching context, {accepted} of them accepted "
            "unchanged)",
            code="not_enough_data",
        )
    in_prompts = {pair.prompt for pair in pairs}
    near = [t for t in near if t.prompt not in in_prompts][:max_near_scope]
    rest = [t for t in rest if t.prompt not in in_prompts]

    rng = random.Random(seed)
    own = _sample(rng, rest, max_out_scope // 2)
    general = _eligible_general(query, general_prompts, general_vectors, near_threshold)
    taken = {t.prompt for t in own} | in_prompts | {t.prompt for t in near}
    general = [p for p in general if p not in taken]
    extra = _sample(rng, general, max(max_out_scope - len(own), 0))
    out = own + [Target(prompt=p) for p in extra]
    return C3PODataset(feedback=feedback, in_scope=pairs, near_scope=near, out_scope=out)


def split_held_out(
    items: Sequence[T], fraction: float = 0.25, seed: int = 0
) -> tuple[list[T], list[T]]:
    """Shuffle with ``seed`` and hold ``fraction`` out (at least one when there are two or more).

    Works for pairs (in-scope evaluation) and targets (out-of-scope drift) alike.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    if len(shuffled) < 2:
        return shuffled, []
    held = min(max(1, round(len(shuffled) * fraction)), len(shuffled) - 1)
    return shuffled[held:], shuffled[:held]


def _cosines(query: np.ndarray, vectors: Sequence[np.ndarray]) -> list[float]:
    if not vectors:
        return []
    matrix = np.stack([np.asarray(v, dtype=np.float32).reshape(-1) for v in vectors])  # (N, D)
    if matrix.shape[1] != query.shape[0]:
        raise ValueError(
            f"item vectors have {matrix.shape[1]} dimensions, the feedback's {query.shape[0]}"
        )
    return [float(s) for s in matrix @ query]


def _eligible_general(
    query: np.ndarray,
    prompts: Sequence[str] | None,
    vectors: np.ndarray | None,
    near_threshold: float,
) -> list[str]:
    pool = list(prompts) if prompts is not None else load_general_prompts()
    if vectors is None:
        return pool
    if len(vectors) != len(pool):
        raise ValueError(f"{len(vectors)} general vectors for {len(pool)} general prompts")
    scores = _cosines(query, list(vectors))
    return [p for p, s in zip(pool, scores, strict=True) if s < near_threshold]


def _sample(rng: random.Random, pool: Sequence[T], k: int) -> list[T]:
    """``k`` items of ``pool`` in a seeded order (all of them, shuffled, when ``k`` is larger)."""
    return rng.sample(list(pool), min(k, len(pool)))
