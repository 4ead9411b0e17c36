"""Inverse Constitutional AI: compress pairwise preferences into a few tested principles.

Findeis et al., "Inverse Constitutional AI: Compressing Preferences into
Principles" (arXiv 2406.06560), Section 3. From pairs of texts where an
annotator preferred one, the algorithm (1) proposes candidate principles per
pair ("Select the response that ..."), (2) clusters them by embedding and
(3) keeps one per cluster, (4) tests every candidate as a judge on every pair
and (5) keeps those that reconstruct the annotations (more votes for than
against, relevant on >= 10% of pairs), ranked by net support. The result, a
short "constitution", is scored by how often a judge that follows it agrees
with the original labels.

Tailor runs the five steps offline by default: candidates come from the
deterministic edit analysis (``learners.signals``), each with an executable
test (an operation's detector or a feature comparison), and from lexical
contrast (``learners.icai.lexical``: the words the preferred texts mention and
the rejected ones lack, tested by a word match), so testing is exact and free.
With an LLM, candidates and votes for principles without a test come from the
paper's two prompts (Tailor's wording), parsed strictly.

    python -m replay.icai_eval --pairs 200 --seed 0   # synthetic evaluation table
    python -m replay.icai_eval --csv pairs.csv        # constitution of an ICAI CSV
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from statistics import NormalDist
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from learners.backends.embeddings import Embedder
from learners.backends.llm import LLM, require_llm
from learners.icai import lexical
from learners.icai.pairs import Pair, Vote
from learners.icai.prompts import (
    generation_messages,
    parse_principles,
    parse_votes,
    voting_messages,
)
from learners.signals import Features, Signal, analyze, features
from learners.style import operations as ops
from learners.style.text import normalize
from store.errors import InvalidInputError
from store.records import now

Test = dict[str, Any]
PREFIX = "Select the response that "


@dataclass(frozen=True)
class Candidate:
    """A proposed principle; ``test`` judges a pair offline, None means only an LLM can."""

    text: str
    key: str
    test: Test | None
    #: how many proposals it stands for after merging duplicates and clustering
    count: int = 1


@dataclass(frozen=True)
class PrincipleResult:
    """A tested principle: votes agreeing and disagreeing with the annotations."""

    text: str
    key: str
    test: Test | None
    votes_for: int
    votes_against: int
    relevant: int
    pairs: int

    @property
    def net(self) -> int:
        return self.votes_for - self.votes_against

    @property
    def relevance(self) -> float:
        return self.relevant / self.pairs if self.pairs else 0.0


@dataclass(frozen=True)
class Constitution:
    principles: list[PrincipleResult]
    #: how often the constitution judge agrees with the pairs it was built from
    agreement: float
    pairs: int
    counts: dict[str, int] = field(default_factory=dict)
    built_at: str = field(default_factory=now)  # the API's one timestamp format

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.principles]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Constitution:
        """The inverse of ``to_dict``; a test this module cannot run is refused."""
        try:
            principles = [PrincipleResult(**p) for p in data["principles"]]
            built = cls(
                principles, data["agreement"], data["pairs"], data["counts"], data["built_at"]
            )
        except (KeyError, TypeError) as exc:
            raise InvalidInputError(f"not a stored constitution: {exc}") from exc
        for p in principles:
            if p.test is not None:
                check_test(p.test)
        return built


class ICAIOptions(BaseModel):
    """Hyperparameters of the five steps; the defaults follow the paper where it fixes one."""

    model_config = ConfigDict(extra="forbid")

    per_pair: int = Field(3, ge=1, le=10, description="Principles proposed per pair (step 1).")
    n_clusters: int = Field(40, ge=1, description="Clusters of candidates, one kept each (2-3).")
    min_relevance: float = Field(
        0.1, ge=0, le=1, description="Share of pairs a principle must judge (step 5)."
    )
    max_principles: int = Field(5, ge=1, description="Size of the constitution (step 5).")
    confidence: float = Field(
        0.95,
        ge=0,
        lt=1,
        description="Confidence that no kept principle's majority is luck (a Wilson bound, "
        "Bonferroni-corrected over the candidates tested); 0 is the paper's plain majority.",
    )
    seed: int = Field(0, description="Seed of the clustering.")
    offline_candidates: bool = Field(
        True, description="With an LLM, also propose the executable principles of edit analysis."
    )
    max_per_prompt: int = Field(20, ge=1, description="Principles voted on in one LLM prompt.")
    max_lexical: int = Field(
        20, ge=0, description="Content principles proposed from lexical contrast (0: none)."
    )


# -- executable tests --------------------------------------------------------------

#: features a test may compare: the counts of ``learners.signals.Features``, words per sentence
FEATURES = frozenset([f.name for f in fields(Features) if f.type == "int"] + ["sentence_words"])


def _compare(feature: str, direction: str, ratio: float = 1.0, min_diff: float = 1.0) -> Test:
    return {"feature": feature, "direction": direction, "ratio": ratio, "min_diff": min_diff}


def _op(name: str) -> Test:
    return {"op": {"op": name}}


# Style signals with a generic meaning -> the principle and the test that checks it. Length
# and sentence thresholds match those ``learners.signals`` reports a change at.
KNOWN: dict[str, tuple[str, Test]] = {
    "structure=numbered": ("uses a numbered list", _op("to_numbered")),
    "structure=bullets": ("uses bullet points", _op("to_bullets")),
    "structure=prose": ("is written as prose, without lists", _op("to_prose")),
    "headings=more": ("uses section headings", _compare("headings", "more")),
    "headings=fewer": ("avoids section headings", _compare("headings", "fewer")),
    "length=shorter": ("is shorter and more concise", _compare("words", "fewer", 1.33)),
    "length=longer": ("is longer and more detailed", _compare("words", "more", 1.33)),
    "sentences=short": ("uses short sentences", _compare("sentence_words", "fewer", 1.33, 0)),
    "sentences=long": ("uses long, flowing sentences", _compare("sentence_words", "more", 1.33, 0)),
    "paragraphs=more": ("uses more, shorter paragraphs", _compare("paragraphs", "more", 1, 2)),
    "paragraphs=fewer": ("uses fewer, longer paragraphs", _compare("paragraphs", "fewer", 1, 2)),
    "emoji=none": ("avoids emojis", _op("remove_emojis")),
    "emoji=more": ("uses emojis", _compare("emojis", "more")),
    "exclamation=none": ("avoids exclamation marks", _op("remove_exclamations")),
    "exclamation=more": ("uses exclamation marks", _compare("exclamations", "more")),
    "contractions=none": ("writes formally, without contractions", _op("expand_contractions")),
    "contractions=use": ("writes casually, with contractions", _op("use_contractions")),
    "hashtags=none": ("avoids hashtags", _op("remove_hashtags")),
    "hashtags=more": ("uses hashtags", _compare("hashtags", "more")),
    "questions=none": ("asks no questions", _compare("questions", "fewer")),
    "questions=more": ("asks the reader a question", _compare("questions", "more")),
    "greeting=none": ("starts without a greeting line", _op("remove_greeting")),
    "signoff=none": ("ends without a sign-off", _op("remove_signoff")),
    "person=i": ("is written in the first person (I)", _compare("first_person", "more")),
    "person=we": ("is written as a team (we)", _compare("plural", "more")),
    "person=you": ("addresses the reader directly (you)", _compare("second_person", "more")),
}


def check_test(test: Test) -> None:
    """Raise ``InvalidInputError`` unless ``test`` is a test this module can run."""
    if "kind" in test:
        lexical.check_mentions(test)
    elif "op" in test:
        try:
            ops.parse_operation(test["op"])
        except InvalidInputError as exc:
            raise InvalidInputError(f"invalid principle test {test!r}: {exc}") from exc
    elif test.get("feature") not in FEATURES or test.get("direction") not in ("more", "fewer"):
        raise InvalidInputError(f"invalid principle test {test!r}")


@functools.lru_cache(maxsize=8192)
def _features(text: str) -> Features:
    # Cached: every candidate's test measures the same texts again.
    return features(text)


@functools.lru_cache(maxsize=16384)
def _holds(op_json: str, text: str) -> bool:
    return ops.holds(json.loads(op_json), text)


def test_vote(test: Test, pair: Pair) -> Vote:
    """The text ``test`` selects: the only one satisfying a detector, or the clear winner."""
    if test.get("kind") == "mentions":
        return lexical.mentions_vote(test, pair)
    if "op" in test:
        op_json = json.dumps(test["op"], sort_keys=True)
        in_a, in_b = _holds(op_json, pair.a), _holds(op_json, pair.b)
        return "a" if in_a and not in_b else "b" if in_b and not in_a else None
    name = test["feature"]
    va = float(getattr(_features(pair.a), name))
    vb = float(getattr(_features(pair.b), name))
    if va == vb:
        return None
    hi, lo = max(va, vb), min(va, vb)
    if hi < test.get("ratio", 1.0) * lo or hi - lo < test.get("min_diff", 1.0):
        return None
    higher: Vote = "a" if va > vb else "b"
    if test["direction"] == "more":
        return higher
    return "b" if higher == "a" else "a"


# -- step 1: candidate generation ----------------------------------------------------


def pairs_from_edits(
    items: Sequence[tuple[str | None, str, str]],
    *,
    seed: int = 0,
    ids: Sequence[str] | None = None,
) -> list[Pair]:
    """One pair per edit, the final preferred over the draft; accepted drafts give none.

    Which text is ``a`` is decided by a hash of the seed and the texts, so a judge
    cannot score by position, and adding edits never moves the earlier ones.
    ``ids`` name the pairs (e.g. interaction ids); default ``edit-<i>``.
    """
    pairs: list[Pair] = []
    for i, (context, draft, final) in enumerate(items):
        if draft.strip() == final.strip():
            continue
        pair_id = ids[i] if ids is not None else f"edit-{i}"
        digest = hashlib.sha256(f"{seed}\0{draft}\0{final}".encode()).digest()
        if digest[0] % 2:
            pairs.append(Pair(final, draft, "a", context, pair_id))
        else:
            pairs.append(Pair(draft, final, "b", context, pair_id))
    return pairs


def candidate_of(signal: Signal) -> Candidate:
    """The principle a style signal stands for, in the paper's form, with its test."""
    if signal.key in KNOWN:
        phrase, test = KNOWN[signal.key]
        return Candidate(PREFIX + phrase, signal.key, test)
    # Specific frames (a greeting, a sign-off, a summary line): the operation's detector.
    return Candidate(PREFIX + signal.text, signal.key, {"op": signal.op} if signal.op else None)


