"""Background jobs of any kind (LLM inference, adapters, principles): read, cancel, retry."""

from fastapi import APIRouter

from service.deps import EngineDep, StoreDep, TenantDep
from service.schemas import JobPublic
from store.jobs import cancel, get_job

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobPublic)
def read_job(job_id: str, tenant: TenantDep, store: StoreDep) -> JobPublic:
    """State, progress, attempts, the last error and the result of a job of this tenant."""
    return JobPublic.from_record(get_job(store, tenant, job_id))


@router.post("/{job_id}/cancel", response_model=JobPublic)
def cancel_job(job_id: str, tenant: TenantDep, store: StoreDep) -> JobPublic:
    """Cancel a pending or running job (a running one stops at its next checkpoint)."""
    return JobPublic.from_record(cancel(store, tenant, job_id))


@router.post("/{job_id}/retry", response_model=JobPublic)
def retry_job(job_id: str, tenant: TenantDep, engine: EngineDep) -> JobPublic:
    """Queue a job that ended in ``error`` again (e.g. after fixing the LLM settings)."""
    return JobPublic.from_record(engine.retry_job(tenant, job_id))
