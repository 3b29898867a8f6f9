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


def test_spanish_quoted_reply_and_sign_off_are_dropped() -> None:
    gmail = (
        "¿Cuándo llega mi pago de este mes?\n\nSaludos,\nAna\n\n"
        "El lun, 1 dic 2026 a las 10:00, Agencia <help@agency.example> escribió:\n> Hola:\n> respuesta vieja\n"
    )
    assert question_from_text(gmail) == "¿Cuándo llega mi pago de este mes?"
    wrapped = (
        "¿Cómo solicito la ayuda?\n\nEl lun, 1 dic 2026 a las 10:00, Agencia\n<help@agency.example> escribió:\n\nvieja"
    )
    assert question_from_text(wrapped) == "¿Cómo solicito la ayuda?"
    outlook = (
        "¿Puedo apelar?\n\n-----Mensaje original-----\nDe: Agencia <help@agency.example>\n"
        "Enviado: lunes, 1 de diciembre de 2026 10:00\nPara: ana@example.org\nAsunto: Re: Apelar\n\nvieja"
    )
    assert question_from_text(outlook) == "¿Puedo apelar?"
    assert (
        question_from_text("Tengo dos preguntas:\n- ¿cuándo?\n- ¿dónde?")
        == "Tengo dos preguntas:\n- ¿cuándo?\n- ¿dónde?"
    )


def test_html_is_sanitised_to_text() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "r@example.org", OWN, "Q"
    message.set_content(
        "<html><head><title>Mail</title><style>p{color:red}</style></head><body>"
        "<p onclick='steal()'>How do I <a href='http://evil.example'>apply</a>?</p>"
        "<script>alert(1)</script><img src=x onerror=alert(2)><!-- hidden comment -->"
        "<div class='gmail_quote'>On Mon, Agency wrote: old</div></body></html>",
        subtype="html",
    )
    mail = read_mail(bytes(message), "r@example.org", OWN)
    assert mail.question == "How do I apply?"
    for gone in ("alert", "steal", "color", "Mail", "hidden", "evil", "old", "<", ">"):
        assert gone not in mail.question


def test_odd_and_wrong_charsets_keep_the_text() -> None:
    def with_charset(charset: str, body: bytes) -> bytes:
        return (
            b"From: r@example.org\r\nTo: help@agency.example\r\nSubject: Q\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=" + charset.encode() + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        ) + body

    spanish = "¿Cuándo cobro la pensión?"
    assert read_mail(with_charset("x-unknown-42", spanish.encode()), "r@example.org", OWN).question == spanish
    assert read_mail(with_charset("us-ascii", spanish.encode()), "r@example.org", OWN).question == spanish
    assert read_mail(with_charset("iso-8859-1", spanish.encode("latin-1")), "r@example.org", OWN).question == spanish
    assert read_mail(with_charset("windows-1252", spanish.encode("cp1252")), "r@example.org", OWN).question == spanish


def test_attachments_are_noticed_and_not_read() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "r@example.org", OWN, "Q"
    message.set_content("Please see my letter.")
    message.add_attachment(b"%PDF-1.4 secret", maintype="application", subtype="pdf", filename="letter.pdf")
    mail = read_mail(bytes(message), "r@example.org", OWN)
    assert mail.has_attachments and mail.question == "Please see my letter."
    assert "PDF" not in mail.question
    assert not read_mail(raw(), "r@example.org", OWN).has_attachments


def test_lists_bulk_mail_daemons_and_our_own_address_get_no_reply() -> None:
    for precedence in ("bulk", "list", "junk", "Bulk"):
        reason = read_mail(raw(Precedence=precedence), "r@example.org", OWN).skip_reason
        assert reason == f"Precedence: {precedence.lower()}"
    assert read_mail(raw(List_Unsubscribe="<mailto:u@list.example>"), "r@example.org", OWN).skip_reason
    daemon = raw(From="Mail Delivery System <MAILER-DAEMON@mx.example.org>")
    assert read_mail(daemon, "", OWN).skip_reason
    assert read_mail(raw(), "postmaster@example.org", OWN).skip_reason == "sender postmaster does not read replies"
    assert read_mail(raw(From="Postmaster <postmaster@example.org>"), "r@example.org", OWN).skip_reason
    assert read_mail(raw(From=f"Assistant <{OWN.upper()}>"), "x@example.org", OWN).skip_reason == (
        "mail from the assistant itself"
    )
    assert read_mail(raw(), f"<{OWN}>", OWN).skip_reason == "mail from the assistant itself"


def test_truncated_and_broken_parts_are_read_as_far_as_they_go() -> None:
    broken = (
        b"From: r@example.org\r\nTo: help@agency.example\r\nSubject: =?x-bogus?q?Hi?=\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"SG93IGRvIEkgYXBwbHk/\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"JVBERi0xLjQK!!!not base64"
    )
    mail = read_mail(broken, "r@example.org", OWN)
    assert mail.question == "How do I apply?"
    assert mail.has_attachments and mail.skip_reason is None
