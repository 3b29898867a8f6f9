"""Property tests (hypothesis) of the MIME reader: any bytes and broken MIME are read without an exception (the
reader documents none: what cannot be read is left out), and a well-formed message's text survives."""

from __future__ import annotations

from email.message import EmailMessage

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.email.read import InboundMail, read_mail

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(FUZZ, max_examples=40)  # a whole message read (MIME, HTML, reply parsing) each: slower examples
OWN = "help@agency.example"


def check(mail: InboundMail) -> None:
    assert isinstance(mail, InboundMail)
    assert all(isinstance(v, str) for v in (mail.sender, mail.subject, mail.references, mail.question))
    assert mail.skip_reason is None or isinstance(mail.skip_reason, str)
    assert mail.sender == "" or "@" in mail.sender


@FUZZ
@given(st.binary(max_size=3000))
def test_any_bytes_are_read_without_an_exception(raw: bytes) -> None:
    check(read_mail(raw, "resident@example.org", OWN))


header_name = st.sampled_from(
    [
        "From",
        "Subject",
        "Message-ID",
        "References",
        "Content-Type",
        "Content-Transfer-Encoding",
        "MIME-Version",
        "Auto-Submitted",
        "Authentication-Results",
        "Content-Disposition",
        "X-Odd",
    ]
)
header_value = st.one_of(
    st.text(max_size=80).map(lambda t: t.replace("\r", " ").replace("\n", " ")),
    st.sampled_from(
        [
            "multipart/mixed; boundary=b1",
            'multipart/alternative; boundary="b1"',
            "multipart/mixed",  # no boundary
            "text/plain; charset=x-unknown-8bit",
            "text/plain; charset=utf-7",
            "text/html; charset=iso-8859-1",
            "message/rfc822",
            "base64",
            "quoted-printable",
            "x-uuencode",
            "=?utf-8?b?SGVsbG8=?=",
            "=?utf-8?q?broken",
            "=?x-nope?b?AAAA?=",
            "<a@b> <c@d",
            '"Jo" <jo@example.org>',
            "jo@",
        ]
    ),
)
part_body = st.one_of(st.binary(max_size=400), st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass")))


@st.composite
def broken_mime(draw: st.DrawFn) -> bytes:
    """Headers in any order and repeated, boundaries that close too early or never, bodies in any bytes."""
    lines = [
        f"{draw(header_name)}: {draw(header_value)}".encode("utf-8", "surrogatepass")
        for _ in range(draw(st.integers(0, 8)))
    ]
    out = b"\r\n".join(lines) + draw(st.sampled_from([b"\r\n\r\n", b"\n\n", b"\r\n", b""]))
    for _ in range(draw(st.integers(0, 4))):
        out += draw(st.sampled_from([b"--b1\r\n", b"--b1--\r\n", b"--b2\r\n", b"\r\n"]))
        inner = [
            f"{draw(header_name)}: {draw(header_value)}".encode("utf-8", "surrogatepass")
            for _ in range(draw(st.integers(0, 3)))
        ]
        out += b"\r\n".join(inner) + b"\r\n\r\n" + draw(part_body) + b"\r\n"
    return out


@FEW
@given(broken_mime(), st.sampled_from(["resident@example.org", "", "<>", "not an address", "MAILER-DAEMON@x.org"]))
def test_malformed_mime_is_read_without_an_exception(raw: bytes, envelope_from: str) -> None:
    check(read_mail(raw, envelope_from, OWN))


# Words that no quote, signature or sign-off rule treats as the end of the new text.
VOCABULARY = ("apply", "benefits", "renewal", "office", "hearing", "notice", "card", "month", "solicitud", "año",
              "niño", "información", "café", "number", "deadline", "3", "2026")  # fmt: skip
line = st.lists(st.sampled_from(VOCABULARY), min_size=3, max_size=12).map(" ".join)
question_text = st.lists(line, min_size=1, max_size=6).map(lambda lines: "\n".join(lines).capitalize() + "?")


@FEW
@given(
    question_text,
    st.sampled_from(["7bit", "8bit", "quoted-printable", "base64"]),
    st.sampled_from(["utf-8", "iso-8859-1"]),
    st.booleans(),
)
def test_a_well_formed_messages_text_survives(text: str, cte: str, charset: str, as_html: bool) -> None:
    message = EmailMessage()
    message["From"] = "Resident <resident@example.org>"
    message["To"] = OWN
    message["Subject"] = "A question"
    message["Message-ID"] = "<q1@example.org>"
    if cte == "7bit" and not text.isascii():
        cte = "8bit"
    if as_html:
        body = "<html><body>" + "".join(f"<p>{t}</p>" for t in text.split("\n")) + "</body></html>"
        message.set_content(body, subtype="html", charset=charset, cte=cte)
    else:
        message.set_content(text, charset=charset, cte=cte)
    mail = read_mail(message.as_bytes(), "resident@example.org", OWN)
    assert mail.sender == "resident@example.org" and mail.skip_reason is None
    assert mail.message_id == "<q1@example.org>"
    assert mail.question.split() == text.split()
