"""Logging interactions (draft -> final) and reading them back."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from learners.core.engine import NewInteraction
from service.deps import EngineDep, MetricsDep, SettingsDep, StoreDep, TenantDep, UserDep
from service.schemas import (
    MAX_OFFSET,
    InteractionCreate,
    InteractionPublic,
    InteractionsPublic,
    check_lengths,
)
from store.interactions import get_interaction, list_interactions
from store.preferences import preferences_for_items

router = APIRouter(prefix="/v1/users/{user}/interactions", tags=["interactions"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=InteractionPublic)
def create_interaction(
    body: InteractionCreate,
    user: UserDep,
    tenant: TenantDep,
    engine: EngineDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    response: Response,
) -> InteractionPublic:
    """Log what the user made of a draft; learn from it. Same ``client_id`` again: 200."""
    check_lengths(
        settings.max_text_chars,
        context=body.context,
        draft=body.draft,
        final=body.final,
        feedback=body.feedback,
    )
    logged = engine.log_interaction(tenant, user, NewInteraction(**body.model_dump()))
    if logged.created:
        metrics.interactions.inc()
    else:
        response.status_code = status.HTTP_200_OK
    return InteractionPublic.from_record(logged.interaction, logged.learned)


@router.get("", response_model=InteractionsPublic)
def read_interactions(
    user: UserDep,
    tenant: TenantDep,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> InteractionsPublic:
    """The user's interactions, newest first."""
    items, total = list_interactions(store, tenant, user, limit=limit, offset=offset)
    return InteractionsPublic(
        data=[InteractionPublic.from_record(i) for i in items],
        count=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{interaction_id}", response_model=InteractionPublic)
def read_interaction(
    interaction_id: str, user: UserDep, tenant: TenantDep, store: StoreDep
) -> InteractionPublic:
    item = get_interaction(store, tenant, user, interaction_id)
    learned = preferences_for_items(store, tenant, user, [("interaction", item.id)])
    return InteractionPublic.from_record(item, learned)
