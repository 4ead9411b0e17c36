"""Pydantic schemas at the HTTP edge, one family per resource.

``XCreate`` is what a client sends, ``XUpdate`` a partial change, ``XPublic``
what it gets back, ``XsPublic`` a list with ``data`` and ``count``. Storage
rows are shaped through ``from_record`` and never returned as they are.
Lengths of free text are checked against the configured limit in the routes
(``check_lengths``), since limits are settings, not constants.

Everything a client sends is checked before anything is stored (``Body``): types
are strict (``true`` is not an integer), every string is valid Unicode (a lone
surrogate, which JSON's ``\ud800`` escape can carry, could be stored but never sent
back), and ``metadata`` must survive a JSON round trip: finite numbers, at most
``MAX_DEPTH`` levels and ``MAX_METADATA_BYTES`` bytes.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from learners.core.policy import Policy
from learners.style.scope import MAX_SCOPE_CHARS
from store.adapters import Adapter
from store.errors import InvalidInputError
from store.interactions import learning_state
from store.pairs import StoredPair
from store.records import (
    Feedback,
    Interaction,
    Job,
    Preference,
    canonical_times,
    canonical_timestamp,
)
from store.scopes import Scope

#: Every timestamp of every response: RFC 3339 UTC with microseconds and ``Z``
#: (``store.records.TIMESTAMP_FORMAT``); older rows stored in another ISO 8601 form are
#: shown in this one too.
Timestamp = Annotated[
    str,
    AfterValidator(canonical_timestamp),
    Field(examples=["2026-12-02T08:06:00.123456Z"]),
]

Task = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$", examples=["email"])
]


#: the largest ``offset`` a list accepts (SQLite's integers end at 2**63 - 1)
MAX_OFFSET = 10**9
#: how deep ``metadata`` may nest, and how large it may be once serialized
MAX_DEPTH = 32
MAX_METADATA_BYTES = 16 * 1024


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_json(value: Any, where: str, depth: int = 0) -> None:
    """Raise ``ValueError`` unless ``value`` can be stored and sent back as JSON."""
    if depth > MAX_DEPTH:
        raise ValueError(f"{where} nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        check_unicode(value, where)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} holds {value}, which JSON cannot carry")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_unicode(key, f"a key of {where}")
            check_json(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json(item, f"{where}[{index}]", depth + 1)


def check_unicode(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where} is not valid Unicode (it holds a lone surrogate)") from None


class Body(Schema):
    """What a client sends: strict types, every string checked for valid Unicode."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="after")
    def _valid_unicode(self) -> Body:
        for name in type(self).model_fields:
            check_json(getattr(self, name), name, depth=-MAX_DEPTH)
        return self


def _metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    check_json(value, "metadata", depth=1)
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}")
    return value


Metadata = Annotated[
    dict[str, Any] | None,
    AfterValidator(_metadata),
    Field(
        description=f"Any JSON object the app wants kept with the interaction (at most "
        f"{MAX_DEPTH} levels deep and {MAX_METADATA_BYTES} bytes).",
    ),
]


def check_lengths(limit: int, **fields: str | None) -> None:
    for name, value in fields.items():
        if value is not None and len(value) > limit:
            raise InvalidInputError(
                f"{name} is {len(value)} characters; the limit is {limit}", code="text_too_long"
            )


# -- preferences ----------------------------------------------------------------


class EvidencePublic(Schema):
    type: str
    id: str
    detail: str | None = Field(None, description="What in this item supports it.")


class LearnedPublic(Schema):
    """A preference as reported right after learning, without its evidence list."""

    id: str
    text: str
    source: str
    kind: str
    scope: str
    task: str | None
    operation: dict[str, Any] | None
    support: int
    disabled: bool
    status: str = Field(description="'retired': a rule its recent evidence stopped confirming.")

    @classmethod
    def fields_of(cls, p: Preference) -> dict[str, Any]:
        return {name: getattr(p, name) for name in LearnedPublic.model_fields}

    @classmethod
    def from_record(cls, p: Preference) -> LearnedPublic:
        return cls(**cls.fields_of(p))


class PreferencePublic(LearnedPublic):
    """A preference with its verification figures, history version and evidence."""

    stats: dict[str, Any] | None = Field(
        None, description="A rule's verification: helped, hurt, precision, gain."
    )
    version: int
    evidence: list[EvidencePublic]
    created_at: Timestamp
    updated_at: Timestamp
    applies_to: str | None = Field(
        None,
        description="Verbal feedback only: the scope where it applies (null: everywhere); "
        "edit it with PATCH ``applies_to``.",
    )
    applies_to_origin: str | None = Field(
        None,
        description="Where the scope came from: clause (named in the sentence), context "
        "(where it was said), llm, user (edited), none (applies everywhere).",
    )

    @classmethod
    def from_record(cls, p: Preference, scope: Scope | None = None) -> PreferencePublic:
        return cls(
            **cls.fields_of(p),
            applies_to=scope.scope if scope else None,
            applies_to_origin=scope.origin if scope else None,
            stats=canonical_times(p.stats),
            version=p.version,
            evidence=[
                EvidencePublic(type=e.item_type, id=e.item_id, detail=e.detail) for e in p.evidence
            ],
            created_at=p.created_at,
            updated_at=p.updated_at,
        )


