"""One conversation across channels, and mail by webhook, through the real stack (Rasa, the action server, the
gateway, the email process with its outbox) on loopback.

"Email me this" / "Text me this" send a web answer with a continuation code; mailing or texting the code joins
that web conversation, so a follow-up that names no topic ("what form do I fill out for that?") is answered
from it. SMS goes out through bench/twilio_standin.py and comes in as signed Twilio requests; email comes in by
SMTP and by `POST /email/inbound`, and every reply is caught by the stack's aiosmtpd sink.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html import unescape

import httpx
import pytest
from bs4 import BeautifulSoup

from bench.stack import running_stack, send_mail
from bench.twilio_standin import TwilioStandin
from channels.continuation import issue_code
from channels.store import ChannelStore
from tests.conftest import loopback_only_env
from tests.integration.conftest import EMAIL_FROM, Stack, served_site_copy
from tests.integration.test_channels import quotes_web

pytestmark = pytest.mark.integration
OUR_NUMBER = "+15005550006"  # Stack.sms's To, and this stack's TWILIO_FROM_NUMBER
INBOUND_TOKEN = "test-inbound-token-0123456789"
BURIAL = "How much is the Burial Allowance for a cremation?"
FOLLOW_UP = "what form do I fill out for that?"  # answered with form FB-262 only within the burial conversation
CODE = re.compile(r"code ([A-Z0-9]{6})\b")


class Cross:
    def __init__(self, stack: Stack, standin: TwilioStandin) -> None:
        self.stack, self.standin = stack, standin
        self.store = ChannelStore(stack.env["DATABASE_URL"], migrate=False, privacy_key=stack.env["PRIVACY_KEY"])

    def send(self, **body: object) -> httpx.Response:
        return httpx.post(self.stack.gateway + "/api/chat/send", json=body, timeout=60)

    def post_mail(self, raw: bytes, token: str | None = INBOUND_TOKEN, **headers: str) -> httpx.Response:
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        headers = {"Content-Type": "message/rfc822", **auth, **headers}
        return httpx.post(self.stack.gateway + "/email/inbound", content=raw, headers=headers, timeout=60)

    def mail(self, sender: str, body: str, subject: str) -> EmailMessage:
        """Send mail by SMTP; the reply."""
        reply = self.stack.sink.reply_to(send_mail(self.stack.smtp_port, body, subject, sender=sender))
        assert reply is not None, f"no reply to {body!r}"
        return reply

    def mailed_to(self, address: str, subject: str, timeout: float = 60) -> EmailMessage:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for message in self.stack.sink.messages:
                if address in str(message["To"]) and str(message["Subject"]) == subject:
                    return message
            time.sleep(0.2)
        raise AssertionError(f"nothing mailed to {address} with subject {subject!r}")

    def texts(self, number: str, body: str) -> list[str]:
        """Text `body` from `number`; what came back, inline in the TwiML or later by REST."""
        before = len(self.standin.sent_to(number))
        response = self.stack.sms(body, sid="SM" + uuid.uuid4().hex, sender=number)
        assert response.status_code == 200, response.text
        inline = [unescape(m) for m in re.findall(r"<Message>(.*?)</Message>", response.text, re.S)]
        if inline:
            return inline
        return [m.body for m in self.standin.wait_for(number, before + 1, timeout=60)[before:]]


@pytest.fixture(scope="module")
def cross(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cross]:
    with TwilioStandin() as standin:

        def env(base: dict[str, str]) -> dict[str, str]:
            assert base["TWILIO_AUTH_TOKEN"] == standin.auth_token
            extra = {
                **standin.env(),
                "TWILIO_FROM_NUMBER": OUR_NUMBER,
                "EMAIL_INBOUND_TOKEN": INBOUND_TOKEN,
                "RATE_LIMIT_PER_CLIENT": "0",  # every test request comes from 127.0.0.1
            }
            return loopback_only_env({**base, **extra})

        with (
            served_site_copy(tmp_path_factory.mktemp("cross-site")) as (site_url, site_root),
            running_stack(site_url, site_root, tmp_path_factory.mktemp("cross-data"), wrap_env=env) as stack,
        ):
            yield Cross(stack, standin)


def session() -> str:
    return f"cross-{uuid.uuid4().hex[:12]}"


def burial_answer(cross: Cross, sid: str) -> dict:
    (message,) = cross.stack.chat(BURIAL, sid)["messages"]
    assert message["answered"] and "/allowances/burial-allowance" in message["source_url"], message
    return message  # type: ignore[no-any-return]


def plain(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html(message: EmailMessage) -> BeautifulSoup:
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "the reply has no HTML part"
    return BeautifulSoup(str(part.get_content()), "html.parser")


def test_the_widget_is_told_what_it_may_offer(cross: Cross) -> None:
    options = httpx.get(cross.stack.gateway + "/api/chat/send", timeout=30).json()
    assert options["sms"] is True and options["email"] is True and options["code_hours"] == 24
    assert "agree" in options["consent_text"]


def test_email_me_this_then_mailing_the_code_continues_the_web_conversation(cross: Cross) -> None:
    sid, address = session(), f"continuer-{uuid.uuid4().hex[:6]}@example.org"
    web = burial_answer(cross, sid)
    sent = cross.send(session_id=sid, channel="email", to=address, consent=True)
    assert sent.status_code == 202 and sent.json()["status"] == "queued", sent.text

    emailed = cross.mailed_to(address, "Your answer from the agency's assistant")
    text = plain(emailed)
    assert web["text"].splitlines()[0] in text and web["source_url"] in text
    match = CODE.search(text)
    assert match, text
    code = match[1]
    page = html(emailed)
    assert page.html is not None and page.html["lang"] == "en"
    assert [a["href"] for a in page.find_all("a")] == [web["source_url"]] and code in page.get_text()

    # Without the code, the same words from this address have no topic to lean on.
    fresh = cross.mail(address, FOLLOW_UP, "Another question")
    assert "FB-262" not in plain(fresh)
    # The customer replies to the email: the code on top, the quoted email below it.
    quoted = "\n".join(f"> {line}" for line in text.splitlines())
    joined = cross.mail(address, f"{code}\n\nOn Tue, 1 Dec 2026, {EMAIL_FROM} wrote:\n{quoted}\n", "Re: Your answer")
    assert "now continuing the conversation you started on our website" in plain(joined)
    follow = cross.mail(address, FOLLOW_UP, "Re: Your answer")
    assert "FB-262" in plain(follow), plain(follow)

    again = cross.mail(address, f"code {code}", "Once more")
    assert "already been used" in plain(again)
    stranger = cross.mail(f"stranger-{uuid.uuid4().hex[:6]}@example.org", f"code {code}", "Guess")
    assert "don't recognise that code" in plain(stranger)


def test_text_me_this_then_texting_the_code_continues_the_web_conversation(cross: Cross) -> None:
    sid, number = session(), "+1555" + str(uuid.uuid4().int)[:7]
    web = burial_answer(cross, sid)
    typed = f"({number[2:5]}) {number[5:8]}-{number[8:]}"  # as a customer types it
    sent = cross.send(session_id=sid, channel="sms", to=typed, consent=True)
    assert sent.status_code == 200 and sent.json()["status"] == "sent" and sent.json()["to"] == number, sent.text

    texted = cross.standin.wait_for(number, 2, timeout=30)
    assert texted[0].from_ == OUR_NUMBER and quotes_web(texted[0].body, web["text"])
    assert web["source_url"] in " ".join(m.body for m in texted)
    match = CODE.search(texted[-1].body)
    assert match and "STOP" in texted[-1].body, texted
    code = match[1]

    (joined,) = cross.texts(number, code.lower())
    assert "now continuing the conversation you started on our website" in joined
    follow = " ".join(cross.texts(number, FOLLOW_UP))
    assert "/allowances/burial-allowance" in follow, follow  # the burial form: the web conversation's topic
    (again,) = cross.texts(number, f"code {code}")
    assert "already been used" in again
    (stranger,) = cross.texts("+1555" + str(uuid.uuid4().int)[:7], f"code {code}")
    assert "don't recognise that code" in stranger


def test_a_code_sent_with_a_question_answers_it_in_the_joined_conversation(cross: Cross) -> None:
    sid, number = session(), "+1555" + str(uuid.uuid4().int)[:7]
    burial_answer(cross, sid)
    code, _ = issue_code(cross.store, cross.stack.env["PRIVACY_KEY"], f"web:{sid}", "sms", number, None)
    follow = " ".join(cross.texts(number, f"code {code} {FOLLOW_UP}"))
    assert "/allowances/burial-allowance" in follow, follow


def test_expired_unknown_and_guessed_codes_get_a_clear_reply(cross: Cross) -> None:
    number = "+1555" + str(uuid.uuid4().int)[:7]
    key = cross.stack.env["PRIVACY_KEY"]
    past = datetime.now(UTC) - timedelta(hours=25)
    expired, _ = issue_code(cross.store, key, f"web:{session()}", "sms", number, None, now=past)
    (reply,) = cross.texts(number, f"code {expired}")
    assert "has expired" in reply and "24 hours" in reply

    good, _ = issue_code(cross.store, key, f"web:{session()}", "sms", number, None)
    for n in range(5):
        (wrong,) = cross.texts(number, f"code ZZZZ{n + 2}Z")
        assert "don't recognise that code" in wrong
    (limited,) = cross.texts(number, f"code {good}")  # the right code, after five wrong ones this hour
    assert "Too many codes that didn't work" in limited and "minutes" in limited
    (other,) = cross.texts("+1555" + str(uuid.uuid4().int)[:7], "code ZZZZ2Z")
    assert "don't recognise that code" in other  # the limit is per number

    by_mail = cross.mail(f"guesser-{uuid.uuid4().hex[:6]}@example.org", "code ZZZZ3Z", "My code")
    assert "don't recognise that code" in plain(by_mail)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"channel": "email", "to": "a@example.org", "consent": True}, 422, "session_id"),
        ({"session_id": "s-1", "channel": "email", "to": "a@example.org"}, 422, "consent"),
        ({"session_id": "s-1", "channel": "email", "to": "a@example.org", "consent": False}, 422, "consent: must be"),
        ({"session_id": "s-1", "channel": "sms", "to": "call me", "consent": True}, 422, "to: not a phone number"),
        ({"session_id": "s-1", "channel": "email", "to": "nobody", "consent": True}, 422, "to: not an email address"),
        ({"session_id": "s-1", "channel": "fax", "to": "a@example.org", "consent": True}, 422, "channel"),
        ({"session_id": "never-asked", "channel": "email", "to": "a@example.org", "consent": True}, 404, "ask a"),
    ],
)
def test_bad_send_requests_get_a_json_error(cross: Cross, body: dict, status: int, words: str) -> None:
    response = cross.send(**body)
    assert response.status_code == status and words in response.json()["error"], response.text


def test_a_number_that_sent_stop_is_not_texted(cross: Cross) -> None:
    sid, number = session(), "+1555" + str(uuid.uuid4().int)[:7]
    burial_answer(cross, sid)
    cross.texts(number, "STOP")
    refused = cross.send(session_id=sid, channel="sms", to=number, consent=True)
    assert refused.status_code == 409 and "opted out" in refused.json()["error"]
    assert cross.standin.sent_to(number) == []


def test_sending_is_limited_per_destination(cross: Cross) -> None:
    sid, address = session(), f"limited-{uuid.uuid4().hex[:6]}@example.org"
    burial_answer(cross, sid)
    for _ in range(3):
        assert cross.send(session_id=sid, channel="email", to=address, consent=True).status_code == 202
    over = cross.send(session_id=sid, channel="email", to=address, consent=True)
    assert over.status_code == 429 and "at most 3 answers an hour" in over.json()["error"]
    assert 3000 < int(over.headers["Retry-After"]) <= 3600


def inbound_message(question: str, sender: str, subject: str = "Burial <script>alert(1)</script>") -> tuple[str, bytes]:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = f"Resident <{sender}>", EMAIL_FROM, subject
    message_id = f"<{uuid.uuid4().hex}@customer.example>"
    message["Message-ID"] = message_id
    message.set_content(question)
    return message_id, bytes(message)


def test_a_message_posted_to_the_webhook_is_answered_like_smtp_mail(cross: Cross) -> None:
    web = burial_answer(cross, session())
    message_id, raw = inbound_message(f"{BURIAL}\n<script>alert(1)</script>\n", "webhook@example.org")
    accepted = cross.post_mail(raw)
    assert accepted.status_code == 202 and accepted.json()["id"], accepted.text
    reply = cross.stack.sink.reply_to(message_id)
    assert reply is not None, "no reply to the message posted to /email/inbound"
    assert str(reply["Subject"]) == "Re: Burial alert(1)" and "webhook@example.org" in str(reply["To"])
    assert web["source_url"] in plain(reply) and web["text"].splitlines()[0] in plain(reply)
    page = html(reply)
    assert page.find("script") is None and page.find("img") is None
    assert page.html is not None and page.html["lang"] == "en"
    assert [a["href"] for a in page.find_all("a")] == [web["source_url"]]


def test_the_webhook_refuses_bad_tokens_types_sizes_and_broken_mime(cross: Cross) -> None:
    _, raw = inbound_message("How do I appeal?", "resident@example.org")
    for token in (None, "wrong-token"):
        refused = cross.post_mail(raw, token=token)
        assert refused.status_code == 401 and "EMAIL_INBOUND_TOKEN" in refused.json()["error"]
    typed = cross.post_mail(raw, **{"Content-Type": "text/plain"})
    assert typed.status_code == 415 and "message/rfc822" in typed.json()["error"]
    big = cross.post_mail(raw + b"x" * (11 * 1024 * 1024))
    assert big.status_code == 413 and "larger than 10485760 bytes" in big.json()["error"]
    octet = cross.post_mail(raw, **{"Content-Type": "application/octet-stream"})
    assert octet.status_code == 202
    broken = {
        b"just some words, not an email\n": "no header section",
        b"": "empty",
        b"From: a@example.org\nContent-Type: multipart/mixed\n\nno boundary": "MIME structure is broken",
        b"Subject: who sent this?\n\nHow do I appeal?": "no From address",
    }
    for body, words in broken.items():
        response = cross.post_mail(body)
        assert response.status_code == 400 and words in response.json()["error"], (body, response.text)
