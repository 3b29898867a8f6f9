"""Faults against the real product on loopback: a gateway killed between receipt and reply, and a sync killed
at random points. One product for the module (its site changes, so it is its own), plus a second gateway of the
test's own on the same database, the one that is killed and started again.

The email half of the issue's fault list ("SMTP stopped with 100 replies queued") is
tests/integration/test_email_outbox.py's first test.
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from bench.stack import ROOT, Stack, apply_updates, free_port, running_stack
from bench.twilio_standin import TwilioStandin
from channels.privacy import pseudonym
from channels.store import ChannelStore
from content_sync.index_store import IndexStore
from tests.conftest import loopback_only_env
from tests.integration.conftest import QUESTIONS, SAMPLE_SITE, served_site_copy

pytestmark = pytest.mark.integration
LEASE = 8  # INBOUND_LEASE_SECONDS of the test's own gateway: how soon it takes over what a killed one held
ANSWER_TIMEOUT = 6  # its ANSWER_TIMEOUT: every answer it makes is done within the lease
SEED = 16
KILLS = 20
OUR_NUMBER = "+15005550006"
APPEALS = "How long do I have to ask for a fair hearing?"  # 30 days on the sample site, 60 after the update
# The fixture's question about that changed fact. Which page answers APPEALS itself is retrieval quality (make
# eval): after the update it can be the fair hearing page, whose passage has no deadline.
DEADLINE = QUESTIONS["after_update"][0]["question"]


class PausableRelay:
    """A TCP relay on loopback in front of Rasa. While paused it holds what the gateway sends, so an answer is in
    flight for as long as the test likes; connections it held are dropped, never delivered, when it resumes
    (their gateway was killed meanwhile)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self.open = threading.Event()
        self.open.set()
        self.held = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port), backlog=64)
        threading.Thread(target=self._accept, daemon=True).start()

    def pause(self) -> None:
        self.open.clear()

    def resume(self) -> None:
        self.open.set()

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client, not self.open.is_set()), daemon=True).start()

    def _serve(self, client: socket.socket, held: bool) -> None:
        with client:
            if held:
                self._hold()
                return  # its gateway was killed while it waited: nothing reaches Rasa
            with socket.create_connection(("127.0.0.1", self.target), timeout=5) as upstream:
                peers = {client: upstream, upstream: client}
                try:
                    while True:
                        ready, _, _ = select.select(list(peers), [], [], 120)
                        if not ready:
                            return
                        for sock in ready:
                            if sock is client and not self.open.is_set():
                                self._hold()  # a request on a kept-alive connection: held, then dropped
                                return
                            data = sock.recv(65536)
                            if not data:
                                return
                            peers[sock].sendall(data)
                except OSError:
                    return

    def _hold(self) -> None:
        with self._lock:
            self.held += 1
        self.open.wait()


class OwnGateway:
    """A second gateway process, started from the Procfile's gateway line on its own port, sharing the product's
    database, Rasa (through the relay) and index; Twilio's REST API is the stand-in."""

    def __init__(self, stack: Stack, relay: PausableRelay, standin: TwilioStandin, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {
            **stack.env,
            **standin.env(),
            "GATEWAY_PORT": str(self.port),
            "PUBLIC_BASE_URL": self.url,
            "RASA_URL": f"http://127.0.0.1:{relay.port}",
            "INBOUND_LEASE_SECONDS": str(LEASE),
            "ANSWER_TIMEOUT": str(ANSWER_TIMEOUT),
            "RASA_TIMEOUT": "5",
            "SMS_INLINE_TIMEOUT": "0.3",
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), stack.env.get("PYTHONPATH", "")) if p),
        }
        line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("gateway:"))
        words = {"$BIND_HOST": "127.0.0.1", "$GATEWAY_PORT": str(self.port)}
        self.command = [words.get(w, w) for w in shlex.split(line.partition(":")[2])]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the test's gateway exited:\n" + self.log.read_text()[-3000:]
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code in (200, 503):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("the test's gateway did not start:\n" + self.log.read_text()[-3000:])

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def sms(self, body: str, sid: str, sender: str, token: str) -> httpx.Response:
        params = {"From": sender, "To": OUR_NUMBER, "Body": body, "MessageSid": sid, "AccountSid": "AC" + "0" * 32}
        url = self.url + "/sms/twilio"
        signature = RequestValidator(token).compute_signature(url, params)
        return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=30)


