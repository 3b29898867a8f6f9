"""Limits and headers against the real product (channels/guards, ADR 15).

- On the shared stack (RATE_LIMIT_PER_SESSION at its default; RATE_LIMIT_PER_CLIENT=0 there, since every test
  comes from 127.0.0.1): forty messages in a few seconds in one conversation meet a 429, and nothing is 5xx.
- Two more gateway processes of this module's own, answering through the shared stack's Rasa, share their
  counts in the real Redis (RATE_LIMIT_STORAGE), with a small RATE_LIMIT_PER_CLIENT that the test exceeds and
  TRUSTED_PROXIES=127.0.0.1, so each test client is told apart by the X-Forwarded-For it sends.
- The security headers as uvicorn serves them, and headless Chromium showing no CSP violation on the staff
  sign-in page and the chat demo page.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from playwright.sync_api import Browser, expect, sync_playwright

from bench.stack import ROOT, free_port, process_tree
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration
REDIS_URL = "redis://127.0.0.1:6379/0"
PER_CLIENT = 6
QUESTION = "How much is the Burial Allowance for a cremation?"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"]
CSP_RECORDER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def post_all(requests: list[tuple[str, dict[str, Any], dict[str, str]]]) -> list[httpx.Response]:
    """Send every (url, json, headers) at once, as a flood would: the limits decide before Rasa is asked, so how
    long Rasa takes to answer the accepted ones does not matter."""

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as client:
            return list(await asyncio.gather(*(client.post(u, json=j, headers=h) for u, j, h in requests)))

    return asyncio.run(run())


def test_forty_messages_in_one_conversation_meet_429_and_nothing_is_5xx(stack: Stack) -> None:
    per_session = int(stack.env.get("RATE_LIMIT_PER_SESSION", "20"))
    session = f"limits-{uuid.uuid4().hex}"
    texts = [QUESTION if n % 2 else "hello" for n in range(40)]
    replies = post_all([(stack.gateway + "/api/chat", {"session_id": session, "text": t}, {}) for t in texts])
    statuses = [r.status_code for r in replies]
    assert all(s < 500 for s in statuses), statuses
    assert statuses.count(200) == per_session and statuses.count(429) == 40 - per_session, statuses
    for refused in (r for r in replies if r.status_code == 429):
        wait = int(refused.headers["retry-after"])
        assert 1 <= wait <= 60 and refused.json()["error"].endswith(f"try again in {wait} s")
        assert "in one conversation" in refused.json()["error"]
    assert all(r.json()["session_id"] == session and r.json()["messages"] for r in replies if r.status_code == 200)
    # Another conversation from the same address is answered meanwhile.
    other = httpx.post(stack.gateway + "/api/chat", json={"text": "hello"}, timeout=120)
    assert other.status_code == 200 and other.json()["messages"]


@pytest.fixture(scope="module")
def replicas(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two gateways on their own ports and databases, limits in the shared Redis, Rasa the shared stack's."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    processes, urls, logs = [], [], []
    for n in range(2):
        data = tmp_path_factory.mktemp(f"limits-gateway-{n}")
        port = free_port()
        env = {
            **stack.env,
            "GATEWAY_PORT": str(port),
            "DATA_DIR": str(data),
            "DATABASE_URL": f"sqlite:///{data / 'gateway.db'}",
            "RATE_LIMIT_STORAGE": REDIS_URL,
            "RATE_LIMIT_PER_CLIENT": str(PER_CLIENT),
            "RATE_LIMIT_PER_SESSION": "0",
            "TRUSTED_PROXIES": "127.0.0.1",
        }
        command = [sys.executable, "-m", "uvicorn", "channels.app:create_gateway", "--factory", "--host"]
        command += ["127.0.0.1", "--port", str(port), "--no-access-log", "--no-proxy-headers", "--http", "h11"]
        logs.append(data / "gateway.log")
        with logs[-1].open("w") as log:  # the child keeps its own descriptor
            processes.append(
                subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 90
        for url, process, log_path in zip(urls, processes, logs, strict=True):
            while True:
                assert process.poll() is None, "the gateway exited:\n" + log_path.read_text()[-3000:]
                try:
                    if httpx.get(url + "/openapi.json", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"the gateway on {url} did not start"
                time.sleep(0.3)
        yield urls
    finally:
        for process in processes:
            pids = process_tree(process.pid)
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                for pid in pids:
                    subprocess.run(["kill", "-9", str(pid)], check=False)


def test_replicas_sharing_redis_count_one_client_together(replicas: list[str]) -> None:
    client = f"2001:db8:{uuid.uuid4().hex[:4]}::{uuid.uuid4().hex[:4]}"  # random: an earlier run's counts linger
    other = f"203.0.113.{uuid.uuid4().int % 254 + 1}"
    forged = [f"6.6.6.{n}, {client}" for n in range(PER_CLIENT + 4)]  # a forged first hop, then our proxy's
    replies = post_all(
        [(replicas[n % 2] + "/api/chat", {"text": "hello"}, {"X-Forwarded-For": f}) for n, f in enumerate(forged)]
    )
    statuses = [r.status_code for r in replies]
    assert sorted(statuses) == [200] * PER_CLIENT + [429] * 4, statuses  # 6 in all, not 6 on each replica
    refused = next(r for r in replies if r.status_code == 429)
    assert "from one network address" in refused.json()["error"] and 1 <= int(refused.headers["retry-after"]) <= 60
    elsewhere = httpx.post(
        replicas[1] + "/api/chat", json={"text": "hello"}, headers={"X-Forwarded-For": other}, timeout=120
    )
    assert elsewhere.status_code == 200 and elsewhere.json()["messages"]  # another client's own budget


def test_the_real_server_sends_the_security_headers(stack: Stack) -> None:
    page = httpx.get(stack.gateway + "/", timeout=30)
    login = httpx.get(stack.gateway + "/staff/login", timeout=30)
    api = httpx.post(stack.gateway + "/api/chat", json={"text": ""}, timeout=30)
    for response in (page, login, api):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "unsafe-inline" not in response.headers["content-security-policy"]
        assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'self' " + stack.site in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
    assert login.headers["x-frame-options"] == "DENY" and api.headers["x-frame-options"] == "DENY"


def test_an_oversized_header_section_is_refused_before_any_route(stack: Stack) -> None:
    host, port = stack.gateway.removeprefix("http://").split(":")
    reply = b""
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        try:
            conn.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: gateway\r\n")
            for _ in range(256):  # 1 MB of headers, in pieces as a slow client sends them
                conn.sendall(b"X-Pad: " + b"a" * 4000 + b"\r\n")
            conn.sendall(b"\r\n")
            reply = conn.recv(200)
        except ConnectionError:
            pass  # dropped while we were still sending: refused too
    # h11 with --h11-max-incomplete-event-size (the Procfile) refuses it; httptools would read it all and answer.
    assert not reply.startswith(b"HTTP/1.1 200"), reply


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


def test_chromium_sees_no_csp_violation_on_the_sign_in_and_chat_pages(browser: Browser, stack: Stack) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.add_init_script(CSP_RECORDER)
        page.goto(stack.gateway + "/staff/login")
        expect(page.get_by_role("heading", name="Staff sign in")).to_be_visible()
        show = page.get_by_role("button", name="Show password")
        show.click()  # USWDS's script works under the policy
        expect(page.get_by_role("button", name="Hide password")).to_be_visible()
        page.wait_for_timeout(200)
        assert page.evaluate("window.__csp") == [], "the sign-in page"

        page.goto(stack.gateway + "/")
        page.locator(".psa-chat__launcher").filter(has_text="Ask a question").click()
        box = page.get_by_label("Your question")
        expect(box).to_be_focused()
        with page.expect_response(lambda r: "/api/chat" in r.url and r.request.method == "POST", timeout=90_000):
            box.fill(QUESTION)
            box.press("Enter")
        expect(page.locator(".psa-chat__msg--bot").get_by_role("link").first).to_be_visible()
        page.wait_for_timeout(300)
        assert page.evaluate("window.__csp") == [], "the chat page"
    finally:
        context.close()
