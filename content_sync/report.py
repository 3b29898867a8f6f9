"""The sync report: a value object that counts what one sync did to each page, and why."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

OUTCOMES = ("added", "changed", "unchanged", "deleted", "skipped", "kept")
"""`kept`: a known page that keeps its last good content because this sync could not tell it is gone: it failed
for a moment (5xx, timeout, DNS, an empty reply, an unreadable PDF), discovery stopped before it (the page cap,
a failing start page), or the sync would have deleted too much of the site at once."""


@dataclass
class SyncReport:
    """What one sync did, page by page with a reason for every page that was not simply indexed, plus
    errors and the seconds each step took."""

    kind: str = "incremental"
    index_version: str | None = None
    previous_version: str | None = None
    published: bool = False
    discovered: int = 0
    discovery_complete: bool = True
    fetched: int = 0
    unchanged: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0
    from_cache: int = 0  # passages whose vectors came from the vector cache instead of the model
    pages: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def record(self, url: str, outcome: str, reason: str | None = None) -> None:
        """Count one page's outcome; every outcome but a plain add or change carries its reason."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; use one of {', '.join(OUTCOMES)}")
        if outcome == "skipped":
            self.skipped.append({"url": url, "reason": reason or "not indexed"})
        else:
            getattr(self, outcome).append(url)
        if reason:
            self.reasons[url] = reason

    def skip(self, url: str, reason: str) -> None:
        self.record(url, "skipped", reason)

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Add the time spent in the block to `seconds[step]`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = round(self.seconds.get(step, 0.0) + time.perf_counter() - start, 3)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, int]:
        """Counts for a one-line view."""
        return {
            "pages": self.pages,
            "added": len(self.added),
            "changed": len(self.changed),
            "unchanged": len(self.unchanged),
            "deleted": len(self.deleted),
            "kept": len(self.kept),
            "skipped": len(self.skipped),
            "chunks": self.chunks,
            "embedded": self.embedded,
            "from_cache": self.from_cache,
        }