def generate_candidates(
    pairs: Sequence[Pair], llm: LLM | None = None, per_pair: int = 3
) -> list[Candidate]:
    """Step 1: up to ``per_pair`` principles that could explain each choice.

    Offline, from the style signals that tell the preferred text from the rejected
    one, most telling first; with an LLM, from the paper's generation prompt.
    """
    found: list[Candidate] = []
    for pair in pairs:
        if llm is None:
            signals = analyze(pair.rejected, pair.chosen)[:per_pair]
            found += [candidate_of(s) for s in signals]
            continue
        answer = llm.complete(generation_messages(pair, per_pair), max_tokens=400, json_object=True)
        # A longer list than asked for is kept to its first ``per_pair`` items.
        texts = parse_principles(answer.text)[:per_pair]
        found += [Candidate(text, _text_key(text), None) for text in texts]
    return found


# -- steps 2 and 3: clustering and one representative per cluster ---------------------------


def _text_key(text: str) -> str:
    return "text:" + normalize(text)


def merge_duplicates(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Same key or same wording -> one candidate; an executable one wins over an LLM-only one."""
    merged: dict[str, Candidate] = {}
    alias: dict[str, str] = {}
    for c in candidates:
        name = alias.get(c.key) or alias.get(_text_key(c.text))
        if name is None:
            merged[c.key] = c
            alias[c.key] = alias[_text_key(c.text)] = c.key
            continue
        kept = merged[name]
        best = c if kept.test is None and c.test is not None else kept
        merged[name] = Candidate(best.text, best.key, best.test, kept.count + c.count)
        alias[c.key] = name
    return list(merged.values())


def cluster_candidates(
    candidates: Sequence[Candidate], embedder: Embedder, n_clusters: int, seed: int = 0
) -> list[Candidate]:
    """Steps 2-3: k-means on the embedded texts, the member nearest each centroid kept.

    Exact duplicates are merged first and weigh in by their count; with no more
    distinct candidates than clusters nothing is merged.
    """
    unique = merge_duplicates(candidates)
    if len(unique) <= n_clusters:
        return sorted(unique, key=lambda c: -c.count)
    from sklearn.cluster import KMeans  # ~1 s import; only needed when clustering

    vectors = embedder.embed([c.text for c in unique])  # (U, D), unit rows
    weights = np.array([c.count for c in unique], dtype=np.float64)  # (U,)
    kmeans = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed)
    labels = kmeans.fit_predict(vectors, sample_weight=weights)  # (U,)
    kept: list[Candidate] = []
    for cluster in range(n_clusters):
        members = np.flatnonzero(labels == cluster)
        if not len(members):
            continue
        centre = kmeans.cluster_centers_[cluster]  # (D,)
        dist = np.linalg.norm(vectors[members] - centre, axis=1)
        rep = unique[int(members[int(np.argmin(dist))])]
        total = int(weights[members].sum())
        kept.append(Candidate(rep.text, rep.key, rep.test, total))
    return sorted(kept, key=lambda c: -c.count)


# -- step 4: testing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Votes:
    """Every principle's vote on every pair: ``matrix[i][j]`` is principle i on pair j."""

    principles: list[Candidate]
    matrix: list[list[Vote]]  # (P, N)


def test_principles(
    principles: Sequence[Candidate],
    pairs: Sequence[Pair],
    llm: LLM | None = None,
    *,
    max_per_prompt: int = 20,
) -> Votes:
    """Step 4: each principle judges each pair: "a", "b" or None (not relevant).

    Executable tests vote exactly and for free; only principles without one go to
    the LLM, batched as in the reference code: one prompt per pair (and per
    ``max_per_prompt`` principles) listing them all.
    """
    columns = [
        pair_votes(principles, pair, llm, max_per_prompt=max_per_prompt) for pair in pairs
    ]  # (N, P)
    matrix = [[col[i] for col in columns] for i in range(len(principles))]
    return Votes(list(principles), matrix)


def pair_votes(
    principles: Sequence[Candidate | PrincipleResult],
    pair: Pair,
    llm: LLM | None,
    *,
    max_per_prompt: int = 20,
) -> list[Vote]:
    """Every principle's vote on one pair; the LLM is asked only about those without a test."""
    votes: list[Vote] = [None] * len(principles)
    asked: list[int] = []
    for i, p in enumerate(principles):
        if p.test is None:
            asked.append(i)
        else:
            votes[i] = test_vote(p.test, pair)
    if asked:
        model = require_llm(llm, "testing principles that have no executable test")
        for start in range(0, len(asked), max_per_prompt):
            batch = asked[start : start + max_per_prompt]
            texts = [principles[i].text for i in batch]
            answer = model.complete(
                voting_messages(pair, texts), max_tokens=30 * len(batch) + 20, json_object=True
            )
            for i, vote in zip(batch, parse_votes(answer.text, len(batch)), strict=True):
                votes[i] = vote
    return votes


# -- step 5: filtering ---------------------------------------------------------------------


def wilson_lower(successes: int, trials: int, z: float) -> float:
    """Lower Wilson score bound of a binomial proportion."""
    if trials == 0:
        return 0.0
    p = successes / trials
    centre = p + z * z / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return (centre - margin) / (1 + z * z / trials)


def select_principles(
    votes: Votes,
    pairs: Sequence[Pair],
    min_relevance: float = 0.1,
    max_principles: int = 5,
    *,
    confidence: float = 0.95,
) -> list[PrincipleResult]:
    """Step 5: keep principles with more votes for than against, relevant on at least
    ``min_relevance`` of the pairs, ranked by net support (for - against), top n.

    Tailor's addition: with ``confidence`` > 0 the share of votes for must also beat
    one half by a one-sided Wilson bound, Bonferroni-corrected over all principles
    tested. A style that varies at random between the two texts gets a small chance
    majority often enough that the paper's plain rule, meant for thousands of
    pairs, fills a constitution built from a user's few dozen edits with them.

    A content principle (a ``mentions`` test) must also pass that test on the pairs
    the principles ranked above it do not already decide its way: the words of a
    planted question tag or greeting, of the sentences only a longer text has, or
    of a phrase around a kept word say nothing new. At equal support a style
    principle ranks first.
    """
    # Bonferroni: the chance that any of the tested principles passes by luck is at
    # most 1 - confidence.
    alpha = (1 - confidence) / max(len(votes.principles), 1)
    z = NormalDist().inv_cdf(1 - alpha) if confidence > 0 else 0.0
    results: list[tuple[PrincipleResult, list[Vote]]] = []
    for principle, row in zip(votes.principles, votes.matrix, strict=True):
        agree = sum(1 for v, pair in zip(row, pairs, strict=True) if v == pair.preferred)
        relevant = sum(1 for v in row if v is not None)
        result = PrincipleResult(
            principle.text,
            principle.key,
            principle.test,
            agree,
            relevant - agree,
            relevant,
            len(pairs),
        )
        if result.net <= 0 or relevant < min_relevance * len(pairs):
            continue
        if z and wilson_lower(agree, relevant, z) <= 0.5:
            continue
        results.append((result, row))
    results.sort(key=lambda rr: (-rr[0].net, -rr[0].relevant, _is_lexical(rr[0].test)))
    kept: list[tuple[PrincipleResult, list[Vote]]] = []
    for result, row in results:
        if len(kept) == max_principles:
            break
        if _is_lexical(result.test) and not _adds_evidence(row, kept, pairs, z):
            continue
        kept.append((result, row))
    return [result for result, _ in kept]


Kept = Sequence[tuple[PrincipleResult, Sequence[Vote]]]


def _adds_evidence(row: Sequence[Vote], kept: Kept, pairs: Sequence[Pair], z: float) -> bool:
    """``row`` has a majority (by the Wilson bound at ``z``) on the pairs ``kept`` do not
    already decide as it does."""
    weights = [k.net for k, _ in kept]
    fresh = [
        pair.preferred == v
        for j, (v, pair) in enumerate(zip(row, pairs, strict=True))
        if v is not None and aggregate([votes[j] for _, votes in kept], weights) != v
    ]
    agree = sum(fresh)
    return 2 * agree > len(fresh) and not (z and wilson_lower(agree, len(fresh), z) <= 0.5)


def _is_lexical(test: Test | None) -> bool:
    return test is not None and test.get("kind") == "mentions"


# -- the constitution judge ---------------------------------------------------------------


def aggregate(votes: Sequence[Vote], weights: Sequence[float]) -> Vote:
    """Principles vote with their net support as weight; a tie abstains."""
    score = sum(
        w if v == "a" else -w if v == "b" else 0.0 for v, w in zip(votes, weights, strict=True)
    )
    return "a" if score > 0 else "b" if score < 0 else None


def judge(
    constitution: Constitution | Sequence[PrincipleResult],
    pair: Pair,
    llm: LLM | None = None,
    *,
    fallback: Callable[[Pair], Vote] | None = None,
) -> Vote:
    """Which text the constitution selects, None when no principle tells them apart.

    Each principle votes (its test, or the LLM for one without; ``UnavailableError``
    when that is needed and ``llm`` is None) weighted by its net support.
    ``fallback`` decides the pairs the constitution abstains on, e.g. a default
    judge, so "default judge with the constitution" can be measured.
    """
    principles = constitution.principles if isinstance(constitution, Constitution) else constitution
    vote = aggregate(pair_votes(principles, pair, llm), [p.net for p in principles])
    if vote is None and fallback is not None:
        return fallback(pair)
    return vote


def agreement(judge_fn: Callable[[Pair], Vote], pairs: Sequence[Pair]) -> float:
    """Share of pairs where the judge picks the annotated text; an abstention counts 0.5.

    Half a point is what a coin flip would score, so a judge that abstains is never
    rewarded over one that guesses, nor punished below chance.
    """
    if not pairs:
        raise ValueError("agreement needs at least one pair")
    scores = [_score(judge_fn(p), p) for p in pairs]
    return sum(scores) / len(scores)


def _score(vote: Vote, pair: Pair) -> float:
    return 0.5 if vote is None else float(vote == pair.preferred)


def build_constitution(
    pairs: Sequence[Pair],
    *,
    embedder: Embedder,
    llm: LLM | None = None,
    options: ICAIOptions | None = None,
    **overrides: Any,
) -> Constitution:
    """The five steps of Section 3 on ``pairs``; ``overrides`` are ``ICAIOptions`` fields."""
    opts = ICAIOptions.model_validate((options or ICAIOptions()).model_dump() | overrides)
    if not pairs:
        raise InvalidInputError("a constitution needs at least one preference pair")
    candidates: list[Candidate] = []
    if llm is None or opts.offline_candidates:
        candidates += generate_candidates(pairs, None, opts.per_pair)
    if llm is not None:
        candidates += generate_candidates(pairs, llm, opts.per_pair)
    clustered = cluster_candidates(candidates, embedder, opts.n_clusters, opts.seed)
    # Content principles, mined over all pairs and deduplicated by term, are not clustered:
    # "mentions cats rather than dogs" and "... green rather than blue" embed close together.
    min_pairs = max(4, math.ceil(opts.min_relevance * len(pairs)))
    mined = lexical.mine(pairs, min_pairs=min_pairs, max_candidates=opts.max_lexical)
    content = [Candidate(PREFIX + c.text, c.key, c.test, c.support) for c in mined]
    tested = clustered + [c for c in content if c.key not in {k.key for k in clustered}]
    votes = test_principles(tested, pairs, llm, max_per_prompt=opts.max_per_prompt)
    kept = select_principles(
        votes, pairs, opts.min_relevance, opts.max_principles, confidence=opts.confidence
    )
    # Agreement from the votes already cast: no second round of LLM calls.
    rows = {c.key: row for c, row in zip(votes.principles, votes.matrix, strict=True)}
    weights = [p.net for p in kept]
    decided = [aggregate([rows[p.key][j] for p in kept], weights) for j in range(len(pairs))]
    score = sum(_score(v, p) for v, p in zip(decided, pairs, strict=True)) / len(pairs)
    counts = {
        "candidates": len(candidates),
        "unique": len(merge_duplicates(candidates)),
        "clusters": len(clustered),
        "lexical": len(content),
        "kept": len(kept),
    }
    return Constitution(kept, score, len(pairs), counts)


# Library functions named test_*: tell pytest they are not tests when a test imports them.
test_vote.__test__ = False  # type: ignore[attr-defined]
test_principles.__test__ = False  # type: ignore[attr-defined]
