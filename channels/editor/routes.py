"""The editors' pages under /staff/editor (sync history, sync now, answer preview, what changed) and the
dashboard at /staff/dashboard.

Editors and admins use the editors' pages; reviewers may see the dashboard. Every route declares its role with
`require_role` (the staff route walk reads it), and every POST carries the session's CSRF token.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from channels.degraded import responder_for
from channels.deps import ChannelStoreDep, JobStoreDep, RasaDep, SettingsDep
from channels.editor.changes import (
    SeenAnswer,
    TopQuestion,
    compare_answers,
    quoted_stale,
    sync_pages,
    top_questions,
    with_stale,
)
from channels.editor.charts import draw
from channels.editor.dashboard import PERIODS, build_dashboard
from channels.editor.gaps import gap_stats
from channels.editor.preview import MAX_QUESTION_CHARS, Preview, preview_question, preview_question_sync
from channels.editor.recheck import RecheckState, get_rechecks
from channels.editor.reports import describe_report, summary_line
from channels.privacy import redact
from channels.rasa_client import RasaClient
from channels.review.deps import ReviewStoreDep
from channels.settings import Settings
from channels.sms.text import segment_count
from channels.staff.auth import AuditDep, CsrfDep, require_role, wants_html
from channels.staff.pages import render_page
from channels.staff.store import StaffMember
from channels.store import ChannelStore
from content_sync.fetch import DomainPolicy
from content_sync.index_store import IndexStore
from content_sync.jobs import JobStore

log = logging.getLogger(__name__)
router = APIRouter(prefix="/staff", include_in_schema=False)
EditorDep = Annotated[StaffMember, Depends(require_role("editor"))]
ReviewerDep = Annotated[StaffMember, Depends(require_role("reviewer"))]
HISTORY = 25  # jobs on the sync history page
TOP_QUESTIONS = 10
TOP_DAYS = 30
MAX_SYNC_URLS = 100
FINISHED = ("succeeded", "failed")
REQUESTED_BY_CHARS = 64  # sync_jobs.requested_by


def _when(value: str | None) -> str:
    """An ISO timestamp as "2026-12-01 15:20 UTC" ("" for none)."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _job_or_404(job: dict[str, Any] | None, job_id: str) -> dict[str, Any]:
    """The job, or a 404 that says where to find one (a page for browsers, JSON for the pollers)."""
    if job is None:
        raise HTTPException(status_code=404, detail=f"there is no sync job {job_id!r}; pick one from /staff/editor")
    return job


async def _load_job(request: Request, jobs: JobStore, job_id: str) -> dict[str, Any] | Response:
    """The job for a page, or the not-found page."""
    job = await run_in_threadpool(jobs.get, job_id)
    if job is None and wants_html(request):
        return render_page(request, "staff/editor/not_found.html", {"job_id": job_id}, status_code=404)
    return _job_or_404(job, job_id)


def _progress(job: dict[str, Any]) -> str:
    """What a job is doing, as a sentence."""
    status = job["status"]
    if status == "queued":
        return "Queued: the sync worker will start it shortly."
    if status == "running":
        return "Running: the worker is fetching and indexing pages. This page updates when it finishes."
    if status == "succeeded":
        version = job.get("index_version")
        return f"Finished: published index version {version}." if version else "Finished: nothing to publish."
    return f"Failed: {job.get('error') or 'see the report below'}."


# --- sync history and sync now ----------------------------------------------------------------------------


def _seconds(report: dict[str, Any]) -> float | None:
    steps = [v for v in (report.get("seconds") or {}).values() if isinstance(v, int | float)]
    return round(sum(steps), 1) if steps else None


