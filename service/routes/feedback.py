"""Verbal feedback ("no emojis in emails to my boss")."""

from fastapi import APIRouter, status

from service.deps import EngineDep, MetricsDep, SettingsDep, TenantDep, UserDep
from service.schemas import FeedbackCreate, FeedbackPublic, check_lengths

router = APIRouter(prefix="/v1/users/{user}/feedback", tags=["feedback"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=FeedbackPublic)
def create_feedback(
    body: FeedbackCreate,
    user: UserDep,
    tenant: TenantDep,
    engine: EngineDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> FeedbackPublic:
    """Store feedback; with a ``context`` it applies near that context, else everywhere."""
    check_lengths(settings.max_text_chars, text=body.text, context=body.context)
    item, learned = engine.add_feedback(
        tenant, user, body.text, task=body.task, context=body.context
    )
    metrics.feedback.inc()
    scope = next((s for s in (engine.scopes.scope_of(tenant, user, p) for p in learned) if s), None)
    return FeedbackPublic.from_record(item, learned, scope)
