"""SMS through the real gateway and the real Rasa: one answer per MessageSid, late answers by Twilio's REST API,
questions answered from the index while Rasa is unreachable, STOP/START/HELP, the per-number rate limit.

Twilio's cloud is the one stand-in: requests are built and signed as Twilio sends them, and answers sent
later go to bench/twilio_standin.py. This module's product answers inline only within SMS_INLINE_TIMEOUT=0.05 s,
so real answers miss it and go by REST; it reaches Rasa through a loopback TCP relay the tests can switch off.
"""

from __future__ import annotations

import re
import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from html import unescape

import httpx
import pytest

from bench.stack import free_port, running_stack
from bench.twilio_standin import TwilioStandin
from channels.privacy import pseudonym
from channels.store import ChannelStore
from tests.conftest import loopback_only_env
from tests.integration.conftest import QUESTIONS, Stack, served_site_copy
from tests.integration.test_channels import quotes_web

pytestmark = pytest.mark.integration
OUR_NUMBER = "+15005550006"  # the To that Stack.sms sends
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response />'
QUESTION = QUESTIONS["questions"][0]  # "How long do I have to ask for a fair hearing?" (appeals page)


class Relay:
    """A TCP relay on loopback in front of Rasa: while off, its port refuses connections (Rasa unreachable)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.target = 0
        self._server: socket.socket | None = None

    def on(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def off(self) -> None:
        if self._server is not None:
            try:
                self._server.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            self._server.close()
            self._server = None

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:  # Rasa not listening yet: this connection is dropped, the relay keeps going
                return
            with upstream:
                peers = {client: upstream, upstream: client}
                try:
                    while True:
                        ready, _, _ = select.select(list(peers), [], [], 120)
                        if not ready:
                            return
                        for sock in ready:
                            data = sock.recv(65536)
                            if not data:
                                return
                            peers[sock].sendall(data)
                except OSError:
                    return


class SmsStack:
    def __init__(self, stack: Stack, standin: TwilioStandin, relay: Relay) -> None:
        self.stack, self.standin, self.relay = stack, standin, relay
        self.key = stack.env["PRIVACY_KEY"]
        self.store = ChannelStore(stack.env["DATABASE_URL"], migrate=False, privacy_key=self.key)

    def events(self, sender: str) -> list[dict]:
        """The number's answer events: stored under the hash of its Rasa sender id (never the number)."""
        return self.store.recent_events(conversation=self.store.conversation_key(pseudonym(self.key, "sms", sender)))


@pytest.fixture(scope="module")
def sms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmsStack]:
    relay = Relay()
    with TwilioStandin() as standin:

        def env(base: dict[str, str]) -> dict[str, str]:
            relay.target = int(base["RASA_PORT"])
            extra = {
                **standin.env(),
                "SMS_INLINE_TIMEOUT": "0.05",
                "RATE_LIMIT_PER_SESSION": "5",
                "RATE_LIMIT_PER_CLIENT": "0",
                "RASA_URL": f"http://127.0.0.1:{relay.port}",
            }
            assert base["TWILIO_AUTH_TOKEN"] == standin.auth_token
            return loopback_only_env({**base, **extra})

        relay.on()
        with (
            served_site_copy(tmp_path_factory.mktemp("sms-site")) as (site_url, site_root),
            running_stack(site_url, site_root, tmp_path_factory.mktemp("sms-data"), wrap_env=env) as stack,
        ):
            yield SmsStack(stack, standin, relay)
        relay.off()


def phone() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


def sid() -> str:
    return "SM" + uuid.uuid4().hex


def texts(response: httpx.Response) -> list[str]:
    return [unescape(m) for m in re.findall(r"<Message>(.*?)</Message>", response.text, re.S)]


def source_url(stack: Stack, question: str) -> str:
    """The web chat's answer's source URL: the one answer every channel gives."""
    return web_answer(stack, question)["source_url"]


def web_answer(stack: Stack, question: str) -> dict:
    reply = stack.chat(question)
    hits = [m for m in reply["messages"] if m["answered"]]
    assert hits, reply
    return hits[0]


