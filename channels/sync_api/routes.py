"""POST /api/sync and GET /api/sync/{job_id}: the editors' publish webhook, token-protected."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from channels.deps import JobStoreDep, SettingsDep, SyncTokenDep
from content_sync.fetch import DomainPolicy

router = APIRouter(prefix="/api/sync", dependencies=[SyncTokenDep])


class SyncRequest(BaseModel):
    """Without urls, an incremental sync of every source; `full` re-fetches and re-embeds everything."""

    urls: list[str] | None = Field(None, max_length=500)
    full: bool = False


@router.post("", status_code=202)
async def queue_sync(request: Request, settings: SettingsDep, jobs: JobStoreDep) -> JSONResponse:
    raw = await request.body()
    try:
        body = SyncRequest.model_validate_json(raw) if raw.strip() else SyncRequest()
    except ValidationError as exc:
        raise HTTPException(status_code=422, detail=exc.errors(include_url=False, include_context=False)) from exc
    if body.urls is not None:
        policy = DomainPolicy(settings.domains)
        outside = [url for url in body.urls if not policy.allows(url)]
        if outside:
            raise HTTPException(
                status_code=422,
                detail=f"these URLs are outside ALLOWED_DOMAINS ({', '.join(settings.domains)}): {outside[:10]}",
            )
    job_id = await run_in_threadpool(jobs.enqueue, body.urls or None, body.full, "webhook")
    return JSONResponse({"job_id": job_id}, status_code=202)


@router.get("/{job_id}")
async def sync_status(job_id: str, jobs: JobStoreDep) -> dict[str, Any]:
    job = await run_in_threadpool(jobs.get, job_id)
    if job is None:
        raise HTTPException(status_code=404, detail=f"no sync job {job_id!r}")
    return job
