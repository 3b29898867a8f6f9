"""The sync worker: runs queued sync jobs one at a time, and queues one on SYNC_SCHEDULE (APScheduler).

Each job runs in a child process of its own (`run_job_in_child`), started for the job and gone when it ends:
the embedding model, torch and the crawl's pages live only there, so an idle worker holds no model (about
120 MB RSS against 480-770 MB when the model stayed loaded; docs/benchmarks.md). Starting the child and loading the
model add a few seconds to a job that embeds something; a job with nothing new to embed loads no model. The
child dies with the worker (PR_SET_PDEATHSIG on Linux), and a child that dies leaves its job failed, with the
published version still serving.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import signal
import sys
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from content_sync.errors import SyncError
from content_sync.heartbeat import Heartbeat
from content_sync.index_store import IndexStore
from content_sync.jobs import JobStore, SchedulerLease
from content_sync.logs import configure_logging
from content_sync.settings import SyncSettings, get_sync_settings
from content_sync.sync import run_sync

log = logging.getLogger("content_sync.worker")
POLL_SECONDS = 0.1
STOP_GRACE_SECONDS = 5.0  # a child still running this long after SIGTERM is killed


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


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (a worker killed with -9 takes its job along)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _job_child(job: dict[str, object]) -> None:
    """The child's whole life: run one claimed job, record its result, exit (the model goes with it)."""
    _die_with_parent()
    configure_logging("worker")  # one JSON object a line (content_sync.logs)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the worker decides
    settings = get_sync_settings()
    run_job(settings, JobStore(settings.database_url), job)


def run_job_in_child(settings: SyncSettings, jobs: JobStore, job: dict[str, object], stop: threading.Event) -> None:
    """Run one claimed job in a fresh child process and wait for it; stopping the worker stops the child.

    A child that ends without recording the job (killed, out of memory, stopped) leaves it failed here.
    """
    job_id = str(job["job_id"])
    child = multiprocessing.get_context("spawn").Process(target=_job_child, args=(job,), name=f"sync-{job_id[:8]}")
    child.start()
    while child.is_alive():
        child.join(POLL_SECONDS * 5)
        if stop.is_set():
            child.terminate()
            child.join(STOP_GRACE_SECONDS)
            if child.is_alive():
                child.kill()
                child.join()
    if child.exitcode != 0:
        current = jobs.get(job_id)
        if current is not None and current["status"] == "running":
            why = "stopped with the worker" if stop.is_set() else f"ended with exit code {child.exitcode}"
            log.error("sync job %s: its process %s", job_id, why)
            jobs.finish(
                job_id,
                IndexStore(settings.index_dir).current_version(),
                None,
                f"the sync process {why} before the job finished; the published version still serves; sync again",
            )


LEASE_SECONDS = 2.0
"""How often a worker tries for the scheduler's lease: a standby takes over this soon after the holder dies."""


class Scheduling:
    """The scheduled sync is queued only by the worker holding the scheduler lease (`SchedulerLease`), so
    several workers on one PostgreSQL queue run exactly one schedule between them."""

    def __init__(self, jobs: JobStore) -> None:
        self.jobs = jobs
        self.lease = SchedulerLease(jobs)
        self.leading = False

    def check(self) -> bool:
        """Try for (or keep) the lease; says so in the log whenever this worker starts or stops leading."""
        held = self.lease.held()
        if held != self.leading:
            log.info("this worker %s the sync schedule", "now runs" if held else "no longer runs")
            self.leading = held
        return held

    def keep(self, stop: threading.Event) -> None:
        """Try for (or keep) the lease every LEASE_SECONDS until `stop` (the worker's thread for it)."""
        while not stop.wait(LEASE_SECONDS):
            self.check()

    def queue_scheduled(self) -> None:
        """The cron job: queue an incremental sync, if this worker is the scheduler."""
        if self.check():
            self.jobs.enqueue(requested_by="schedule")


def main() -> None:
    """Run the worker until SIGTERM or SIGINT."""
    configure_logging("worker")  # one JSON object a line (content_sync.logs)
    settings = get_sync_settings()
    jobs = JobStore(settings.database_url)
    if jobs.fail_interrupted():
        log.warning("marked jobs left running by a stopped worker as failed")
    if IndexStore(settings.index_dir).current_version() is None:
        log.info("no index yet: queueing a first sync of %s", ", ".join(settings.sources))
        jobs.enqueue(requested_by="startup")

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduling = Scheduling(jobs)
    scheduling.check()
    scheduler.add_job(
        scheduling.queue_scheduled,
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
    threading.Thread(target=scheduling.keep, args=(stop,), name="scheduler-lease", daemon=True).start()
    heartbeat = Heartbeat(settings.data_dir, "worker").start()  # `assistant status` reads it (no HTTP port)
    while not stop.is_set():
        heartbeat.state = "idle"
        job = jobs.claim()
        if job is None:
            stop.wait(POLL_SECONDS)
            continue
        heartbeat.state = f"running job {job['job_id']}"
        run_job_in_child(settings, jobs, job, stop)
        jobs.release(str(job["job_id"]))  # PostgreSQL: the job's lock, which told other workers it was alive
    heartbeat.stop()
    scheduler.shutdown(wait=False)
    scheduling.lease.release()  # a standby worker takes the schedule over at its next try
    log.info("worker stopped")


if __name__ == "__main__":
    main()
