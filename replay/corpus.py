"""Documents for the replay simulation: the packaged corpus or your own JSONL.

The packaged corpus (``replay/data/corpus.jsonl``) was written for Tailor and
is license-clean. It follows the sources of PRELUDE (Gao et al., arXiv
2404.15269, section 4): news articles, forum posts, encyclopedia articles,
paper abstracts and movie reviews to summarize; paper notes, personal
problems, peer reviews and paper announcements to turn into emails. Bring the
real datasets as JSONL lines ``{"source": ..., "text": ...}`` (optional
``task`` and ``id``) with ``--corpus FILE``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from store.errors import InvalidInputError

TASKS = ("summarization", "email")


@dataclass(frozen=True)
class Document:
    id: str
    task: str
    source: str
    text: str


def json_lines(lines: list[str], origin: str) -> list[tuple[int, Any]]:
    """(line number, parsed value) of each non-blank JSON line; clear errors otherwise."""
    parsed = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            parsed.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"{origin}:{number}: not JSON ({exc.msg})") from exc
    return parsed


def read_lines(path: Path) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from exc


def _parse(lines: list[str], origin: str, default_task: str | None) -> list[Document]:
    docs: list[Document] = []
    for number, row in json_lines(lines, origin):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise InvalidInputError(f"{origin}:{number}: needs a string 'text'")
        if not isinstance(row.get("source"), str) or not row["source"]:
            raise InvalidInputError(f"{origin}:{number}: needs a string 'source'")
        task = row.get("task", default_task)
        if task not in TASKS:
            raise InvalidInputError(
                f"{origin}:{number}: 'task' must be one of {', '.join(TASKS)} "
                "(or pass --task for a file without one)"
            )
        docs.append(
            Document(
                str(row.get("id", f"{row['source']}-{number}")), task, row["source"], row["text"]
            )
        )
    return docs


def packaged() -> list[Document]:
    text = resources.files("replay").joinpath("data/corpus.jsonl").read_text(encoding="utf-8")
    return _parse(text.splitlines(), "packaged corpus", None)


def load(path: Path | None = None, *, task: str | None = None) -> list[Document]:
    """The packaged corpus, or the documents of a JSONL file."""
    if path is None:
        return packaged()
    return _parse(read_lines(path), str(path), task)


def by_source(docs: list[Document], task: str) -> dict[str, list[Document]]:
    grouped: dict[str, list[Document]] = {}
    for doc in docs:
        if doc.task == task:
            grouped.setdefault(doc.source, []).append(doc)
    return grouped
