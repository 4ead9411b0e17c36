"""Tenants and API keys.

A key is 256 random bits shown once; only its SHA-256 is stored (a key has
far too much entropy for a slow hash to matter). A key belongs to exactly one
tenant, and every query the service makes is scoped by that tenant.

A key may also be scoped to one user of its tenant (``ApiKey.user``): that is the
key to hand to the person whose writing is learned (their web page, ``/ui``), and
it reaches only that user's routes (``service.deps``). A tenant key (``user`` None)
reaches every user of its tenant.
"""

from __future__ import annotations

import hashlib
import secrets

from store.db import Store
from store.errors import InvalidInputError, NotFoundError
from store.records import ID_RULE, ApiKey, new_id, now, valid_id

KEY_PREFIX = "tlr_"
_COLUMNS = 'id, tenant, "user", prefix, created_at, revoked_at'
_INSERT_TENANT = (
    "INSERT INTO tenants (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"
)


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_tenant(tenant: str) -> None:
    """Tenant names follow the same rule as user ids (``store.records.ID_PATTERN``)."""
    if not valid_id(tenant):
        raise InvalidInputError(f"tenant names are {ID_RULE}", code="invalid_tenant")


def ensure_tenant(store: Store, tenant: str) -> None:
    check_tenant(tenant)
    with store.transaction() as db:
        db.execute(_INSERT_TENANT, [tenant, now()])


def create_key(store: Store, tenant: str, user: str | None = None) -> tuple[ApiKey, str]:
    """Create a key for ``tenant`` (creating the tenant too); return it and its secret.

    With ``user``, the key reaches only that user of the tenant.
    """
    check_tenant(tenant)
    if user is not None and not valid_id(user):
        raise InvalidInputError(f"user ids are {ID_RULE}", code="invalid_user_id")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id("key"),
        tenant=tenant,
        prefix=secret[: len(KEY_PREFIX) + 6],
        created_at=now(),
        revoked_at=None,
        user=user,
    )
    with store.transaction() as db:
        db.execute(_INSERT_TENANT, [tenant, key.created_at])
        db.execute(
            'INSERT INTO api_keys (id, tenant, "user", key_hash, prefix, created_at) '
            "VALUES (?, ?, ?, ?, ?, ?)",
            [key.id, tenant, user, hash_key(secret), key.prefix, key.created_at],
        )
    return key, secret


def list_keys(store: Store, tenant: str | None = None, user: str | None = None) -> list[ApiKey]:
    """Keys (never their secrets), oldest first; only ``tenant``'s, only ``user``'s if given."""
    sql = f"SELECT {_COLUMNS} FROM api_keys"
    where, params = [], []
    if tenant is not None:
        where.append("tenant = ?")
        params.append(tenant)
    if user is not None:
        where.append('"user" = ?')
        params.append(user)
    if where:
        sql += " WHERE " + " AND ".join(where)
    return [ApiKey(**row) for row in store.db.query(sql + " ORDER BY created_at, id", params)]


def get_key(store: Store, key_id: str) -> ApiKey:
    rows = list(store.db.query(f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", [key_id]))
    if not rows:
        raise NotFoundError(f"no API key with id {key_id!r}")
    return ApiKey(**rows[0])


def revoke_key(store: Store, key_id: str) -> ApiKey:
    with store.transaction() as db:
        cursor = db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            [now(), key_id],
        )
        if cursor.rowcount == 0 and not list(
            db.query("SELECT 1 FROM api_keys WHERE id = ?", [key_id])
        ):
            raise NotFoundError(f"no API key with id {key_id!r}")
    return get_key(store, key_id)


def revoke_user_key(store: Store, tenant: str, user: str, key_id: str) -> ApiKey:
    """Revoke a key of ``user`` in ``tenant``; 404 for any other key (no probing by id)."""
    with store.transaction() as db:
        found = list(
            db.query(
                'SELECT 1 FROM api_keys WHERE id = ? AND tenant = ? AND "user" = ?',
                [key_id, tenant, user],
            )
        )
        if not found:
            raise NotFoundError(f"no API key with id {key_id!r} for this user")
        db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            [now(), key_id],
        )
    return get_key(store, key_id)


def tenant_exists(store: Store, tenant: str) -> bool:
    row = store.db.execute("SELECT 1 FROM tenants WHERE name = ?", [tenant]).fetchone()
    return row is not None


def has_keys(store: Store) -> bool:
    return bool(list(store.db.query("SELECT 1 FROM api_keys LIMIT 1")))


def authenticate_key(store: Store, secret: str) -> ApiKey | None:
    """The active key with this secret (its tenant and user scope), or None."""
    rows = list(
        store.db.query(
            f"SELECT {_COLUMNS} FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
            [hash_key(secret)],
        )
    )
    return ApiKey(**rows[0]) if rows else None


def authenticate(store: Store, secret: str) -> str | None:
    """The tenant of an active key, or None for an unknown or revoked key."""
    key = authenticate_key(store, secret)
    return key.tenant if key is not None else None