def _job_rows(latest: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sync history table's rows: each job with its times and a one-line summary of its report."""
    return [
        {
            **job,
            "created": _when(job["created_at"]),
            "finished": _when(job["finished_at"]),
            "summary": summary_line(job["report"]) if job["report"] else "",
            "seconds": _seconds(job["report"]),
        }
        for job in latest
    ]


async def _history_page(
    request: Request, jobs: JobStore, settings: Settings, error: str | None = None, urls: str = "", mode: str = ""
) -> Response:
    latest = await run_in_threadpool(jobs.latest, HISTORY)
    context = {
        "jobs": _job_rows(latest),
        "sources": settings.sources,
        "error": error,
        "urls": urls,
        "mode": mode or "incremental",
    }
    return render_page(request, "staff/editor/sync_history.html", context, status_code=422 if error else 200)


@router.get("/editor")
async def sync_history(request: Request, staff: EditorDep, jobs: JobStoreDep, settings: SettingsDep) -> Response:
    """The latest sync jobs, newest first, with the Sync now form."""
    return await _history_page(request, jobs, settings)


def _parse_urls(text: str, settings: Settings) -> tuple[list[str], str | None]:
    """The URLs typed one a line (or comma-separated), and an error sentence when any cannot be synced."""
    urls = [u.strip() for line in text.splitlines() for u in line.split(",") if u.strip()]
    if not urls:
        return [], "Type at least one page address (one a line), or choose another kind of sync."
    if len(urls) > MAX_SYNC_URLS:
        return urls, f"At most {MAX_SYNC_URLS} addresses at once; sync every source instead."
    policy = DomainPolicy(settings.domains)
    outside = [u for u in urls if not policy.allows(u)]
    if outside:
        return urls, (
            f"These addresses are outside ALLOWED_DOMAINS ({', '.join(settings.domains)}): {', '.join(outside[:5])}."
        )
    return urls, None


@router.post("/editor/sync")
async def sync_now(
    request: Request,
    staff: EditorDep,
    _csrf: CsrfDep,
    audit: AuditDep,
    jobs: JobStoreDep,
    settings: SettingsDep,
    mode: Annotated[str, Form()] = "incremental",
    urls: Annotated[str, Form(max_length=20000)] = "",
) -> Response:
    """Queue a sync (every source, a full one, or the pages typed) and go to its page, which follows it."""
    if mode not in ("incremental", "full", "urls"):
        mode = "incremental"
    chosen: list[str] | None = None
    if mode == "urls":
        chosen, error = _parse_urls(urls, settings)
        if error:
            return await _history_page(request, jobs, settings, error, urls, mode)
    requested_by = f"staff:{staff.email}"[:REQUESTED_BY_CHARS]
    job_id = await run_in_threadpool(jobs.enqueue, chosen, mode == "full", requested_by)
    await run_in_threadpool(audit, "editor.sync", target=job_id, mode=mode, urls=chosen or [])
    return RedirectResponse(f"/staff/editor/sync/{job_id}?queued=1", status_code=303)


@router.get("/editor/sync/{job_id}")
async def sync_job(
    request: Request, job_id: str, staff: EditorDep, jobs: JobStoreDep, queued: bool = False
) -> Response:
    """One sync job: its status (followed live until it ends) and its report."""
    job = await _load_job(request, jobs, job_id)
    if isinstance(job, Response):
        return job
    flashes = [("success", "Sync queued. This page follows it until it finishes.")] if queued else []
    context = {
        "job": job,
        "created": _when(job["created_at"]),
        "finished": _when(job["finished_at"]),
        "progress": _progress(job),
        "running": job["status"] not in FINISHED,
        "view": describe_report(job["report"]),
        "flashes": flashes,
    }
    return render_page(request, "staff/editor/sync_job.html", context)


@router.get("/editor/sync/{job_id}/status")
async def sync_job_status(job_id: str, staff: EditorDep, jobs: JobStoreDep) -> JSONResponse:
    """The job's status for the page's poller: {status, done, message}."""
    job = _job_or_404(await run_in_threadpool(jobs.get, job_id), job_id)
    done = job["status"] in FINISHED
    return JSONResponse({"status": job["status"], "done": done, "message": _progress(job)})


# --- answer preview ---------------------------------------------------------------------------------------


def _sms_facts(preview: Preview) -> list[dict[str, Any]]:
    return [{"text": text, "chars": len(text), "segments": segment_count(text)} for text in preview.sms]


@router.get("/editor/preview")
async def answer_preview(
    request: Request,
    staff: EditorDep,
    rasa: RasaDep,
    settings: SettingsDep,
    q: Annotated[str, Query(max_length=MAX_QUESTION_CHARS)] = "",
) -> Response:
    """Type a question and see what web chat, SMS and email would each say. Nothing is recorded."""
    question = q.strip()
    context: dict[str, Any] = {"question": question, "preview": None}
    if question:  # Rasa's answer, or while Rasa is down or slow the degraded one customers get then
        preview = await preview_question(responder_for(rasa, settings), question, settings.sms_max_chars)
        context |= {"preview": preview, "sms": _sms_facts(preview), "main": preview.main}
    return render_page(request, "staff/editor/preview.html", context)


# --- what changed -----------------------------------------------------------------------------------------


def _current_version(settings: Settings) -> str:
    return IndexStore(settings.index_dir).current_version() or "none"


def _seen_now(rasa: RasaClient, settings: Settings) -> Any:
    """A function that asks one question again now and gives the answer as the transcript would keep it."""
    responder = responder_for(rasa, settings)

    def ask(question: str) -> SeenAnswer:
        preview = preview_question_sync(responder, question, settings.sms_max_chars)
        main = preview.main
        return SeenAnswer(
            text=redact(main.text) if main else "",
            answered=preview.answered,
            source_url=preview.source_url,
            index_version=preview.index_version,
            at=datetime.now(UTC),
        )

    return ask


def _finished_at(job: dict[str, Any]) -> datetime | None:
    return datetime.fromisoformat(job["finished_at"]) if job.get("finished_at") else None


def _digests_now(settings: Settings, version: str) -> frozenset[str]:
    """The passages' digests of the index version serving now (none before the first publish)."""
    return IndexStore(settings.index_dir).chunk_digests(version) if version != "none" else frozenset()


async def _questions_to_ask(
    store: ChannelStore, settings: Settings, job: dict[str, Any], version: str
) -> list[TopQuestion]:
    """The top questions of the last TOP_DAYS days, plus the recent ones whose quoted passage is no longer in
    the index serving now (changed or removed), each once."""
    since = datetime.now(UTC) - timedelta(days=TOP_DAYS)
    rows = await run_in_threadpool(store.messages_since, since)
    until = _finished_at(job)
    top = top_questions(rows, TOP_QUESTIONS, until=until)
    if version == "none":
        return top
    digests = await run_in_threadpool(_digests_now, settings, version)
    return with_stale(top, quoted_stale(rows, digests, until=until))


@router.get("/editor/sync/{job_id}/changes")
async def what_changed(
    request: Request,
    job_id: str,
    staff: EditorDep,
    jobs: JobStoreDep,
    store: ChannelStoreDep,
    settings: SettingsDep,
) -> Response:
    """The top questions of the last 30 days and those whose quoted passage changed: their answer before this
    sync, and now; the pages it changed."""
    job = await _load_job(request, jobs, job_id)
    if isinstance(job, Response):
        return job
    version = await run_in_threadpool(_current_version, settings)
    state: RecheckState = get_rechecks(str(settings.data_dir)).state(job_id, version)
    if state.status == "done":
        result = compare_answers(state.questions, state.answers, job["report"])
        top = state.questions
    else:
        top = await _questions_to_ask(store, settings, job, version)
        result = compare_answers(top, {}, job["report"])
    context = {
        "job": job,
        "finished": _when(job["finished_at"]),
        "version": version,
        "state": state,
        "result": result,
        "top": top,
        "pages": sync_pages(job["report"]),
        "days": TOP_DAYS,
        "stale": [q for q in top if q.stale_quote],
    }
    return render_page(request, "staff/editor/changes.html", context)


@router.post("/editor/sync/{job_id}/changes")
async def recheck_questions(
    request: Request,
    job_id: str,
    staff: EditorDep,
    _csrf: CsrfDep,
    audit: AuditDep,
    jobs: JobStoreDep,
    store: ChannelStoreDep,
    rasa: RasaDep,
    settings: SettingsDep,
) -> Response:
    """Ask the top questions (and those whose quoted passage changed) again now, in the background; the page
    shows progress, then the comparison."""
    job = await _load_job(request, jobs, job_id)
    if isinstance(job, Response):
        return job
    version = await run_in_threadpool(_current_version, settings)
    top = await _questions_to_ask(store, settings, job, version)
    state = get_rechecks(str(settings.data_dir)).start(job_id, version, top, _seen_now(rasa, settings))
    await run_in_threadpool(
        audit,
        "editor.recheck",
        target=job_id,
        index_version=version,
        questions=len(top),
        stale_quotes=sum(q.stale_quote for q in top),
    )
    log.info("re-check of sync job %s at %s: %s (%d questions)", job_id, version, state.status, state.total)
    return RedirectResponse(f"/staff/editor/sync/{job_id}/changes", status_code=303)


@router.get("/editor/sync/{job_id}/changes/status")
async def recheck_status(job_id: str, staff: EditorDep, settings: SettingsDep) -> JSONResponse:
    """The re-check's progress for the page's poller: {status, done, message}."""
    version = await run_in_threadpool(_current_version, settings)
    state = get_rechecks(str(settings.data_dir)).state(job_id, version)
    return JSONResponse({"status": state.status, "done": state.status != "running", "message": state.message})


# --- dashboard --------------------------------------------------------------------------------------------


@router.get("/dashboard")
async def dashboard(
    request: Request,
    staff: ReviewerDep,
    store: ChannelStoreDep,
    review: ReviewStoreDep,
    days: Annotated[int, Query()] = 30,
) -> Response:
    """Questions per day by channel, the answered rate, helpfulness, gaps opened and closed, top clusters."""
    days = days if days in PERIODS else 30
    end = datetime.now(UTC).date()
    since = datetime.combine(end - timedelta(days=days - 1), datetime.min.time(), tzinfo=UTC)
    daily = await run_in_threadpool(store.question_counts, days + 1)
    ratings = await run_in_threadpool(store.ratings, days + 1)
    gaps = await run_in_threadpool(gap_stats, review, since)
    board = build_dashboard(days, end, daily, ratings, gaps)
    charts = [(chart, draw(kind, chart), draw(kind, chart, narrow=True)) for kind, chart in board.charts]
    context = {"board": board, "charts": charts, "periods": PERIODS}
    return render_page(request, "staff/dashboard.html", context)
