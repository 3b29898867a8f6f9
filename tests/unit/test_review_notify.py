"""Telling customers: the offers in unanswered replies, and each notice rendered and sent once, through the
loopback Twilio stand-in (SMS) and the email outbox.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.twilio_standin import TwilioStandin
from channels.answers import (
    Answer,
    answers_from_rasa,
    email_update_note,
    render_email,
    render_sms,
)
from channels.review.ingest import ingest_new
from channels.review.notify import Notifier, build_notice_email, notice_sms, notice_web
from channels.review.optin import is_opt_in
from channels.review.store import Item, ReviewStore
from channels.settings import Settings, get_settings
from channels.sms.text import segment_count
from channels.store import ChannelStore
from tests.unit.test_answers import PAYLOAD, not_answered
from tests.unit.test_review_queue import KEY, record

CUSTOMER = "+15550104477"
AGENCY = "+15005550006"


def answer(reason: str, lang: str = "en") -> Answer:
    return answers_from_rasa([{"custom": not_answered(reason, lang)}])[0]


def test_only_a_reply_that_may_be_answered_later_offers_it() -> None:
    assert render_sms([answer("no_match")], 480).endswith("\nText YES to be told when we can answer this.")
    assert render_sms([answer("no_match", "es")], 480).endswith(
        "\nResponda SI y le avisaremos cuando podamos contestar esto."
    )
    assert render_sms([answer("out_of_scope")], 480).endswith("Text YES to be told when we can answer this.")
    for reason in ("personal_account", "injection"):
        assert "YES" not in render_sms([answer(reason)], 480)
    assert "YES" not in render_sms(answers_from_rasa([{"custom": PAYLOAD}]), 480)
    assert email_update_note([answer("no_match")]) == (
        "If our published guidance answers this later, we will reply to this email to tell you."
    )
    assert email_update_note([answer("personal_account")]) is None
    assert email_update_note(answers_from_rasa([{"custom": PAYLOAD}])) is None
    note = email_update_note([answer("no_match")])
    assert note is not None and note in render_email([answer("no_match")], [note])


def test_the_offer_survives_a_reply_cut_to_fit_an_sms() -> None:
    long = Answer(text="Sorry, I couldn't find that. " * 30, kind="answer", reason="no_match", lang="en")
    text = render_sms([long], 300)
    assert len(text) <= 300 and text.endswith("Text YES to be told when we can answer this.")


@pytest.mark.parametrize("body", ["YES", "yes", " Yes! ", "si", "Sí."])
def test_yes_and_si_opt_in(body: str) -> None:
    assert is_opt_in(body)


@pytest.mark.parametrize("body", ["yes please tell me about food stamps", "no", "YESS", ""])
def test_other_texts_do_not_opt_in(body: str) -> None:
    assert not is_opt_in(body)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, standin: TwilioStandin) -> Iterator[Settings]:
    for name, value in {
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'assistant.db'}",
        "SYNC_WEBHOOK_TOKEN": "test-sync-token",
        "TWILIO_AUTH_TOKEN": standin.auth_token,
        "PRIVACY_KEY": KEY,
        "EMAIL_FROM": "help@agency.example",
        **standin.env(),
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def standin() -> Iterator[TwilioStandin]:
    with TwilioStandin() as running:
        yield running


def answered_item(settings: Settings, channel: str, sender: str) -> tuple[ChannelStore, ReviewStore, Item]:
    channels = ChannelStore(settings.database_url, privacy_key=KEY)
    review = ReviewStore(settings.database_url)
    record(channels, "Is there a summer meals program for kids?", channel=channel, sender=sender)
    ingest_new(channels, review)
    (item,) = review.items()
    return channels, review, item


def test_an_sms_customer_who_said_yes_is_texted_the_answer_once(settings: Settings, standin: TwilioStandin) -> None:
    channels, review, item = answered_item(settings, "sms", "sms:p1")
    review.opt_in(item.id, "sms", item.conversation, CUSTOMER, reply_from=AGENCY)
    notifier = Notifier(settings, channels, review)
    assert notifier.send_due() == 0 and standin.sent_to(CUSTOMER) == []  # not answered yet
    review.mark_answered(item.id, PAYLOAD["source_url"], "v2", [{"custom": PAYLOAD | {"index_version": "v2"}}])
    assert notifier.send_due() >= 1
    assert notifier.send_due() == 0
    sent = standin.sent_to(CUSTOMER)
    assert sent and all(m.from_ == AGENCY for m in sent)
    text = "\n".join(m.body for m in sent)
    assert "Our guidance answers it now" in text and PAYLOAD["source_url"] in text
    assert all(segment_count(m.body) <= 2 for m in sent)
    (notification,) = review.notifications(item.id)
    assert (notification.state, notification.contact) == ("sent", None)  # the number is gone once told


def test_a_number_that_texted_stop_is_never_told(settings: Settings, standin: TwilioStandin) -> None:
    channels, review, item = answered_item(settings, "sms", "sms:p1")
    review.opt_in(item.id, "sms", item.conversation, CUSTOMER, reply_from=AGENCY)
    channels.set_opted_out(CUSTOMER, True)
    review.mark_answered(item.id, PAYLOAD["source_url"], "v2", [{"custom": PAYLOAD}])
    assert Notifier(settings, channels, review).send_due() == 0
    assert standin.sent_to(CUSTOMER) == []
    (notification,) = review.notifications(item.id)
    assert (notification.state, notification.contact) == ("dropped", None)


def test_an_email_sender_gets_one_reply_in_their_own_thread(settings: Settings) -> None:
    channels, review, item = answered_item(settings, "email", "email:p2")
    thread = {"message_id": "<q1@customer.example>", "references": "<q0@customer.example>", "subject": "Summer food"}
    review.opt_in(item.id, "email", item.conversation, "resident@example.org", thread=thread)
    review.mark_answered(item.id, PAYLOAD["source_url"], "v2", [{"custom": PAYLOAD}])
    notifier = Notifier(settings, channels, review)
    assert notifier.send_due() == 1 and notifier.send_due() == 0
    (queued,) = channels.outbox()
    assert queued["recipient"] == "resident@example.org" and queued["subject"] == "Re: Summer food"
    raw = queued["raw"].decode()
    assert "In-Reply-To: <q1@customer.example>" in raw
    assert "References: <q0@customer.example> <q1@customer.example>" in raw
    notification = review.notifications(item.id)[0]
    assert notification.contact is None and notification.thread == {}
    message = build_notice_email(settings, notification, review.item(item.id))  # type: ignore[arg-type]
    body = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert PAYLOAD["source_url"] in body and "It answers it now" in body


def test_the_notices_read_like_any_answer() -> None:
    now = datetime.now(UTC)
    item = Item(
        id=7,
        cluster_id=1,
        channel="web",
        signal="unanswered",
        question="Is there a summer meals program for kids?",
        conversation="c0ffee",
        first_seen=now,
        last_seen=now,
        count=1,
        status="answered_by_update",
        reason="no_match",
        lang="en",
        index_version="v1",
        assigned_to=None,
        answered_by_url=PAYLOAD["source_url"],
        answered_in_version="v2",
        answered_at=now,
        answer_json=json.dumps([{"custom": PAYLOAD}]),
    )
    web = notice_web(item)
    assert web[0]["kind"] == "text" and "Is there a summer meals program for kids?" in web[0]["text"]
    assert web[1]["answered"] is True and web[1]["source_url"] == PAYLOAD["source_url"]
    parts = notice_sms(item, 480)
    assert PAYLOAD["source_url"] in "".join(parts) and "Our guidance answers it now" in parts[0]
