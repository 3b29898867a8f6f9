"""Write and send the reply to one inbound email through SMTP_HOST:SMTP_PORT."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from channels.email.guard import clean_subject
from channels.email.read import SUBJECT_PREFIX, InboundMail
from channels.settings import Settings


def build_reply(mail: InboundMail, body: str, from_address: str) -> EmailMessage:
    """A threaded reply: `Re:` subject, In-Reply-To and References, marked as an automatic reply.

    The subject is the only text of the customer's that is echoed: one line of at most 78 characters, without
    control characters or tags. The body is plain text only.
    """
    reply = EmailMessage()
    reply["From"] = from_address
    reply["To"] = mail.sender
    subject = clean_subject(mail.subject, SUBJECT_PREFIX) or "Your question"
    reply["Subject"] = f"Re: {subject}"
    reply["Date"] = formatdate(localtime=False, usegmt=True)
    reply["Message-ID"] = make_msgid(domain=from_address.rsplit("@", 1)[-1] or None)
    if mail.message_id:
        reply["In-Reply-To"] = mail.message_id
        reply["References"] = f"{mail.references} {mail.message_id}".strip()
    reply["Auto-Submitted"] = "auto-replied"
    reply.set_content(body)
    return reply


def send_message(settings: Settings, message: EmailMessage) -> None:
    """Send through the configured SMTP server (STARTTLS and login only when configured)."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(message)