class PreferencesPublic(Schema):
    data: list[PreferencePublic]
    count: int


class PreferenceUpdate(Body):
    text: str | None = Field(None, min_length=1, max_length=2000)
    disabled: bool | None = None
    applies_to: str | None = Field(
        None,
        max_length=MAX_SCOPE_CHARS,
        description='Verbal feedback only: where it applies; null or "" for everywhere.',
    )

    @model_validator(mode="after")
    def _something(self) -> PreferenceUpdate:
        if (
            self.text is None
            and self.disabled is None
            and "applies_to" not in self.model_fields_set
        ):
            raise ValueError("give text, disabled and/or applies_to")
        return self


# -- interactions ---------------------------------------------------------------


class InteractionCreate(Body):
    context: str = Field(min_length=1, description="What the draft was written for.")
    draft: str = Field(description="The AI-written text the user saw.")
    final: str = Field(description="What the user kept; equal to draft = accepted.")
    task: Task | None = None
    feedback: str | None = Field(None, min_length=1, description="Verbal feedback, if any.")
    client_id: str | None = Field(
        None, min_length=1, max_length=128, description="Idempotency key."
    )
    metadata: Metadata = None


class InteractionPublic(Schema):
    id: str
    context: str
    draft: str
    final: str
    task: str | None
    feedback: str | None
    client_id: str | None
    metadata: dict[str, Any] | None
    edit_distance: int
    accepted: bool
    created_at: Timestamp
    learned: list[LearnedPublic] = []
    inference: Literal["pending", "done", "error"] | None = Field(
        None,
        description="State of the background LLM learners' work on this interaction; "
        "null when none applies (no LLM learner configured, or the draft was accepted).",
    )
    inference_error: str | None = Field(
        None, description="The last inference error (kept while retrying, and once it failed)."
    )
    learning: Literal["inline", "deferred", "done", "error"] = Field(
        "inline",
        description="The offline learners' work on this interaction: inline = done in the "
        "request that logged it (see learned); deferred = over the per-interaction "
        "budget, queued for a background learner (learned is then empty); done or error "
        "once that ran.",
    )

    @classmethod
    def from_record(
        cls, i: Interaction, learned: list[Preference] | None = None
    ) -> InteractionPublic:
        return cls(
            id=i.id,
            context=i.context,
            draft=i.draft,
            final=i.final,
            task=i.task,
            feedback=i.feedback,
            client_id=i.client_id,
            metadata=i.metadata,
            edit_distance=i.edit_distance,
            accepted=i.accepted,
            created_at=i.created_at,
            learned=[LearnedPublic.from_record(p) for p in learned or []],
            inference=i.inference,
            inference_error=i.inference_error,
            learning=learning_state(i) or "inline",
        )


class InteractionsPublic(Schema):
    data: list[InteractionPublic]
    count: int
    limit: int
    offset: int


# -- feedback -------------------------------------------------------------------


class FeedbackCreate(Body):
    text: str = Field(min_length=1, examples=["no emojis in emails to my boss"])
    task: Task | None = None
    context: str | None = Field(None, min_length=1)


class FeedbackPublic(Schema):
    id: str
    text: str
    task: str | None
    context: str | None
    created_at: Timestamp
    preference: LearnedPublic | None
    learned: list[LearnedPublic]
    applies_to: str | None = Field(
        None, description="Where this feedback applies (its scope); null: everywhere."
    )

    @classmethod
    def from_record(
        cls, f: Feedback, learned: list[Preference], scope: Scope | None = None
    ) -> FeedbackPublic:
        public = [LearnedPublic.from_record(p) for p in learned]
        return cls(
            id=f.id,
            text=f.text,
            task=f.task,
            context=f.context,
            created_at=f.created_at,
            preference=public[0] if public else None,
            learned=public,
            applies_to=scope.scope if scope else None,
        )


# -- policy and rewrite ---------------------------------------------------------


class PolicyRequest(Body):
    context: str = Field(min_length=1)
    task: Task | None = None
    k: int | None = Field(None, ge=1, le=100)


class RetrievedPreference(Schema):
    id: str
    text: str
    score: float
    source: str
    scope: str | None = Field(
        None,
        description="Verbal feedback: where it applies (matched against the context to "
        "give ``score``); null for feedback that applies everywhere and for other sources.",
    )


class RulePublic(Schema):
    id: str
    text: str
    source: str
    operation: dict[str, Any] | None


class PolicyPublic(Schema):
    preference: str
    preferences: list[RetrievedPreference]
    rules: list[RulePublic]
    system_prompt: str
    warnings: list[str] = Field(
        default_factory=list,
        description="Set when part of the policy fell back (e.g. the LLM aggregation failed).",
    )

    @classmethod
    def from_policy(cls, policy: Policy) -> PolicyPublic:
        return cls(
            preference=policy.preference,
            preferences=[
                RetrievedPreference(
                    id=r.preference.id,
                    text=r.preference.text,
                    score=round(r.score, 4),
                    source=r.preference.source,
                    scope=r.scope,
                )
                for r in policy.preferences
            ],
            rules=[RulePublic(**rule) for rule in policy.rule_dicts()],
            system_prompt=policy.system_prompt,
            warnings=policy.warnings,
        )


