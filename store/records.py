"""Typed rows that the store hands out, and small helpers shared by its modules."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: The one rule for user ids and tenant names: 1-128 of A-Z a-z 0-9 . _ @ -, and never
#: ``.`` or ``..`` alone. No separator can appear, so an id names no file-system path
#: (and files are placed by a digest of (tenant, user) anyway: ``store.adapters``).
ID_PATTERN = r"^(?!\.\.?$)[A-Za-z0-9._@-]{1,128}$"
USER_ID = re.compile(ID_PATTERN)
ID_RULE = "1 to 128 characters of A-Z, a-z, 0-9, '.', '_', '@' and '-', other than '.' and '..'"


def valid_id(value: str) -> bool:
    """Whether ``value`` is a valid user id or tenant name (``ID_PATTERN``)."""
    return USER_ID.fullmatch(value) is not None


#: The one timestamp format of the store and the API: RFC 3339, UTC, microseconds, ``Z``
#: (``2026-12-02T08:06:00.123456Z``). Fixed width, so it sorts as text.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def timestamp(moment: datetime) -> str:
    """``moment`` in the one timestamp format (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def now() -> str:
    """The current time in the one timestamp format (``TIMESTAMP_FORMAT``)."""
    return timestamp(datetime.now(UTC))


def canonical_timestamp(value: str) -> str:
    """An ISO 8601 timestamp (``Z`` or an offset, any precision) in the one format.

    Rows written before the format was unified hold ``+00:00`` and whole seconds in
    places (ICAI's ``built_at``, a rule's ``verified_at``); the API shows them like the
    rest. A value that is not a timestamp is returned unchanged.
    """
    try:
        return timestamp(datetime.fromisoformat(value))
    except ValueError:
        return value


def canonical_times(value: Any) -> Any:
    """``value`` with every string under a key ending in ``_at`` made canonical, in nested
    dicts and lists too. For Tailor's own JSON (stats, job results), never user metadata."""
    if isinstance(value, dict):
        return {
            k: canonical_timestamp(v)
            if isinstance(v, str) and k.endswith("_at")
            else canonical_times(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [canonical_times(v) for v in value]
    return value


def new_id(prefix: str) -> str:
    """A random, URL-safe id such as ``int_3f9a...`` (96 bits)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)


def loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)


@dataclass(frozen=True)
class ApiKey:
    id: str
    tenant: str
    prefix: str
    created_at: str
    revoked_at: str | None
    #: the one user of ``tenant`` the key reaches; None for a tenant key (every user)
    user: str | None = None


@dataclass(frozen=True)
class Interaction:
    id: str
    tenant: str
    user: str
    context: str
    draft: str
    final: str
    task: str | None
    feedback: str | None
    client_id: str | None
    metadata: dict[str, Any] | None
    edit_distance: int
    accepted: bool
    created_at: str
    #: background LLM inference: None (no LLM learner), pending, done or error
    inference: str | None = None
    inference_error: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Interaction:
        return cls(
            id=row["id"],
            tenant=row["tenant"],
            user=row["user"],
            context=row["context"],
            draft=row["draft"],
            final=row["final"],
            task=row["task"],
            feedback=row["feedback"],
            client_id=row["client_id"],
            metadata=loads(row["metadata"]),
            edit_distance=row["edit_distance"],
            accepted=bool(row["accepted"]),
            created_at=row["created_at"],
            inference=row.get("inference"),
            inference_error=row.get("inference_error"),
        )


@dataclass(frozen=True)
class Feedback:
    id: str
    tenant: str
    user: str
    text: str
    task: str | None
    context: str | None
    interaction_id: str | None
    created_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Feedback:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Evidence:
    """An item that supports a preference: an interaction or a feedback."""

    item_type: str
    item_id: str
    detail: str | None = None
    created_at: str = ""


@dataclass(frozen=True)
class Preference:
    id: str
    tenant: str
    user: str
    text: str
    source: str
    kind: str
    key: str
    task: str | None
    scope: str
    operation: dict[str, Any] | None
    support: int
    disabled: bool
    version: int
    created_at: str
    updated_at: str
    status: str = "active"
    stats: dict[str, Any] | None = None
    evidence: tuple[Evidence, ...] = field(default=())

    @classmethod
    def from_row(cls, row: dict[str, Any], evidence: tuple[Evidence, ...] = ()) -> Preference:
        return cls(
            id=row["id"],
            tenant=row["tenant"],
            user=row["user"],
            text=row["text"],
            source=row["source"],
            kind=row["kind"],
            key=row["key"],
            task=row["task"],
            scope=row["scope"],
            operation=loads(row["operation"]),
            support=row["support"],
            disabled=bool(row["disabled"]),
            version=row["version"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            status=row["status"],
            stats=loads(row["stats"]),
            evidence=evidence,
        )


@dataclass(frozen=True)
class Job:
    """A unit of background work (LLM inference, adapter training, principles)."""

    id: str
    tenant: str
    user: str
    kind: str
    state: str
    progress: float
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    run_after: str | None
    item_id: str | None
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        return cls(
            id=row["id"],
            tenant=row["tenant"],
            user=row["user"],
            kind=row["kind"],
            state=row["state"],
            progress=row["progress"],
            params=loads(row["params"]) or {},
            result=loads(row["result"]),
            error=row["error"],
            attempts=row["attempts"],
            run_after=row["run_after"],
            item_id=row["item_id"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
