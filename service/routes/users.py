"""A user's data as a whole: export and deletion."""

import json
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from service.deps import EngineDep, TenantDep, UserDep
from service.schemas import UserDeleted

router = APIRouter(prefix="/v1/users/{user}", tags=["users"])

#: bytes of NDJSON gathered before a chunk is sent (one thread-pool hop per chunk)
CHUNK_BYTES = 64 * 1024


def ndjson_chunks(records: Iterable[dict[str, Any]], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """One JSON object per line, sent in chunks of about ``size`` bytes."""
    lines: list[bytes] = []
    pending = 0
    for record in records:
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        lines.append(line)
        pending += len(line)
        if pending >= size:
            yield b"".join(lines)
            lines, pending = [], 0
    if lines:
        yield b"".join(lines)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def export(user: UserDep, tenant: TenantDep, engine: EngineDep) -> StreamingResponse:
    """Everything stored for the user, one JSON object per line (NDJSON), streamed.

    The rows are read page by page while the response is sent (``store.users.export_user``:
    each page on the connection of the thread-pool thread that asks for it, no
    transaction held), so a large export never sits in memory whole.
    """
    return StreamingResponse(
        ndjson_chunks(engine.export(tenant, user)),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{user}.jsonl"'},
    )


@router.delete("", response_model=UserDeleted)
def delete(user: UserDep, tenant: TenantDep, engine: EngineDep) -> UserDeleted:
    """Remove every row, vector and file of the user."""
    return UserDeleted(user=user, deleted=engine.delete_user(tenant, user))
