"""The real product on loopback, for the benchmarks and the integration tests.

`running_stack` starts it with the same launcher `make run` uses, on free ports in a given DATA_DIR, crawling
a site already served on loopback, with outbound mail caught by an aiosmtpd sink. The tests import it from
here; nothing in bench/ imports tests/.
"""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_UPDATES = ROOT / "data" / "sample_site_updates"
EMAIL_FROM = "help@agency.example"
# Set on every stack, so that tests can assert the contact details the replies carry.
AGENCY_CONTACT = "call the test help line on (555) 010-0199"
AGENCY_CONTACT_ES = "llame a la línea de prueba al (555) 010-0199"
ACCOUNT_HELP = "sign in to the test portal"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def process_tree(root: int) -> set[int]:
    """`root` and every process descended from it, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError, IndexError):
            pass
    found, todo = {root}, [root]
    while todo:
        pid = todo.pop()
        kids = {c for c, p in parents.items() if p == pid} - found
        found |= kids
        todo += kids
    return found


class MailSink:
    """An SMTP server on loopback that keeps what the product sends out."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        messages = self.messages

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                messages.append(BytesParser(policy=policy.default).parsebytes(envelope.content))  # type: ignore[arg-type]
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def reply_to(self, message_id: str, timeout: float = 90) -> EmailMessage | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for message in self.messages:
                if message_id in str(message.get("In-Reply-To", "")):
                    return message
            time.sleep(0.2)
        return None


# Set by the integration tests to a folder for the session: every stack's first sync takes the vectors the
# first stack embedded (EMBEDDING_CACHE_DIR, content_sync/vector_cache.py) instead of embedding the site again.
SHARED_VECTOR_CACHE = "ASSISTANT_TEST_VECTOR_CACHE"


