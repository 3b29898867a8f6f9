"""The sync worker: runs queued sync jobs one at a time, and queues one on SYNC_SCHEDULE (APScheduler)."""

from __future__ import annotations

import logging
import signal
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from content_sync.errors import SyncError
from content_sync.index_store import IndexStore
from content_sync.jobs import JobStore
from content_sync.settings import SyncSettings, get_sync_settings
from content_sync.sync import run_sync

log = logging.getLogger("content_sync.worker")
POLL_SECONDS = 0.1


def run_job(settings: SyncSettings, jobs: JobStore, job: dict[str, object]) -> None:
    """Run one claimed job and record its result; a failure leaves the published version serving."""
    job_id = str(job["job_id"])
    urls = job.get("urls")
    log.info("sync job %s started (%s)", job_id, "full" if job.get("full") else urls or "incremental")
    try:
        report = run_sync(settings, urls=list(urls) if isinstance(urls, list) else None, full=bool(job.get("full")))
    except SyncError as exc:
        log.error("sync job %s failed: %s", job_id, exc)
        jobs.finish(job_id, IndexStore(settings.index_dir).current_version(), None, str(exc))
    except Exception as exc:
        log.exception("sync job %s crashed", job_id)
        jobs.finish(job_id, IndexStore(settings.index_dir).current_version(), None, f"{type(exc).__name__}: {exc}")
    else:
        log.info("sync job %s published %s: %s", job_id, report.index_version, report.summary())
        jobs.finish(job_id, report.index_version, report.to_dict(), None)


def main() -> None:
    """Run the worker until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = get_sync_settings()
    jobs = JobStore(settings.database_url)
    if jobs.fail_interrupted():
        log.warning("marked jobs left running by a stopped worker as failed")
    if IndexStore(settings.index_dir).current_version() is None:
        log.info("no index yet: queueing a first sync of %s", ", ".join(settings.sources))
        jobs.enqueue(requested_by="startup")

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        lambda: jobs.enqueue(requested_by="schedule"),
        CronTrigger.from_crontab(settings.sync_schedule, timezone="UTC"),
        id="scheduled-sync",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=300,
    )
    scheduler.start()
    log.info("scheduled incremental sync: %s (UTC)", settings.sync_schedule)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    from content_sync.embed import get_model

    get_model(settings.embedding_model)  # load once, before the first job, so publish-to-answer stays short
    while not stop.is_set():
        job = jobs.claim()
        if job is None:
            stop.wait(POLL_SECONDS)
            continue
        run_job(settings, jobs, job)
    scheduler.shutdown(wait=False)
    log.info("worker stopped")


if __name__ == "__main__":
    main()
