"""Does verbal feedback stay in its scope? The scope evaluation (``tailor eval scope``).

C3PO (Stephan et al., arXiv 2402.10893, section 4) judges learning from
feedback on three kinds of prompts: in-scope (the feedback should apply),
near-scope (related, it should not) and out-of-scope (unrelated, it should
not). Here the judged part is retrieval: every feedback of a split is given to
one simulated user the way an app would (with its ``said_in`` context when the
data has one), then a policy is built for each context of every domain, and
the evaluation counts which feedbacks the policy returned.

* in-scope recall: share of (scoped feedback, in-scope context of its domain)
  pairs where the policy returned the feedback;
* near-scope leak: share of (scoped feedback, near-scope context of its domain)
  pairs where it did;
* out-of-scope leak: share of (scoped feedback, out-of-scope context of its
  domain) pairs where it did;
* foreign feedback per in-scope context: scoped feedbacks of other domains in the
  policy of an in-scope context (the overgeneralization the issue measured);
* user-wide recall: feedback that names no scope, over every context.

The data (``replay.scope_data``, written for Tailor apart from the learners) has
a dev split, on which the threshold may be calibrated, and a held-out test split.
Targets (issue 13): in-scope recall >= 0.95, near-scope leak <= 0.20,
out-of-scope leak <= 0.05.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from learners.backends.embeddings import Embedder
from learners.core.config import EngineConfig
from replay.scope_data import ScopeDomain, load
from replay.scratch import ScratchEngine

Split = Literal["dev", "test", "all"]
TENANT = "eval"
USER = "scope-eval"
TARGETS = {"in_recall": (">=", 0.95), "near_leak": ("<=", 0.20), "out_leak": ("<=", 0.05)}


@dataclass(frozen=True)
class Judged:
    """Which feedbacks (by index into the split's list) one context's policy returned."""

    domain: str
    kind: Literal["in", "near", "out"]
    context: str
    returned: frozenset[int]
    scores: dict[int, float]


def _feedbacks(domains: Sequence[ScopeDomain]) -> list[tuple[str, Any]]:
    return [(d.id, f) for d in domains for f in d.feedbacks]


def judge_split(
    domains: Sequence[ScopeDomain],
    embedder: Embedder,
    config: EngineConfig | None = None,
    *,
    every_score: bool = False,
) -> tuple[list[Judged], list[tuple[str, Any]]]:
    """Store every feedback for one user, then ask a policy for every context.

    ``every_score``: judge the scope matching itself (every feedback with its score,
    no threshold, no cap on a policy's length) rather than the policy, for a sweep.
    """
    config = config or EngineConfig()
    feedbacks = _feedbacks(domains)
    with ScratchEngine(embedder, config) as scratch:
        engine = scratch.engine
        index_of: dict[str, int] = {}
        for i, (_, fb) in enumerate(feedbacks):
            _, prefs = engine.add_feedback(TENANT, USER, fb.text, task=None, context=fb.said_in)
            for pref in prefs:
                index_of[pref.id] = i
        judged: list[Judged] = []
        for domain in domains:
            for kind, contexts in (
                ("in", domain.in_scope),
                ("near", domain.near_scope),
                ("out", domain.out_of_scope),
            ):
                for context in contexts:
                    if every_score:
                        engine.scopes.min_score = -1.0
                        _, vector = engine.vector(TENANT, USER, context)
                        found = engine.scopes.retrieve(TENANT, USER, vector, None)
                        pairs = [(f.preference.id, f.score) for f in found]
                    else:
                        policy = engine.policy(TENANT, USER, context, k=config.k)
                        pairs = [(r.preference.id, r.score) for r in policy.preferences]
                    scores = {index_of[pid]: score for pid, score in pairs if pid in index_of}
                    judged.append(
                        Judged(domain.id, kind, context, frozenset(scores), scores)  # type: ignore[arg-type]
                    )
    return judged, feedbacks


def metrics(judged: Sequence[Judged], feedbacks: Sequence[tuple[str, Any]]) -> dict[str, float]:
    """The rates of the module docstring over one split's judgements."""
    own: dict[str, list[int]] = {}
    wide: list[int] = []
    for i, (domain, fb) in enumerate(feedbacks):
        (own.setdefault(domain, []) if fb.scoped else wide).append(i)
    hits = {"in": [0, 0], "near": [0, 0], "out": [0, 0]}
    foreign: list[int] = []
    wide_hits = [0, 0]
    for j in judged:
        mine = own.get(j.domain, [])
        tally = hits[j.kind]
        tally[0] += sum(i in j.returned for i in mine)
        tally[1] += len(mine)
        if j.kind == "in":
            foreign.append(
                sum(1 for i in j.returned if feedbacks[i][1].scoped and feedbacks[i][0] != j.domain)
            )
        wide_hits[0] += sum(i in j.returned for i in wide)
        wide_hits[1] += len(wide)
    rate = {k: (v[0] / v[1] if v[1] else float("nan")) for k, v in hits.items()}
    return {
        "in_recall": round(rate["in"], 3),
        "near_leak": round(rate["near"], 3),
        "out_leak": round(rate["out"], 3),
        "foreign_per_in_context": round(float(np.mean(foreign)) if foreign else 0.0, 2),
        "user_wide_recall": round(wide_hits[0] / wide_hits[1], 3) if wide_hits[1] else 1.0,
        "feedbacks": len(feedbacks),
        "contexts": len(judged),
    }


def evaluate(
    split: Split, embedder: Embedder, *, min_score: float | None = None
) -> dict[str, float]:
    """The scope metrics of one split, at the engine's (or the given) feedback threshold."""
    config = EngineConfig()
    if min_score is not None:
        config = replace(config, feedback_min_score=min_score)
    judged, feedbacks = judge_split(load(split), embedder, config)
    return metrics(judged, feedbacks)


def sweep(split: Split, embedder: Embedder, thresholds: Sequence[float]) -> list[dict[str, float]]:
    """Metrics at each threshold, from one pass that keeps every score (for calibration)."""
    judged, feedbacks = judge_split(load(split), embedder, every_score=True)
    rows = []
    for t in thresholds:
        kept = [
            replace(j, returned=frozenset(i for i, s in j.scores.items() if s >= t)) for j in judged
        ]
        rows.append({"threshold": t, **metrics(kept, feedbacks)})
    return rows


def format_rows(rows: Sequence[dict[str, Any]]) -> str:
    heads = list(rows[0])
    cells = [heads] + [
        [f"{r[h]:g}" if isinstance(r[h], float) else str(r[h]) for h in heads] for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(heads))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells
    )


def verdicts(row: dict[str, Any]) -> list[str]:
    """One line per target: the figure, the target, OK or MISS."""
    lines = []
    for key, (op, target) in TARGETS.items():
        value = row[key]
        ok = value >= target if op == ">=" else value <= target
        lines.append(f"{key} {value:g} (target {op} {target:g}) {'OK' if ok else 'MISS'}")
    return lines
