"""ICAI's pairwise CSV format (Findeis et al., arXiv 2406.06560, reference code's
``text_a, text_b, preferred_text`` files), read into ``Pair`` rows with errors that
name the row."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from learners.icai.pairs import Pair
from store.errors import InvalidInputError

REQUIRED = ("text_a", "text_b", "preferred_text")


def read_icai_csv(path: str | Path) -> list[Pair]:
    """Pairs of an ICAI CSV: ``text_a``, ``text_b``, ``preferred_text`` ("text_a" or
    "text_b", as in the reference code), optional ``input`` (the context) and ``index``."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise InvalidInputError(
                f"{path}: missing column(s) {', '.join(missing)}; an ICAI CSV has "
                "text_a, text_b, preferred_text and optionally input"
            )
        pairs = [
            _row_pair(row, number, f"{path}: row {number} (line {reader.line_num})")
            for number, row in enumerate(reader, 1)
        ]
    except csv.Error as exc:
        raise InvalidInputError(f"{path}: line {reader.line_num}: bad CSV ({exc})") from exc
    if not pairs:
        raise InvalidInputError(f"{path}: no rows")
    return pairs


def _row_pair(row: dict[str | Any, Any], number: int, where: str) -> Pair:
    if None in row:
        raise InvalidInputError(f"{where}: more fields than the header has columns")
    if any(row.get(c) is None for c in REQUIRED):
        raise InvalidInputError(f"{where}: fewer fields than the header has columns")
    preferred = row["preferred_text"].strip()
    if preferred not in ("text_a", "text_b"):
        raise InvalidInputError(
            f"{where}: preferred_text must be 'text_a' or 'text_b', not {preferred!r}"
        )
    for column in ("text_a", "text_b"):
        if not row[column].strip():
            raise InvalidInputError(f"{where}: {column} is empty")
    context = (row.get("input") or "").strip() or None
    pair_id = (row.get("index") or "").strip() or str(number)
    return Pair(
        row["text_a"], row["text_b"], "a" if preferred == "text_a" else "b", context, pair_id
    )
