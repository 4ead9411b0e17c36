"""Reading, editing, disabling and deleting what Tailor learned."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from service.deps import EngineDep, StoreDep, TenantDep, UserDep
from service.schemas import PreferencePublic, PreferencesPublic, PreferenceUpdate
from store.errors import InvalidInputError
from store.preferences import (
    delete_preference,
    get_preference,
    list_preferences,
    update_preference,
)
from store.scopes import Scope

router = APIRouter(prefix="/v1/users/{user}/preferences", tags=["preferences"])


@router.get("", response_model=PreferencesPublic)
def read_preferences(
    user: UserDep,
    tenant: TenantDep,
    store: StoreDep,
    engine: EngineDep,
    source: Annotated[str | None, Query(max_length=64)] = None,
    include_disabled: bool = True,
) -> PreferencesPublic:
    prefs = list_preferences(store, tenant, user, source=source, include_disabled=include_disabled)
    return PreferencesPublic(
        data=[
            PreferencePublic.from_record(p, engine.scopes.scope_of(tenant, user, p)) for p in prefs
        ],
        count=len(prefs),
    )


@router.patch("/{preference_id}", response_model=PreferencePublic)
def patch_preference(
    preference_id: str,
    body: PreferenceUpdate,
    user: UserDep,
    tenant: TenantDep,
    store: StoreDep,
    engine: EngineDep,
) -> PreferencePublic:
    """Edit the text, disable, or (verbal feedback) set where it applies.

    The replaced version is kept. ``applies_to`` on a preference that is not verbal
    feedback is 400 ``invalid_input``; null or "" makes the feedback apply everywhere.
    """
    if "applies_to" in body.model_fields_set:
        pref = get_preference(store, tenant, user, preference_id)
        if pref.source != "feedback":
            raise InvalidInputError("only verbal feedback has a scope (applies_to)")
    if body.text is not None or body.disabled is not None:
        pref = update_preference(
            store, tenant, user, preference_id, text=body.text, disabled=body.disabled
        )
    else:
        pref = get_preference(store, tenant, user, preference_id)
    scope: Scope | None
    if "applies_to" in body.model_fields_set:
        scope = engine.scopes.set_scope(tenant, user, pref, body.applies_to)
    else:
        if body.text is not None:
            engine.scopes.forget(tenant, user, pref)
        scope = engine.scopes.scope_of(tenant, user, pref)
    return PreferencePublic.from_record(pref, scope)


@router.delete("/{preference_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_preference(
    preference_id: str, user: UserDep, tenant: TenantDep, store: StoreDep
) -> Response:
    delete_preference(store, tenant, user, preference_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