def test_fifty_copies_of_one_message_make_one_rasa_turn_and_one_reply(sms: SmsStack) -> None:
    question = QUESTIONS["unanswerable"][0]
    reference = phone()  # how many events one Rasa turn on this question records
    sms.stack.sms(question, sid=sid(), sender=reference)
    assert sms.standin.wait_for(reference, 1, timeout=60)
    per_turn = len(sms.events(reference))
    assert per_turn >= 1

    sender, message_sid = phone(), sid()
    barrier = threading.Barrier(50)

    def copy(_: int) -> httpx.Response:
        barrier.wait()
        return sms.stack.sms(question, sid=message_sid, sender=sender)

    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(copy, range(50)))
    assert {r.status_code for r in responses} == {200}
    replies = {r.text for r in responses}
    inline = replies - {EMPTY}
    assert len(inline) <= 1, replies  # every copy: the one TwiML reply, or an empty <Response/>
    sent = sms.standin.wait_for(sender, 1, timeout=60)
    time.sleep(4)  # room for a wrong second answer to arrive
    sent = sms.standin.sent_to(sender)
    assert len(sent) + len(inline) == 1, (sent, inline)
    assert len(sms.events(sender)) == per_turn  # exactly one Rasa turn
    if sent:
        assert sent[0].to == sender and sent[0].from_ == OUR_NUMBER


def test_an_answer_missing_the_inline_window_goes_by_rest(sms: SmsStack) -> None:
    web = web_answer(sms.stack, QUESTION["question"])
    sender = phone()
    response = sms.stack.sms(QUESTION["question"], sid=sid(), sender=sender)
    assert response.status_code == 200 and response.text == EMPTY
    sent = sms.standin.wait_for(sender, 1, timeout=60)
    time.sleep(3)
    sent = sms.standin.sent_to(sender)
    assert len(sent) == 1, sent
    assert sent[0].to == sender and sent[0].from_ == OUR_NUMBER
    assert quotes_web(sent[0].body, web["text"]) and sent[0].body.endswith(web["source_url"])  # the same answer
    assert not sms.standin.refused


def test_a_claim_whose_handler_died_is_answered_when_twilio_retries(sms: SmsStack) -> None:
    url = source_url(sms.stack, QUESTION["question"])
    sender, message_sid = phone(), sid()
    # The first delivery was claimed, longer ago than a claim is held, by a handler that died before answering.
    lease = float(sms.stack.env["INBOUND_LEASE_SECONDS"])
    past = datetime.now(UTC) - timedelta(seconds=lease + 30)
    assert sms.store.claim_sms(message_sid, sender, QUESTION["question"], OUR_NUMBER, now=past)
    retry = sms.stack.sms(QUESTION["question"], sid=message_sid, sender=sender)
    assert retry.status_code == 200
    sent = sms.standin.wait_for(sender, 1, timeout=60)
    time.sleep(3)
    sent = sms.standin.sent_to(sender)
    answers = [*texts(retry), *(m.body for m in sent)]
    assert len(answers) == 1 and url in answers[0], (retry.text, sent)


def test_a_question_asked_while_rasa_is_unreachable_is_answered_from_the_index(sms: SmsStack) -> None:
    """Degraded mode (channels/degraded.py): the gateway makes the same answer itself, and sends it by REST
    (this module's inline window is 0.05 s) while Rasa is still unreachable."""
    url = source_url(sms.stack, QUESTION["question"])
    sender, message_sid = phone(), sid()
    sms.relay.off()
    try:
        response = sms.stack.sms(QUESTION["question"], sid=message_sid, sender=sender)
        assert response.status_code == 200
        assert not any("text again" in t for t in texts(response))
        sent = sms.standin.wait_for(sender, 1, timeout=90)
        time.sleep(1)
        sent = sms.standin.sent_to(sender)
        assert len(sent) == 1 and url in sent[0].body and sent[0].from_ == OUR_NUMBER, sent
        assert sms.store.sms_message(message_sid)["state"] == "sent"  # type: ignore[index]
    finally:
        sms.relay.on()


