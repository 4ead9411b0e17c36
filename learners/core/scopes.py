"""Verbal feedback retrieved by its scope, not by the whole user's history.

C3PO (Stephan et al., "RLVF: Learning from Verbal Feedback without
Overgeneralization", arXiv 2402.10893, section 3) splits prompts into in-scope
(the feedback applies), near-scope (related, but it does not) and out-of-scope.
A policy here does the same for feedback preferences: each has a scope text
(``store.scopes``; the clause its sentence names, else the context it was given
in, else none), and it joins a policy only when the new context matches that
scope: cosine of the two embeddings at least ``min_score``, a threshold of its
own (``TAILOR_FEEDBACK_MIN_SCORE``), calibrated on the scope evaluation's dev
split (``tailor eval scope``), separate from the neighbour threshold of
inferred preferences. Feedback whose scope is none holds everywhere (of its
task), with ``USER_SCOPE_SCORE``.

The same scope picks C3PO's in-scope data (``learners.c3po.jobs``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np

from learners.style.scope import derive
from store.db import Store
from store.records import Preference
from store.scopes import (
    ORIGINS,
    Scope,
    ScopeOrigin,
    feedback_with_scopes,
    put_scope,
    said_in,
    scopes_of,
)

#: (tenant, user, text) -> (content hash, unit-norm vector) of ``text`` (``Engine.vector``)
Embed = Callable[[str, str, str], tuple[str, np.ndarray]]
#: the source of verbal feedback preferences (``learners.feedback``): matched by scope
FEEDBACK_SOURCE = "feedback"

#: cosine between a feedback's scope and a context from which the feedback applies
#: (dev split of the scope set, 0.30: in-scope recall 0.82, near-scope leak 0.60,
#: out-of-scope leak 0.004; a bi-encoder cannot tell near- from in-scope much better)
DEFAULT_MIN_SCORE = 0.3
#: the score of feedback that names no scope (as user-wide preferences)
UNSCOPED_SCORE = 1.0


@dataclass(frozen=True)
class ScopedFeedback:
    preference: Preference
    scope: str | None
    score: float


class FeedbackScopes:
    """Derives, stores and matches the scopes of one engine's feedback preferences."""

    def __init__(
        self, store: Store, embed: Embed, model_name: str, min_score: float = DEFAULT_MIN_SCORE
    ) -> None:
        self.store = store
        self.embed = embed
        self.model_name = model_name
        self.min_score = min_score

    def _fill(self, tenant: str, user: str, pref: Preference) -> Scope:
        context = said_in(self.store, tenant, user, pref.id) if pref.scope == "context" else None
        scope, origin = derive(pref.text, context)
        # A clause said in a context: both tell where it applies (the mean of the two
        # vectors scored best on the dev split, ahead of either alone).
        extra = context if origin == "clause" else None
        return self._put(tenant, user, pref.id, scope, origin, also=extra)

    def _put(
        self,
        tenant: str,
        user: str,
        pref_id: str,
        scope: str | None,
        origin: ScopeOrigin,
        *,
        also: str | None = None,
    ) -> Scope:
        vector = self.embed(tenant, user, scope)[1] if scope else None
        if vector is not None and also:
            mean = vector + self.embed(tenant, user, also)[1]
            vector = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        with self.store.transaction() as db:
            put_scope(
                db,
                tenant=tenant,
                user=user,
                preference_id=pref_id,
                scope=scope,
                origin=origin,
                model=self.model_name if vector is not None else None,
                vector=vector,
            )
        return Scope(pref_id, scope, origin, self.model_name, vector)

    def _current(self, tenant: str, user: str, pref: Preference, scope: Scope | None) -> Scope:
        """The stored scope, (re)derived when missing or embedded by another model."""
        if scope is None:
            return self._fill(tenant, user, pref)
        if scope.scope and (scope.vector is None or scope.model != self.model_name):
            if scope.origin in ("clause", "context"):
                return self._fill(tenant, user, pref)
            return self._put(tenant, user, pref.id, scope.scope, _origin(scope.origin))
        return scope

    def retrieve(
        self, tenant: str, user: str, vector: np.ndarray, task: str | None
    ) -> list[ScopedFeedback]:
        """The user's feedback that applies to a context with this vector."""
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        found: list[ScopedFeedback] = []
        for pref, stored in feedback_with_scopes(self.store, tenant, user, task):
            scope = self._current(tenant, user, pref, stored)
            if scope.scope is None or scope.vector is None:
                found.append(ScopedFeedback(pref, None, UNSCOPED_SCORE))
                continue
            score = float(np.dot(scope.vector, query))
            if score >= self.min_score:
                found.append(ScopedFeedback(pref, scope.scope, round(score, 4)))
        return found

    def scope_of(self, tenant: str, user: str, pref: Preference) -> Scope | None:
        """The scope of one feedback preference (derived now if needed); None otherwise."""
        if pref.source != FEEDBACK_SOURCE:
            return None
        stored = scopes_of(self.store, tenant, user, [pref.id]).get(pref.id)
        return self._current(tenant, user, pref, stored)

    def set_scope(self, tenant: str, user: str, pref: Preference, scope: str | None) -> Scope:
        """The user's own scope for a feedback preference ("" or None: everywhere)."""
        text = " ".join(scope.split()) if scope else None
        return self._put(tenant, user, pref.id, text or None, "user" if text else "none")

    def forget(self, tenant: str, user: str, pref: Preference) -> None:
        """Re-derive the scope on next use (the text was edited), unless the user set it."""
        stored = scopes_of(self.store, tenant, user, [pref.id]).get(pref.id)
        if stored is not None and stored.origin != "user":
            self._fill(tenant, user, pref)


def _origin(value: str) -> ScopeOrigin:
    return cast(ScopeOrigin, value) if value in ORIGINS else "none"
