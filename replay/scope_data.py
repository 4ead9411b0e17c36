"""The scope evaluation set: verbal feedbacks with in-, near- and out-of-scope contexts.

C3PO ("RLVF: Learning from Verbal Feedback without Overgeneralization", Stephan et al.,
2024, arXiv 2402.10893) judges a learner of verbal feedback on three kinds of prompt: those
the feedback should apply to (in scope), related ones it should not (near scope) and
unrelated ones (out of scope). This module loads the set written for Tailor in
``replay/data/scope/`` (CC0; schema in its README.md). The split is by domain: ``dev``
may be used to calibrate a learner, ``test`` is held out and must not be tuned on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

Split = Literal["dev", "test", "all"]
VERSION = 1


@dataclass(frozen=True)
class ScopeFeedback:
    """One verbal feedback as a user would say it.

    ``scoped`` is False for a user-wide feedback, which applies to every context (of
    every domain). ``said_in`` is the context the feedback was given in, or None.
    """

    text: str
    said_in: str | None
    scoped: bool


@dataclass(frozen=True)
class ScopeDomain:
    """A scope (``scope`` is its ground truth in words), its feedbacks and contexts.

    Every scoped feedback of the domain applies to each ``in_scope`` context and to no
    ``near_scope`` or ``out_of_scope`` one.
    """

    id: str
    split: Literal["dev", "test"]
    scope: str
    feedbacks: tuple[ScopeFeedback, ...]
    in_scope: tuple[str, ...]
    near_scope: tuple[str, ...]
    out_of_scope: tuple[str, ...]


def load(split: Split) -> list[ScopeDomain]:
    """The domains of ``split`` ("all": dev then test), in file order."""
    if split not in ("dev", "test", "all"):
        raise ValueError(f"unknown split {split!r}: expected 'dev', 'test' or 'all'")
    names: list[Literal["dev", "test"]] = ["dev", "test"] if split == "all" else [split]
    return [domain for name in names for domain in _read(name)]


def _read(name: Literal["dev", "test"]) -> list[ScopeDomain]:
    path = resources.files("replay").joinpath("data", "scope", f"{name}.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise ValueError(f"scope/{name}.json: expected an object with version {VERSION}")
    domains = raw.get("domains")
    if not isinstance(domains, list):
        raise ValueError(f"scope/{name}.json: 'domains' must be a list")
    return [_domain(item, name) for item in domains]


def _domain(item: Any, split: Literal["dev", "test"]) -> ScopeDomain:
    if not isinstance(item, dict):
        raise ValueError(f"scope/{split}.json: each domain must be an object")
    where = f"scope/{split}.json domain {item.get('id')!r}"
    feedbacks = item.get("feedbacks")
    if not isinstance(feedbacks, list) or not feedbacks:
        raise ValueError(f"{where}: 'feedbacks' must be a non-empty list")
    return ScopeDomain(
        id=_text(item.get("id"), where, "id"),
        split=split,
        scope=_text(item.get("scope"), where, "scope"),
        feedbacks=tuple(_feedback(f, where) for f in feedbacks),
        in_scope=_texts(item.get("in_scope"), where, "in_scope"),
        near_scope=_texts(item.get("near_scope"), where, "near_scope"),
        out_of_scope=_texts(item.get("out_of_scope"), where, "out_of_scope"),
    )


def _feedback(item: Any, where: str) -> ScopeFeedback:
    if not isinstance(item, dict) or not isinstance(item.get("scoped"), bool):
        raise ValueError(f"{where}: a feedback must be an object with a boolean 'scoped'")
    said_in = item.get("said_in")
    return ScopeFeedback(
        text=_text(item.get("text"), where, "feedback text"),
        said_in=None if said_in is None else _text(said_in, where, "said_in"),
        scoped=item["scoped"],
    )


def _texts(value: Any, where: str, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: {field!r} must be a non-empty list of strings")
    return tuple(_text(v, where, field) for v in value)


def _text(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: {field} must be a non-empty string")
    return value
