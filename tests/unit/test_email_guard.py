"""Whom the assistant writes back to: authenticated senders only (EMAIL_AUTHSERV_ID), not too often, and a
subject echoed safely."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from channels.email.guard import ReplyLimiter, auth_refusal
from channels.email.read import read_mail
from channels.email.send import build_reply

OWN = "help@agency.example"
OURS = "mx.agency.example"


def raw_mail(*auth_results: str, sender: str = "resident@example.org", subject: str = "Benefits question") -> bytes:
    """A message as our MX hands it on: its Authentication-Results and Received on top, then the sender's."""
    top = "".join(f"Authentication-Results: {value}\r\n" for value in auth_results)
    return (
        top + "Received: from mail.example.org (mail.example.org [192.0.2.10])\r\n"
        "\tby mx.agency.example (Postfix) with ESMTPS id 4Q1; Tue, 1 Dec 2026 10:00:00 +0000\r\n"
        f"From: Resident <{sender}>\r\n"
        f"To: {OWN}\r\n"
        f"Subject: {subject}\r\n"
        "Date: Tue, 1 Dec 2026 10:00:00 +0000\r\n"
        "Message-ID: <q1@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "How do I appeal a decision?\r\n"
    ).encode()


def refusal(raw: bytes, authserv_id: str = OURS) -> str | None:
    mail = read_mail(raw, "resident@example.org", OWN)
    assert mail.skip_reason is None
    return auth_refusal(mail.auth_results, authserv_id, mail.sender)


def test_a_spoofed_sender_without_a_pass_is_not_answered() -> None:
    assert refusal(raw_mail()) == f"not authenticated: no Authentication-Results header from {OURS}"
    failed = raw_mail(f"{OURS}; spf=fail smtp.mailfrom=resident@example.org; dmarc=fail header.from=example.org")
    assert "show no SPF or DMARC pass for example.org" in str(refusal(failed))


def test_without_an_authserv_id_nobody_is_refused_for_authentication() -> None:
    assert refusal(raw_mail(), authserv_id="") is None


def test_a_pass_written_by_another_server_counts_for_nothing() -> None:
    forged = raw_mail("mx.attacker.example; spf=pass smtp.mailfrom=example.org; dmarc=pass header.from=example.org")
    assert refusal(forged) == f"not authenticated: no Authentication-Results header from {OURS}"


def test_our_servers_pass_is_answered() -> None:
    assert refusal(raw_mail(f"{OURS}; spf=pass smtp.mailfrom=resident@example.org")) is None
    assert (
        refusal(raw_mail(f"{OURS.upper()}; spf=fail smtp.mailfrom=x@example.org; dmarc=pass header.from=example.org"))
        is None
    )
    folded = raw_mail(
        f"{OURS} 1;\r\n\tdkim=pass header.d=example.org;\r\n"
        "\tspf=pass (sender SPF authorized)\r\n\t smtp.mailfrom=example.org"
    )
    assert refusal(folded) is None


def test_a_pass_for_another_domain_does_not_vouch_for_the_from_address() -> None:
    other = raw_mail(f"{OURS}; spf=pass smtp.mailfrom=bounce@attacker.example; dmarc=none header.from=example.org")
    assert "no SPF or DMARC pass for example.org" in str(refusal(other))


def test_only_our_topmost_header_counts_not_one_the_sender_wrote_below_it() -> None:
    ours_then_forged = raw_mail(
        f"{OURS}; spf=softfail smtp.mailfrom=example.org; dmarc=fail header.from=example.org",
        f"{OURS}; spf=pass smtp.mailfrom=example.org; dmarc=pass header.from=example.org",
    )
    assert refusal(ours_then_forged) is not None
    assert refusal(raw_mail("this is ;; not = a header", f"{OURS}; dmarc=pass header.from=example.org")) is None


def test_an_injected_subject_is_one_short_clean_line() -> None:
    injected = (
        b"From: Resident <resident@example.org>\r\nTo: help@agency.example\r\nMessage-ID: <i@example.org>\r\n"
        b"Subject: =?utf-8?q?Help=0D=0ABcc:_victim@elsewhere.example=0D=0A=0D=0A<b>bold</b>_=E2=80=AE_"
        + b"x" * 200
        + b"?=\r\n\r\nHow do I apply?\r\n"
    )
    mail = read_mail(injected, "resident@example.org", OWN)
    reply = build_reply(mail, "body", OWN)
    subject = str(reply["Subject"])
    assert subject.startswith("Re: Help Bcc: victim@elsewhere.example bold x")
    assert len(subject) <= 78 and subject.endswith("…")
    assert not any(ch in subject for ch in "\r\n\t<>\u202e")
    wire = bytes(reply)
    assert b"\nBcc:" not in wire and reply["Bcc"] is None
    assert reply.get_content_type() == "text/plain"


def test_replies_are_limited_per_address_and_per_domain() -> None:
    limiter = ReplyLimiter(per_minute=2)
    t = 1000.0
    assert limiter.admit("a@example.org", "1", now=t) is None
    assert limiter.admit("a@example.org", "2", now=t + 1) is None
    assert limiter.admit("a@example.org", "3", now=t + 2) == (
        "rate limit: 2 replies a minute to address a@example.org already sent"
    )
    assert limiter.admit("b@example.org", "4", now=t + 3) == (
        "rate limit: 2 replies a minute to domain example.org already sent"
    )
    assert limiter.admit("c@other.example", "5", now=t + 3) is None
    assert limiter.admit("A@EXAMPLE.org", "6", now=t + 61) is None  # a minute later


def test_an_identical_message_gets_one_reply_in_ten_minutes_even_without_a_rate_limit() -> None:
    limiter = ReplyLimiter(per_minute=0)
    same = ReplyLimiter.fingerprint("a@example.org", "Re:  Help", "How do I apply?")
    assert same == ReplyLimiter.fingerprint("A@example.org", "re: help", "How do I  apply?")
    assert limiter.admit("a@example.org", same, now=0) is None
    assert "the same message" in str(limiter.admit("a@example.org", same, now=599))
    assert limiter.admit("a@example.org", "other question", now=599) is None
    assert limiter.admit("a@example.org", same, now=601) is None


def test_a_restart_remembers_the_replies_in_the_spool(tmp_path: Path) -> None:
    now = time.time()
    for n, age in enumerate((5, 10, 3600)):
        note = tmp_path / f"m{n}.json"
        note.write_text(json.dumps({"to": "a@example.org", "fingerprint": f"f{n}"}))
        os.utime(note, (now - age, now - age))
    limiter = ReplyLimiter(per_minute=2)
    limiter.seed(tmp_path, now=now)
    assert "rate limit: 2 replies" in str(limiter.admit("a@example.org", "new", now=now))
    assert "the same message" in str(limiter.admit("z@else.example", "f0", now=now))
    assert limiter.admit("z@else.example", "f2", now=now) is None  # an hour old: forgotten
