"""Sync reports made readable: counts per outcome, pages grouped by the reason they were skipped or kept.

`describe_report` takes a job's `report` (content_sync.report.SyncReport as a dict, as the job queue keeps it)
and gives the editor's pages what they show, so the templates only lay it out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

OUTCOME_LABELS = (
    ("added", "Added"),
    ("changed", "Changed"),
    ("unchanged", "Unchanged"),
    ("deleted", "Deleted"),
    ("kept", "Kept (last good content)"),
    ("skipped", "Skipped"),
)
STEP_LABELS = {
    "discover": "Discover pages",
    "fetch": "Fetch",
    "embed": "Embed",
    "publish": "Publish",
    "index": "Index",
    "total": "Total",
}


@dataclass(frozen=True)
class ReasonGroup:
    """Pages that share one reason, e.g. "outside ALLOWED_DOMAINS"."""

    reason: str
    urls: tuple[str, ...]


@dataclass(frozen=True)
class ReportView:
    """A sync report as the editor's pages show it."""

    kind: str
    published: bool
    index_version: str | None
    previous_version: str | None
    discovery_complete: bool
    discovered: int
    fetched: int
    pages: int
    chunks: int
    embedded: int
    counts: tuple[tuple[str, str, int], ...]
    lists: Mapping[str, tuple[str, ...]]
    skipped: tuple[ReasonGroup, ...]
    kept: tuple[ReasonGroup, ...]
    errors: tuple[str, ...]
    recovered: tuple[str, ...]
    seconds: tuple[tuple[str, float], ...]

    @property
    def empty(self) -> bool:
        """True when the job has no report yet (queued, running, or it failed before reporting)."""
        return not any(count for _, _, count in self.counts) and not self.discovered and not self.errors


def _urls(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def group_by_reason(items: Iterable[tuple[str, str]]) -> tuple[ReasonGroup, ...]:
    """(url, reason) pairs grouped by reason: the largest group first, then by reason; URLs sorted."""
    groups: dict[str, list[str]] = {}
    for url, reason in items:
        groups.setdefault(reason, []).append(url)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return tuple(ReasonGroup(reason, tuple(sorted(urls))) for reason, urls in ordered)


def describe_report(report: Mapping[str, Any]) -> ReportView:
    """What one sync did, from its report dict; missing fields count as nothing."""
    reasons = _mapping(report.get("reasons"))
    skipped_rows = [row for row in report.get("skipped") or [] if isinstance(row, dict)]
    skipped = group_by_reason((str(r.get("url", "")), str(r.get("reason") or "not indexed")) for r in skipped_rows)
    kept = group_by_reason((url, str(reasons.get(url) or "no reason recorded")) for url in _urls(report.get("kept")))
    lists = {name: tuple(sorted(_urls(report.get(name)))) for name, _ in OUTCOME_LABELS if name != "skipped"}
    counts = tuple(
        (name, label, len(skipped_rows) if name == "skipped" else len(lists[name])) for name, label in OUTCOME_LABELS
    )
    seconds = tuple(
        (STEP_LABELS.get(str(step), str(step).replace("_", " ").capitalize()), float(value))
        for step, value in _mapping(report.get("seconds")).items()
        if isinstance(value, int | float)
    )
    return ReportView(
        kind=str(report.get("kind") or "incremental"),
        published=bool(report.get("published")),
        index_version=report.get("index_version"),
        previous_version=report.get("previous_version"),
        discovery_complete=bool(report.get("discovery_complete", True)),
        discovered=_int(report.get("discovered")),
        fetched=_int(report.get("fetched")),
        pages=_int(report.get("pages")),
        chunks=_int(report.get("chunks")),
        embedded=_int(report.get("embedded")),
        counts=counts,
        lists=lists,
        skipped=skipped,
        kept=kept,
        errors=tuple(str(e) for e in report.get("errors") or []),
        recovered=_urls(report.get("recovered")),
        seconds=seconds,
    )


def summary_line(report: Mapping[str, Any]) -> str:
    """One line for the sync history list: "3 changed, 1 added, 120 unchanged" (non-zero counts only)."""
    view = describe_report(report)
    parts = [f"{count} {name}" for name, _label, count in view.counts if count]
    return ", ".join(parts) if parts else "no pages"