class Faults:
    def __init__(self, stack: Stack, standin: TwilioStandin, relay: PausableRelay, gateway: OwnGateway) -> None:
        self.stack, self.standin, self.relay, self.gateway = stack, standin, relay, gateway
        self.key = stack.env["PRIVACY_KEY"]
        self.store = ChannelStore(stack.env["DATABASE_URL"], migrate=False, privacy_key=self.key)

    def turns_in(self, sender_id: str) -> int:
        """How many customer messages the transcript holds for a Rasa sender id (each answered turn is one)."""
        rows = self.store.transcript(self.store.conversation_key(sender_id))
        return sum(1 for r in rows if r["direction"] == "in")


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faults]:
    relay: list[PausableRelay] = []
    with TwilioStandin() as standin:

        def env(base: dict[str, str]) -> dict[str, str]:
            relay.append(PausableRelay(int(base["RASA_PORT"])))
            # The product's own gateway has no Twilio account (so no SMS retry loop) and the default lease: what
            # the killed gateway held is answered by the test's gateway once it is back, not by this one.
            assert base["TWILIO_AUTH_TOKEN"] == standin.auth_token
            return loopback_only_env({**base, "RATE_LIMIT_PER_CLIENT": "0"})

        data = tmp_path_factory.mktemp("faults-data")
        with (
            served_site_copy(tmp_path_factory.mktemp("faults-site")) as (site_url, site_root),
            running_stack(site_url, site_root, data, wrap_env=env) as stack,
        ):
            gateway = OwnGateway(stack, relay[0], standin, data / "own-gateway.log")
            try:
                yield Faults(stack, standin, relay[0], gateway)
            finally:
                gateway.stop()
                relay[0].close()


def _post_in_thread(call: Callable[[], httpx.Response]) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, what
        time.sleep(0.2)


def test_a_gateway_killed_between_receipt_and_reply_sends_the_reply_after_restart(faults: Faults) -> None:
    """An SMS and a web chat message reach the gateway, are journalled, and their answers are in flight (held at
    the relay in front of Rasa) when the gateway is killed with SIGKILL. After a restart the SMS answer goes out
    by Twilio's REST API exactly once, and the web message's reply waits for the widget's retry with the same
    idempotency key; each message is answered once (one turn in the transcript)."""
    gateway, relay, standin = faults.gateway, faults.relay, faults.standin
    gateway.start()
    phone, sid = "+1555" + str(uuid.uuid4().int)[:7], "SM" + uuid.uuid4().hex
    session, key = f"fault-{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    chat = {"session_id": session, "text": APPEALS, "idempotency_key": key}

    relay.pause()
    twiml = gateway.sms(APPEALS, sid, phone, faults.stack.twilio_token)
    assert twiml.status_code == 200 and "<Message>" not in twiml.text  # not ready inline: it is owed by REST
    web, web_outcome = _post_in_thread(lambda: httpx.post(gateway.url + "/api/chat", json=chat, timeout=30))
    wait_until(lambda: relay.held >= 2, 20, "the two answers never reached the relay")
    rows = {r["session_id"]: r for r in faults.store.inbound("web", limit=1000)}
    assert rows[session]["state"] == "answering" and rows[session]["text"] == APPEALS  # written before answering
    assert (faults.store.sms_message(sid) or {})["state"] == "pending"
    gateway.kill()
    web.join(timeout=10)
    assert web_outcome and isinstance(web_outcome[0], httpx.HTTPError)  # the widget got no reply
    relay.resume()
    assert standin.sent_to(phone) == []

    gateway.start()
    sent = standin.wait_for(phone, 1, timeout=60)
    assert sent and "appeal" in " ".join(m.body for m in sent).lower(), sent  # the answer, with its source URL
    retried = httpx.post(gateway.url + "/api/chat", json=chat, timeout=60)  # the widget's retry, same key
    assert retried.status_code == 200, retried.text
    reply = retried.json()
    assert reply["session_id"] == session and any(m["answered"] for m in reply["messages"]), reply
    again = httpx.post(gateway.url + "/api/chat", json=chat, timeout=60)
    assert again.json() == reply  # a repeat of the key is the same reply, not a second answer
    time.sleep(LEASE + 2)  # room for a wrong second answer: the retry loop runs every 2 s

    row = faults.store.sms_message(sid) or {}
    parts = json.loads(row["answer_text"])
    assert row["state"] == "sent" and [m.body for m in standin.sent_to(phone)] == parts  # exactly once
    assert faults.turns_in(pseudonym(faults.key, "sms", phone)) == 1
    assert faults.turns_in(f"web:{session}") == 1
    journal = {r["session_id"]: r for r in faults.store.inbound("web", limit=1000)}[session]
    assert journal["state"] == "answered" and journal["text"] is None and journal["attempts"] == 2
    gateway.stop()