@dataclass
class Stack:
    """Addresses and secrets of the running product."""

    gateway: str
    site: str
    site_root: Path
    smtp_port: int
    data_dir: Path
    sync_token: str
    twilio_token: str
    sink: MailSink
    env: dict[str, str] = field(default_factory=dict)
    pid: int = 0  # the launcher's; every product process is its descendant

    def chat(self, text: str, session_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"text": text} | ({"session_id": session_id} if session_id else {})
        response = httpx.post(self.gateway + "/api/chat", json=body, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def sms(self, body: str, sid: str, sender: str = "+15550104477", sign: bool = True) -> httpx.Response:
        params = {
            "From": sender,
            "To": "+15005550006",
            "Body": body,
            "MessageSid": sid,
            "AccountSid": "AC" + "0" * 32,
            "NumMedia": "0",
        }
        url = self.gateway + "/sms/twilio"
        signature = RequestValidator(self.twilio_token).compute_signature(url, params)
        headers = {"X-Twilio-Signature": signature if sign else "AAAA" + signature[4:]}
        return httpx.post(url, data=params, headers=headers, timeout=60)

    def sync(self, payload: dict[str, Any] | None = None, timeout: float = 300) -> dict[str, Any]:
        auth = {"Authorization": f"Bearer {self.sync_token}"}
        response = httpx.post(self.gateway + "/api/sync", json=payload or {}, headers=auth, timeout=30)
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            job = httpx.get(f"{self.gateway}/api/sync/{job_id}", headers=auth, timeout=10).json()
            if job["status"] in ("succeeded", "failed"):
                return job  # type: ignore[no-any-return]
            time.sleep(0.3)
        raise AssertionError(f"sync job {job_id} did not finish in {timeout} s")


def send_mail(
    port: int,
    body: str | None,
    subject: str,
    sender: str = "resident@example.org",
    headers: dict[str, str] | None = None,
    html: str | None = None,
) -> str:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, EMAIL_FROM, subject
    message_id = f"<{uuid.uuid4().hex}@customer.example>"
    message["Message-ID"] = message_id
    for key, value in (headers or {}).items():
        message[key] = value
    if body is not None:
        message.set_content(body)
    if html is not None:
        if body is None:
            message.set_content(html, subtype="html")
        else:
            message.add_alternative(html, subtype="html")
    if body is None and html is None:
        message.set_content("")
        message.replace_header("Content-Type", "image/png")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.send_message(message)
    return message_id


@contextmanager
def running_stack(
    site_url: str,
    site_root: Path,
    data_dir: Path,
    wait: float = 900,
    wrap_env: Callable[[dict[str, str]], dict[str, str]] | None = None,
    bind_host: str = "127.0.0.1",
) -> Iterator[Stack]:
    """Start every process with the launcher; stop them all (and anything left) on exit.

    Every process listens on `bind_host` (a loopback address), and the internal services are reached there.

    `wrap_env`, if given, makes the launcher's environment from the one built here (the tests use it to switch
    on their loopback-only guard in every product process).
    """
    sink = MailSink()
    sink.controller.start()
    ports = {name: free_port() for name in ("GATEWAY_PORT", "RASA_PORT", "ACTIONS_PORT", "SMTP_LISTEN_PORT")}
    gateway = f"http://{bind_host}:{ports['GATEWAY_PORT']}"
    env = {
        **os.environ,
        **{k: str(v) for k, v in ports.items()},
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite:///{data_dir / 'assistant.db'}",
        "SYNC_SOURCES": f"{site_url}/sitemap.xml",
        "ALLOWED_DOMAINS": site_url.removeprefix("http://"),
        "SYNC_WEBHOOK_TOKEN": "test-sync-token-0123456789",
        "TWILIO_AUTH_TOKEN": "test-twilio-token-0123456789",
        "PUBLIC_BASE_URL": gateway,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(sink.port),
        "EMAIL_FROM": EMAIL_FROM,
        "BIND_HOST": bind_host,
        "RASA_URL": f"http://{bind_host}:{ports['RASA_PORT']}",
        "ACTIONS_URL": f"http://{bind_host}:{ports['ACTIONS_PORT']}",
        "RASA_TOKEN": "test-rasa-token-0123456789",
        "ACTIONS_TOKEN": "test-actions-token-0123456789",
        "PRIVACY_KEY": "test-privacy-key-0123456789",
        "SAMPLE_SITE_PORT": str(free_port()),
        "AGENCY_CONTACT": AGENCY_CONTACT,
        "AGENCY_CONTACT_ES": AGENCY_CONTACT_ES,
        "ACCOUNT_HELP": ACCOUNT_HELP,
        "RATE_LIMIT_PER_CLIENT": "0",  # every test request comes from 127.0.0.1 (test_limits.py turns it on)
        # A loaded two-core machine answers the first questions slowly (models loading in several processes):
        # the product's 5 s / 10 s would turn those into degraded or "passed on" replies. Tests of those set
        # their own.
        "RASA_TIMEOUT": "30",
        "ANSWER_TIMEOUT": "60",
        "INBOUND_LEASE_SECONDS": "90",
    }
    env.pop("VIRTUAL_ENV", None)
    if shared := os.environ.get(SHARED_VECTOR_CACHE):
        env["EMBEDDING_CACHE_DIR"] = shared  # every stack of a test session embeds each passage once
    if wrap_env is not None:
        env = wrap_env(env)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "launcher.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "channels.launcher", "--no-write-env"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    stack = Stack(
        gateway,
        site_url,
        site_root,
        ports["SMTP_LISTEN_PORT"],
        data_dir,
        env["SYNC_WEBHOOK_TOKEN"],
        env["TWILIO_AUTH_TOKEN"],
        sink,
        env,
        process.pid,
    )
    try:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError("the launcher exited:\n" + log_path.read_text()[-4000:])
            try:
                if httpx.get(gateway + "/healthz", timeout=3).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        else:
            raise AssertionError("the stack never became healthy:\n" + log_path.read_text()[-4000:])
        yield stack
    finally:
        pids = process_tree(process.pid)
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_port_open(p, bind_host) for p in ports.values()):
            time.sleep(0.25)
        still_open = [name for name, p in ports.items() if _port_open(p, bind_host)]
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        sink.controller.stop()
        log.close()
    if still_open:
        raise AssertionError(f"SIGTERM left {still_open} open after 15 s; see {log_path}")


def apply_updates(root: Path) -> None:
    """Publish data/sample_site_updates onto the site served from `root`: new and changed pages, removals."""
    import shutil

    for path in SAMPLE_UPDATES.rglob("*"):
        if path.is_file() and path.name not in ("REMOVED", "CHANGES.md"):
            target = root / path.relative_to(SAMPLE_UPDATES)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    for line in (SAMPLE_UPDATES / "REMOVED").read_text().split():
        (root / line).unlink()
