"""GET /api/chat/notices: answers the guidance gives now to what a web chat customer asked and we could not
answer, shown on their next visit. Each is given once: the first request that gets it marks it told.

Its router carries the review loop's lifespan (channels.review.loop), so including it starts the loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from channels.deps import ChannelStoreDep
from channels.review.deps import ReviewStoreDep
from channels.review.loop import review_lifespan
from channels.review.notify import notice_web

router = APIRouter(lifespan=review_lifespan)


class NoticePublic(BaseModel):
    """One answer that is new since the customer asked: `messages` are shown like /api/chat's."""

    id: int
    question: str
    source_url: str | None
    index_version: str | None
    messages: list[dict[str, Any]]


class NoticesPublic(BaseModel):
    """The notices for one web chat session (usually none)."""

    session_id: str
    notices: list[NoticePublic]


SessionId = Annotated[str, Query(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")]


@router.get("/api/chat/notices", response_model=NoticesPublic, tags=["chat"])
async def chat_notices(session_id: SessionId, channels: ChannelStoreDep, review: ReviewStoreDep) -> NoticesPublic:
    """Answers that are new for this web chat session (each returned once), oldest first; usually none."""
    conversation = channels.conversation_key(f"web:{session_id}")
    taken = await run_in_threadpool(review.take_web_notices, conversation)
    notices = [
        NoticePublic(
            id=notification.id,
            question=item.question,
            source_url=item.answered_by_url,
            index_version=item.answered_in_version,
            messages=notice_web(item),
        )
        for notification, item in taken
    ]
    return NoticesPublic(session_id=session_id, notices=notices)
