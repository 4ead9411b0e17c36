"""Tenants and API keys.

A key is 256 random bits shown once; only its SHA-256 is stored (a key has
far too much entropy for a slow hash to matter). A key belongs to exactly one
tenant, and every query the service makes is scoped by that tenant.
"""

from __future__ import annotations

import hashlib
import secrets

from store.db import Store
from store.errors import InvalidInputError, NotFoundError
from store.records import ID_RULE, ApiKey, new_id, now, valid_id

KEY_PREFIX = "tlr_"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def check_tenant(tenant: str) -> None:
    """Tenant names follow the same rule as user ids (``store.records.ID_PATTERN``)."""
    if not valid_id(tenant):
        raise InvalidInputError(f"tenant names are {ID_RULE}", code="invalid_tenant")


def ensure_tenant(store: Store, tenant: str) -> None:
    check_tenant(tenant)
    with store.transaction() as db:
        db.execute(
            "INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, ?)", [tenant, now()]
        )


def create_key(store: Store, tenant: str) -> tuple[ApiKey, str]:
    """Create a key for ``tenant`` (creating the tenant too); return it and its secret."""
    check_tenant(tenant)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id("key"),
        tenant=tenant,
        prefix=secret[: len(KEY_PREFIX) + 6],
        created_at=now(),
        revoked_at=None,
    )
    with store.transaction() as db:
        db.execute(
            "INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, ?)",
            [tenant, key.created_at],
        )
        db.execute(
            "INSERT INTO api_keys (id, tenant, key_hash, prefix, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [key.id, tenant, hash_key(secret), key.prefix, key.created_at],
        )
    return key, secret


def list_keys(store: Store, tenant: str | None = None) -> list[ApiKey]:
    sql = "SELECT id, tenant, prefix, created_at, revoked_at FROM api_keys"
    params: list[str] = []
    if tenant is not None:
        sql += " WHERE tenant = ?"
        params.append(tenant)
    return [ApiKey(**row) for row in store.db.query(sql + " ORDER BY created_at", params)]


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
    return next(k for k in list_keys(store) if k.id == key_id)


def tenant_exists(store: Store, tenant: str) -> bool:
    row = store.db.execute("SELECT 1 FROM tenants WHERE name = ?", [tenant]).fetchone()
    return row is not None


def has_keys(store: Store) -> bool:
    return bool(list(store.db.query("SELECT 1 FROM api_keys LIMIT 1")))


def authenticate(store: Store, secret: str) -> str | None:
    """The tenant of an active key, or None for an unknown or revoked key."""
    rows = list(
        store.db.query(
            "SELECT tenant FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
            [hash_key(secret)],
        )
    )
    return rows[0]["tenant"] if rows else None
