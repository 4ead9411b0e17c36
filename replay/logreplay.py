"""Replaying a user's real, exported interactions through a learner.

Each interaction of an export (NDJSON from ``GET /v1/users/{user}/export``)
is taken in order: the learner first rewrites the raw draft with what it knew
before that round, then learns from the real (draft, final) pair. The report
compares the edit cost of the raw draft with that of the rewrite (PRELUDE's
word-level Levenshtein cost, Gao et al., arXiv 2404.15269): how much of each
later edit the learner would have predicted.

    tailor replay log dana.jsonl --learners feedback,edits,rules
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from learners.backends.embeddings import Embedder
from learners.core.config import EngineConfig
from learners.core.engine import NewInteraction
from learners.style.text import edit_distance
from replay.corpus import json_lines, read_lines
from replay.scratch import ScratchEngine
from store.errors import InvalidInputError


@dataclass(frozen=True)
class Replayed:
    round: int
    interaction_id: str
    raw_cost: int
    rewritten_cost: int
    applied: int


def read_export(path: Path) -> list[dict[str, object]]:
    rows = []
    for number, record in json_lines(read_lines(path), str(path)):
        if isinstance(record, dict) and record.get("type") == "interaction":
            for key in ("context", "draft", "final"):
                if not isinstance(record.get(key), str):
                    raise InvalidInputError(f"{path}:{number}: interaction without {key!r}")
            rows.append(record)
    if not rows:
        raise InvalidInputError(f"{path} holds no interactions (is it a Tailor export?)")
    return sorted(rows, key=lambda r: (str(r.get("created_at", "")), str(r.get("id", ""))))


def replay_log(path: Path, learners: list[str], embedder: Embedder) -> list[Replayed]:
    interactions = read_export(path)
    with ScratchEngine(embedder, EngineConfig(learners=tuple(learners))) as scratch:
        engine = scratch.engine
        results = []
        for number, row in enumerate(interactions, 1):
            context, draft, final = str(row["context"]), str(row["draft"]), str(row["final"])
            task = str(row["task"]) if isinstance(row.get("task"), str) else None
            rewritten, applied = engine.rewrite("replay", "user", context, draft, task=task)
            results.append(
                Replayed(
                    number,
                    str(row.get("id", number)),
                    edit_distance(draft, final),
                    edit_distance(rewritten, final),
                    len(applied),
                )
            )
            engine.log_interaction(
                "replay",
                "user",
                NewInteraction(context=context, draft=draft, final=final, task=task),
            )
        return results


def report(results: list[Replayed], per_round: bool) -> str:
    raw = sum(r.raw_cost for r in results)
    rewritten = sum(r.rewritten_cost for r in results)
    lines = []
    if per_round:
        lines.append(f"{'round':>5} {'raw cost':>9} {'with rules':>10} {'rules':>5}  interaction")
        lines += [
            f"{r.round:>5} {r.raw_cost:>9} {r.rewritten_cost:>10} {r.applied:>5}  "
            f"{r.interaction_id}"
            for r in results
        ]
        lines.append("")
    saved = raw - rewritten
    share = f"{100 * saved / raw:.1f}%" if raw else "n/a"
    lines.append(
        f"{len(results)} interactions: edit cost {raw} as drafted, {rewritten} with the "
        f"learner's rewrites; {saved} word edits saved ({share})."
    )
    return "\n".join(lines)