class RewriteRequest(Body):
    """The same selectors as a policy request (``context``, ``task``, ``k``), and a draft."""

    context: str = Field(min_length=1)
    draft: str
    task: Task | None = None
    k: int | None = Field(None, ge=1, le=100)


class RewritePublic(Schema):
    text: str
    applied: list[str]


class GenerateRequest(Body):
    context: str = Field(min_length=1, description="What to write: the request, notes, a text.")
    task: Task | None = None
    adapter: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Draft with this adapter of the user (an id), or 'none' for no adapter; "
        "omitted: the user's newest adapter the configured LLM can serve, if any.",
        examples=["none"],
    )


class Usage(Schema):
    prompt_tokens: int
    completion_tokens: int


class GeneratePublic(Schema):
    text: str = Field(description="The LLM's draft with the user's verified rules applied.")
    applied: list[str] = Field(description="Ids of the rules that changed the draft.")
    policy: PolicyPublic
    model: str
    adapter: str | None = Field(
        description="Id of the user's adapter that drafted the text; null: the base model."
    )
    usage: Usage


# -- jobs -----------------------------------------------------------------------


class JobPublic(Schema):
    id: str
    user: str
    kind: str
    state: Literal["pending", "running", "done", "error", "cancelled"]
    progress: float
    attempts: int
    error: str | None
    result: dict[str, Any] | None
    params: dict[str, Any]
    item_id: str | None
    run_after: Timestamp | None = Field(
        description="Earliest next attempt of a job waiting to retry."
    )
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def from_record(cls, job: Job) -> JobPublic:
        return cls(
            id=job.id,
            user=job.user,
            kind=job.kind,
            state=job.state,
            progress=job.progress,
            attempts=job.attempts,
            error=job.error,
            result=canonical_times(job.result),
            params=job.params,
            item_id=job.item_id,
            run_after=job.run_after,
            created_at=job.created_at,
            updated_at=job.updated_at,
        )


# -- pairs and principles (ICAI) ----------------------------------------------------


class PairCreate(Body):
    a: str = Field(min_length=1, description="One text.")
    b: str = Field(min_length=1, description="The other text.")
    preferred: Literal["a", "b"] = Field(description="Which one the user preferred.")
    context: str | None = Field(None, min_length=1, description="What both were written for.")
    client_id: str | None = Field(
        None, min_length=1, max_length=128, description="Idempotency key."
    )


class PairPublic(Schema):
    id: str
    a: str
    b: str
    preferred: str
    context: str | None
    client_id: str | None
    origin: str = Field(description="'api' or 'csv'.")
    created_at: Timestamp

    @classmethod
    def from_record(cls, p: StoredPair) -> PairPublic:
        return cls(**{name: getattr(p, name) for name in cls.model_fields})


class PairsPublic(Schema):
    data: list[PairPublic]
    count: int
    limit: int
    offset: int


class PrinciplePublic(PreferencePublic):
    votes_for: int = Field(description="Pairs where following it picks the preferred text.")
    votes_against: int = Field(description="Pairs where it picks the other text.")
    relevant: int = Field(description="Pairs where it tells the two texts apart.")

    @classmethod
    def from_principle(cls, p: Preference) -> PrinciplePublic:
        stats = p.stats or {}
        return cls(
            **PreferencePublic.from_record(p).model_dump(),
            votes_for=int(stats.get("for", 0)),
            votes_against=int(stats.get("against", 0)),
            relevant=int(stats.get("relevant", 0)),
        )


class ConstitutionPublic(Schema):
    data: list[PrinciplePublic] = Field(description="Active principles, best supported first.")
    count: int
    agreement: float | None = Field(
        description="How often a judge following the constitution agrees with the pairs "
        "it was built from (abstentions count 0.5); null before the first build."
    )
    pairs: int | None = Field(description="Pairs the last constitution was built from.")
    built_at: Timestamp | None
    job: JobPublic | None = Field(description="The latest build job, whatever its state.")


# -- adapters -------------------------------------------------------------------


class AdapterPublic(Schema):
    id: str
    job_id: str | None
    base_model: str
    feedback: str = Field(description="The verbal feedback (or preferences) it was trained on.")
    params: dict[str, Any]
    counts: dict[str, int] = Field(description="In-, near- and out-of-scope examples used.")
    metrics: dict[str, Any] = Field(
        description="Held-out in-scope reward accuracy and margin; out-of-scope drift (KL)."
    )
    created_at: Timestamp

    @classmethod
    def from_record(cls, a: Adapter) -> AdapterPublic:
        return cls(**{name: getattr(a, name) for name in cls.model_fields})


class AdaptersPublic(Schema):
    data: list[AdapterPublic]
    count: int


# -- users ----------------------------------------------------------------------


class UserDeleted(Schema):
    user: str
    deleted: dict[str, int]
