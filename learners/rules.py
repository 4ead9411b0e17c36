"""Rewrite rules mined from a user's edits and verified on their past edits.

PROSE (Aroca-Ouellette et al., arXiv 2505.23815) improves on CIPHER (Gao et
al., arXiv 2404.15269) by checking each inferred preference against several
past samples before trusting it. Tailor does that check exactly and for free:
a candidate rule is an executable operation (``learners.style.operations``), so it
can be replayed on the user's past drafts in similar contexts and scored by
what PRELUDE measures, the word-level edit distance to what the user actually
wrote.

Per pair (draft, final), a rule either
- helped: applying it to the draft brings it closer to the final,
- hurt: applying it moves the draft away, or the draft already followed it and
  the user undid it (they changed their mind),
- or is neutral (it changes nothing and the user left it so).
Newer pairs weigh more (half-life ``half_life`` edits) and closer contexts
weigh more (cosine similarity), so a changed habit wins within a few edits.

A candidate becomes a rule only when it helped on at least ``min_support``
distinct pairs with precision >= ``min_precision``: one-off and random edits
never do. Every new edit re-verifies the rules around it; a rule whose
weighted outcome turns negative is retired (kept, visible, not applied) and
may come back if the evidence turns again. At rewrite time the rules found
near the new context are verified once more on that neighbourhood and the
best rule of each conflict slot (bullets vs prose, one sign-off vs another)
is applied, in phase order.

The cost of one edit is bounded whatever its length (issue 14): the alignment
is near-linear (``learners.style.align``), at most ``max_candidates`` new
candidates and ``max_rules`` known rules are judged per edit, a long past edit
is replayed on an aligned excerpt of ``verify_tokens`` tokens (its start, its
end, its changes), and a user keeps at most ``max_rules`` active rules, the
weakest retired (``Learner.preference_cap``). The defaults are far above what
the PRELUDE tasks need, so the replay simulation's figures do not move.

Try it: ``make serve``, log five edits that change "Thanks, Sam" to "Best,
Dana", then ``POST /v1/users/{user}/rewrite``.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from rapidfuzz.distance import Levenshtein

from learners.base import History, Learned, Learner, Neighbor
from learners.mining import line_templates, phrase_candidates
from learners.rules_apply import apply_operations
from learners.signals import analyze
from learners.style import operations as ops
from learners.style.align import excerpt
from learners.style.templates import TemplateLine
from learners.style.text import edit_distance, word_tokens
from store.records import Interaction, Preference, now

if TYPE_CHECKING:
    from learners.backends.llm import LLM


class RuleOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_support: int = Field(2, ge=1, description="Distinct past edits a new rule must help.")
    min_precision: float = Field(
        0.6, ge=0, le=1, description="Share of affected edits a new rule must help."
    )
    min_similarity: float = Field(
        0.0,
        ge=-1,
        le=1,
        description="Past contexts less similar than this are not evidence (on top of the "
        "engine's own minimum, TAILOR_POLICY_MIN_SCORE).",
    )
    half_life: float = Field(3.0, gt=0, description="Recency half-life, in edits.")
    locality: float = Field(
        4.0, ge=0, description="Similarity weights are cosine ** locality: nearer counts more."
    )
    max_phrase_tokens: int = Field(8, ge=1, description="Longest phrase substitution mined.")
    max_deleted_tokens: int = Field(40, ge=1, description="Longest deleted span mined.")
    # Bounds on the work one edit costs, whatever its length (issue 14): the defaults sit
    # well above what the PRELUDE tasks need (drafts under 2,000 characters).
    max_candidates: int = Field(
        48,
        ge=1,
        description="New candidates verified per edit: every style operation, then the "
        "phrases the edit changed most often.",
    )
    max_rules: int = Field(
        64, ge=1, description="Active rules kept per user; beyond, the weakest are retired."
    )
    verify_tokens: int = Field(
        1024,
        ge=16,
        description="Tokens of a past edit a rule is replayed on; a longer edit is "
        "verified on aligned excerpts of it (its start, its end, evenly spread middles).",
    )


# -- mining ----------------------------------------------------------------------


def candidates(
    draft: str,
    final: str,
    options: RuleOptions,
    limit: int | None = None,
    known: frozenset[str] = frozenset(),
    context: str = "",
) -> list[ops.StoredOperation]:
    """Every executable change worth verifying: style signals and templates, then phrases.

    Changes whose key is in ``known`` are left out. With ``limit``, at most that many:
    the style operations, then the phrase changes the edit made most often (a habit
    repeats; a one-off rewrite does not), in their order.
    """
    style = [s.op for s in analyze(draft, final) if s.op is not None]
    style += line_templates(draft, final, context)
    phrases = phrase_candidates(draft, final, options)
    unique: dict[str, ops.StoredOperation] = {}
    for op in style + phrases:
        if (k := ops.key(op)) not in known:
            unique.setdefault(k, op)
    if limit is None or len(unique) <= limit:
        return list(unique.values())
    seen = Counter(ops.key(op) for op in phrases)
    order = {k: n for n, k in enumerate(unique)}
    first = {ops.key(op) for op in style}
    ranked = sorted(order, key=lambda k: (k not in first, -seen[k], order[k]))
    kept = set(ranked[:limit])
    return [op for k, op in unique.items() if k in kept]


# -- verification -------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """A past edit prepared for verification: tokens and base cost computed once."""

    id: str
    draft: str
    final: str
    final_tokens: tuple[str, ...]
    cost: int
    weight: float
    #: the request the draft was written for (templates read their values from it)
    context: str = ""


class Excerpts:
    """What a rule is replayed on for each past edit: the edit itself, or for a long one
    an aligned excerpt of at most about ``budget`` tokens (``learners.style.align``).

    Excerpts of long edits are kept (LRU, by interaction id: a stored interaction never
    changes), so the policy of a user with long edits does not align them again on
    every request. Thread-safe: one learner serves every request thread.
    """

    def __init__(self, budget: int, capacity: int = 256) -> None:
        self.budget, self.capacity = budget, capacity
        self._kept: OrderedDict[str, tuple[str, str, tuple[str, ...], int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, item: Interaction) -> tuple[str, str, tuple[str, ...], int]:
        """(draft, final, final tokens, word-level edit distance) to verify rules on."""
        if max(len(item.draft), len(item.final)) <= self.budget:  # fewer tokens than chars
            return (
                item.draft,
                item.final,
                tuple(word_tokens(item.final)),
                edit_distance(item.draft, item.final),
            )
        with self._lock:
            found = self._kept.get(item.id)
            if found is not None:
                self._kept.move_to_end(item.id)
                return found
        draft, final = excerpt(item.draft, item.final, self.budget)
        found = (draft, final, tuple(word_tokens(final)), edit_distance(draft, final))
        with self._lock:
            self._kept[item.id] = found
            while len(self._kept) > self.capacity:
                self._kept.popitem(last=False)
        return found


def prepare(
    items: list[tuple[Interaction, float]],
    half_life: float,
    locality: float = 1.0,
    excerpts: Excerpts | None = None,
) -> list[Pair]:
    """Pairs weighted by similarity (sharpened by ``locality``) and recency (newest: x1).

    With ``excerpts``, long edits are represented by bounded excerpts of themselves.
    """
    ordered = sorted(items, key=lambda item: item[0].created_at, reverse=True)
    pairs = []
    for rank, (i, score) in enumerate(ordered):
        if excerpts is None:
            draft, final = i.draft, i.final
            final_tokens, cost = tuple(word_tokens(final)), edit_distance(draft, final)
        else:
            draft, final, final_tokens, cost = excerpts.get(i)
        weight = max(score, 0.0) ** locality * 0.5 ** (rank / half_life)
        pairs.append(Pair(i.id, draft, final, final_tokens, cost, weight, i.context))
    return pairs


def rebase(pairs: list[Pair], base: list[ops.StoredOperation]) -> list[Pair]:
    """The same pairs with ``base`` already applied to each draft."""
    if not base:
        return pairs
    rebased = []
    for pair in pairs:
        draft, _ = apply_operations(base, pair.draft, pair.context)
        cost = int(Levenshtein.distance(word_tokens(draft), pair.final_tokens))
        rebased.append(replace(pair, draft=draft, cost=cost))
    return rebased


def _keep_best(
    best: dict[str, tuple[float, ops.StoredOperation]], op: ops.StoredOperation, score: float
) -> None:
    slot = ops.slot(op)
    if slot not in best or score > best[slot][0]:
        best[slot] = (score, op)


@dataclass(frozen=True)
class Verdict:
    helped: tuple[str, ...]
    hurt: tuple[str, ...]
    gain: int  # tokens saved over all pairs (negative: it costs)
    score: float  # the same, weighted by similarity and recency
    #: pairs whose draft already followed the rule and whose user undid it
    undone: tuple[str, ...] = ()
    #: weighted count of pairs that speak for the rule (helped, or followed and kept)
    weight_for: float = 0.0
    #: weighted count of pairs where the user undid it
    weight_against: float = 0.0
    #: of the latest pairs whose draft followed the rule (it was applied), how many in a
    #: row the user undid, newest first
    undone_lately: int = 0

    @property
    def contradicted(self) -> bool:
        """The user undid this rule where it was applied more than they confirmed it.

        Only undo events count: a rule that would hurt somewhere it was never
        applied is out of its scope there (the policy does not select it), not
        a changed mind.
        """
        return bool(self.undone) and self.weight_against > self.weight_for

    @property
    def precision(self) -> float:
        touched = len(self.helped) + len(self.hurt)
        return len(self.helped) / touched if touched else 0.0

    def stats(self) -> dict[str, Any]:
        return {
            "helped": len(self.helped),
            "hurt": len(self.hurt),
            "precision": round(self.precision, 3),
            "gain": self.gain,
            "score": round(self.score, 3),
            "verified_at": now(),  # the API's one timestamp format
        }


#: what a kept application is worth, in edit tokens (about one short line the user
#: did not have to type); an undone one costs 1
KEPT_SCORE = 10.0


def verify(
    op: ops.Operation | ops.StoredOperation,
    pairs: list[Pair],
    evidence: frozenset[str] = frozenset(),
    after: list[ops.StoredOperation] | None = None,
) -> Verdict:
    """Replay ``op`` on each pair; ``evidence`` ids count as confirmations when kept.

    With ``after``, those rules run after ``op`` and without it, and ``op`` is judged by
    the difference it makes then: a deletion that only pays once a line that copies the
    text's first sentence is added (it makes that sentence the right one) is judged with
    that line's rule, as the two are applied together.
    """
    model = ops.parse_operation(op)  # once, not per pair: this is the learner's hot loop
    helped, hurt, undone, gain, score = [], [], [], 0, 0.0
    weight_for = weight_against = kept = 0.0
    saved: list[int] = []
    lately, streak = 0, True  # pairs come newest first (``prepare``)
    for pair in pairs:
        rewritten = model.apply_in(pair.draft, pair.context)
        if after and rewritten != pair.draft:
            pair = rebase([pair], after)[0]
            rewritten, _ = apply_operations(after, rewritten, pair.context)
        if rewritten == pair.draft:
            if not model.holds_in(pair.draft, pair.context):
                continue
            if model.holds_in(pair.final, pair.context):
                streak = False
                if pair.id in evidence:
                    weight_for += pair.weight  # applied (or already so) and kept
                    kept += pair.weight
                continue
            delta = -1  # the draft followed the rule and the user undid it
            if model.reverts(pair.draft, pair.final, pair.context):
                lately += streak
            else:
                streak = False  # corrected, not undone (another value in its line)
            undone.append(pair.id)
            weight_against += pair.weight
        else:
            delta = pair.cost - int(Levenshtein.distance(word_tokens(rewritten), pair.final_tokens))
        if delta > 0:
            helped.append(pair.id)
            weight_for += pair.weight
            saved.append(delta)
        elif delta < 0:
            hurt.append(pair.id)
        gain += delta
        score += delta * pair.weight
    # An application the user kept saved them what the rule saves where it helps
    # (the edit they did not have to make), so it weighs like a helped pair; without
    # that, rules the agent applies well would lose to the few neighbours they hurt.
    score += kept * KEPT_SCORE
    return Verdict(
        tuple(helped), tuple(hurt), gain, score, tuple(undone), weight_for, weight_against, lately
    )


#: the phase of rules that copy from the text the other rules leave (``rules_apply``)
COPYING = 6


def _pick(
    best: dict[str, tuple[Preference, Verdict]],
    rules: list[Preference],
    pairs: list[Pair],
    after: list[ops.StoredOperation] | None = None,
) -> None:
    for rule in rules:
        assert rule.operation is not None
        later = after if ops.phase(rule.operation) == 1 else None
        verdict = verify(rule.operation, pairs, frozenset(e.item_id for e in rule.evidence), later)
        # Something here must speak for the rule, and it must not cost on balance.
        if verdict.weight_for <= 0 or verdict.score < 0 or verdict.contradicted:
            continue
        if verdict.undone_lately >= 2:  # it made the last two applications worse: stop now
            continue
        slot = ops.slot(rule.operation)
        rank = (verdict.score, rule.support, rule.updated_at)
        kept = best.get(slot)
        if kept is None or rank > (kept[1].score, kept[0].support, kept[0].updated_at):
            best[slot] = (rule, verdict)


def select(rules: list[Preference], pairs: list[Pair]) -> list[tuple[Preference, Verdict]]:
    """The rules that fit a neighbourhood: the best per conflict slot, in phase order.

    Rules that copy from the text are judged on the drafts the phrase rules leave, and
    phrase rules with the chosen copying rules applied after them, as a rewrite does.
    """
    usable = [r for r in rules if r.operation is not None and not r.disabled]
    usable = [r for r in usable if r.status == "active"]
    copying = [r for r in usable if ops.phase(r.operation or {}) == COPYING]
    phrases = [r.operation for r in usable if r.operation and ops.phase(r.operation) == 1]
    best: dict[str, tuple[Preference, Verdict]] = {}
    _pick(best, copying, rebase(pairs, phrases) if copying and phrases else pairs)
    after = [rule.operation for rule, _ in best.values() if rule.operation is not None]
    templates = [m for m in map(ops.parse_operation, after) if isinstance(m, TemplateLine)]
    # A template supersedes its literal instances ("Orbit 5.6" under "<name version>").
    rest = [r for r in usable if r not in copying]
    rest = [
        r for r in rest if not any(t.covers(ops.parse_operation(r.operation)) for t in templates)
    ]
    _pick(best, rest, pairs, after)
    return sorted(best.values(), key=lambda rv: ops.phase(rv[0].operation or {}))


# -- the learner ------------------------------------------------------------------------


class RuleLearner(Learner):
    """Mines candidate rules from each edit and keeps those its past edits confirm."""

    name = "rules"
    source = "rule"
    slotted = True
    Options = RuleOptions

    def __init__(self, options: BaseModel | None = None, *, llm: LLM | None = None) -> None:
        super().__init__(options, llm=llm)
        self.excerpts = Excerpts(self.opts.verify_tokens)

    @property
    def opts(self) -> RuleOptions:
        assert isinstance(self.options, RuleOptions)
        return self.options

    def preference_cap(self) -> int:
        return self.opts.max_rules

    def learn_interaction(self, interaction: Interaction, history: History) -> list[Learned]:
        o = self.opts
        near = [n for n in history.neighbors() if n.score >= o.min_similarity]
        pairs = prepare(
            [(interaction, 1.0)] + [(n.interaction, n.score) for n in near],
            o.half_life,
            o.locality,
            self.excerpts,
        )
        known = [p for p in history.preferences(self.source) if p.operation is not None]
        # At most max_rules known rules are judged again: the active ones first, then
        # those with the most support, the latest first (a bounded cost per edit).
        known.sort(key=lambda p: p.updated_at, reverse=True)
        known.sort(key=lambda p: (p.status != "active", -p.support))
        existing = {ops.key(p.operation or {}): p for p in known[: o.max_rules]}
        keys = frozenset(ops.key(p.operation or {}) for p in known)
        fresh = candidates(
            interaction.draft, interaction.final, o, o.max_candidates, keys, interaction.context
        )

        # The order rules need (issue 12): general operations (tone, length, structure,
        # frame) first; phrase rules are judged on what those leave to do, so a sentence
        # that a length rule already cuts does not also become a "delete this sentence"
        # rule; lines that copy from the text (a "TL;DR:" line, templates) are judged
        # last, on the text the other rules leave, as they are applied.
        def group(phases: tuple[int, ...]) -> tuple[list[ops.StoredOperation], list[Preference]]:
            return (
                [op for op in fresh if ops.phase(op) in phases],
                [r for r in existing.values() if ops.phase(r.operation or {}) in phases],
            )

        learned, base = self._judge(*group((2, 3, 4, 5)), pairs, interaction, near)
        residual = rebase(pairs, base)
        # Copying rules are judged on the drafts the phrase rules (known ones and this
        # edit's own candidates) would leave; phrase rules then with them applied after.
        phrases, known_phrases = group((1,))
        helpers = [op for op in phrases if op["op"] == "delete_phrase"] + [
            r.operation for r in known_phrases if r.operation is not None and r.status == "active"
        ]
        copied, copying = self._judge(
            *group((COPYING,)), rebase(residual, helpers), interaction, near
        )
        more, _ = self._judge(phrases, known_phrases, residual, interaction, near, copying)
        return learned + copied + more

    def _judge(
        self,
        fresh: list[ops.StoredOperation],
        existing: list[Preference],
        pairs: list[Pair],
        interaction: Interaction,
        near: list[Neighbor],
        after: list[ops.StoredOperation] | None = None,
    ) -> tuple[list[Learned], list[ops.StoredOperation]]:
        """Verdicts on new candidates and known rules; and the best active op per slot."""
        o = self.opts
        learned: list[Learned] = []
        active: dict[str, tuple[float, ops.StoredOperation]] = {}
        for op in fresh:
            verdict = verify(op, pairs, after=after)
            if (
                len(verdict.helped) >= o.min_support
                and verdict.precision >= o.min_precision
                and verdict.gain > 0
            ):
                learned.append(self._learned(op, verdict, interaction, "active"))
                _keep_best(active, op, verdict.score)
        for rule in existing:
            assert rule.operation is not None
            op = rule.operation
            verdict = verify(op, pairs, frozenset(e.item_id for e in rule.evidence), after)
            if verdict.contradicted or (
                rule.status == "retired" and not (verdict.helped and verdict.score > 0)
            ):
                status = "retired"
            else:
                status = "active"
                if not rule.disabled:
                    _keep_best(active, op, verdict.score)
            kept = self._kept(op, interaction, near)
            learned.append(self._learned(op, verdict, interaction, status, kept=kept))
        return learned, [op for _, op in active.values()]

    @staticmethod
    def _kept(op: ops.StoredOperation, interaction: Interaction, near: list[Neighbor]) -> bool:
        # The draft already followed the rule (e.g. it was rewritten by it) and the
        # user kept that: support for the rule here, though nothing was left to gain.
        return bool(near) and ops.holds(op, interaction.draft) and ops.holds(op, interaction.final)

    def _learned(
        self,
        op: ops.StoredOperation,
        verdict: Verdict,
        interaction: Interaction,
        status: str,
        *,
        kept: bool = False,
    ) -> Learned:
        evidence = list(verdict.helped)
        if kept and interaction.id not in evidence and interaction.id not in verdict.hurt:
            evidence.append(interaction.id)
        return Learned(
            text=ops.describe(op),
            key=ops.key(op),
            kind="rule",
            task=interaction.task,
            operation=op,
            evidence=tuple(evidence),
            stats=verdict.stats(),
            status="active" if status == "active" else "retired",
        )

    def contribute(
        self, preferences: list[Preference], neighbors: list[Neighbor]
    ) -> list[Preference]:
        o = self.opts
        pairs = prepare(
            [(n.interaction, n.score) for n in neighbors], o.half_life, o.locality, self.excerpts
        )
        return [rule for rule, _ in select(preferences, pairs)]

    def apply(self, operation: dict[str, Any], text: str, context: str = "") -> str:
        """Apply a stored rule; a malformed one is an ``InvalidInputError`` (invalid_operation)."""
        return ops.parse_operation(operation).apply_in(text, context)
