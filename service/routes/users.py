"""A user's data as a whole: export and deletion."""

import json

from fastapi import APIRouter, Response

from service.deps import EngineDep, TenantDep, UserDep
from service.schemas import UserDeleted

router = APIRouter(prefix="/v1/users/{user}", tags=["users"])


@router.get("/export", response_class=Response)
def export(user: UserDep, tenant: TenantDep, engine: EngineDep) -> Response:
    """Everything stored for the user, one JSON object per line (NDJSON)."""
    lines = [json.dumps(record, ensure_ascii=False) for record in engine.export(tenant, user)]
    body = "\n".join(lines) + ("\n" if lines else "")
    return Response(
        body,
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{user}.jsonl"'},
    )


@router.delete("", response_model=UserDeleted)
def delete(user: UserDep, tenant: TenantDep, engine: EngineDep) -> UserDeleted:
    """Remove every row, vector and file of the user."""
    return UserDeleted(user=user, deleted=engine.delete_user(tenant, user))
