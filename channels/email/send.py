"""Write the assistant's emails (a threaded reply, or a message it starts), and send one at once through
SMTP_HOST:SMTP_PORT. The listener and the gateway queue theirs in the outbox instead (channels/email/outbox.py).
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from channels.email.guard import clean_subject
from channels.email.read import SUBJECT_PREFIX, InboundMail
from channels.settings import Settings


def build_message(
    to: str, subject: str, body: str, from_address: str, html: str | None = None, auto: str = "auto-generated"
) -> EmailMessage:
    """An email from the assistant: its own Message-ID (fixed now, so a resend is the same message), marked
    `Auto-Submitted` (RFC 3834), text/plain and, with `html`, a text/html alternative of the same content.
    """
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=from_address.rsplit("@", 1)[-1] or None)
    message["Auto-Submitted"] = auto
    message.set_content(body, cte="quoted-printable")
    if html is not None:
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    return message


def build_reply(mail: InboundMail, body: str, from_address: str, html: str | None = None) -> EmailMessage:
    """A threaded reply: `Re:` subject, In-Reply-To and References, marked as an automatic reply; plain text,
    and the same answer as HTML when `html` is given.

    The subject is the only text of the customer's that is echoed: one line of at most 78 characters, without
    control characters or tags.
    """
    subject = clean_subject(mail.subject, SUBJECT_PREFIX) or "Your question"
    reply = build_message(mail.sender, f"Re: {subject}", body, from_address, html, auto="auto-replied")
    if mail.message_id:
        reply["In-Reply-To"] = mail.message_id
        reply["References"] = f"{mail.references} {mail.message_id}".strip()
    return reply


def send_message(settings: Settings, message: EmailMessage) -> None:
    """Send now through the configured SMTP server (STARTTLS and login only when configured). Blocking, and
    sent once or not at all: prefer `channels.email.outbox.queue_email`, which waits while SMTP is down.
    """
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(message)
