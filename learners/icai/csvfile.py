"""ICAI's pairwise CSV format (Findeis et al., arXiv 2406.06560, reference code's
``text_a, text_b, preferred_text`` files), read into ``Pair`` rows with errors that
name the row.

ICAI's format also allows ``tie`` rows (``tie``, ``tie (bothbad)``, ``tie (bothgood)``):
they state no preference, so they are skipped and counted, never fatal. Each pair gets
an import key (``import_key``) so that importing the same file twice adds nothing: the
file's own ``id`` column where it has one, else a digest of the pair's content.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learners.icai.pairs import Pair
from store.errors import InvalidInputError

REQUIRED = ("text_a", "text_b", "preferred_text")
#: the longest text a field may hold by default (the API's TAILOR_MAX_TEXT_CHARS default)
DEFAULT_MAX_CHARS = 200_000
#: the longest value of the ``id`` column (it becomes part of a 128-character client id)
MAX_ID_CHARS = 100


@dataclass(frozen=True)
class IcaiFile:
    pairs: list[Pair]
    #: each pair's import key (same order): ``id:<the file's id>`` or ``sha:<digest>``
    keys: list[str]
    #: rows that state no preference (ties, both bad, both good), skipped
    ties: int


def import_key(pair: Pair, explicit: str | None) -> str:
    """The pair's idempotency key: the file's own id when given, else its content."""
    if explicit:
        return f"id:{explicit}"
    content = "\0".join([pair.a, pair.b, pair.preferred, pair.context or ""])
    return "sha:" + hashlib.sha256(content.encode()).hexdigest()[:32]


def read_icai_csv(path: str | Path, *, max_chars: int = DEFAULT_MAX_CHARS) -> list[Pair]:
    """The pairs of an ICAI CSV (ties skipped): see :func:`read_icai_file`."""
    return read_icai_file(path, max_chars=max_chars).pairs


def read_icai_file(path: str | Path, *, max_chars: int = DEFAULT_MAX_CHARS) -> IcaiFile:
    """Pairs of an ICAI CSV: ``text_a``, ``text_b``, ``preferred_text`` ("text_a" or
    "text_b", as in the reference code, or a tie), optional ``input`` (the context),
    ``index`` (a row number) and ``id`` (a stable id for idempotent imports).

    Every error names the line where the offending row starts; nothing is returned
    unless the whole file is valid (no NUL bytes, no repeated column, no field longer
    than ``max_chars``).
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        raise InvalidInputError(f"{path}: line {line}: a NUL byte; a CSV holds text only")
    # The csv module refuses fields over its own limit (128 KiB); let ours decide.
    csv.field_size_limit(max(csv.field_size_limit(), max_chars + 1))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    start = 1
    try:
        header = reader.fieldnames or []
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            raise InvalidInputError(f"{path}: line 1: column(s) {', '.join(repeated)} repeated")
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise InvalidInputError(
                f"{path}: missing column(s) {', '.join(missing)}; an ICAI CSV has "
                "text_a, text_b, preferred_text and optionally input"
            )
        pairs, keys, ties = [], [], 0
        start = reader.line_num + 1
        for number, row in enumerate(reader, 1):
            where = f"{path}: row {number} (line {start})"
            pair = _row_pair(row, number, where, max_chars)
            if pair is None:
                ties += 1
            else:
                pairs.append(pair)
                explicit = (row.get("id") or "").strip() or None
                if explicit is not None and len(explicit) > MAX_ID_CHARS:
                    raise InvalidInputError(f"{where}: id is longer than {MAX_ID_CHARS}")
                keys.append(import_key(pair, explicit))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InvalidInputError(f"{path}: line {start}: bad CSV ({exc})") from exc
    if not pairs and not ties:
        raise InvalidInputError(f"{path}: no rows")
    return IcaiFile(pairs, keys, ties)


def _row_pair(row: dict[str | Any, Any], number: int, where: str, max_chars: int) -> Pair | None:
    """The row's pair; None for a row that states no preference (a tie)."""
    if None in row:
        raise InvalidInputError(f"{where}: more fields than the header has columns")
    if any(row.get(c) is None for c in REQUIRED):
        raise InvalidInputError(f"{where}: fewer fields than the header has columns")
    preferred = row["preferred_text"].strip()
    if preferred == "tie" or preferred.startswith("tie "):
        return None
    if preferred not in ("text_a", "text_b"):
        raise InvalidInputError(
            f"{where}: preferred_text must be 'text_a', 'text_b' or a tie, not {preferred!r}"
        )
    for column in ("text_a", "text_b"):
        if not row[column].strip():
            raise InvalidInputError(f"{where}: {column} is empty")
    for column, value in row.items():
        if isinstance(value, str) and len(value) > max_chars:
            raise InvalidInputError(
                f"{where}: {column} is {len(value)} characters; the limit is {max_chars}"
            )
    context = (row.get("input") or "").strip() or None
    pair_id = (row.get("index") or "").strip() or str(number)
    return Pair(
        row["text_a"], row["text_b"], "a" if preferred == "text_a" else "b", context, pair_id
    )
