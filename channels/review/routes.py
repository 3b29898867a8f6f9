"""The review queue's staff pages under /staff/review: the queue, a cluster, an item, a transcript, the CSV.

Reviewers (and editors and admins) read every page, and can assign, change status and add notes: working the
queue is the reviewer's job. Every change, every CSV download and every transcript opened is written to the
staff audit log.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from channels.deps import ChannelStoreDep
from channels.review.deps import ReviewStoreDep
from channels.review.export import csv_chunks
from channels.review.store import TRANSITIONS, QueueFilter, ReviewError
from channels.staff.auth import AuditDep, CsrfDep, require_role
from channels.staff.deps import StaffStoreDep
from channels.staff.pages import STAFF_HEADERS, render_page
from channels.staff.store import ROLES, StaffMember

router = APIRouter(prefix="/staff/review", tags=["staff"])
ReviewerStaff = Annotated[StaffMember, Depends(require_role("reviewer"))]
FormField = Annotated[str, Form(max_length=4000)]
ConversationId = Annotated[str, Path(pattern=r"^[A-Za-z0-9:_.@-]{8,160}$")]
PAGE_SIZE = 50

CHANNELS = {"web": "Web chat", "sms": "SMS", "email": "Email"}
REASONS = {
    "no_match": "No matching guidance",
    "out_of_scope": "Out of scope",
    "personal_account": "About their own case",
    "injection": "Tried to instruct the assistant",
    "not_ready": "Index not ready",
    "not_helpful": "Rated not helpful",
    "handoff": "Asked for a person",
}
STATUS_LABELS = {
    "open": "Open (new or needs content)",
    "new": "New",
    "needs_content": "Needs content",
    "answered_by_update": "Answered by an update",
    "closed": "Closed",
    "wont_fix": "Won’t fix",
}
SORTS = {"count": "Most asked", "latest": "Most recent"}
DONE = {
    "assigned": ("success", "Assigned. The cluster needs content now."),
    "status": ("success", "Status changed."),
    "noted": ("success", "Note added."),
}


def _day(value: str, label: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ReviewError(f"“{value}” is not a date for {label}: use YYYY-MM-DD, e.g. 2026-12-01") from None


def _queue_filter(
    status: str, channel: str, reason: str, since: str, until: str, q: str, sort: str
) -> tuple[QueueFilter, str | None]:
    """The filter the form asks for, and what could not be read in it (shown above the results)."""
    problem = None
    try:
        first, last = _day(since, "From"), _day(until, "To")
    except ReviewError as exc:
        first = last = None
        problem = str(exc)
    queue = QueueFilter(
        status=status if status in STATUS_LABELS else None,
        channel=channel if channel in CHANNELS else None,
        reason=reason if reason in REASONS else None,
        since=datetime.combine(first, time.min, UTC) if first else None,
        until=datetime.combine(last + timedelta(days=1), time.min, UTC) if last else None,
        search=q.strip()[:200] or None,
        sort=sort if sort in SORTS else "count",
    )
    return queue, problem


def _flashes(done: str, error: str) -> list[tuple[str, str]]:
    flashes = [DONE[done]] if done in DONE else []
    if error:
        flashes.append(("error", error[:300]))
    return flashes


@router.get("", response_class=HTMLResponse, summary="The review queue")
def queue_page(
    request: Request,
    review: ReviewStoreDep,
    staff: ReviewerStaff,
    status: str = "open",
    channel: str = "",
    reason: str = "",
    since: str = "",
    until: str = "",
    q: str = "",
    sort: str = "count",
    page: int = 1,
) -> Response:
    """Clusters of questions the assistant could not answer, most asked first, with filters and the CSV."""
    queue, problem = _queue_filter(status, channel, reason, since, until, q, sort)
    page = max(page, 1)
    total = review.count_clusters(queue)
    clusters = review.clusters(queue, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    filters = {"status": status, "channel": channel, "reason": reason, "since": since, "until": until, "q": q}
    query = {k: v for k, v in {**filters, "sort": sort}.items() if v}
    context: dict[str, Any] = {
        "clusters": clusters,
        "total": total,
        "page": page,
        "pages": max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        "filters": filters,
        "sort": queue.sort,
        "problem": problem,
        "waiting": review.count_unclustered(),
        "query": urlencode(query),
        "page_query": lambda n: urlencode({**query, "page": n}),
        "channels": CHANNELS,
        "reasons": REASONS,
        "statuses": STATUS_LABELS,
        "sorts": SORTS,
    }
    return render_page(request, "staff/review/queue.html", context)


@router.get("/export.csv", summary="The review queue as CSV")
def export_csv(
    review: ReviewStoreDep,
    staff: ReviewerStaff,
    audit: AuditDep,
    status: str = "",
    channel: str = "",
    reason: str = "",
    since: str = "",
    until: str = "",
    q: str = "",
) -> Response:
    """Every item the filter keeps (by the item's own status), as the CSV `assistant review export` prints."""
    queue, problem = _queue_filter(status, channel, reason, since, until, q, "latest")
    if problem:
        return Response(problem + "\n", status_code=400, media_type="text/plain", headers=STAFF_HEADERS)
    items = review.items(queue=queue)
    asked = {"status": status, "channel": channel, "reason": reason, "since": since, "until": until, "q": q}
    audit("review.export", target="csv", rows=len(items), filters={k: v for k, v in asked.items() if v})
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    headers = {**STAFF_HEADERS, "Content-Disposition": f'attachment; filename="review-queue-{stamp}.csv"'}
    return StreamingResponse(csv_chunks(items), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/clusters/{cluster_id}", response_class=HTMLResponse, summary="One cluster of the review queue")
def cluster_page(
    request: Request,
    review: ReviewStoreDep,
    staff_store: StaffStoreDep,
    staff: ReviewerStaff,
    cluster_id: int,
    done: str = "",
    error: str = "",
) -> Response:
    """A cluster: its questions on every channel, notes, and the forms to assign it and change its status."""
    cluster = review.cluster(cluster_id)
    if cluster is None:
        return render_page(
            request,
            "staff/review/missing.html",
            {"message": f"There is no cluster {cluster_id}. It may have been merged, or the link is wrong."},
            status_code=404,
        )
    editors = [m for m in staff_store.list_staff() if not m.disabled and ROLES.index(m.role) >= ROLES.index("editor")]
    context: dict[str, Any] = {
        "cluster": cluster,
        "items": review.items(cluster_id),
        "notes": review.notes(cluster_id),
        "moves": TRANSITIONS[cluster.status],
        "editors": editors,
        "flashes": _flashes(done, error),
        "channels": CHANNELS,
        "reasons": REASONS,
        "statuses": STATUS_LABELS,
    }
    return render_page(request, "staff/review/cluster.html", context)


def _back(cluster_id: int, done: str = "", error: str = "") -> RedirectResponse:
    query = urlencode({"done": done} if done else {"error": error})
    return RedirectResponse(f"/staff/review/clusters/{cluster_id}?{query}", status_code=303)


def _check_assignee(assignee: str, staff_store: StaffStoreDep) -> str:
    """An active editor's (or admin's) email, or an http(s) page URL; else ReviewError saying which is wanted."""
    assignee = assignee.strip()
    if "@" in assignee and "://" not in assignee:
        member = staff_store.staff_by_email(assignee)
        if member is None or member.disabled or ROLES.index(member.role) < ROLES.index("editor"):
            raise ReviewError(
                f"{assignee} is not an active editor's account: pick an editor from the list, or give a page URL"
            )
        return member.email
    parts = urlsplit(assignee)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ReviewError("give an editor's email address, or the full URL (https://…) of the page that should answer")
    return assignee


@router.post("/clusters/{cluster_id}/assign", summary="Assign a cluster to an editor or a page")
def assign(
    review: ReviewStoreDep,
    staff_store: StaffStoreDep,
    staff: ReviewerStaff,
    audit: AuditDep,
    _: CsrfDep,
    cluster_id: int,
    assignee: FormField = "",
) -> Response:
    """Assign the cluster: it needs content from that editor, or on that page."""
    try:
        who = _check_assignee(assignee, staff_store)
        old, new = review.assign(cluster_id, who, staff.email)
    except ReviewError as exc:
        return _back(cluster_id, error=str(exc))
    audit("review.assign", target=f"cluster:{cluster_id}", assigned_to=who, status_from=old, status_to=new)
    return _back(cluster_id, done="assigned")


@router.post("/clusters/{cluster_id}/status", summary="Change a cluster's status")
def set_status(
    review: ReviewStoreDep,
    staff: ReviewerStaff,
    audit: AuditDep,
    _: CsrfDep,
    cluster_id: int,
    status: FormField = "",
) -> Response:
    """Move the cluster, and its items, to another status."""
    try:
        old, new = review.set_status(cluster_id, status, staff.email)
    except ReviewError as exc:
        return _back(cluster_id, error=str(exc))
    audit("review.status", target=f"cluster:{cluster_id}", status_from=old, status_to=new)
    return _back(cluster_id, done="status")


@router.post("/clusters/{cluster_id}/notes", summary="Add a note to a cluster")
def add_note(
    review: ReviewStoreDep,
    staff: ReviewerStaff,
    audit: AuditDep,
    _: CsrfDep,
    cluster_id: int,
    text: FormField = "",
) -> Response:
    """Keep a note on the cluster: what was found, or decided."""
    try:
        note = review.add_note(cluster_id, staff.email, text)
    except ReviewError as exc:
        return _back(cluster_id, error=str(exc))
    audit("review.note", target=f"cluster:{cluster_id}", note_id=note.id)
    return _back(cluster_id, done="noted")


@router.get("/items/{item_id}", response_class=HTMLResponse, summary="One question of the review queue")
def item_page(request: Request, review: ReviewStoreDep, staff: ReviewerStaff, item_id: int) -> Response:
    """An item: where and when it was asked (each conversation's transcript one click away), and who is told."""
    item = review.item(item_id)
    if item is None:
        return render_page(
            request, "staff/review/missing.html", {"message": f"There is no review item {item_id}."}, status_code=404
        )
    context: dict[str, Any] = {
        "item": item,
        "conversations": review.conversations(item_id),
        "notifications": review.notifications(item_id),
        "channels": CHANNELS,
        "reasons": REASONS,
        "statuses": STATUS_LABELS,
    }
    return render_page(request, "staff/review/item.html", context)


@router.get("/conversations/{conversation}", response_class=HTMLResponse, summary="A conversation's transcript")
async def transcript_page(
    request: Request,
    review: ReviewStoreDep,
    channels: ChannelStoreDep,
    staff: ReviewerStaff,
    audit: AuditDep,
    conversation: ConversationId,
) -> Response:
    """The redacted transcript of a conversation in which a review item was asked, on whichever channel."""
    if not await run_in_threadpool(review.knows_conversation, conversation):
        return render_page(
            request,
            "staff/review/missing.html",
            {"message": "No review item was asked in that conversation, so its transcript is not shown here."},
            status_code=404,
        )
    messages = await run_in_threadpool(channels.transcript, conversation)
    await run_in_threadpool(audit, "review.transcript", f"conversation:{conversation[:16]}", messages=len(messages))
    context = {"conversation": conversation, "messages": messages, "channels": CHANNELS, "reasons": REASONS}
    return render_page(request, "staff/review/transcript.html", context)
