"""Drafting with the configured LLM under the user's policy."""

from fastapi import APIRouter

from service.deps import EngineDep, SettingsDep, TenantDep, UserDep
from service.schemas import GeneratePublic, GenerateRequest, PolicyPublic, Usage, check_lengths

router = APIRouter(prefix="/v1/users/{user}", tags=["policy"])


@router.post("/generate", response_model=GeneratePublic)
def generate(
    body: GenerateRequest,
    user: UserDep,
    tenant: TenantDep,
    engine: EngineDep,
    settings: SettingsDep,
) -> GeneratePublic:
    """Build the policy, draft with the LLM under it, apply the user's verified rules.

    503 ``llm_not_configured`` without ``TAILOR_LLM_MODEL``; 503 with the
    provider's error (``llm_timeout``, ``llm_rate_limited``, ...) when the call
    still fails after its retries. The draft uses the user's newest adapter the
    LLM can serve (``adapter`` names another, or ``"none"``); 404
    ``adapter_not_found``, 400 ``adapter_not_servable`` for an adapter it cannot use.
    """
    check_lengths(settings.max_text_chars, context=body.context)
    text, applied, policy, completion = engine.generate(
        tenant, user, body.context, task=body.task, adapter=body.adapter
    )
    return GeneratePublic(
        text=text,
        applied=applied,
        policy=PolicyPublic.from_policy(policy),
        model=completion.model,
        adapter=completion.adapter,
        usage=Usage(
            prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens
        ),
    )
