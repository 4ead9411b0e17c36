"""Reading, editing, disabling and deleting what Tailor learned."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from service.deps import StoreDep, TenantDep, UserDep
from service.schemas import PreferencePublic, PreferencesPublic, PreferenceUpdate
from store.preferences import delete_preference, list_preferences, update_preference

router = APIRouter(prefix="/v1/users/{user}/preferences", tags=["preferences"])


@router.get("", response_model=PreferencesPublic)
def read_preferences(
    user: UserDep,
    tenant: TenantDep,
    store: StoreDep,
    source: Annotated[str | None, Query(max_length=64)] = None,
    include_disabled: bool = True,
) -> PreferencesPublic:
    prefs = list_preferences(store, tenant, user, source=source, include_disabled=include_disabled)
    return PreferencesPublic(
        data=[PreferencePublic.from_record(p) for p in prefs], count=len(prefs)
    )


@router.patch("/{preference_id}", response_model=PreferencePublic)
def patch_preference(
    preference_id: str, body: PreferenceUpdate, user: UserDep, tenant: TenantDep, store: StoreDep
) -> PreferencePublic:
    """Edit the text or disable; the replaced version is kept."""
    pref = update_preference(
        store, tenant, user, preference_id, text=body.text, disabled=body.disabled
    )
    return PreferencePublic.from_record(pref)


@router.delete("/{preference_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_preference(
    preference_id: str, user: UserDep, tenant: TenantDep, store: StoreDep
) -> Response:
    delete_preference(store, tenant, user, preference_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
