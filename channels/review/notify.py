"""Tell customers that the guidance now answers what they asked: the notice on each channel, and sending it.

The notice is the answer Rasa gave when the closed loop asked the question again, rendered by the same
renderers as any answer (channels/answers.py), after one line that says why it comes. SMS goes by Twilio's
REST API (never to a number that texted STOP); email is a reply in the customer's own thread (In-Reply-To and
References of their message), put in the email outbox (channels/email/outbox.py), whose sender in the email
process delivers it once; web chat shows it on the customer's next visit (`GET /api/chat/notices`).
A customer's raw number or address is deleted once they are told, or once it cannot be done.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from channels.answers import PLAIN, Answer, answers_from_rasa, render_email, render_email_html, render_web
from channels.email.guard import clean_subject
from channels.email.outbox import queue_email
from channels.email.read import SUBJECT_PREFIX
from channels.review.store import Item, Notification, ReviewStore
from channels.settings import Settings
from channels.sms.send import SmsSendFailed, TwilioSender
from channels.sms.text import compose_sms
from channels.store import ChannelStore

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5  # a notice that fails this many times is given up (failed), and the contact deleted

INTRO = {
    "sms": {
        "en": "Earlier you asked us something we couldn't answer. Our guidance answers it now:",
        "es": "Hace poco nos hizo una pregunta que no pudimos contestar. Nuestra guía ya la contesta:",
    },
    "email": {
        "en": "You wrote to us with a question our guidance could not answer then. It answers it now:",
        "es": "Nos escribió con una pregunta que nuestra guía no podía contestar. Ya la contesta:",
    },
    "web": {
        "en": "Last time you asked “{question}” and I couldn't answer. Our guidance answers it now:",
        "es": "La última vez preguntó “{question}” y no pude contestar. Nuestra guía ya lo contesta:",
    },
}


def notice_answers(item: Item, channel: str) -> list[Answer]:
    """The notice as Answers: the line that says why it comes, then the answer(s) the guidance gives now."""
    answered = [a for a in answers_from_rasa(item.answer_messages()) if a.answered]
    lang = next((a.lang for a in answered if a.lang), item.lang) or "en"
    words = INTRO[channel]["es" if lang.startswith("es") else "en"]
    intro = Answer(text=words.format(question=item.question), kind=PLAIN, lang=lang)
    return [intro, *answered]


def notice_sms(item: Item, max_chars: int) -> list[str]:
    """The SMS messages of the notice, fitted like any SMS answer."""
    return compose_sms(notice_answers(item, "sms"), max_chars)


def notice_email(item: Item) -> tuple[str, str]:
    """The email body of the notice: plain text and HTML."""
    answers = notice_answers(item, "email")
    return render_email(answers), render_email_html(answers)


def notice_web(item: Item) -> list[dict[str, Any]]:
    """The notice as /api/chat messages."""
    return render_web(notice_answers(item, "web"))


def build_notice_email(settings: Settings, notification: Notification, item: Item) -> EmailMessage:
    """The notice as a reply in the customer's thread: `Re:` their subject, In-Reply-To and References."""
    thread = notification.thread
    message = EmailMessage()
    message["From"] = settings.email_from
    message["To"] = notification.contact or ""
    subject = clean_subject(thread.get("subject", ""), SUBJECT_PREFIX) or "Your question"
    message["Subject"] = f"Re: {subject}"
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.email_from.rsplit("@", 1)[-1] or None)
    if thread.get("message_id"):
        message["In-Reply-To"] = thread["message_id"]
        message["References"] = f"{thread.get('references', '')} {thread['message_id']}".strip()
    message["Auto-Submitted"] = "auto-generated"
    text, html = notice_email(item)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


class Notifier:
    """Sends the notices that are due, once each."""

    def __init__(self, settings: Settings, channels: ChannelStore, review: ReviewStore) -> None:
        self.settings = settings
        self.channels = channels
        self.review = review
        token = settings.twilio_auth_token.get_secret_value()
        self.sms = (
            TwilioSender(settings.twilio_account_sid, token, settings.twilio_api_base_url)
            if settings.twilio_account_sid
            else None
        )

    def send_due(self) -> int:
        """One pass: send every due SMS and email notice; how many were sent. Blocking: run it in a thread."""
        channels = ("sms", "email") if self.sms is not None else ("email",)
        sent = 0
        for notification in self.review.due_notifications(channels):
            if not self.review.claim_notification(notification.id):
                continue  # another gateway took it
            item = self.review.item(notification.item_id)
            if item is None or not notification.contact:
                self.review.finish_notification(notification.id, "failed", "nothing to send, or nobody to send it to")
                continue
            state, error = self._send(notification, item)
            if state == "due" and notification.attempts + 1 >= MAX_ATTEMPTS:
                state = "failed"
            self.review.finish_notification(notification.id, state, error)
            sent += state == "sent"
            log.info("review notice %d (%s, item %d): %s", notification.id, notification.channel, item.id, state)
        return sent

    def _send(self, notification: Notification, item: Item) -> tuple[str, str | None]:
        if notification.channel == "sms":
            return self._send_sms(notification, item)
        return self._send_email(notification, item)

    def _send_sms(self, notification: Notification, item: Item) -> tuple[str, str | None]:
        assert self.sms is not None and notification.contact
        phone = notification.contact
        if self.channels.is_opted_out(phone):
            return "dropped", "the number texted STOP"
        parts = notice_sms(item, self.settings.sms_max_chars)
        for number, part in enumerate(parts):
            try:
                self.sms.send(phone, notification.reply_from or self.settings.twilio_from_number, part)
            except SmsSendFailed as exc:
                if number:  # the first texts went: sending them again would tell the customer twice
                    return "failed", f"sent {number} of {len(parts)} texts, then: {exc}"
                return "due", str(exc)
        return "sent", None

    def _send_email(self, notification: Notification, item: Item) -> tuple[str, str | None]:
        """Queue the notice in the email outbox (once: keyed by the notification), which delivers it."""
        try:
            queue_email(
                self.channels, build_notice_email(self.settings, notification, item), f"review:{notification.id}"
            )
        except ValueError as exc:  # no address to send to
            return "failed", str(exc)
        except Exception as exc:  # the database: try again later
            log.warning("review notice %d: could not queue the email: %s", notification.id, exc)
            return "due", f"could not queue the email: {type(exc).__name__}"
        return "sent", None
