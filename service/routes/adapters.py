"""Per-user C3PO adapters: train (a background job), list, download as PEFT files."""

from pathlib import Path

from fastapi import APIRouter, status
from fastapi.responses import FileResponse

from learners.c3po.jobs import ADAPTER_JOB, AdapterRequest, plan, resolve_base
from service.deps import EngineDep, ModelDep, SettingsDep, StoreDep, TenantDep, UserDep
from service.schemas import AdapterPublic, AdaptersPublic, JobPublic
from store.adapters import adapter_path, get_adapter, list_adapters

router = APIRouter(prefix="/v1/users/{user}/adapters", tags=["adapters"])

ARCHIVE = "adapter.tar.gz"


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic)
def train_adapter(
    body: AdapterRequest,
    user: UserDep,
    tenant: TenantDep,
    store: StoreDep,
    settings: SettingsDep,
    engine: EngineDep,
    model: ModelDep,
) -> JobPublic:
    """Start training an adapter on a feedback (or preferences); poll ``GET /v1/jobs/{id}``.

    The data set is built now from the stored embeddings, so too little
    in-scope data is a 400 ``not_enough_data`` with the counts, before any job.
    """
    if body.base_model is not None:
        resolve_base(settings.models_path, body.base_model)
    plan(store, model, tenant, user, body)
    job = engine.submit(tenant, user, ADAPTER_JOB, body.model_dump())
    return JobPublic.from_record(job)


@router.get("", response_model=AdaptersPublic)
def read_adapters(user: UserDep, tenant: TenantDep, store: StoreDep) -> AdaptersPublic:
    """The user's adapters, newest first, with their data counts and evaluation."""
    found = list_adapters(store, tenant, user)
    return AdaptersPublic(data=[AdapterPublic.from_record(a) for a in found], count=len(found))


@router.get("/{adapter_id}/download", response_class=FileResponse)
def download_adapter(
    adapter_id: str, user: UserDep, tenant: TenantDep, store: StoreDep
) -> FileResponse:
    """A tar.gz with ``adapter_config.json``, ``adapter_model.safetensors`` and ``README.md``."""
    from learners.c3po.adapters import write_archive

    adapter = get_adapter(store, tenant, user, adapter_id)
    folder = adapter_path(store, adapter)
    archive = folder / ARCHIVE
    if not archive.exists():
        card = (folder / "README.md").read_text(encoding="utf-8")
        write_archive(folder, card, archive)
    return FileResponse(
        Path(archive), media_type="application/gzip", filename=f"{adapter.id}.tar.gz"
    )
