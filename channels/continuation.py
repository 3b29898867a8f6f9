"""Continuation codes ("Text me this / Email me this"): a short code sent with a web answer joins a phone number
or email address to that web conversation, so follow-up questions keep their context.

A code is 6 characters from an alphabet without look-alikes (no 0/O, no 1/I/L), with at least one letter and
one digit. Only its keyed hash (PRIVACY_KEY) is stored. It works once, within CODE_TTL, and only from the number
or address it was sent to; anyone else trying it is told it is unknown. Texting or mailing it ("code K7M4QX", or
the code alone on the first line) links that number or address to the web conversation's Rasa sender id for
LINK_TTL (`conversation_links`): its messages then go to Rasa as that conversation.

Limits: at most GUESSES_PER_HOUR unknown codes an hour from one number or address; sending codes at most
SENDS_PER_CONVERSATION an hour for one web conversation (off with RATE_LIMIT_PER_SESSION=0), SENDS_PER_DESTINATION
to one number or address, and SENDS_PER_CLIENT from one web client address (off with RATE_LIMIT_PER_CLIENT=0).
Numbers and addresses are kept only as keyed hashes here ("party": `sms:<hash>`, `email:<hash>`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from channels.privacy import customer_hash
from channels.settings import Settings
from channels.store import ChannelStore

Channel = Literal["sms", "email"]
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6
CODE_TTL = timedelta(hours=24)
LINK_TTL = timedelta(days=30)
GUESS_WINDOW = timedelta(hours=1)
GUESSES_PER_HOUR = 5
SEND_WINDOW = timedelta(hours=1)
SENDS_PER_CONVERSATION = 5
SENDS_PER_DESTINATION = 3
SENDS_PER_CLIENT = 10

JOINED, USED, EXPIRED, UNKNOWN, LIMITED = "joined", "used", "expired", "unknown", "limited"
PREFIXED = re.compile(
    r"^\s*(?:my\s+)?code\s*(?:is\s*)?[:#-]?\s*(?P<code>[A-Za-z0-9]{3}[ -]?[A-Za-z0-9]{3})(?![A-Za-z0-9])"
    r"[\s.,;:!?-]*(?P<rest>.*)$",
    re.I,
)
BARE = re.compile(r"^\s*(?P<code>[A-Za-z0-9]{3}-?[A-Za-z0-9]{3})[\s.!]*$")
PHONE_PUNCTUATION = re.compile(r"[\s().-]")

REPLIES: dict[str, dict[str, str]] = {
    "sms": {
        JOINED: "Thanks! You're now continuing the conversation you started on our website. Text your next question.",
        USED: "That code has already been used, so it can't be used again. If you joined with it, just text your "
        "next question.",
        EXPIRED: "That code has expired: codes work for 24 hours. Text your question, or ask for a new code in the "
        "web chat.",
        UNKNOWN: "Sorry, I don't recognise that code. A code works once, from the number it was sent to. Text your "
        "question, or ask for a new code in the web chat.",
        LIMITED: "Too many codes that didn't work have come from this number. Please try again in {minutes} "
        "minutes, or just text your question.",
    },
    "email": {
        JOINED: "Thank you. You're now continuing the conversation you started on our website: reply with your "
        "next question.",
        USED: "That code has already been used, so it can't be used again. If you joined with it, just write "
        "your next question.",
        EXPIRED: "That code has expired: codes work for 24 hours. Write your question, or ask for a new code in "
        "the web chat.",
        UNKNOWN: "Sorry, I don't recognise that code. A code works once, from the address it was sent to. Write "
        "your question, or ask for a new code in the web chat.",
        LIMITED: "Too many codes that didn't work have come from this address. Please try again in {minutes} "
        "minutes, or just write your question.",
    },
}
NOTES = {
    ("sms", False): "To continue this conversation by text, reply with code {code}. It works once, for 24 hours. "
    "Reply STOP to opt out.",
    ("sms", True): "Para seguir esta conversación por mensaje de texto, responda con el código {code}. Sirve una "
    "vez, durante 24 horas. Responda STOP para no recibir más mensajes.",
    ("email", False): "To continue this conversation by email, reply to this message with the code {code} at the "
    "top. It works once, for 24 hours, from this address.",
    ("email", True): "Para seguir esta conversación por correo, responda a este mensaje con el código {code} al "
    "principio. Sirve una vez, durante 24 horas, desde esta dirección.",
}


class ContinuationError(Exception):
    """No unique code could be made; try again."""


@dataclass(frozen=True)
class Redeemed:
    """What came of a message that brought a code: its outcome, the reply, and any question asked with it."""

    outcome: str
    reply: str
    rest: str = ""  # a question after "code K7M4QX ...", answered in the joined conversation (JOINED only)
    conversation: str | None = None


def new_code() -> str:
    """A fresh random code: CODE_LENGTH characters of ALPHABET, at least one letter and one digit."""
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        if code_shaped(code):
            return code


def code_shaped(code: str) -> bool:
    """Whether `code` could be one of ours: the length, the alphabet, a letter and a digit."""
    return (
        len(code) == CODE_LENGTH
        and all(c in ALPHABET for c in code)
        and any(c.isdigit() for c in code)
        and any(c.isalpha() for c in code)
    )


def code_hash(key: str, code: str) -> str:
    """The keyed HMAC-SHA256 (hex) a code is stored as."""
    return hmac.new(key.encode(), b"continuation-code:" + code.upper().encode(), hashlib.sha256).hexdigest()


def normalise_phone(text: str) -> str | None:
    """An E.164 number (+15550104477) from what a customer typed; ten digits are taken as a US number."""
    digits = PHONE_PUNCTUATION.sub("", text.strip())
    if digits.startswith("+"):
        body = digits[1:]
        return digits if body.isdigit() and 7 <= len(body) <= 15 and body[0] != "0" else None
    if digits.isdigit() and len(digits) == 10:
        return "+1" + digits
    if digits.isdigit() and len(digits) == 11 and digits.startswith("1"):
        return "+" + digits
    return None


def party_for(key: str, channel: Channel, address: str) -> str:
    """Who a number or address is, as stored: `sms:<keyed hash>` / `email:<keyed hash>`."""
    return f"{channel}:{customer_hash(key, channel, address)}"


def find_code(text: str) -> tuple[str, str] | None:
    """The code a message brings, and any question after it: "code K7M4QX" (any 6 letters and digits after
    the word code), or a code alone on the first line. None when the message brings no code.
    """
    first, _, others = text.strip().partition("\n")
    prefixed = PREFIXED.match(first)
    if prefixed:
        code = prefixed["code"].replace(" ", "").replace("-", "").upper()
        return code, "\n".join(p for p in (prefixed["rest"].strip(), others.strip()) if p)
    bare = BARE.match(first)
    if bare:
        code = bare["code"].replace("-", "").upper()
        if code_shaped(code):
            return code, others.strip()
    return None


def without_code(text: str) -> str:
    """The question in a message, with the code it brought (if any) taken off."""
    found = find_code(text)
    return found[1] if found else text


def code_note(channel: Channel, code: str, spanish: bool = False) -> str:
    """The paragraph sent with the answer that gives the code and says how to use it."""
    return NOTES[(channel, spanish)].format(code=code)


def redeem(
    store: ChannelStore, key: str, channel: Channel, address: str, text: str, now: datetime | None = None
) -> Redeemed | None:
    """Use the code `text` brings, for the sender `address` on `channel`; None when it brings none.

    An unknown code counts towards the guessing limit; past it, no code from that sender is looked at until
    the hour is up.
    """
    found = find_code(text)
    if found is None:
        return None
    code, rest = found
    now = now or datetime.now(UTC)
    party = party_for(key, channel, address)
    wrong = store.attempts_since(party, now - GUESS_WINDOW, UNKNOWN)
    if len(wrong) >= GUESSES_PER_HOUR:
        minutes = max(1, math.ceil((wrong[-GUESSES_PER_HOUR] + GUESS_WINDOW - now).total_seconds() / 60))
        store.record_attempt(party, LIMITED, now)
        return Redeemed(LIMITED, REPLIES[channel][LIMITED].format(minutes=minutes))
    outcome, conversation = store.redeem_code(code_hash(key, code), party, now)
    store.record_attempt(party, outcome, now)
    return Redeemed(outcome, REPLIES[channel][outcome], rest if outcome == JOINED else "", conversation)


def conversation_for(
    store: ChannelStore, key: str, channel: Channel, address: str, default: str, now: datetime | None = None
) -> str:
    """The Rasa sender id for a message from `address`: the web conversation it joined with a code within
    LINK_TTL, else the channel's own `default` (`sms:<number>`, `email:<address>`).
    """
    since = (now or datetime.now(UTC)) - LINK_TTL
    return store.linked_conversation(party_for(key, channel, address), since) or default


def issue_code(
    store: ChannelStore,
    key: str,
    conversation: str,
    channel: Channel,
    address: str,
    client: str | None,
    now: datetime | None = None,
) -> tuple[str, datetime]:
    """Make and store a code that joins `address` to `conversation`; the code and when it expires."""
    now = now or datetime.now(UTC)
    expires = now + CODE_TTL
    party = party_for(key, channel, address)
    for _ in range(10):
        code = new_code()
        if store.add_code(code_hash(key, code), conversation, party, client, expires, now):
            return code, expires
    raise ContinuationError("could not make a unique continuation code in 10 tries; try again")


def send_refusal(
    store: ChannelStore,
    settings: Settings,
    conversation: str,
    channel: Channel,
    address: str,
    client: str | None,
    now: datetime | None = None,
) -> tuple[str, int] | None:
    """Why no code may be sent now, and the seconds until one may; None when one may."""
    now = now or datetime.now(UTC)
    since = now - SEND_WINDOW
    checks: list[tuple[str, int, dict[str, str]]] = []
    if settings.rate_limit_per_session:
        checks.append(("this conversation", SENDS_PER_CONVERSATION, {"conversation": conversation}))
    checks.append(
        (
            "this number or address",
            SENDS_PER_DESTINATION,
            {"party": party_for(settings_key(settings), channel, address)},
        )
    )
    if settings.rate_limit_per_client and client:
        checks.append(("this device's network address", SENDS_PER_CLIENT, {"client": client}))
    for what, limit, where in checks:
        times = store.codes_since(since, **where)
        if len(times) >= limit:
            wait = max(1, math.ceil((times[-limit] + SEND_WINDOW - now).total_seconds()))
            minutes = math.ceil(wait / 60)
            return f"at most {limit} answers an hour can be sent for {what}; try again in {minutes} minutes", wait
    return None


def settings_key(settings: Settings) -> str:
    """The key codes and parties are hashed with: PRIVACY_KEY."""
    return settings.privacy_key.get_secret_value()
