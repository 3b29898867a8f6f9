"""Customers asking to be told when the guidance answers their question: "YES" by SMS, and email senders.

SMS: an unanswered reply offers "Text YES to be told when we can answer this." (channels/answers.py,
`offers_update`). A YES (or SI / SÍ) from that number within OFFER_HOURS opts in the latest unanswered question
it asked; the number is kept in the review store only until the customer is told. A number that texted STOP is
never told (and its YES means START, as before).

Email: the unanswered reply says we will reply in the same thread once the guidance answers, and the sender is
opted in at once (they wrote to us, and the notice is a reply to their own message); the address and the
message's Message-ID, References and Subject are kept until they are told.

Web chat needs no opt-in: the answer is shown on the customer's next visit (`GET /api/chat/notices`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from channels.answers import UPDATE_OFFER_REASONS
from channels.continuation import conversation_for
from channels.privacy import pseudonym
from channels.review.ingest import ingest_new
from channels.review.store import ReviewStore
from channels.store import ChannelStore

log = logging.getLogger(__name__)
OPT_IN_WORDS = frozenset({"YES", "SI", "SÍ"})
OFFER_HOURS = 24  # a YES opts in a question asked at most this long ago
EMAIL_WINDOW = timedelta(hours=1)  # the email's question was recorded moments ago; this is only a bound

SMS_OPTED_IN = {
    "en": "Thanks. We'll text you once when our guidance can answer your question. Reply STOP to stop all texts.",
    "es": "Gracias. Le enviaremos un mensaje cuando nuestra guía pueda contestar su pregunta. Responda STOP para no "
    "recibir más mensajes.",
}


def is_opt_in(body: str) -> bool:
    """True when the SMS is just YES (or SI / SÍ), any case, trailing punctuation ignored."""
    return body.strip().rstrip(".!?").strip().upper() in OPT_IN_WORDS


def sms_conversation(channels: ChannelStore, phone: str) -> str:
    """What answer_events.conversation holds for an SMS customer: the keyed hash of the Rasa sender id the SMS
    service uses for the number (its pseudonym, or the web conversation it joined with a code)."""
    key = channels.privacy_key
    return channels.conversation_key(conversation_for(channels, key, "sms", phone, pseudonym(key, "sms", phone)))


def opt_in_sms(channels: ChannelStore, review: ReviewStore, phone: str, agency_number: str) -> str | None:
    """Opt in the number's latest unanswered question; the reply to text back, or None when this YES is not an
    answer to our offer (nothing offered to this number lately). Blocking: call it from a thread.
    """
    ingest_new(channels, review)  # the question was recorded moments ago; the queue may not have taken it yet
    conversation = sms_conversation(channels, phone)
    since = datetime.now(UTC) - timedelta(hours=OFFER_HOURS)
    item = review.latest_item(conversation, "sms", since)
    if item is None or item.reason not in UPDATE_OFFER_REASONS:
        return None
    review.opt_in(item.id, "sms", conversation, phone, reply_from=agency_number)
    log.info("review: an SMS customer asked to be told when item %d is answered", item.id)
    return SMS_OPTED_IN["es" if (item.lang or "").startswith("es") else "en"]


def opt_in_email(
    channels: ChannelStore,
    review: ReviewStore,
    rasa_sender: str,
    address: str,
    message_id: str,
    references: str,
    subject: str,
) -> bool:
    """Keep an email sender (whose question was just left unanswered, with the offer) to tell them by a reply
    in the same thread; False when there was nothing to opt in. Never raises: the reply goes out regardless.
    """
    try:
        ingest_new(channels, review)
        conversation = channels.conversation_key(rasa_sender)
        item = review.latest_item(conversation, "email", datetime.now(UTC) - EMAIL_WINDOW)
        if item is None or item.reason not in UPDATE_OFFER_REASONS:
            return False
        thread = {"message_id": message_id, "references": references, "subject": subject}
        review.opt_in(item.id, "email", conversation, address, thread=thread)
    except Exception:
        log.exception("review: could not keep an email sender to tell later; their reply is sent anyway")
        return False
    log.info("review: an email sender will be told when item %d is answered", item.id)
    return True
