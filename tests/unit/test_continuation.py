"""Continuation codes against a real SQLite store: the shape of a code, finding it in a message, single use,
expiry, binding to the number or address it was sent to, the guessing limit and the sending limits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from channels import continuation as c
from channels.settings import Settings
from channels.store import ChannelStore

KEY = "unit-test-privacy-key-0123456789"
WEB = "web:session-1"


@pytest.fixture
def store(tmp_path: Path) -> ChannelStore:
    return ChannelStore(f"sqlite:///{tmp_path / 'assistant.db'}", privacy_key=KEY)


def settings(**changes: object) -> Settings:
    base: dict[str, object] = {"sync_webhook_token": "x", "twilio_auth_token": "y", "privacy_key": KEY}
    return Settings(_env_file=None, **{**base, **changes})  # type: ignore[arg-type]


def test_codes_are_six_unambiguous_characters_with_a_letter_and_a_digit() -> None:
    codes = {c.new_code() for _ in range(500)}
    assert len(codes) == 500
    for code in codes:
        assert len(code) == 6 and c.code_shaped(code)
        assert not set(code) & set("01ILO")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("K7M4QX", ("K7M4QX", "")),
        ("  k7m-4qx. ", ("K7M4QX", "")),
        ("code K7M4QX", ("K7M4QX", "")),
        ("Code: k7m 4qx what form do I fill out?", ("K7M4QX", "what form do I fill out?")),
        ("my code is K7M4QX\nwhat form do I fill out for that?", ("K7M4QX", "what form do I fill out for that?")),
        ("code PLEASE", ("PLEASE", "")),  # said to be a code: it is tried (and is unknown)
        ("THANKS", None),  # a word alone is not a code: no digit
        ("W2 form?", None),
        ("How long do I have to appeal?", None),
        ("ABC123 is my case number, what next?", None),  # a code alone on its line only
    ],
)
def test_a_code_is_found_alone_or_after_the_word_code(text: str, found: tuple[str, str] | None) -> None:
    assert c.find_code(text) == found


def test_a_code_joins_once_and_only_for_whoever_it_was_sent_to(store: ChannelStore) -> None:
    code, expires = c.issue_code(store, KEY, WEB, "email", "Resident@Example.org", "127.0.0.1")
    assert expires - datetime.now(UTC) > timedelta(hours=23)
    assert store.codes_since(datetime.now(UTC) - timedelta(minutes=1), conversation=WEB)  # the stored record
    stranger = c.redeem(store, KEY, "email", "someone@example.org", code)
    assert stranger is not None and stranger.outcome == c.UNKNOWN
    assert "don't recognise that code" in stranger.reply

    joined = c.redeem(store, KEY, "email", "resident@example.org", f"code {code} what form do I need?")
    assert joined is not None and joined.outcome == c.JOINED and joined.conversation == WEB
    assert joined.rest == "what form do I need?"
    assert c.conversation_for(store, KEY, "email", "RESIDENT@example.org", "email:own") == WEB
    assert c.conversation_for(store, KEY, "email", "someone@example.org", "email:own") == "email:own"

    again = c.redeem(store, KEY, "email", "resident@example.org", code)
    assert again is not None and again.outcome == c.USED and "already been used" in again.reply


def test_an_expired_code_says_so_and_links_nothing(store: ChannelStore) -> None:
    past = datetime.now(UTC) - timedelta(hours=25)
    code, _ = c.issue_code(store, KEY, WEB, "sms", "+15550104477", None, now=past)
    expired = c.redeem(store, KEY, "sms", "+15550104477", code)
    assert expired is not None and expired.outcome == c.EXPIRED and "expired" in expired.reply
    assert c.conversation_for(store, KEY, "sms", "+15550104477", "sms:own") == "sms:own"


def test_guessing_stops_after_five_unknown_codes_an_hour(store: ChannelStore) -> None:
    code, _ = c.issue_code(store, KEY, WEB, "sms", "+15550104477", None)
    for n in range(c.GUESSES_PER_HOUR):
        wrong = c.redeem(store, KEY, "sms", "+15550104477", f"code AAAA{n + 2}A")
        assert wrong is not None and wrong.outcome == c.UNKNOWN
    limited = c.redeem(store, KEY, "sms", "+15550104477", code)  # even the right code waits now
    assert limited is not None and limited.outcome == c.LIMITED
    assert "try again in 60 minutes" in limited.reply
    later = datetime.now(UTC) + timedelta(minutes=61)
    joined = c.redeem(store, KEY, "sms", "+15550104477", code, now=later)
    assert joined is not None and joined.outcome == c.JOINED
    other = c.redeem(store, KEY, "sms", "+15550109999", "code AAAA2A")  # the limit is per number
    assert other is not None and other.outcome == c.UNKNOWN


def test_sending_is_limited_per_destination_conversation_and_client(store: ChannelStore) -> None:
    s = settings()
    for _ in range(c.SENDS_PER_DESTINATION):
        assert c.send_refusal(store, s, WEB, "sms", "+15550104477", "10.0.0.1") is None
        c.issue_code(store, KEY, WEB, "sms", "+15550104477", "10.0.0.1")
    refusal = c.send_refusal(store, s, WEB, "sms", "+15550104477", "10.0.0.1")
    assert refusal is not None and "this number or address" in refusal[0] and 3500 < refusal[1] <= 3600
    for n in range(2):
        c.issue_code(store, KEY, WEB, "email", f"r{n}@example.org", "10.0.0.1")
    refusal = c.send_refusal(store, s, WEB, "email", "new@example.org", "10.0.0.1")
    assert refusal is not None and "this conversation" in refusal[0]
    assert (
        c.send_refusal(store, settings(rate_limit_per_session=0), WEB, "email", "new@example.org", "10.0.0.2") is None
    )


@pytest.mark.parametrize(
    ("typed", "e164"),
    [("+1 (555) 010-4477", "+15550104477"), ("555.010.4477", "+15550104477"), ("15550104477", "+15550104477")],
)
def test_phone_numbers_are_read_as_e164(typed: str, e164: str) -> None:
    assert c.normalise_phone(typed) == e164


def test_what_is_not_a_phone_number_is_refused() -> None:
    assert c.normalise_phone("call me") is None and c.normalise_phone("12345") is None
