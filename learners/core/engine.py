"""Tailor's domain core: logging, learning, indexing and policies per user.

Every public method takes the caller's tenant and user and touches nothing
else. Writes follow one order so that a crash at any point is harmless:
learners run first (pure, nothing stored yet), then one SQLite transaction
stores the item, its context embedding and what was learned, and only then is
the derived FAISS index updated (a crash before that leaves the index stale,
and a stale index is rebuilt from SQLite on its next load).

Learning has a budget per interaction (issue 14): an edit over
``inline_chars`` characters, or one whose tenant's learner slots stay busy for
``learn_wait`` seconds, is stored at once with ``learning="deferred"`` and a
``learn`` job, which ``learners.core.pool.BackgroundRunner`` runs later; the
interaction then shows ``done``. Learners that cap their preferences per user
(``Learner.preference_cap``: the rule learner) get the weakest retired.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from learners.backends.embeddings import CachedEmbedder
from learners.backends.llm import LLM, Completion, require_llm
from learners.backends.lora import AdapterServer, llm_for_user
from learners.base import Learned, Learner, Neighbor
from learners.core.config import EngineConfig
from learners.core.deferred import DeferredLearning
from learners.core.policy import USER_SCOPE_SCORE, Policy, Retrieved, build_policy
from learners.core.pool import BackgroundRunner, LearnerSlots
from learners.core.scopes import FEEDBACK_SOURCE, FeedbackScopes
from learners.rules_apply import apply_rules
from learners.style.text import edit_distance
from store.adapters import remove_user_files
from store.db import Store
from store.errors import ConflictError
from store.interactions import (
    StoredInteraction,
    find_by_client_id,
    get_interactions,
    insert_feedback,
    insert_interaction,
    items_for_vectors,
    set_inference,
    vector_ids_for_task,
)
from store.jobs import enqueue, retry
from store.preferences import (
    get_preferences,
    preferences_for_items,
    retire_weakest,
    upsert_preference,
    user_wide_preferences,
)
from store.records import Evidence, Feedback, Interaction, Job, Preference, new_id, now
from store.users import content_hashes, delete_user, export_user
from store.vectors import VectorIndex, find_vector, insert_embedding

#: job kind of the background LLM learners' work on one interaction
INFERENCE_JOB = "inference"
#: job kind of the offline learners' deferred work on one interaction
LEARN_JOB = "learn"


@dataclass(frozen=True)
class NewInteraction:
    context: str
    draft: str
    final: str
    task: str | None = None
    feedback: str | None = None
    client_id: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class Logged:
    interaction: Interaction
    learned: list[Preference]
    created: bool


class UserHistory:
    """What a learner may see of one user's past, around one context (lazy, cached)."""

    def __init__(
        self,
        engine: Engine,
        tenant: str,
        user: str,
        vector: np.ndarray,
        task: str | None,
        *,
        exclude: str | None = None,
    ) -> None:
        self.engine, self.tenant, self.user = engine, tenant, user
        self.vector, self.task = vector, task
        #: the interaction being learned from, when it is already stored (deferred
        #: learning): it is not its own neighbour
        self.exclude = exclude
        self._neighbors: list[Neighbor] | None = None

    def neighbors(self) -> list[Neighbor]:
        if self._neighbors is None:
            engine = self.engine
            k = engine.history_k + (self.exclude is not None)
            scores = engine.nearest(self.tenant, self.user, self.vector, task=self.task, k=k)
            found = engine.neighbors(self.tenant, self.user, scores)
            self._neighbors = [n for n in found if n.interaction.id != self.exclude]
            del self._neighbors[engine.history_k :]
        return self._neighbors

    def preferences(self, source: str) -> list[Preference]:
        items = [("interaction", n.interaction.id) for n in self.neighbors()]
        return preferences_for_items(
            self.engine.store, self.tenant, self.user, items, source=source, include_retired=True
        )


