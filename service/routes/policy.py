"""Policies for a context, and deterministic rewrites with the user's rules."""

from fastapi import APIRouter

from service.deps import EngineDep, SettingsDep, TenantDep, UserDep
from service.schemas import (
    PolicyPublic,
    PolicyRequest,
    RewritePublic,
    RewriteRequest,
    check_lengths,
)

router = APIRouter(prefix="/v1/users/{user}", tags=["policy"])


@router.post("/policy", response_model=PolicyPublic)
def make_policy(
    body: PolicyRequest, user: UserDep, tenant: TenantDep, engine: EngineDep, settings: SettingsDep
) -> PolicyPublic:
    """What Tailor knows of this user that applies to ``context``, and a system prompt."""
    check_lengths(settings.max_text_chars, context=body.context)
    return PolicyPublic.from_policy(
        engine.policy(tenant, user, body.context, task=body.task, k=body.k)
    )


@router.post("/rewrite", response_model=RewritePublic)
def rewrite(
    body: RewriteRequest, user: UserDep, tenant: TenantDep, engine: EngineDep, settings: SettingsDep
) -> RewritePublic:
    """The draft with the user's verified rules for this context applied."""
    check_lengths(settings.max_text_chars, context=body.context, draft=body.draft)
    policy = engine.policy(tenant, user, body.context, task=body.task, k=body.k)
    text, applied = engine.apply_rules(policy, body.draft)
    return RewritePublic(text=text, applied=applied)