SYNC_RUNNER = """
import os, sys, tempfile, time
from content_sync.embed import embed_texts
from content_sync.settings import SyncSettings
from content_sync.sync import run_sync

def say(*words):
    # one write per line: a sync killed mid-line must not tear it (print writes word by word when unbuffered)
    os.write(1, (" ".join(map(str, words)) + "\\n").encode())

settings = SyncSettings()
embed_texts(settings.embedding_model, ["warm up"])  # loaded once, here; every forked sync shares it
say("ready")
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            def progress(step, done, total):
                say("step", os.getpid(), step, done, total)
            # an empty vector cache for each sync: a killed sync's batches would make the next one quick, and
            # the kills are meant to land inside syncs that embed (the cache's resume: test_vector_cache.py)
            os.environ["EMBEDDING_CACHE_DIR"] = tempfile.mkdtemp(prefix="sync-cache-")
            report = run_sync(SyncSettings(), progress=progress)
            say("published", report.index_version)
            code = 0
        finally:
            os._exit(code)
    say("child", pid)
    _, status = os.waitpid(pid, 0)
    say("exit", pid, os.waitstatus_to_exitcode(status))
"""
WORK_CAP = 10.0  # seconds: kill points are spread over a sync's whole run, or this much of it if it is longer


class SyncRunner:
    """Runs `run_sync` (the worker's and `assistant sync`'s code) in processes forked from one that imported it
    and loaded the model once, so each of the 20 syncs starts at once; a sync can be killed with SIGKILL."""

    def __init__(self, env: dict[str, str]) -> None:
        # one thread for torch and the tokenizer, so that forking after the warm-up is safe
        env = {**env, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", SYNC_RUNNER],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self._expect("ready", 300)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.log.append(line)
            self.lines.put(line)

    def _expect(self, word: str, timeout: float) -> list[str]:
        end = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(end - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"no {word!r} from the sync runner:\n" + "\n".join(self.log[-30:])) from None
            # the runner's line, or its end: a sync killed mid-write (a log line) can leave a torn start before it
            found = re.search(rf"(?:^|[^a-z]){word}((?: -?\d+)*)$", line)
            if found:
                return [word, *found[1].split()]

    def start(self) -> tuple[int, float]:
        """Fork one sync; its pid, and when it started."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"sync\n")
        self.process.stdin.flush()
        return int(self._expect("child", 60)[1]), time.monotonic()

    def wait(self, pid: int, timeout: float = 600) -> int:
        """The sync's exit code (-9 when it was killed)."""
        words = self._expect("exit", timeout)
        assert int(words[1]) == pid, words
        return int(words[2])

    def run(self) -> float:
        """One sync to the end, which must succeed; how long it took."""
        pid, started = self.start()
        assert self.wait(pid) == 0, "\n".join(self.log[-40:])
        return time.monotonic() - started

    def close(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        for pipe in (self.process.stdin, self.process.stdout):  # else unclosed-file warnings in a later test
            if pipe is not None:
                pipe.close()


def restore_site(root: Path) -> None:
    """Put the sample site back as it was first published (the updates' new pages go)."""
    for path in root.iterdir():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    shutil.copytree(SAMPLE_SITE, root, dirs_exist_ok=True)


def test_a_sync_killed_at_20_random_points_leaves_the_old_index_serving_and_the_next_sync_succeeds(
    faults: Faults,
) -> None:
    """The kills land in incremental syncs with changes (the site goes back from data/sample_site_updates to the
    sample site), 20 full syncs being too slow for the suite. Each sync is a process of its own, forked from a
    runner that loaded the code and the model once, and is killed with SIGKILL at a seeded random point (SEED)
    of its run, spread over the whole of a sync (measured on a sync of the updates run to the end; at most
    WORK_CAP). After every kill every question is answered from the index last published (0 failed queries),
    and the next sync (the one killed next, then a last one run to the end) succeeds."""
    stack = faults.stack
    env = {**stack.env, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), stack.env.get("PYTHONPATH", "")) if p)}
    index = IndexStore(stack.data_dir / "index")
    questions = [APPEALS, "What number do I call about my Harvest Card?"]
    failures: list[str] = []

    def served() -> set[str | None]:
        """The index versions the answers came from; a query that fails is kept in `failures`."""
        versions: set[str | None] = set()
        for question in questions:
            body = {"text": question, "session_id": f"sync-{uuid.uuid4().hex[:12]}"}
            try:
                response = httpx.post(stack.gateway + "/api/chat", json=body, timeout=60)
            except httpx.HTTPError as exc:
                failures.append(f"{question}: {exc!r}")
                continue
            messages = response.json().get("messages", []) if response.status_code == 200 else []
            if not any(m["answered"] for m in messages):
                failures.append(f"{question}: {response.status_code} {response.text[:300]}")
            versions |= {m["index_version"] for m in messages if m["answered"]}
        return versions

    runner = SyncRunner(env)
    try:
        before = index.current_version()
        apply_updates(stack.site_root)
        work = min(runner.run(), WORK_CAP)
        published = index.current_version()
        assert published != before
        wait_until(lambda: served() == {published}, 30, "the updated index was not served")
        assert "60 days" in _answer(stack, DEADLINE)

        restore_site(stack.site_root)
        rng = random.Random(SEED)
        killed: list[str] = []
        for n in range(KILLS):
            pid, started = runner.start()
            at = started + rng.uniform(0, work)
            while time.monotonic() < at:
                time.sleep(0.005)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it ended before its point
            code = runner.wait(pid)
            assert code in (0, -signal.SIGKILL), "\n".join(runner.log[-40:])
            steps = [line for line in runner.log if line.startswith(f"step {pid} ")]
            killed.append(steps[-1].split(" ", 2)[2] if code and steps else "before the first step" if code else "end")
            now = index.current_version()
            assert now is not None and index.load(now).version == now  # the pointer names a whole version
            if now != published:  # this sync published before it was killed (or it ended): readers move to it
                published = now
                wait_until(lambda v=now: served() == {v}, 30, f"kill {n}: the new index was not served")  # type: ignore[misc]
            else:
                assert served() == {published}, f"kill {n} ({killed[-1]}): the old index stopped serving"
        assert failures == [], failures
        assert sum(point != "end" for point in killed) >= KILLS // 2, killed  # most points landed inside a sync

        runner.run()  # the next sync succeeds
    finally:
        runner.close()
    assert index.current_version() is not None
    wait_until(lambda: "30 days" in _answer(stack, DEADLINE), 30, "the last sync's index was not served")
    assert failures == [], failures


def _answer(stack: Stack, question: str) -> str:
    reply = httpx.post(stack.gateway + "/api/chat", json={"text": question}, timeout=60).json()
    return " ".join(m["text"] for m in reply["messages"])
