"""Pairwise preferences in, a tested constitution out (Inverse Constitutional AI)."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from learners.backends.llm import require_llm
from learners.icai.principles import (
    PRINCIPLES_JOB,
    SOURCE,
    PrinciplesRequest,
    check_enough,
    count_pairs,
)
from service.deps import EngineDep, SettingsDep, StoreDep, TenantDep, UserDep
from service.schemas import (
    MAX_OFFSET,
    ConstitutionPublic,
    JobPublic,
    PairCreate,
    PairPublic,
    PairsPublic,
    PrinciplePublic,
    check_lengths,
)
from store.jobs import list_jobs
from store.pairs import NewPair, add_pairs, list_pairs
from store.preferences import list_preferences

router = APIRouter(prefix="/v1/users/{user}", tags=["principles"])


@router.post("/pairs", status_code=status.HTTP_201_CREATED, response_model=PairPublic)
def create_pair(
    body: PairCreate,
    user: UserDep,
    tenant: TenantDep,
    store: StoreDep,
    settings: SettingsDep,
    response: Response,
) -> PairPublic:
    """Record that the user preferred ``a`` or ``b``. Same ``client_id`` again: 200."""
    check_lengths(settings.max_text_chars, a=body.a, b=body.b, context=body.context)
    [(pair, created)] = add_pairs(store, tenant, user, [NewPair(**body.model_dump())])
    if not created:
        response.status_code = status.HTTP_200_OK
    return PairPublic.from_record(pair)


@router.get("/pairs", response_model=PairsPublic)
def read_pairs(
    user: UserDep,
    tenant: TenantDep,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> PairsPublic:
    """The user's explicit pairs, oldest first."""
    pairs, total = list_pairs(store, tenant, user, limit=limit, offset=offset)
    return PairsPublic(
        data=[PairPublic.from_record(p) for p in pairs], count=total, limit=limit, offset=offset
    )


@router.post("/principles", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic)
def build_principles(
    user: UserDep,
    tenant: TenantDep,
    store: StoreDep,
    engine: EngineDep,
    body: PrinciplesRequest | None = None,
) -> JobPublic:
    """Start building the user's constitution in the background; poll ``GET /v1/jobs/{id}``.

    400 ``not_enough_data`` with fewer than 4 pairs (explicit plus edits), 503
    ``llm_not_configured`` for ``method: llm`` without an LLM.
    """
    body = body or PrinciplesRequest()
    if body.method == "llm":
        require_llm(engine.llm, "method 'llm'")
    check_enough(count_pairs(store, tenant, user, body.include_edits))
    job = engine.submit(tenant, user, PRINCIPLES_JOB, body.model_dump())
    return JobPublic.from_record(job)


@router.get("/principles", response_model=ConstitutionPublic)
def read_principles(user: UserDep, tenant: TenantDep, store: StoreDep) -> ConstitutionPublic:
    """The active principles with their votes, and how well they reconstruct the pairs."""
    principles = [
        p for p in list_preferences(store, tenant, user, source=SOURCE) if p.status == "active"
    ]
    principles.sort(
        key=lambda p: (p.stats or {}).get("for", 0) - (p.stats or {}).get("against", 0),
        reverse=True,
    )
    jobs = list_jobs(store, tenant, user, kind=PRINCIPLES_JOB, limit=20)
    built = next((j for j in jobs if j.state == "done" and j.result), None)
    result = built.result if built is not None and built.result is not None else {}
    return ConstitutionPublic(
        data=[PrinciplePublic.from_principle(p) for p in principles],
        count=len(principles),
        agreement=result.get("agreement"),
        pairs=result.get("pairs"),
        built_at=result.get("built_at"),
        job=JobPublic.from_record(jobs[0]) if jobs else None,
    )
