"""GET /metrics: Prometheus' text format, for a scraper (docs/metrics.md).

With METRICS_TOKEN set, the scraper must send `Authorization: Bearer <METRICS_TOKEN>`, from anywhere. Left
empty, /metrics answers only clients on a loopback address: a Prometheus on the same machine, or one that
reaches the gateway through an SSH tunnel or a sidecar. The client is the socket's peer, or the forwarded
address when that peer is one of TRUSTED_PROXIES (channels/guards/address.py). Behind a local reverse proxy
that is not listed there every request looks like loopback: list it, set METRICS_TOKEN, or do not route
/metrics through it (docs/adr/0016-logs-and-metrics.md).
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from channels.deps import SettingsDep, get_channel_store, get_job_store
from channels.email.listener import Spool
from channels.observability.metrics import StateCollector, render_metrics
from channels.review.deps import get_review_store
from channels.settings import Settings
from content_sync.index_store import IndexStore

router = APIRouter(tags=["operations"])


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_metrics_access(settings: Settings, request: Request, authorization: str | None) -> None:
    """METRICS_TOKEN as a bearer token; with none set, only loopback peers."""
    expected = settings.metrics_token.get_secret_value()
    if not expected:
        if _loopback(request.client.host if request.client else None):
            return
        raise HTTPException(
            status_code=403,
            detail="/metrics answers only loopback addresses while METRICS_TOKEN is empty; set METRICS_TOKEN and "
            "scrape with 'Authorization: Bearer <METRICS_TOKEN>'",
        )
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        token.strip().encode("utf-8", "replace"), expected.encode()
    ):
        raise HTTPException(
            status_code=401,
            detail="a valid 'Authorization: Bearer <METRICS_TOKEN>' header is required",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _state(settings: Settings) -> StateCollector:
    """The store readers for this scrape (the stores themselves are the process's cached ones)."""
    spool_dir = settings.data_dir / "mail"

    def spool_waiting() -> int:
        return len(Spool(spool_dir).waiting()) if spool_dir.is_dir() else 0

    return StateCollector(
        outbox=lambda: get_channel_store(settings).count_outbox(),
        spool=spool_waiting,
        sync_jobs=lambda: get_job_store(settings).count_by_status(),
        review_open=lambda: get_review_store(settings).count_open_items(),
        last_syncs=lambda: get_job_store(settings).latest(20),
        index_versions=lambda: IndexStore(settings.index_dir).describe(),
    )


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics (docs/metrics.md)",
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}, 401: {}, 403: {}},
)
async def metrics(
    settings: SettingsDep, request: Request, authorization: Annotated[str | None, Header()] = None
) -> Response:
    """Every metric of docs/metrics.md, read now."""
    require_metrics_access(settings, request, authorization)
    body = await run_in_threadpool(render_metrics, _state(settings))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
