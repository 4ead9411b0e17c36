"""User-scoped API keys: a tenant key mints, lists and revokes the keys of one user.

A user's key reaches only that user's routes (``service.deps``): it is the key to hand
to the person whose writing is learned, for their page at ``/ui``. Minting needs a
tenant key, so a user's key cannot make more keys. ``GET /v1/key`` tells any key
what it is (its tenant and user), so the page can fill in the user by itself.

The schemas live here rather than in ``service.schemas``: they are used by no other route.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import Field

from service.deps import AuthDep, StoreDep, TenantKeyDep, UserDep
from service.schemas import Schema, Timestamp
from store.keys import create_key, list_keys, revoke_user_key
from store.records import ApiKey

router = APIRouter(tags=["keys"])


class KeyPublic(Schema):
    id: str
    tenant: str
    user: str | None = Field(description="The one user the key reaches; null for a tenant key.")
    prefix: str = Field(description="The key's first characters, to recognize it by.")
    created_at: Timestamp
    revoked_at: Timestamp | None

    @classmethod
    def from_record(cls, key: ApiKey) -> KeyPublic:
        return cls(
            id=key.id,
            tenant=key.tenant,
            user=key.user,
            prefix=key.prefix,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )


class KeyCreated(KeyPublic):
    key: str = Field(description="The secret, shown this once: only its hash is stored.")


class KeysPublic(Schema):
    data: list[KeyPublic]
    count: int


@router.post(
    "/v1/users/{user}/keys", status_code=status.HTTP_201_CREATED, response_model=KeyCreated
)
def mint_user_key(user: UserDep, tenant: TenantKeyDep, store: StoreDep) -> KeyCreated:
    """A new key that reaches only this user's routes (403 elsewhere); needs a tenant key."""
    key, secret = create_key(store, tenant, user)
    return KeyCreated(**KeyPublic.from_record(key).model_dump(), key=secret)


@router.get("/v1/users/{user}/keys", response_model=KeysPublic)
def read_user_keys(user: UserDep, tenant: TenantKeyDep, store: StoreDep) -> KeysPublic:
    """This user's keys, revoked ones too; secrets are never shown."""
    keys = list_keys(store, tenant, user)
    return KeysPublic(data=[KeyPublic.from_record(k) for k in keys], count=len(keys))


@router.delete("/v1/users/{user}/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_user_api_key(
    key_id: str, user: UserDep, tenant: TenantKeyDep, store: StoreDep
) -> Response:
    """Revoke one of this user's keys; it stops working at once."""
    revoke_user_key(store, tenant, user, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/key", response_model=KeyPublic)
async def read_own_key(auth: AuthDep) -> KeyPublic:
    """The key this request was sent with: its tenant and, for a user's key, its user."""
    return KeyPublic.from_record(auth)
