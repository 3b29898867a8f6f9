"""Reading inbound mail: the question without quotes or signature, and which mail must not be answered."""

from __future__ import annotations

from email.message import EmailMessage

from channels.email.read import question_from_text, read_mail

OWN = "help@agency.example"


def raw(body: str | None = "How do I appeal?", **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = headers.pop("From", "Resident <resident@example.org>")
    message["To"] = OWN
    message["Subject"] = headers.pop("Subject", "Question")
    message["Message-ID"] = "<abc@example.org>"
    for key, value in headers.items():
        message[key.replace("_", "-")] = value
    if body is not None:
        message.set_content(body)
    return bytes(message)


def test_quoted_history_and_signature_are_dropped() -> None:
    text = "When is my payment?\n\nThanks,\nSam\n\nOn Mon, 1 Jan 2026, Agency wrote:\n> old answer"
    assert question_from_text(text) == "When is my payment?"
    assert question_from_text("Question here\n-- \nSam Smith\n555-0100") == "Question here"
    assert question_from_text("> quoted only") == ""


def test_reads_sender_subject_and_ids() -> None:
    mail = read_mail(raw(), "resident@example.org", OWN)
    assert mail.sender == "resident@example.org"
    assert mail.question == "How do I appeal?"
    assert mail.message_id == "<abc@example.org>"
    assert mail.skip_reason is None


def test_subject_is_the_question_only_when_the_text_is_empty() -> None:
    assert read_mail(raw("", Subject="Re: EBT card lost"), "r@example.org", OWN).question == "EBT card lost"
    assert read_mail(raw(None, Subject=""), "r@example.org", OWN).question == ""


def test_html_only_mail_is_read_as_text() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "r@example.org", OWN, "Q"
    message.set_content("<p>How do I <b>apply</b>?</p><script>alert(1)</script>", subtype="html")
    mail = read_mail(bytes(message), "r@example.org", OWN)
    assert "apply" in mail.question and "alert" not in mail.question


def test_broken_mime_is_read_as_far_as_it_goes() -> None:
    broken = (
        b"From: r@example.org\r\nTo: help@agency.example\r\nSubject: Q\r\n"
        b'Content-Type: multipart/alternative; boundary="nope"\r\n\r\nno boundary here at all\r\n'
    )
    mail = read_mail(broken, "r@example.org", OWN)
    assert mail.skip_reason is None and mail.sender == "r@example.org"


def test_auto_replies_bounces_and_own_mail_are_skipped() -> None:
    assert read_mail(raw(Auto_Submitted="auto-replied"), "r@example.org", OWN).skip_reason
    assert read_mail(raw(Precedence="bulk"), "r@example.org", OWN).skip_reason
    assert read_mail(raw(), "", OWN).skip_reason == "empty envelope sender (a bounce)"
    assert read_mail(raw(From="MAILER-DAEMON@example.org"), "MAILER-DAEMON@example.org", OWN).skip_reason
    assert read_mail(raw(From=OWN), OWN, OWN).skip_reason == "mail from the assistant itself"
    assert read_mail(raw(Auto_Submitted="no"), "r@example.org", OWN).skip_reason is None


def test_hostile_headers_cannot_break_the_reply() -> None:
    from channels.email.send import build_reply

    evil = (
        b"From: =?utf-8?q?Bob=0ABcc:_x@evil.example?= <r@example.org>\r\nTo: help@agency.example\r\n"
        b"Subject: =?utf-8?q?Hi=0ABcc:_y@evil.example?=\r\nMessage-ID: =?utf-8?q?a=0Ab?=\r\n"
        b"References: <ok@example.org> <<<@@>\r\nReply-To: victim@elsewhere.example\r\n\r\nHow do I apply?\r\n"
    )
    mail = read_mail(evil, "r@example.org", OWN)
    assert mail.sender == "r@example.org"  # From, never Reply-To
    assert mail.message_id is None and mail.references == "<ok@example.org>"
    reply = build_reply(mail, "body", OWN)
    assert "\n" not in str(reply["Subject"]) and reply["Bcc"] is None
    assert str(reply["To"]) == "r@example.org"


def test_outlook_html_quote_is_dropped() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "r@example.org", OWN, "RE: Q"
    message.set_content(
        "<p>When do I get paid?</p><div id='divRplyFwdMsg'><b>From:</b> Assistant</div><p>old answer</p>",
        subtype="html",
    )
    assert read_mail(bytes(message), "r@example.org", OWN).question == "When do I get paid?"


def test_a_sender_without_a_valid_address_is_not_answered() -> None:
    assert read_mail(raw(From="nobody"), "", OWN).skip_reason
