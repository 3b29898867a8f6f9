"""POST /email/inbound's checks: the token (off when empty), what counts as a message, the envelope sender."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from channels.email.inbound import envelope_sender, mime_problem, require_inbound_token
from channels.settings import Settings


def settings(token: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        sync_webhook_token="x",
        twilio_auth_token="y",
        privacy_key="inbound-test-privacy-key-0123",
        email_inbound_token=token,
    )


def test_an_empty_token_turns_the_route_off_saying_which_setting() -> None:
    with pytest.raises(HTTPException) as off:
        require_inbound_token(settings(""), "Bearer anything")
    assert off.value.status_code == 503 and "set EMAIL_INBOUND_TOKEN" in str(off.value.detail)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer wrong", "Basic s3cret-token", "Bearer s3cret-token2"])
def test_a_missing_or_wrong_token_is_401(header: str | None) -> None:
    with pytest.raises(HTTPException) as refused:
        require_inbound_token(settings("s3cret-token"), header)
    assert refused.value.status_code == 401 and refused.value.headers == {"WWW-Authenticate": "Bearer"}


def test_the_right_token_passes() -> None:
    require_inbound_token(settings("s3cret-token"), "bearer  s3cret-token ")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"  \r\n", "empty"),
        (b"\x00\x01binary junk", "no header section"),
        (b"From: a@example.org\nContent-Type: multipart/alternative\n\nx", "MIME structure is broken"),
        (b"From: nobody\nSubject: hi\n\nquestion", "no From address"),
        (b"From: Resident <a@example.org>\nSubject: hi\n\nHow do I appeal?", None),
        (b"From: a@example.org\nbroken header line\n\nHow do I appeal?", None),  # sloppy, but readable
    ],
)
def test_only_messages_that_can_be_answered_are_taken(raw: bytes, problem: str | None) -> None:
    found = mime_problem(raw)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_the_envelope_sender_is_the_return_path_else_from() -> None:
    assert envelope_sender(b"Return-Path: <bounce@lists.example>\nFrom: a@example.org\n\nx") == "bounce@lists.example"
    assert envelope_sender(b"Return-Path: <>\nFrom: mailer-daemon@example.org\n\nx") == "<>"
    assert envelope_sender(b"From: Resident <a@example.org>\n\nx") == "a@example.org"