class Engine:
    def __init__(
        self,
        store: Store,
        index: VectorIndex,
        embedder: CachedEmbedder,
        learners: list[Learner],
        *,
        default_k: int = 5,
        min_score: float = 0.25,
        feedback_min_score: float = EngineConfig.feedback_min_score,
        history_k: int = 8,
        llm: LLM | None = None,
        inline_chars: int = EngineConfig.inline_learn_chars,
        learn_threads: int = EngineConfig.learn_threads,
        learn_wait: float = EngineConfig.learn_wait,
    ) -> None:
        self.store = store
        self.index = index
        self.embedder = embedder
        self.learners = learners
        #: learners run on the request path; LLM learners run later, in the job queue
        self.inline = [lr for lr in learners if not lr.needs_llm]
        self.deferred = {lr.name: lr for lr in learners if lr.needs_llm}
        self.llm = llm
        self.default_k = default_k
        self.min_score = min_score
        self.history_k = history_k
        self.generate_max_tokens = 1024
        #: serves users' adapters to /generate (``learners.backends.lora``); None: none
        self.adapters: AdapterServer | None = None
        self._by_source = {learner.source: learner for learner in learners}
        #: called after a job is queued (the server wakes its worker)
        self.on_enqueue: Callable[[], None] | None = None
        #: an edit with more characters (draft + final) is learned in the background
        self.inline_chars = inline_chars
        #: seconds a request waits for a learner slot of its tenant before deferring
        self.learn_wait = learn_wait
        self.slots = LearnerSlots(learn_threads)
        #: the same fair share, for the request-side work of edits over the budget
        self.intake = LearnerSlots(learn_threads)
        #: runs deferred learning (``learn`` jobs); started when there is some
        self.background = BackgroundRunner(store, LEARN_JOB, DeferredLearning(self), self.slots)
        #: where each piece of verbal feedback applies (C3PO's scopes)
        self.scopes = FeedbackScopes(store, self.vector, embedder.model_name, feedback_min_score)
        self._resumed = False

    # -- embeddings -------------------------------------------------------------

    def vector(self, tenant: str, user: str, text: str) -> tuple[str, np.ndarray]:
        """(content hash, vector): the tenant's LRU, this user's stored vectors, the model."""
        digest = self.embedder.digest(text)
        vector = self.embedder.get(tenant, digest)
        if vector is None:
            vector = find_vector(self.store, tenant, user, self.embedder.model_name, digest)
            if vector is None:
                return self.embedder.embed_one(tenant, text)
            self.embedder.put(tenant, digest, vector)
        return digest, vector

    # -- writes -----------------------------------------------------------------

    def log_interaction(self, tenant: str, user: str, new: NewInteraction) -> Logged:
        if len(new.draft) + len(new.final) <= self.inline_chars:
            return self._log(tenant, user, new)
        # What a big edit costs its request (its edit distance, storing it) is paid in an
        # intake slot of its tenant: a flood of big edits from one tenant keeps at most
        # its share of request threads busy, the others wait without taking CPU.
        with self.intake.slot(tenant):
            return self._log(tenant, user, new)

    def _log(self, tenant: str, user: str, new: NewInteraction) -> Logged:
        if new.client_id is not None:
            existing = find_by_client_id(self.store, tenant, user, new.client_id)
            if existing is not None:
                return self._replayed(existing, new)
        item = StoredInteraction(
            id=new_id("int"),
            tenant=tenant,
            user=user,
            context=new.context,
            draft=new.draft,
            final=new.final,
            task=new.task,
            feedback=new.feedback,
            client_id=new.client_id,
            metadata=new.metadata,
            edit_distance=edit_distance(new.draft, new.final),
            accepted=new.draft == new.final,
            created_at=now(),
            # LLM learners learn from edits only (CIPHER updates nothing on acceptance).
            inference="pending" if self.deferred and new.draft != new.final else None,
        )
        digest, vector = self.vector(tenant, user, item.context)
        history = UserHistory(self, tenant, user, vector, item.task)
        inline = self._learn_inline(item, history)
        if inline is None:
            item = replace(item, learning="deferred")
        learned = inline or []
        try:
            with self.store.transaction() as db:
                insert_interaction(db, item)
                vector_id = insert_embedding(
                    db,
                    tenant=tenant,
                    user=user,
                    item_type="interaction",
                    item_id=item.id,
                    task=item.task,
                    model=self.embedder.model_name,
                    digest=digest,
                    vector=vector,
                )
                if item.feedback:
                    insert_feedback(
                        db,
                        Feedback(
                            id=new_id("fb"),
                            tenant=tenant,
                            user=user,
                            text=item.feedback,
                            task=item.task,
                            context=item.context,
                            interaction_id=item.id,
                            created_at=item.created_at,
                        ),
                    )
                pref_ids = self.store_learned(
                    db, tenant, user, learned, Evidence("interaction", item.id)
                )
                if item.inference == "pending":
                    enqueue(
                        db,
                        tenant=tenant,
                        user=user,
                        kind=INFERENCE_JOB,
                        params={"learners": list(self.deferred)},
                        item_id=item.id,
                    )
                if item.learning == "deferred":
                    enqueue(db, tenant=tenant, user=user, kind=LEARN_JOB, item_id=item.id)
        except sqlite3.IntegrityError:
            # Two requests raced with the same client_id: the loser returns the winner.
            if new.client_id is not None:
                existing = find_by_client_id(self.store, tenant, user, new.client_id)
                if existing is not None:
                    return self._replayed(existing, new)
            raise
        self.index.add(tenant, user, [vector_id], vector[None, :])
        if item.inference == "pending":
            self._wake()
        if item.learning == "deferred" or not self._resumed:
            # The first write after start-up also resumes work a restart left queued.
            self._resumed = True
            self.background.kick()
        return Logged(item, get_preferences(self.store, tenant, user, pref_ids), True)

    def _learn_inline(
        self, item: Interaction, history: UserHistory
    ) -> list[tuple[Learner, Learned]] | None:
        """What the offline learners learn from ``item`` in this request, in a learner slot
        of its tenant; None when that is left to the background: the edit is over the
        inline budget, or no slot of the tenant came free within ``learn_wait``."""
        if not self.inline:
            return []
        if len(item.draft) + len(item.final) > self.inline_chars:
            return None
        with self.slots.slot(item.tenant, self.learn_wait) as got:
            if not got:
                return None
            return [
                (lr, pref) for lr in self.inline for pref in lr.learn_interaction(item, history)
            ]

    def _replayed(self, existing: Interaction, new: NewInteraction) -> Logged:
        same = (
            existing.context == new.context
            and existing.draft == new.draft
            and existing.final == new.final
            and existing.task == new.task
            and existing.feedback == new.feedback
            and existing.metadata == new.metadata
        )
        if not same:
            raise ConflictError(
                f"client_id {new.client_id!r} was already used for a different interaction",
                code="idempotency_conflict",
            )
        learned = preferences_for_items(
            self.store, existing.tenant, existing.user, [("interaction", existing.id)]
        )
        return Logged(existing, learned, False)

    def store_learned(
        self,
        db: Any,
        tenant: str,
        user: str,
        learned: list[tuple[Learner, Learned]],
        evidence: Evidence,
    ) -> list[str]:
        """Upsert what learners inferred from ``evidence``, inside the caller's transaction.

        Returns the ids of the active preferences this item supports. Also used
        by ``bench/seed.py`` to seed many users quickly.
        """
        ids: list[str] = []
        for learner, pref in learned:
            if pref.evidence is None:
                supports = [Evidence(evidence.item_type, evidence.item_id, pref.detail)]
            else:
                supports = [
                    Evidence("interaction", i, pref.detail if i == evidence.item_id else None)
                    for i in pref.evidence
                ]
            pref_id = upsert_preference(
                db,
                tenant=tenant,
                user=user,
                text=pref.text,
                source=learner.source,
                kind=pref.kind,
                key=pref.key,
                task=pref.task,
                scope=pref.scope,
                operation=pref.operation,
                evidence=supports,
                stats=pref.stats,
                status=pref.status,
            )
            if (
                pref_id not in ids
                and pref.status == "active"
                and (pref.evidence is None or evidence.item_id in pref.evidence)
            ):
                ids.append(pref_id)
        for learner in {id(lr): lr for lr, _ in learned}.values():
            cap = learner.preference_cap()
            if cap is not None:
                retired = set(retire_weakest(db, tenant, user, learner.source, cap))
                ids = [i for i in ids if i not in retired]
        return ids

    def add_feedback(
        self, tenant: str, user: str, text: str, *, task: str | None, context: str | None
    ) -> tuple[Feedback, list[Preference]]:
        item = Feedback(
            id=new_id("fb"),
            tenant=tenant,
            user=user,
            text=text,
            task=task,
            context=context,
            interaction_id=None,
            created_at=now(),
        )
        embedded = self.vector(tenant, user, context) if context else None
        learned = [(lr, pref) for lr in self.inline for pref in lr.learn_feedback(item)]
        vector_id = None
        with self.store.transaction() as db:
            insert_feedback(db, item)
            if embedded is not None:
                vector_id = insert_embedding(
                    db,
                    tenant=tenant,
                    user=user,
                    item_type="feedback",
                    item_id=item.id,
                    task=task,
                    model=self.embedder.model_name,
                    digest=embedded[0],
                    vector=embedded[1],
                )
            pref_ids = self.store_learned(db, tenant, user, learned, Evidence("feedback", item.id))
        if embedded is not None and vector_id is not None:
            self.index.add(tenant, user, [vector_id], embedded[1][None, :])
        return item, get_preferences(self.store, tenant, user, pref_ids)

    # -- reads ------------------------------------------------------------------

    def nearest(
        self, tenant: str, user: str, vector: np.ndarray, *, task: str | None, k: int
    ) -> dict[tuple[str, str], float]:
        """The user's k items (interactions, feedback) nearest to ``vector``, with scores.

        Only the user's own vectors are ranked (and, with ``task``, only items of
        that task or none); items less similar than ``min_score`` are dropped.
        """
        allowed = None
        if task is not None:
            allowed = vector_ids_for_task(self.store, tenant, user, self.embedder.model_name, task)
        hits = self.index.search(tenant, user, vector, k, allowed_ids=allowed)
        hits = [(vid, score) for vid, score in hits if score >= self.min_score]
        items = items_for_vectors(self.store, tenant, user, [vid for vid, _ in hits])
        return {items[vid]: score for vid, score in hits if vid in items}

    def neighbors(
        self, tenant: str, user: str, scores: dict[tuple[str, str], float]
    ) -> list[Neighbor]:
        """The interactions among ``nearest`` items, most similar first."""
        ids = [item_id for item_type, item_id in scores if item_type == "interaction"]
        found = get_interactions(self.store, tenant, user, ids)
        neighbors = [Neighbor(found[i], scores[("interaction", i)]) for i in ids if i in found]
        return sorted(neighbors, key=lambda n: n.score, reverse=True)

    def policy(
        self, tenant: str, user: str, context: str, *, task: str | None = None, k: int | None = None
    ) -> Policy:
        """The k nearest past contexts' preferences plus user-wide ones, aggregated.

        Each learner decides which of its retrieved preferences hold for this
        context (the rule learner re-verifies its rules on these neighbours).
        """
        _, vector = self.vector(tenant, user, context)
        k = k or self.default_k
        # Rules are verified on a wider neighbourhood (history_k) than the k contexts
        # whose instructions are quoted: several past edits judge a rule (PROSE).
        wide = self.nearest(tenant, user, vector, task=task, k=max(k, self.history_k))
        top = set(list(wide)[:k])
        # Verbal feedback is matched by its scope below, never by neighbourhood alone.
        retrieved = [
            p
            for p in preferences_for_items(self.store, tenant, user, list(wide))
            if p.source != FEEDBACK_SOURCE
            and (
                p.operation is not None or any((e.item_type, e.item_id) in top for e in p.evidence)
            )
        ]
        neighbors = self.neighbors(tenant, user, wide)
        kept: list[Preference] = []
        warnings: list[str] = []
        for source in dict.fromkeys(p.source for p in retrieved):
            mine = [p for p in retrieved if p.source == source]
            learner = self._by_source.get(source)
            if learner is not None:
                contributed, notes = learner.contribute_noted(mine, neighbors)
                kept += contributed
                warnings += notes
            else:
                # Instructions outlive a learner being switched off; rules need theirs.
                kept += [p for p in mine if p.operation is None]
        candidates = [
            Retrieved(p, max(wide.get((e.item_type, e.item_id), 0.0) for e in p.evidence))
            for p in kept
            if p.support >= self._min_support(p)
        ]
        candidates += [
            Retrieved(p, USER_SCOPE_SCORE)
            for p in user_wide_preferences(self.store, tenant, user, task)
            if p.source != FEEDBACK_SOURCE
        ]
        candidates += [
            Retrieved(f.preference, f.score, scope=f.scope)
            for f in self.scopes.retrieve(tenant, user, vector, task)
        ]
        rules = [p for p in kept if p.operation is not None]
        policy = replace(build_policy(candidates, rules, self._slot), context=context)
        return replace(policy, warnings=warnings) if warnings else policy

    def _slot(self, preference: Preference) -> str | None:
        learner = self._by_source.get(preference.source)
        return learner.slot(preference) if learner is not None else None

    def _min_support(self, preference: Preference) -> int:
        learner = self._by_source.get(preference.source)
        return learner.min_support if learner is not None else 1

    def rewrite(
        self, tenant: str, user: str, context: str, draft: str, *, task: str | None = None
    ) -> tuple[str, list[str]]:
        """Apply the user's verified rules that fit this context, in phase order."""
        return self.apply_rules(self.policy(tenant, user, context, task=task), draft)

    def llm_for_user(self, tenant: str, user: str, adapter: str | None) -> tuple[LLM, str | None]:
        """The LLM drafting for this user and its adapter's id (``learners.backends.lora``)."""
        llm, used = llm_for_user(self.llm, self.adapters, self.store, tenant, user, adapter)
        return require_llm(llm, "generating a draft"), used

    def generate(
        self, tenant: str, user: str, context: str, *, task: str | None = None,
        adapter: str | None = None,
    ) -> tuple[str, list[str], Policy, Completion]:  # fmt: skip
        """Draft with the user's LLM and adapter under their policy, then apply their rules."""
        llm, _ = self.llm_for_user(tenant, user, adapter)
        policy = self.policy(tenant, user, context, task=task)
        request = context if task is None else f"Task: {task}\n\n{context}"
        completion = llm.complete(
            [
                {"role": "system", "content": policy.system_prompt},
                {"role": "user", "content": request},
            ],
            max_tokens=self.generate_max_tokens,
        )
        text, applied = self.apply_rules(policy, completion.text.strip())
        return text, applied, policy, completion

    def apply_rules(self, policy: Policy, draft: str) -> tuple[str, list[str]]:
        """The policy's rules applied to ``draft`` (``learners.rules_apply``)."""
        return apply_rules(policy.rules, draft, policy.context, self._apply)

    def _apply(self, rule: Preference, text: str, context: str) -> str:
        learner = self._by_source.get(rule.source)
        if learner is None or rule.operation is None:
            return text
        return learner.apply(rule.operation, text, context)

    # -- background jobs ----------------------------------------------------------

    def submit(self, tenant: str, user: str, kind: str, params: dict[str, Any]) -> Job:
        """Queue a background job of ``kind`` and wake the workers: how routes start jobs.

        (An interaction's inference job is queued inside the transaction that
        stores the interaction, by ``log_interaction``, with the same wake-up.)
        """
        with self.store.transaction() as db:
            job = enqueue(db, tenant=tenant, user=user, kind=kind, params=params)
        self._wake()
        return job

    def retry_job(self, tenant: str, job_id: str) -> Job:
        """Queue a failed job again; an inference job's interaction shows ``pending`` again."""
        with self.store.transaction() as db:
            job = retry(self.store, tenant, job_id)
            if job.kind == INFERENCE_JOB and job.item_id is not None:
                set_inference(db, tenant, job.item_id, "pending", job.error)
        self._wake()
        return job

    def _wake(self) -> None:
        if self.on_enqueue is not None:
            self.on_enqueue()

    def drain_learning(self, limit: int | None = None) -> int:
        """Run due deferred learning in this thread (the CLI, tests); returns how many."""
        return self.background.drain(limit)

    def export(self, tenant: str, user: str) -> Iterator[dict[str, Any]]:
        return export_user(self.store, tenant, user)

    def close(self) -> None:
        """Stop background learning before the store closes (its thread uses the store)."""
        self.background.close()

    def delete_user(self, tenant: str, user: str) -> dict[str, int]:
        """Remove every row, vector, index file and adapter of the user."""
        hashes = content_hashes(self.store, tenant, user)
        counts = delete_user(self.store, tenant, user)
        remove_user_files(self.store, tenant, user)
        self.index.drop(tenant, user)
        self.embedder.evict(tenant, hashes)
        return counts
