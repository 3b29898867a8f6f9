"""200 publish webhooks at once, through the real gateway, while the real worker claims and runs sync jobs:
every URL named is synced by the job its webhook was given, and that job's report lists it.

This is the whole path end to end. The race itself (a URL merged into a job the worker had just claimed) is
narrow over HTTP, so tests/unit/test_jobs.py and test_job_queue_concurrency.py pin it down at the queue, where
the code before the fix fails every time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bench.stack import free_port
from content_sync.sample_site import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
PAGES = 200
TOKEN = "burst-test-token"
PAGE = """<!doctype html><html lang="en"><head><title>Notice {n}</title></head><body><main>
<h1>Notice {n}</h1><p>Public notice number {n} says office {n} opens at {hour} a.m. on weekdays.</p>
</main></body></html>"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "site"
    (root / "notices").mkdir(parents=True)
    for n in range(PAGES):
        (root / "notices" / f"{n}.html").write_text(PAGE.format(n=n, hour=8 + n % 3))
    locs = "".join(f"<url><loc>{{{{BASE_URL}}}}/notices/{n}.html</loc></url>" for n in range(PAGES))
    (root / "sitemap.xml").write_text(f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{locs}</urlset>')
    (root / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    server = serve_in_thread(root)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _wait_up(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the process serving {url} exited with {process.returncode}"
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


@pytest.fixture
def gateway_and_worker(site: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(tmp_path / "data"),
        "SYNC_SOURCES": site + "/sitemap.xml",
        "SYNC_WEBHOOK_TOKEN": TOKEN,
        "TWILIO_AUTH_TOKEN": "unused-here",
        "PRIVACY_KEY": "test-privacy-key-0123456789",
        "GATEWAY_PORT": str(port),
        "HF_HUB_OFFLINE": "1",
    }
    gateway = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "channels.app:create_app", "--factory", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "content_sync.schedule"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    try:
        _wait_up(f"http://127.0.0.1:{port}/static/chat.css", gateway)
        yield f"http://127.0.0.1:{port}"
    finally:
        for process in (gateway, worker):
            process.terminate()
        for process in (gateway, worker):
            process.wait(timeout=30)


def test_two_hundred_concurrent_webhooks_each_get_their_page_synced(site: str, gateway_and_worker: str) -> None:
    base = gateway_and_worker
    auth = {"Authorization": f"Bearer {TOKEN}"}
    urls = [f"{site}/notices/{n}.html" for n in range(PAGES)]

    def publish(url: str) -> tuple[str, str]:
        response = httpx.post(base + "/api/sync", json={"urls": [url]}, headers=auth, timeout=60)
        assert response.status_code == 202, response.text
        return url, response.json()["job_id"]

    with ThreadPoolExecutor(max_workers=50) as pool:
        given = dict(pool.map(publish, urls))
    jobs = set(given.values())
    assert len(jobs) < PAGES, "webhooks that arrive while a job waits join it"

    finished: dict[str, dict[str, object]] = {}
    deadline = time.monotonic() + 300
    while len(finished) < len(jobs) and time.monotonic() < deadline:
        for job_id in jobs - set(finished):
            job = httpx.get(f"{base}/api/sync/{job_id}", headers=auth, timeout=10).json()
            if job["status"] in ("succeeded", "failed"):
                finished[job_id] = job
        time.sleep(0.2)
    assert len(finished) == len(jobs), f"{len(jobs) - len(finished)} jobs never finished"
    assert all(job["status"] == "succeeded" for job in finished.values()), [
        job["error"] for job in finished.values() if job["status"] != "succeeded"
    ]
    for url, job_id in given.items():
        report = finished[job_id]["report"]
        assert isinstance(report, dict)
        synced = {*report["added"], *report["changed"], *report["unchanged"]}
        assert url in synced, f"{url} was given job {job_id}, whose report does not list it"
