"""Decide what a sync does with one page: index it, keep what it had, skip it, or delete it, with a reason.

The rules, for a page the index already has (a known page) and for a new one:

- 304, or content with the same digest: a known page is unchanged.
- Withdrawn (404 or 410, 401 or 403, robots-disallowed, noindex, not HTML or PDF, a redirect off
  ALLOWED_DOMAINS or into a disallowed path, a URL no longer allowed): a known page is deleted, a new one
  skipped.
- Transient (5xx, 429, a timeout, a DNS or connection failure): a known page is kept with its last good
  content, a new one skipped; the next sync tries again.
- No readable main content: deleted, or skipped.
- A 200 with an empty body: kept, or skipped (a failing server, most likely).
- A `<link rel=canonical>` naming another allowed page: deleted, or skipped, once that page is indexed;
  otherwise indexed itself (the sync decides this last).
- Otherwise new or changed content: added, or changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from content_sync.chunk import Chunk, digest
from content_sync.fetch import FetchResult
from content_sync.parse import ParsedPage


class Action(Enum):
    """What happens to a page."""

    INDEX = "index"
    UNCHANGED = "unchanged"
    KEEP = "keep"
    DELETE = "delete"
    SKIP = "skip"


@dataclass(frozen=True)
class Decision:
    """An action and, for anything but indexing, the reason a person reading the report needs."""

    action: Action
    reason: str | None = None


def _withdraw(known: bool, reason: str) -> Decision:
    return Decision(Action.DELETE if known else Action.SKIP, reason)


def decide(
    result: FetchResult,
    page: ParsedPage | None,
    chunks: list[Chunk],
    known: dict[str, Any] | None,
) -> Decision:
    """The decision for one fetched (and, if it had content, parsed) page. A page whose rel=canonical names
    another is decided by the sync once it knows that page's fate."""
    if result.not_modified and known:
        return Decision(Action.UNCHANGED, "not modified (HTTP 304)")
    if result.skip_reason or result.status != 200:
        reason = result.skip_reason or f"HTTP {result.status}"
        if result.transient:
            return Decision(Action.KEEP if known else Action.SKIP, f"{reason}; will try again next sync")
        if result.withdrawn:
            return _withdraw(bool(known), reason)
        return Decision(Action.KEEP if known else Action.SKIP, reason)
    if result.noindex or (page is not None and page.noindex):
        return _withdraw(bool(known), "the page asks not to be indexed (noindex)")
    if page is None:  # a 200 with an empty body: more likely a failing server than a withdrawn page
        return Decision(Action.KEEP if known else Action.SKIP, "the page came back empty; will try again next sync")
    if not chunks:
        return _withdraw(bool(known), "no readable main content")
    if known and known.get("digest") == page_digest(chunks):
        return Decision(Action.UNCHANGED, "same content")
    return Decision(Action.INDEX)


def page_digest(chunks: list[Chunk]) -> str:
    """One digest for a page: its chunks' digests in order."""
    return digest(*(c.digest for c in chunks))
