"""The gateway's Prometheus metrics (prometheus-client), and what `GET /metrics` reads at each scrape.

Two kinds, both documented in docs/metrics.md:
- counted as they happen in this process: reply latency per channel, and the customer turns answered, degraded
  and fallen back, per channel (`count_turn`);
- read from the stores at each scrape (`StateCollector`): queue depths, the last sync's duration, the age of
  the index version that serves. Nothing is cached between scrapes; a store that cannot be read is left out of
  that scrape and logged, and the rest are still served.

When PROMETHEUS_MULTIPROC_DIR is set (several worker processes on one machine), prometheus-client's files
there hold the counters, and `GET /metrics` adds up every process's.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector

log = logging.getLogger(__name__)

CHANNELS = ("web", "sms", "email")
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
FALLBACK_KINDS = ("answer",)  # the answering action's "I don't know" (no_match, out_of_scope, not_ready, ...)

REPLY_SECONDS = Histogram(
    "assistant_reply_seconds",
    "Seconds from a customer's message reaching the gateway to its reply, per channel (web: POST /api/chat; "
    "sms: POST /sms/twilio, the webhook's own reply).",
    ["channel"],
    buckets=LATENCY_BUCKETS,
)
TURNS = Counter("assistant_turns", "Customer messages the gateway replied to, per channel.", ["channel"])
ANSWERED = Counter(
    "assistant_answered", "Customer messages a reply answered from the guidance (answered: true).", ["channel"]
)
DEGRADED = Counter(
    "assistant_degraded",
    "Customer messages answered in degraded mode: from the index by the gateway, without Rasa.",
    ["channel"],
)
FALLBACK = Counter(
    "assistant_fallback",
    "Customer messages the answering action could not answer (no match, out of scope, not ready, ...).",
    ["channel"],
)


class _AnswerLike(Protocol):
    @property
    def answered(self) -> bool: ...
    @property
    def kind(self) -> str: ...


def count_turn(channel: str, answers: Sequence[_AnswerLike]) -> None:
    """Count one customer message and what its replies were (`answers`: the turn's Answers)."""
    TURNS.labels(channel).inc()
    answered = any(a.answered for a in answers)
    if answered:
        ANSWERED.labels(channel).inc()
    if any(getattr(a, "degraded", False) for a in answers):
        DEGRADED.labels(channel).inc()
    if not answered and any(a.kind in FALLBACK_KINDS for a in answers):
        FALLBACK.labels(channel).inc()


def observe_reply(channel: str, seconds: float) -> None:
    """Record how long one reply on `channel` took."""
    REPLY_SECONDS.labels(channel).observe(seconds)


def _gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


class StateCollector(Collector):
    """Metrics read from the stores at scrape time. Each reader is a function returning its value(s)."""

    def __init__(
        self,
        outbox: Callable[[], dict[str, int]],
        spool: Callable[[], int],
        sync_jobs: Callable[[], dict[str, int]],
        review_open: Callable[[], int],
        last_syncs: Callable[[], list[dict[str, Any]]],
        index_versions: Callable[[], list[dict[str, Any]]],
    ) -> None:
        self.outbox, self.spool, self.sync_jobs, self.review_open = outbox, spool, sync_jobs, review_open
        self.last_syncs, self.index_versions = last_syncs, index_versions

    def _read(self, what: str, reader: Callable[[], Any]) -> Any:
        try:
            return reader()
        except Exception as exc:
            log.warning("metrics: could not read %s (%s); left out of this scrape", what, type(exc).__name__)
            return None

    def collect(self) -> Iterator[Metric]:
        depth = _gauge(
            "assistant_queue_depth",
            "Work waiting: email_outbox (replies queued or being sent), email_spool (inbound mail not yet "
            "answered), sync_jobs (queued sync jobs), review_items (review items open).",
            ["queue"],
        )
        outbox = self._read("the email outbox", self.outbox)
        if outbox is not None:
            depth.add_metric(["email_outbox"], outbox.get("queued", 0) + outbox.get("sending", 0))
        spool = self._read("the email spool", self.spool)
        if spool is not None:
            depth.add_metric(["email_spool"], spool)
        jobs = self._read("the sync jobs", self.sync_jobs)
        if jobs is not None:
            depth.add_metric(["sync_jobs"], jobs.get("queued", 0))
        review = self._read("the review items", self.review_open)
        if review is not None:
            depth.add_metric(["review_items"], review)
        yield depth
        if jobs is not None:
            running = _gauge("assistant_sync_jobs_running", "Sync jobs running now.")
            running.add_metric([], jobs.get("running", 0))
            yield running
        yield from self._sync(self._read("the last sync jobs", self.last_syncs) or [])
        yield from self._index(self._read("the index versions", self.index_versions) or [])

    def _sync(self, jobs: list[dict[str, Any]]) -> Iterator[Metric]:
        finished = [j for j in jobs if j.get("status") in ("succeeded", "failed")]
        duration = _gauge(
            "assistant_last_sync_duration_seconds",
            "How long the newest succeeded sync of each kind (incremental, full, targeted) took: its report's "
            "seconds.total.",
            ["kind"],
        )
        done = _gauge(
            "assistant_last_sync_finished_timestamp_seconds",
            "When the newest sync job that ended with each status finished (Unix time).",
            ["status"],
        )
        seen_kinds: set[str] = set()
        seen_status: set[str] = set()
        for job in finished:  # newest first
            report = job.get("report") or {}
            total = (report.get("seconds") or {}).get("total")
            kind = str(report.get("kind") or ("full" if job.get("full") else "incremental"))
            if job["status"] == "succeeded" and isinstance(total, int | float) and kind not in seen_kinds:
                seen_kinds.add(kind)
                duration.add_metric([kind], float(total))
            at = _timestamp(job.get("finished_at"))
            if at is not None and job["status"] not in seen_status:
                seen_status.add(job["status"])
                done.add_metric([job["status"]], at)
        yield duration
        yield done

    def _index(self, versions: list[dict[str, Any]]) -> Iterator[Metric]:
        current = next((v for v in versions if v.get("current")), None)
        published = _timestamp(current.get("created_at")) if current else None
        age = _gauge("assistant_index_age_seconds", "Seconds since the index version that serves was published.")
        info = _gauge("assistant_index_info", "The index version that serves (always 1), with its size.", ["version"])
        chunks = _gauge("assistant_index_chunks", "Chunks in the index version that serves.")
        if current is not None and published is not None:
            age.add_metric([], max(0.0, time.time() - published))
            info.add_metric([str(current["version"])], 1)
            if isinstance(current.get("chunks"), int):
                chunks.add_metric([], current["chunks"])
        yield age
        yield info
        yield chunks


def _timestamp(value: object) -> float | None:
    """Unix time of an ISO 8601 string (naive: UTC), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def render_metrics(state: Collector | None) -> bytes:
    """The text exposition of every metric: this process's (or every process's, in multiprocess mode), plus
    `state` read now."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        registry.register(_Forward(REGISTRY))
    if state is not None:
        registry.register(state)
    return generate_latest(registry)


class _Forward(Collector):
    """The default registry's metrics (this process's counters, and the process and platform collectors)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()