def test_stop_start_and_help(sms: SmsStack) -> None:
    sender = phone()
    help_reply = sms.stack.sms("help", sid=sid(), sender=sender)
    assert help_reply.status_code == 200
    assert "STOP" in texts(help_reply)[0] and "(555) 010-0199" in texts(help_reply)[0]

    stop = sms.stack.sms("STOP", sid=sid(), sender=sender)
    assert "unsubscribed" in texts(stop)[0] and "START" in texts(stop)[0]
    asked = sms.stack.sms(QUESTIONS["unanswerable"][1], sid=sid(), sender=sender)
    assert asked.status_code == 200 and asked.text == EMPTY
    time.sleep(4)
    assert sms.standin.sent_to(sender) == []
    assert sms.events(sender) == []  # neither STOP nor the question reached Rasa

    start = sms.stack.sms("Start", sid=sid(), sender=sender)
    assert "subscribed again" in texts(start)[0]
    sms.stack.sms(QUESTIONS["unanswerable"][1], sid=sid(), sender=sender)
    assert len(sms.standin.wait_for(sender, 1, timeout=60)) == 1


def test_over_the_per_number_limit_gets_429_twiml_saying_when(sms: SmsStack) -> None:
    sender = phone()
    for _ in range(5):  # RATE_LIMIT_PER_SESSION=5 in this stack
        assert sms.stack.sms("hello", sid=sid(), sender=sender).status_code == 200
    over_sid = sid()
    over = sms.stack.sms("hello", sid=over_sid, sender=sender)
    assert over.status_code == 429 and over.headers["content-type"].startswith("text/xml")
    match = re.search(r"try again in (\d+) seconds", texts(over)[0])
    assert match and 1 <= int(match[1]) <= 60, over.text
    again = sms.stack.sms("hello", sid=over_sid, sender=sender)
    assert again.status_code == 429 and again.text == over.text
    assert sms.stack.sms("hello", sid=sid(), sender=phone()).status_code == 200  # another number is not limited


def test_an_oversized_body_is_refused_without_asking(sms: SmsStack) -> None:
    sender = phone()
    response = sms.stack.sms("How do I appeal? " * 110, sid=sid(), sender=sender)
    assert response.status_code == 200 and "too long" in texts(response)[0]
    time.sleep(1)
    assert sms.events(sender) == [] and sms.standin.sent_to(sender) == []


def test_the_store_claims_one_message_sid_once_under_concurrency(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = ChannelStore(f"sqlite:///{tmp_path / 'assistant.db'}", privacy_key="test-privacy-key-0123456789")
    barrier = threading.Barrier(50)

    def claim(_: int) -> bool:
        barrier.wait()
        return store.claim_sms("SMone", "+15550100000", "hi", OUR_NUMBER)

    with ThreadPoolExecutor(50) as pool:
        assert sorted(pool.map(claim, range(50))) == [False] * 49 + [True]


def test_a_claim_is_taken_over_only_once_its_lease_ran_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = ChannelStore(f"sqlite:///{tmp_path / 'assistant.db'}", privacy_key="test-privacy-key-0123456789")
    now = datetime.now(UTC)
    assert store.claim_sms("SMlive", "+15550100000", "hi", OUR_NUMBER, now=now)
    assert not store.take_over_sms("SMlive", lease=30, retry_after=3, now=now + timedelta(seconds=10))
    assert store.stale_sms(30, 3, 3600, now=now + timedelta(seconds=10)) == []
    later = now + timedelta(seconds=31)
    assert [r["message_sid"] for r in store.stale_sms(30, 3, 3600, now=later)] == ["SMlive"]
    with ThreadPoolExecutor(20) as pool:
        taken = list(pool.map(lambda _: store.take_over_sms("SMlive", 30, 3, now=later), range(20)))
    assert taken.count(True) == 1
    store.save_sms_reply("SMlive", EMPTY, "replied")
    assert not store.take_over_sms("SMlive", 30, 3, now=later + timedelta(hours=1))  # answered: never again
