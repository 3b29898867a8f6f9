"""The HTML email renderer and the multipart reply: the same Answer as the plain text, escaped, accessible."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

from bs4 import BeautifulSoup

from channels.answers import Answer, Choice, render_email, render_email_html
from channels.email.outbox import message_bytes
from channels.email.read import InboundMail
from channels.email.send import build_reply

ANSWER = Answer(
    text='Ask within 90 days. Write "<script>alert(1)</script>" & sign it.\nKeep a copy.',
    answered=True,
    source_url="https://agency.example/appeals?x=1&y=2",
    source_title="Appeals & fair hearings",
    index_version="v42",
    last_updated="2026-05-01",
    kind="answer",
    lang="en",
)


def test_html_escapes_every_text_and_links_the_source() -> None:
    html = render_email_html([ANSWER], notes=["Your code is <b>K7M4QX</b>."])
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("script") is None and soup.find("img") is None and soup.find("b") is None
    assert soup.html is not None and soup.html["lang"] == "en"
    assert '"<script>alert(1)</script>" & sign it.' in soup.get_text()
    assert "Your code is <b>K7M4QX</b>." in soup.get_text()
    (link,) = soup.find_all("a")
    assert link["href"] == "https://agency.example/appeals?x=1&y=2" and link.get_text() == "Appeals & fair hearings"
    assert "Guidance version: v42" in soup.get_text()


def test_a_spanish_answer_is_marked_spanish_and_choices_are_links() -> None:
    clarify = Answer(
        text="¿Cuál de estas?",
        kind="clarify",
        lang="es",
        choices=(Choice(1, "Subsidio de entierro", "1", "https://agency.example/a"), Choice(2, "Otro", "2")),
    )
    soup = BeautifulSoup(render_email_html([clarify]), "html.parser")
    assert soup.html is not None and soup.html["lang"] == "es" and "Hola:" in soup.get_text()
    items = soup.find_all("li")
    assert [li.get_text() for li in items] == ["Subsidio de entierro", "Otro"]
    assert items[0].a is not None and items[0].a["href"] == "https://agency.example/a" and items[1].a is None
    assert "Responda 1 o 2." in soup.get_text()


def test_the_reply_is_multipart_plain_and_html_of_the_same_answer() -> None:
    mail = InboundMail(
        sender="resident@example.org",
        subject="Appeal <script>",
        message_id="<q1@customer.example>",
        references="",
        question="How do I appeal?",
    )
    reply = build_reply(mail, render_email([ANSWER]), "help@agency.example", render_email_html([ANSWER]))
    parsed = BytesParser(policy=policy.default).parsebytes(message_bytes(reply))
    assert parsed.get_content_type() == "multipart/alternative"
    assert message_bytes(reply).isascii()  # 7-bit: any SMTP server takes it
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert "https://agency.example/appeals?x=1&y=2" in plain.get_content()
    assert "&lt;script&gt;" in html.get_content() and "<script>" not in html.get_content()
    assert str(parsed["Subject"]) == "Re: Appeal" and str(parsed["In-Reply-To"]) == "<q1@customer.example>"
    assert str(parsed["Auto-Submitted"]) == "auto-replied" and parsed["Message-ID"]
