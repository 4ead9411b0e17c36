"""Word-level alignment of a draft and its edit in near-linear time, and bounded excerpts.

The rule learner mines phrase substitutions and deletions from an alignment of
the draft's tokens with the final's (``learners.rules``), as PRELUDE's cost is
a word-level edit distance (Gao et al., arXiv 2404.15269). ``difflib`` with
``autojunk=False`` is quadratic in Python and took minutes on a 200k-character
edit; here the alignment is a longest common subsequence (rapidfuzz's C++
``Indel``, bit-parallel) taken in two steps:

1. lines: the lines of both texts are aligned as units (a line is equal when
   its tokens are), so whole paragraphs added, removed or kept cost one unit;
2. tokens: inside each run of changed lines, tokens are aligned.

Each step aligns windows of at most ``WINDOW`` items and keeps the matches that
start in a window's first half before moving on, so a text of n tokens costs
O(n * WINDOW / 64) machine words of work and O(WINDOW**2 / 64) of memory,
whatever its length. An edit that moves text further than half a window is seen
as a deletion plus an insertion, which is what a phrase rule would make of it
anyway (it mines spans of at most a few tokens).

``excerpt`` cuts a long (draft, final) pair down to aligned windows (the start,
the end, the user's changes in context) so that verifying a rule on it
(replaying the rule and measuring the edit distance) costs a bounded amount.

    python -c "from learners.style.align import align; print(align('a b c', 'a x c')[2])"
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Hashable, Sequence

from rapidfuzz.distance import Indel

TOKEN = re.compile(r"\w+|[^\w\s]")
#: (token, start, end) in the text
Span = tuple[str, int, int]
#: (tag, i1, i2, j1, j2) as difflib's ``get_opcodes``: equal, replace, delete, insert
Opcode = tuple[str, int, int, int, int]
#: items (lines or tokens) aligned at once
WINDOW = 1024


def spans(text: str) -> list[Span]:
    return [(m.group(0), m.start(), m.end()) for m in TOKEN.finditer(text)]


def matching_blocks(
    a: Sequence[Hashable], b: Sequence[Hashable], window: int = WINDOW
) -> list[tuple[int, int, int]]:
    """(i, j, size) runs of a longest common subsequence, increasing, window by window."""
    blocks: list[tuple[int, int, int]] = []
    i = j = 0
    half = max(window // 2, 1)
    while i < len(a) and j < len(b):
        ea, eb = min(len(a), i + window), min(len(b), j + window)
        found = [
            (op.src_start + i, op.dest_start + j, op.src_end - op.src_start)
            for op in Indel.opcodes(list(a[i:ea]), list(b[j:eb]))
            if op.tag == "equal"
        ]
        if ea == len(a) and eb == len(b):
            blocks += found
            break
        # Matches near a window's end may be an artefact of the cut: keep those that
        # start in the first half (at least one) and align the rest again from there.
        kept = [m for m in found if m[0] - i < half and m[1] - j < half] or found[:1]
        if not kept:  # nothing in common here: step over half a window on both sides
            i, j = min(len(a), i + half), min(len(b), j + half)
            continue
        blocks += kept
        i, j = kept[-1][0] + kept[-1][2], kept[-1][1] + kept[-1][2]
    return blocks


def opcodes(blocks: Sequence[tuple[int, int, int]], n: int, m: int) -> list[Opcode]:
    """difflib-style opcodes covering a[0:n] and b[0:m] from increasing matching blocks."""
    found: list[Opcode] = []
    i = j = 0
    for bi, bj, size in [*blocks, (n, m, 0)]:
        if bi > i or bj > j:
            tag = "replace" if bi > i and bj > j else "delete" if bi > i else "insert"
            found.append((tag, i, bi, j, bj))
        if size:
            if found and found[-1][0] == "equal" and found[-1][2] == bi:
                _, i1, _, j1, _ = found.pop()  # adjacent runs merge, as in difflib
                found.append(("equal", i1, bi + size, j1, bj + size))
            else:
                found.append(("equal", bi, bi + size, bj, bj + size))
        i, j = bi + size, bj + size
    return found


def _lines(text: str, tokens: list[Span]) -> tuple[list[str], list[int]]:
    """Each non-empty line as one key (its tokens), and the index of its first token."""
    breaks = [k for k, ch in enumerate(text) if ch == "\n"]
    lines: list[list[str]] = []
    starts: list[int] = []
    line = -1
    for index, (token, start, _) in enumerate(tokens):
        here = bisect.bisect_left(breaks, start)
        if here != line:
            line = here
            lines.append([])
            starts.append(index)
        lines[-1].append(token)
    starts.append(len(tokens))
    return ["\x00".join(words) for words in lines], starts


def align(
    draft: str, final: str, window: int = WINDOW
) -> tuple[list[Span], list[Span], list[Opcode]]:
    """Tokens of both texts and opcodes aligning them: lines first, then tokens within."""
    a, b = spans(draft), spans(final)
    la, sa = _lines(draft, a)
    lb, sb = _lines(final, b)
    ta, tb = [t for t, _, _ in a], [t for t, _, _ in b]
    blocks: list[tuple[int, int, int]] = []
    for tag, i1, i2, j1, j2 in opcodes(matching_blocks(la, lb, window), len(la), len(lb)):
        ai, bj = sa[i1], sb[j1]
        if tag == "equal":
            blocks.append((ai, bj, sa[i2] - ai))
        elif tag == "replace":
            inner = matching_blocks(ta[ai : sa[i2]], tb[bj : sb[j2]], window)
            blocks += [(ai + x, bj + y, size) for x, y, size in inner]
    return a, b, opcodes(blocks, len(a), len(b))


def _boundary(ops: list[Opcode], p: int, end: bool, limit: int) -> tuple[int, int]:
    """The cut in the final matching a cut before draft token ``p`` (an end cut: after
    token ``p - 1``). A change no longer than ``limit`` tokens is kept whole; a longer
    rewrite is cut in proportion."""
    if not ops:
        return 0, 0
    if end:
        ends = [op[2] for op in ops]
        k = bisect.bisect_right(ends, p) - 1
        if k >= 0 and ends[k] == p:
            return p, ops[k][4]  # the last run ending here: an insertion here is kept
        if k < 0 and p == 0:
            return 0, 0
        k += 1
    else:
        starts = [op[1] for op in ops]
        k = bisect.bisect_left(starts, p)
        if k < len(ops) and starts[k] == p:
            return p, ops[k][3]  # the first run starting here: an insertion here is kept
        if k == len(ops):
            return ops[-1][2], ops[-1][4]
        k -= 1
    tag, i1, i2, j1, j2 = ops[k]
    if tag == "equal":
        return p, j1 + (p - i1)
    if i2 - i1 <= limit and j2 - j1 <= limit:
        return (i2, j2) if end else (i1, j1)
    return p, j1 + (p - i1) * (j2 - j1) // (i2 - i1)


def excerpt(draft: str, final: str, budget: int, context: int = 24) -> tuple[str, str]:
    """The pair as is when both have at most ``budget`` tokens; else aligned windows of it.

    The windows (about ``budget`` draft tokens in all) are the start and the end (the
    greeting and sign-off stay whole), then the user's changes with ``context``
    tokens around each, a sample spread evenly over the text when they are more
    than fit, then, with room left, unchanged stretches spread evenly. Each is cut
    at the same place of both texts; they are joined by a blank line.
    """
    a, b, ops = align(draft, final)
    n = len(a)
    if max(n, len(b)) <= budget:
        return draft, final
    piece = max(budget // 8, 1)  # the longest window but the start and end ones
    windows = [(0, min(piece, n)), (max(n - piece, 0), n)]
    room = budget - 2 * piece
    changes = [
        (max(i1 - context, 0), min(max(i2, i1 + 1) + context, i1 + piece, n))
        for tag, i1, i2, _, _ in ops
        if tag != "equal"
    ]
    if changes:
        mean = sum(e - s for s, e in changes) / len(changes)
        fit = max(int(room // max(mean, 1.0)), 1)
        step = max(len(changes) / fit, 1.0)
        picked = [changes[int(k * step)] for k in range(min(fit, len(changes)))]
        windows += picked
        room -= sum(e - s for s, e in picked)
    spread = max(room // (4 * context), 0) if room > 0 else 0
    for k in range(spread):
        s = (n - 4 * context) * (k + 1) // (spread + 1)
        windows.append((max(s, 0), min(s + 4 * context, n)))
    merged: list[list[int]] = []
    for s, e in sorted(windows):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    draft_ranges, final_ranges = [], []
    for s, e in merged:
        ps, js = (0, 0) if s == 0 else _boundary(ops, s, False, piece)
        pe, je = (n, len(b)) if e == n else _boundary(ops, e, True, piece)
        pe = max(pe, ps)
        # A long insertion of the user's stays bounded too (cut after a while).
        je = min(max(je, js), js + (pe - ps) + piece)
        draft_ranges.append((ps, pe))
        final_ranges.append((js, je))
    return _cut(draft, a, draft_ranges), _cut(final, b, final_ranges)


def _cut(text: str, tokens: list[Span], ranges: list[tuple[int, int]]) -> str:
    """The text of each token range (the first from the text's start, the last to its
    end), joined by a blank line."""
    parts = []
    for n, (s, e) in enumerate(ranges):
        start = 0 if n == 0 else tokens[s][1] if s < len(tokens) else len(text)
        stop = len(text) if n == len(ranges) - 1 else tokens[e - 1][2] if e > 0 else 0
        parts.append(text[start:stop] if stop > start else "")
    return "\n\n".join(parts)
