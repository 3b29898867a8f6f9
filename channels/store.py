"""The channels' database tables: the only code of the channels package that touches the database (its staff/
and review/ subpackages have stores and migration chains of their own).

The schema is kept by the alembic migrations in `channels/migrations/`, with their own version table
(`channels_alembic_version`) so other packages can keep theirs in the same database. `upgrade_database` runs
them to head (channels/migrate.py); `ChannelStore` calls it when it is made, which is when the gateway and the
email listener start. Several processes may start at once: on SQLite they take turns through a lock file beside
the database, and anywhere a failed upgrade is forgiven when the schema turns out to be at head.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from channels.answers import Answer, AnswerEvent
from channels.migrate import MigrationChain
from channels.privacy import customer_hash, hash_sender, redact
from content_sync.jobs import get_engine

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "channels_alembic_version"

metadata = sa.MetaData()

sms_messages = sa.Table(
    "sms_messages",
    metadata,
    sa.Column("message_sid", sa.String(64), primary_key=True),
    sa.Column("sender", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("reply_twiml", sa.Text, nullable=True),  # NULL while the answer is not made yet
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recipient", sa.String(64), nullable=True),
    sa.Column("state", sa.String(16), nullable=False, server_default="replied"),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("answer_text", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sender_hash", sa.String(64), nullable=True),
    sa.Index("ix_sms_messages_sender_received_at", "sender", "received_at"),
    sa.Index("ix_sms_messages_state_claimed_at", "state", "claimed_at"),
    sa.Index("ix_sms_messages_sender_hash_received_at", "sender_hash", "received_at"),
    sa.Index("ix_sms_messages_received_at", "received_at"),
)
"""Every inbound SMS, claimed by its MessageSid before anything else happens, and what became of it.

    message_sid   Twilio's id; the primary key, so one MessageSid is claimed once (a repeat gets `reply_twiml`)
    sender        the customer's number (Twilio's From) while an answer may still be owed to it; once the
                  message reaches a final state (FINAL_STATES) it is replaced by `sender_hash`
    sender_hash   the number's keyed hash (channels.privacy.customer_hash "sms"); the rate limit counts by it
                  (NULL in rows from before migration 0004)
    recipient     the agency's number (To), which answers
    body          the message as received while it may still be answered; redacted (channels.privacy.redact)
                  once the message reaches a final state
    reply_twiml   the TwiML the webhook answered (a repeat gets the same); NULL while it is being made
    received_at   when it was first claimed (UTC); the per-number rate limit counts these
    state         answering (a handler holds the claim), replied (answered inline), pending (the answer goes
                  by REST), waiting (Rasa was unreachable; retried), unsent (made, the REST send failed),
                  sent, opted_out (not answered: the number sent STOP), limited (over the rate limit),
                  undeliverable (no TWILIO_ACCOUNT_SID to send a late answer with)
    claimed_at    when the current holder took the claim (the lease starts); a claim older than the lease
                  without a finished state means its handler died, and the next one takes it over
    answer_text   the SMS answer (a JSON list of messages) once made
    attempts      how many times it was taken over after a handler died or Rasa was unreachable
"""

sms_opt_outs = sa.Table(
    "sms_opt_outs",
    metadata,
    sa.Column("phone", sa.String(64), primary_key=True),
    sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=False),
)
"""Numbers that texted STOP (or another opt-out keyword) and not START since: they are sent nothing.

    phone          the number's keyed hash (channels.privacy.customer_hash "sms"); rows written before
                   migration 0004 hold the number itself, and are still honoured
"""

LIVE_STATES = ("answering", "pending")  # someone holds the claim, within its lease
FINAL_STATES = ("replied", "sent", "opted_out", "limited", "undeliverable")  # nothing more is sent for these

answer_events = sa.Table(
    "answer_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("conversation", sa.Text, nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(32), nullable=True),
    sa.Column("lang", sa.String(16), nullable=True),
    sa.Column("index_version", sa.String(64), nullable=True),
    sa.Column("helpful", sa.Boolean, nullable=True),
    sa.Column("about_question", sa.Text, nullable=True),
    sa.Column("about_source_url", sa.Text, nullable=True),
    sa.Column("about_chunk_digest", sa.String(128), nullable=True),
    sa.Column("about_index_version", sa.String(64), nullable=True),
    sa.Index("ix_answer_events_created_at", "created_at"),
    sa.Index("ix_answer_events_reason_created_at", "reason", "created_at"),
)
"""Every assistant message that did not answer from the guidance, and every rating.

One row per message of the action's (a `custom` payload) with `answered: false`, on web chat, SMS and email
(not `assistant ask`, an editor's preview). Plain Rasa responses (greetings, thanks, goodbyes) are not here.
Ratings are kept whichever way they went ("helpful" too), so rates can be computed.

    id                    row number, in the order rows were written
    created_at            when the reply was made (UTC)
    channel               where the customer asked: "web", "sms" or "email"
    conversation          the keyed hash (channels.privacy.hash_sender, PRIVACY_KEY) of the Rasa sender id the
                          channel used ("web:<session_id>", "sms:<pseudonym>", "email:<pseudonym>"): the same
                          for every turn of one conversation, and the same as `messages.conversation`
    question              the customer's message as the channel sent it to Rasa, redacted (channels.privacy.redact:
                          "[PHONE]", "[EMAIL]", ...), e.g. a question, "1" for a choice, or a feedback payload
    kind                  the action's message kind: "answer", "clarify", "feedback" or "handoff"
    reason                why it did not answer: no_match, out_of_scope, personal_account, injection, not_ready
                          (kind answer), clarify, feedback, handoff; NULL when the payload gave none
    lang                  the reply's language, "en" or "es" (NULL when the payload gave none)
    index_version         the index version the reply was made from
    helpful               feedback only: true for "yes, helpful", false for "no"; NULL otherwise
    about_question        feedback only: the question whose answer was rated (redacted too)
    about_source_url      feedback only: the rated answer's source_url
    about_chunk_digest    feedback only: the digest of the rated passage (which text exactly was rated)
    about_index_version   feedback only: the index version of the rated answer

Rows written before migration 0004 may hold a raw conversation and question; the retention purge removes them.
"""

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("conversation", sa.String(64), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("kind", sa.String(32), nullable=True),
    sa.Column("answered", sa.Boolean, nullable=True),
    sa.Column("reason", sa.String(32), nullable=True),
    sa.Column("lang", sa.String(16), nullable=True),
    sa.Column("source_url", sa.Text, nullable=True),
    sa.Column("index_version", sa.String(64), nullable=True),
    sa.Column("chunk_digest", sa.String(128), nullable=True),
    sa.Index("ix_messages_conversation_id", "conversation", "id"),
    sa.Index("ix_messages_created_at", "created_at"),
)
"""Every turn of every conversation on web chat, SMS and email: the customer's message and each reply.
Only redacted text is ever written here (docs/adr/0011-personal-data.md).

    id              row number, in the order rows were written (a turn's rows are consecutive)
    created_at      when the turn was recorded (UTC)
    channel         "web", "sms" or "email"
    conversation    the keyed hash of the Rasa sender id (as answer_events.conversation): one customer's
                    turns share it, so a transcript is the rows with one conversation, by id
    direction       "in" (the customer's message) or "out" (one assistant message)
    text            the message, redacted (channels.privacy.redact)
    kind            out: the Answer's kind (answer, clarify, feedback, handoff, text); in: NULL
    answered        out: whether that message answered from the guidance; in: whether any reply did
    reason          out: why it did not answer (as answer_events.reason); in: NULL
    lang            the reply's language, "en" or "es" (in: the first reply's), when the action said
    source_url      out, answered: the cited page
    index_version   the index version the reply was made from
    chunk_digest    out, answered: the digest of the quoted passage (which text exactly was shown)
"""

email_outbox = sa.Table(
    "email_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dedupe_key", sa.String(128), nullable=False, unique=True),
    sa.Column("message_id", sa.String(255), nullable=False, unique=True),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("sender", sa.String(320), nullable=False),
    sa.Column("subject", sa.Text, nullable=True),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, server_default="queued"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("claim_token", sa.String(32), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("smtp_response", sa.Text, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index("ix_email_outbox_state_next_attempt_at", "state", "next_attempt_at"),
)
"""Every email the assistant sends, from enqueueing to delivery (docs/adr/0012-email-outbox.md).

    id               row number
    dedupe_key       what the email is for ("reply:<spool id>", "continuation:<code>"): enqueueing twice is a no-op
    message_id       the email's Message-ID, fixed when it is made: a resend after a crash is the same message
    recipient        the one envelope recipient; sender: the envelope sender (EMAIL_FROM when it was made)
    subject          the Subject, for logs and status
    raw              the whole message as sent (RFC 5322 bytes, 7-bit)
    state            queued (waiting, or retrying at next_attempt_at), sending (a sender holds the claim),
                     sent, failed (a permanent 5xx, or given up; last_error says why)
    created_at       when it was enqueued (UTC); next_attempt_at: when a sender may next try it
    claimed_at       when the current sender took it (its lease starts); claim_token: that sender's token, so a
                     sender whose lease ran out cannot mark another's attempt
    attempts         how many times it was claimed
    sent_at          when the SMTP server accepted it; smtp_response: what the server said
    last_error       the last failure (transient ones too)
"""

last_answers = sa.Table(
    "last_answers",
    metadata,
    sa.Column("conversation", sa.String(160), primary_key=True),
    sa.Column("messages", sa.Text, nullable=False),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
)
"""Each web conversation's last turn that answered from the guidance, for "Text me this / Email me this".

    conversation   the Rasa sender id ("web:<session_id>")
    messages       Rasa's REST reply for that turn (JSON): the same Answers are made from it again
    answered_at    when (UTC)
"""

continuation_codes = sa.Table(
    "continuation_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column("conversation", sa.String(160), nullable=False),
    sa.Column("party", sa.String(330), nullable=False),
    sa.Column("client", sa.String(64), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_continuation_codes_conversation_created_at", "conversation", "created_at"),
    sa.Index("ix_continuation_codes_party_created_at", "party", "created_at"),
    sa.Index("ix_continuation_codes_client_created_at", "client", "created_at"),
)
"""Continuation codes sent with "Text me this / Email me this"; each row also records the customer's consent.

    code_hash      keyed HMAC-SHA256 of the code (the code itself is never stored)
    conversation   the web conversation the code joins ("web:<session_id>")
    party          where it was sent, and the only sender it works for: "sms:<number>" or "email:<address>"
    client         the web client's address that asked for it (for the per-client limit)
    created_at     when it was sent, with the customer's consent (UTC); expires_at: when it stops working
    used_at        when it was used (a code works once); NULL while unused
"""

continuation_attempts = sa.Table(
    "continuation_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("party", sa.String(330), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Index("ix_continuation_attempts_party_at", "party", "at"),
)
"""Every code texted or mailed in: party ("sms:<number>", "email:<address>"), when, and the outcome (joined,
unknown, expired, used, limited). Unknown ones count towards the guessing limit."""

conversation_links = sa.Table(
    "conversation_links",
    metadata,
    sa.Column("party", sa.String(330), primary_key=True),
    sa.Column("conversation", sa.String(160), nullable=False),
    sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
)
"""A phone number or email address that joined a web conversation with a code: its messages go to Rasa as
`conversation` instead of "sms:<number>" / "email:<address>" (`party`), until the link is older than its TTL."""


inbound_messages = sa.Table(
    "inbound_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("idem_key", sa.String(64), nullable=False),
    sa.Column("session_id", sa.String(160), nullable=True),
    sa.Column("ref", sa.String(64), nullable=True),
    sa.Column("text", sa.Text, nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("reply", sa.Text, nullable=True),
    sa.UniqueConstraint("channel", "idem_key", name="uq_inbound_messages_channel_idem_key"),
    sa.Index("ix_inbound_messages_state_claimed_at", "state", "claimed_at"),
    sa.Index("ix_inbound_messages_received_at", "received_at"),
)
"""The inbound journal of web chat and email (docs/adr/0018-inbound-journal.md): each message is written here
before it is answered and marked once it is. SMS has its own journal, `sms_messages`.

    id            row number
    channel       "web" or "email"
    idem_key      the keyed hash (channels.privacy.hash_sender) of the message's idempotency key: web, the
                  session and the widget's Idempotency-Key (a fresh random one when the client sent none);
                  email, the Message-ID (the spool id when there is none). One row per key and channel, so a
                  repeat is answered from this row, never again
    session_id    web: the session the message belongs to (a retry gets its reply in that session)
    ref           email: the spool id of the copy being answered
    text          web: the customer's message as sent, only while a reply is owed (NULL once answered or given
                  up: the redacted copy is in `messages`)
    state         answering (a gateway holds it, within INBOUND_LEASE_SECONDS of claimed_at), answered, skipped
                  (email: not answered, see the spool's note), failed (the client was told it failed, or the
                  email ended in failed/; a repeat answers it again), expired (not answered within a day)
    received_at   when it was first written (UTC); claimed_at: when its current holder took it
    answered_at   when it was marked answered
    attempts      how many holders it had (more than 1: a gateway died holding it)
    reply         web: the reply as the API sent it (JSON), for a retry with the same key, until it expires
"""

CHAIN = MigrationChain("channels", MIGRATIONS, VERSION_TABLE)


def head_revision() -> str | None:
    """The newest migration's revision id."""
    return CHAIN.head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    return CHAIN.current(engine)


def upgrade_database(database_url: str) -> None:
    """Run this package's migrations up to head (channels/migrate.py: one at a time, safe when hosts race)."""
    CHAIN.upgrade(database_url)


def _is_hash(value: str) -> bool:
    """Whether a stored sender already is a keyed hash (64 hex digits) rather than a number."""
    return len(value) == 64 and all(ch in "0123456789abcdef" for ch in value)


def _insert(engine: Engine) -> Any:
    """The dialect's INSERT with ON CONFLICT (SQLite and PostgreSQL both have it)."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert


def _fit(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    """Cut strings to their column's length, so a long value never costs the row."""
    for name, value in row.items():
        length = getattr(table.c[name].type, "length", None)
        if isinstance(value, str) and length and len(value) > length:
            row[name] = value[:length]
    return row


class ChannelStore:
    """Inbound SMS (claimed once per MessageSid), their replies and delivery, opt-outs, and the answer events."""

    def __init__(self, database_url: str, migrate: bool = True, privacy_key: str | None = None) -> None:
        """`privacy_key` keys the hashes that stand for customers (PRIVACY_KEY; read from the settings when
        not given, the first time one is needed).
        """
        if migrate:
            upgrade_database(database_url)
        self.engine = get_engine(database_url)
        self._privacy_key = privacy_key

    # -- personal data ------------------------------------------------------------------------------------

    @property
    def privacy_key(self) -> str:
        if not self._privacy_key:
            from channels.settings import get_settings

            self._privacy_key = get_settings().privacy_key.get_secret_value()
        return self._privacy_key

    def conversation_key(self, sender_id: str) -> str:
        """What `answer_events.conversation` and `messages.conversation` hold for the Rasa sender id."""
        return hash_sender(self.privacy_key, sender_id)

    def number_key(self, phone: str) -> str:
        """What `sms_messages.sender_hash` and `sms_opt_outs.phone` hold for a phone number."""
        return customer_hash(self.privacy_key, "sms", phone)

    def sms_reply(self, message_sid: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sms_messages.c.reply_twiml).where(sms_messages.c.message_sid == message_sid)
            ).scalar()

    def claim_sms(
        self, message_sid: str, sender: str, body: str, recipient: str | None = None, now: datetime | None = None
    ) -> bool:
        """Claim the inbound message before anything else happens: one atomic insert that does nothing when this
        MessageSid is already there. True only for the one caller that inserted it.
        """
        now = now or datetime.now(UTC)
        row = {
            "message_sid": message_sid,
            "sender": sender,
            "recipient": recipient,
            "body": body,
            "received_at": now,
            "claimed_at": now,
            "state": "answering",
            "sender_hash": self.number_key(sender),
        }
        insert = (
            _insert(self.engine)(sms_messages)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["message_sid"])
            .returning(sms_messages.c.message_sid)  # not rowcount: psycopg 3.3 reports -1 for an INSERT here
        )
        with self.engine.begin() as conn:
            return conn.execute(insert).first() is not None

    def take_over_sms(
        self, message_sid: str, lease: float, retry_after: float, state: str = "answering", now: datetime | None = None
    ) -> bool:
        """Take a claim whose holder died (answering or pending, claimed longer than `lease` seconds ago) or
        whose answer waits for Rasa (waiting, last tried `retry_after` seconds ago), or whose REST send failed
        (unsent). One atomic update: True for the one caller that took it; it then holds a fresh lease.
        """
        now = now or datetime.now(UTC)
        row = sms_messages.c
        stale = sa.or_(
            sa.and_(row.state.in_(LIVE_STATES), row.claimed_at < now - timedelta(seconds=lease)),
            sa.and_(row.state.in_(("waiting", "unsent")), row.claimed_at < now - timedelta(seconds=retry_after)),
        )
        update = (
            sms_messages.update()
            .where(row.message_sid == message_sid, stale)
            .values(state=state, claimed_at=now, attempts=row.attempts + 1)
        )
        with self.engine.begin() as conn:
            return conn.execute(update).rowcount == 1

    def stale_sms(
        self, lease: float, retry_after: float, max_age: float, limit: int = 20, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Messages to answer again (see `take_over_sms`), received within `max_age` seconds, oldest first."""
        now = now or datetime.now(UTC)
        row = sms_messages.c
        query = (
            sa.select(sms_messages)
            .where(
                row.received_at > now - timedelta(seconds=max_age),
                sa.or_(
                    sa.and_(row.state.in_(LIVE_STATES), row.claimed_at < now - timedelta(seconds=lease)),
                    sa.and_(
                        row.state.in_(("waiting", "unsent")), row.claimed_at < now - timedelta(seconds=retry_after)
                    ),
                ),
            )
            .order_by(row.received_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def sms_message(self, message_sid: str) -> dict[str, Any] | None:
        """The row for `message_sid`, as a dict of its columns."""
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(sms_messages).where(sms_messages.c.message_sid == message_sid)).mappings()
            row = found.first()
        return dict(row) if row is not None else None

    def save_sms_reply(
        self, message_sid: str, twiml: str, state: str = "replied", answer_text: str | None = None
    ) -> None:
        """Keep the webhook's reply (what a repeat of the MessageSid gets) and the message's state."""
        values: dict[str, Any] = {"reply_twiml": twiml, "state": state, "claimed_at": datetime.now(UTC)}
        if answer_text is not None:
            values["answer_text"] = answer_text
        self._update_sms(message_sid, values)

    def set_sms_state(self, message_sid: str, state: str, answer_text: str | None = None) -> None:
        """Move the message to `state` (its lease starts again), keeping the answer made for it, if any."""
        values: dict[str, Any] = {"state": state, "claimed_at": datetime.now(UTC)}
        if answer_text is not None:
            values["answer_text"] = answer_text
        self._update_sms(message_sid, values)

    def _update_sms(self, message_sid: str, values: dict[str, Any]) -> None:
        """Update one message; in a final state its number gives way to its hash and its body is redacted,
        since nothing will be sent to it again.
        """
        where = sms_messages.c.message_sid == message_sid
        with self.engine.begin() as conn:
            if values["state"] in FINAL_STATES:
                found = conn.execute(sa.select(sms_messages.c.sender, sms_messages.c.body).where(where)).first()
                if found is not None:
                    values = {**values, "body": redact(found.body)}
                    if not _is_hash(found.sender):
                        values["sender"] = values["sender_hash"] = self.number_key(found.sender)
            conn.execute(sms_messages.update().where(where).values(**values))

    def recent_sms_times(
        self, sender: str, seconds: float, exclude_sid: str = "", now: datetime | None = None
    ) -> list[datetime]:
        """When `sender`'s other messages within the last `seconds` arrived (over-the-limit ones left out),
        oldest first.
        """
        now = now or datetime.now(UTC)
        row = sms_messages.c
        query = (
            sa.select(row.received_at)
            .where(
                row.sender_hash == self.number_key(sender),
                row.received_at > now - timedelta(seconds=seconds),
                row.state != "limited",
                row.message_sid != exclude_sid,
            )
            .order_by(row.received_at)
        )
        with self.engine.connect() as conn:
            times = list(conn.execute(query).scalars())
        return [t if t.tzinfo else t.replace(tzinfo=UTC) for t in times]

    def set_opted_out(self, phone: str, opted_out: bool) -> None:
        """STOP (True) or START (False) for `phone` (kept as its hash: see `sms_opt_outs`)."""
        key = self.number_key(phone)
        with self.engine.begin() as conn:
            conn.execute(sms_opt_outs.delete().where(sms_opt_outs.c.phone.in_((key, phone))))
            if opted_out:
                conn.execute(sms_opt_outs.insert().values(phone=key, opted_out_at=datetime.now(UTC)))

    def is_opted_out(self, phone: str) -> bool:
        """Whether `phone` texted STOP (and not START since)."""
        keys = (self.number_key(phone), phone)  # the number itself: a row from before migration 0004
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(sms_opt_outs.c.phone).where(sms_opt_outs.c.phone.in_(keys))).first()
        return found is not None

    def record_events(self, events: Sequence[AnswerEvent]) -> int:
        """Write the events; how many were written. Never raises: a failed write is logged, and the
        customer's reply goes out all the same.
        """
        if not events:
            return 0
        try:
            now = datetime.now(UTC)
            rows = [_fit(answer_events, {**self._private(event), "created_at": now}) for event in events]
            with self.engine.begin() as conn:
                conn.execute(answer_events.insert(), rows)
        except Exception:
            log.exception(
                "could not record %d answer event(s) from %s; the reply is sent anyway", len(rows), events[0].channel
            )
            return 0
        return len(rows)

    def _private(self, event: AnswerEvent) -> dict[str, Any]:
        """The event's row: its conversation hashed, its questions redacted."""
        row = asdict(event)
        row["conversation"] = self.conversation_key(event.conversation)
        row["question"] = redact(event.question)
        if event.about_question:
            row["about_question"] = redact(event.about_question)
        return row

    def recent_events(
        self, limit: int = 100, channel: str | None = None, conversation: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest answer events first, each a dict of the table's columns. `conversation` is the stored
        hash (see `conversation_key`).
        """
        query = sa.select(answer_events).order_by(answer_events.c.id.desc()).limit(limit)
        if channel is not None:
            query = query.where(answer_events.c.channel == channel)
        if conversation is not None:
            query = query.where(answer_events.c.conversation == conversation)
        with self.engine.connect() as conn:
            rows = [dict(row) for row in conn.execute(query).mappings()]
        for row in rows:  # SQLite gives back naive datetimes; they were written in UTC
            if row["created_at"].tzinfo is None:
                row["created_at"] = row["created_at"].replace(tzinfo=UTC)
        return rows

    def events_since(self, after_id: int, limit: int = 500) -> list[dict[str, Any]]:
        """Answer events with an id above `after_id`, oldest first (the review queue reads them this way)."""
        query = sa.select(answer_events).where(answer_events.c.id > after_id).order_by(answer_events.c.id).limit(limit)
        with self.engine.connect() as conn:
            rows = [dict(row) for row in conn.execute(query).mappings()]
        for row in rows:  # SQLite gives back naive datetimes; they were written in UTC
            if row["created_at"].tzinfo is None:
                row["created_at"] = row["created_at"].replace(tzinfo=UTC)
        return rows

    def last_event_id(self) -> int:
        """The newest answer event's id (0 when there is none)."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(answer_events.c.id))).scalar() or 0)

    # -- transcripts (messages) ---------------------------------------------------------------------------

    def record_turn(
        self, channel: str, sender_id: str, question: str, answers: Sequence[Answer], now: datetime | None = None
    ) -> int:
        """Keep one turn in `messages`: the customer's message, then each reply, all redacted, under the hash of
        the Rasa sender id. How many rows were written; never raises (a failed write is logged and the reply
        goes out all the same).
        """
        try:
            rows = self._turn_rows(channel, sender_id, question, answers, now or datetime.now(UTC))
            with self.engine.begin() as conn:
                conn.execute(messages.insert(), rows)
        except Exception:
            log.exception("could not record a %s turn in the transcript; the reply is sent anyway", channel)
            return 0
        return len(rows)

    def _turn_rows(
        self, channel: str, sender_id: str, question: str, answers: Sequence[Answer], now: datetime
    ) -> list[dict[str, Any]]:
        versions = [a.index_version for a in answers if a.index_version]
        rows = [
            {
                "direction": "in",
                "text": redact(question),
                "kind": None,
                "answered": any(a.answered for a in answers),
                "reason": None,
                "lang": next((a.lang for a in answers if a.lang), None),
                "source_url": None,
                "index_version": versions[0] if versions else None,
                "chunk_digest": None,
            }
        ]
        for answer in answers:
            rows.append(
                {
                    "direction": "out",
                    "text": redact(answer.text),
                    "kind": answer.kind,
                    "answered": answer.answered,
                    "reason": answer.reason,
                    "lang": answer.lang,
                    "source_url": answer.source_url,
                    "index_version": answer.index_version,
                    "chunk_digest": answer.chunk_digest if answer.answered else None,
                }
            )
        base = {"created_at": now, "channel": channel, "conversation": self.conversation_key(sender_id)}
        return [_fit(messages, {**base, **row}) for row in rows]

    def transcript(self, conversation: str, limit: int = 500) -> list[dict[str, Any]]:
        """One conversation's messages, oldest first (`conversation`: the stored hash, as in answer_events)."""
        query = (
            sa.select(messages)
            .where(messages.c.conversation == conversation)
            .order_by(messages.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = [_utc(dict(row)) for row in conn.execute(query).mappings()]
        return rows[::-1]

    def recent_messages(
        self, limit: int = 100, channel: str | None = None, direction: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest messages first, on one channel and in one direction if given."""
        query = sa.select(messages).order_by(messages.c.id.desc()).limit(limit)
        if channel is not None:
            query = query.where(messages.c.channel == channel)
        if direction is not None:
            query = query.where(messages.c.direction == direction)
        with self.engine.connect() as conn:
            return [_utc(dict(row)) for row in conn.execute(query).mappings()]

    def message_counts(self, days: int = 30, now: datetime | None = None) -> list[dict[str, Any]]:
        """Customers' messages per UTC day and channel over the last `days` days, newest day first:
        `{"day": "2026-12-02", "channel": "sms", "messages": 40, "answered": 31, "answered_rate": 0.775}`.
        """
        since = (now or datetime.now(UTC)) - timedelta(days=days)
        day = sa.func.date(messages.c.created_at)
        answered = sa.func.sum(sa.case((messages.c.answered.is_(True), 1), else_=0))
        query = (
            sa.select(day.label("day"), messages.c.channel, sa.func.count().label("messages"), answered.label("ok"))
            .where(messages.c.direction == "in", messages.c.created_at >= since)
            .group_by(day, messages.c.channel)
            .order_by(day.desc(), messages.c.channel)
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).all()
        return [
            {
                "day": str(row.day),
                "channel": row.channel,
                "messages": int(row.messages),
                "answered": int(row.ok or 0),
                "answered_rate": round(int(row.ok or 0) / int(row.messages), 4),
            }
            for row in found
        ]

    def question_counts(self, days: int = 30, now: datetime | None = None) -> list[dict[str, Any]]:
        """Customers' questions per UTC day and channel, like `message_counts` but only the messages the answering
        action replied to (greetings, thanks and ratings left out): `{"day", "channel", "messages", "answered"}`.
        """
        since = (now or datetime.now(UTC)) - timedelta(days=days)
        asked, reply, between = messages.alias("asked"), messages.alias("reply"), messages.alias("between")
        next_turn = (
            sa.exists()
            .where(  # a later customer message of the conversation, before the reply
                between.c.conversation == asked.c.conversation,
                between.c.direction == "in",
                between.c.id > asked.c.id,
                between.c.id < reply.c.id,
            )
            .correlate_except(between)
        )
        answered_by_action = (
            sa.exists()
            .where(
                reply.c.conversation == asked.c.conversation,
                reply.c.direction == "out",
                reply.c.id > asked.c.id,
                reply.c.kind.not_in(("text", "feedback")),
                ~next_turn,
            )
            .correlate_except(reply)
        )
        day = sa.func.date(asked.c.created_at)
        ok = sa.func.sum(sa.case((asked.c.answered.is_(True), 1), else_=0))
        query = (
            sa.select(day.label("day"), asked.c.channel, sa.func.count().label("n"), ok.label("ok"))
            .where(asked.c.direction == "in", asked.c.created_at >= since, answered_by_action)
            .group_by(day, asked.c.channel)
            .order_by(day, asked.c.channel)
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).all()
        return [
            {"day": str(r.day), "channel": r.channel, "messages": int(r.n), "answered": int(r.ok or 0)} for r in found
        ]

    def messages_since(self, since: datetime, limit: int = 50_000) -> list[dict[str, Any]]:
        """Every message (both directions) written at or after `since`, oldest first, at most the newest
        `limit` (the editors' "what changed" counts the top questions from them)."""
        query = sa.select(messages).where(messages.c.created_at >= since).order_by(messages.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            rows = [_utc(dict(row)) for row in conn.execute(query).mappings()]
        return rows[::-1]

    def ratings(self, days: int = 30, now: datetime | None = None) -> list[dict[str, Any]]:
        """The "Was this helpful?" ratings per UTC day over the last `days` days, oldest day first:
        `{"day": "2026-12-02", "helpful": 12, "not_helpful": 3}`."""
        since = (now or datetime.now(UTC)) - timedelta(days=days)
        day = sa.func.date(answer_events.c.created_at)
        yes = sa.func.sum(sa.case((answer_events.c.helpful.is_(True), 1), else_=0))
        no = sa.func.sum(sa.case((answer_events.c.helpful.is_(False), 1), else_=0))
        query = (
            sa.select(day.label("day"), yes.label("yes"), no.label("no"))
            .where(
                answer_events.c.kind == "feedback",
                answer_events.c.helpful.is_not(None),
                answer_events.c.created_at >= since,
            )
            .group_by(day)
            .order_by(day)
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).all()
        return [{"day": str(r.day), "helpful": int(r.yes or 0), "not_helpful": int(r.no or 0)} for r in found]

    # -- retention ----------------------------------------------------------------------------------------

    def purge_older_than(self, days: int, now: datetime | None = None) -> dict[str, int]:
        """Delete transcripts, answer events, SMS rows, sent or failed emails and continuation codes older than
        `days` days (RETENTION_DAYS); how many rows went from each table. Opt-outs stay: a number that texted
        STOP is never texted again.
        """
        if days < 1:
            raise ValueError(f"days must be at least 1, not {days}: it is how long rows are kept")
        cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
        outbox = email_outbox.c
        finished = sa.and_(outbox.created_at < cutoff, outbox.state.in_(("sent", "failed")))
        deletes = {
            "messages": messages.delete().where(messages.c.created_at < cutoff),
            "answer_events": answer_events.delete().where(answer_events.c.created_at < cutoff),
            "sms_messages": sms_messages.delete().where(sms_messages.c.received_at < cutoff),
            # the email outbox keeps each reply and its recipient; only finished ones go
            "email_outbox": email_outbox.delete().where(finished),
            # continuation codes: long expired, and the numbers and addresses that sent them in
            "continuation_codes": continuation_codes.delete().where(continuation_codes.c.created_at < cutoff),
            "continuation_attempts": continuation_attempts.delete().where(continuation_attempts.c.at < cutoff),
            "conversation_links": conversation_links.delete().where(conversation_links.c.linked_at < cutoff),
            "last_answers": last_answers.delete().where(last_answers.c.answered_at < cutoff),
            "inbound_messages": inbound_messages.delete().where(inbound_messages.c.received_at < cutoff),
        }
        with self.engine.begin() as conn:
            counts = {name: int(conn.execute(delete).rowcount) for name, delete in deletes.items()}
        if any(counts.values()):
            log.info("retention: deleted rows older than %d days: %s", days, counts)
        return counts

    # -- the inbound journal (docs/adr/0018-inbound-journal.md) -------------------------------------------

    def inbound_key(self, channel: str, key: str) -> str:
        """What `inbound_messages.idem_key` holds for a channel's idempotency key (a keyed hash)."""
        return hash_sender(self.privacy_key, f"inbound:{channel}:{key}")

    def journal_inbound(
        self,
        channel: str,
        idem_key: str,
        text: str | None = None,
        session_id: str | None = None,
        ref: str | None = None,
        now: datetime | None = None,
    ) -> tuple[bool, dict[str, Any]]:
        """Write an inbound message before it is answered, held (`answering`) by the caller. (True, row) for
        the one caller that wrote it; (False, the row already there) for a repeat of the same `idem_key`.
        """
        now = now or datetime.now(UTC)
        row = {
            "channel": channel,
            "idem_key": idem_key,
            "session_id": session_id,
            "ref": ref,
            "text": text,
            "state": "answering",
            "received_at": now,
            "claimed_at": now,
            "attempts": 1,
        }
        insert = (
            _insert(self.engine)(inbound_messages)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["channel", "idem_key"])
            .returning(inbound_messages.c.channel)  # not rowcount: psycopg 3.3 reports -1 for an INSERT here
        )
        where = sa.and_(inbound_messages.c.channel == channel, inbound_messages.c.idem_key == idem_key)
        with self.engine.begin() as conn:
            wrote = conn.execute(insert).first() is not None
            found = conn.execute(sa.select(inbound_messages).where(where)).mappings().one()
        return wrote, _utc(dict(found))

    def inbound_message(self, row_id: int) -> dict[str, Any] | None:
        """One journal row, as a dict of its columns."""
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(inbound_messages).where(inbound_messages.c.id == row_id)).mappings()
            row = found.first()
        return _utc(dict(row)) if row is not None else None

    def take_over_inbound(self, row_id: int, lease: float, ref: str | None = None, now: datetime | None = None) -> bool:
        """Take a message whose holder died (still `answering` more than `lease` seconds after it was claimed),
        or one whose answer failed or expired. One atomic update: True for the one caller that took it, which
        now holds it (`answering`) with a fresh lease.
        """
        now = now or datetime.now(UTC)
        row = inbound_messages.c
        values: dict[str, Any] = {"state": "answering", "claimed_at": now, "attempts": row.attempts + 1}
        if ref is not None:
            values["ref"] = ref
        takeable = sa.or_(
            sa.and_(row.state == "answering", row.claimed_at < now - timedelta(seconds=lease)),
            row.state.in_(("failed", "expired")),
        )
        update = inbound_messages.update().where(row.id == row_id, takeable).values(**values)
        with self.engine.begin() as conn:
            return bool(conn.execute(update).rowcount == 1)

    def finish_inbound(
        self, row_id: int, state: str = "answered", reply: str | None = None, now: datetime | None = None
    ) -> None:
        """Mark a message answered (or skipped): its raw text goes; the reply, if given, stays for a retry."""
        values = {"state": state, "answered_at": now or datetime.now(UTC), "text": None, "reply": reply}
        with self.engine.begin() as conn:
            conn.execute(inbound_messages.update().where(inbound_messages.c.id == row_id).values(**values))

    def orphaned_inbound(
        self, channel: str, lease: float, max_age: float, limit: int = 20, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Messages on `channel` still `answering` more than `lease` seconds after they were claimed (their
        gateway died), received within `max_age` seconds, oldest first.
        """
        now = now or datetime.now(UTC)
        row = inbound_messages.c
        query = (
            sa.select(inbound_messages)
            .where(
                row.channel == channel,
                row.state == "answering",
                row.claimed_at < now - timedelta(seconds=lease),
                row.received_at > now - timedelta(seconds=max_age),
            )
            .order_by(row.received_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_utc(dict(r)) for r in conn.execute(query).mappings()]

    def expire_inbound(self, max_age: float, now: datetime | None = None) -> int:
        """Forget what is older than `max_age` seconds: unanswered messages become `expired`, and every old
        row loses its raw text and kept reply. How many rows changed.
        """
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=max_age)
        row = inbound_messages.c
        old = row.received_at < cutoff
        with self.engine.begin() as conn:
            expired = conn.execute(
                inbound_messages.update().where(old, row.state == "answering").values(state="expired", text=None)
            ).rowcount
            cleared = conn.execute(
                inbound_messages.update()
                .where(old, sa.or_(row.text.is_not(None), row.reply.is_not(None)))
                .values(text=None, reply=None)
            ).rowcount
        return int(expired) + int(cleared)

    def inbound(self, channel: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The journal's rows, oldest first (on one channel if given)."""
        query = sa.select(inbound_messages).order_by(inbound_messages.c.id).limit(limit)
        if channel is not None:
            query = query.where(inbound_messages.c.channel == channel)
        with self.engine.connect() as conn:
            return [_utc(dict(r)) for r in conn.execute(query).mappings()]

    # -- the email outbox (docs/adr/0012-email-outbox.md) -------------------------------------------------

    def enqueue_email(
        self,
        dedupe_key: str,
        message_id: str,
        recipient: str,
        sender: str,
        subject: str,
        raw: bytes,
        now: datetime | None = None,
    ) -> int:
        """Add one email to the outbox; the row's id. The same `dedupe_key` again adds nothing and gives the
        first row's id, so a step that is redone after a crash cannot queue a second copy.
        """
        now = now or datetime.now(UTC)
        row = {
            "dedupe_key": dedupe_key,
            "message_id": message_id,
            "recipient": recipient,
            "sender": sender,
            "subject": subject,
            "raw": raw,
            "state": "queued",
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        }
        insert = _insert(self.engine)(email_outbox).values(**row).on_conflict_do_nothing(index_elements=["dedupe_key"])
        with self.engine.begin() as conn:
            conn.execute(insert)
            found = conn.execute(sa.select(email_outbox.c.id).where(email_outbox.c.dedupe_key == dedupe_key))
            return int(found.scalar_one())

    @staticmethod
    def _email_due(now: datetime, lease: float) -> sa.ColumnElement[bool]:
        row = email_outbox.c
        return sa.or_(
            sa.and_(row.state == "queued", row.next_attempt_at <= now),
            sa.and_(row.state == "sending", row.claimed_at < now - timedelta(seconds=lease)),
        )

    def due_emails(self, lease: float, limit: int = 20, now: datetime | None = None) -> list[int]:
        """Ids of the emails a sender may take now, oldest first: queued ones whose retry time has come, and
        ones whose sender died holding them (claimed more than `lease` seconds ago).
        """
        now = now or datetime.now(UTC)
        query = (
            sa.select(email_outbox.c.id)
            .where(self._email_due(now, lease))
            .order_by(email_outbox.c.next_attempt_at, email_outbox.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [int(i) for i in conn.execute(query).scalars()]

    def claim_email(self, row_id: int, token: str, lease: float, now: datetime | None = None) -> dict[str, Any] | None:
        """Take one due email for sending, under `token`: one atomic update, so exactly one sender gets it.
        The row (as a dict), or None when it was not due or another sender took it first.
        """
        now = now or datetime.now(UTC)
        row = email_outbox.c
        update = (
            email_outbox.update()
            .where(row.id == row_id, self._email_due(now, lease))
            .values(state="sending", claimed_at=now, claim_token=token, attempts=row.attempts + 1)
        )
        with self.engine.begin() as conn:
            if conn.execute(update).rowcount != 1:
                return None
            found = conn.execute(sa.select(email_outbox).where(row.id == row_id)).mappings().first()
        return _utc(dict(found)) if found is not None else None

    def _finish_email(self, row_id: int, token: str, **values: Any) -> bool:
        """Record what came of an attempt, only if `token` still holds the claim."""
        row = email_outbox.c
        update = (
            email_outbox.update()
            .where(row.id == row_id, row.claim_token == token, row.state == "sending")
            .values(**values)
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(update).rowcount == 1)

    def mark_email_sent(self, row_id: int, token: str, response: str, now: datetime | None = None) -> bool:
        """The SMTP server accepted the email: it is never sent again. False if the claim was lost."""
        return self._finish_email(
            row_id, token, state="sent", sent_at=now or datetime.now(UTC), smtp_response=response[:1000]
        )

    def retry_email(self, row_id: int, token: str, error: str, next_attempt_at: datetime) -> bool:
        """A transient failure: the email waits until `next_attempt_at`, then any sender may take it again."""
        return self._finish_email(
            row_id, token, state="queued", next_attempt_at=next_attempt_at, claim_token=None, last_error=error[:2000]
        )

    def fail_email(self, row_id: int, token: str, reason: str) -> bool:
        """A permanent failure (a 5xx for this message, or given up): it is not tried again."""
        return self._finish_email(row_id, token, state="failed", last_error=reason[:2000])

    def outbox(self, limit: int = 100, state: str | None = None) -> list[dict[str, Any]]:
        """The outbox's rows, oldest first, each a dict of the table's columns."""
        query = sa.select(email_outbox).order_by(email_outbox.c.id).limit(limit)
        if state is not None:
            query = query.where(email_outbox.c.state == state)
        with self.engine.connect() as conn:
            return [_utc(dict(row)) for row in conn.execute(query).mappings()]

    # -- continuation codes ("Text me this / Email me this") ----------------------------------------------

    def count_outbox(self) -> dict[str, int]:
        """How many outbox emails are in each state (queued, sending, sent, failed), for /metrics."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(email_outbox.c.state, sa.func.count()).group_by(email_outbox.c.state)).all()
        return {str(state): int(n) for state, n in rows}

    def save_last_answer(self, conversation: str, messages: str, now: datetime | None = None) -> None:
        """Keep `conversation`'s last answering turn (Rasa's reply, as JSON), replacing the one before."""
        row = {"conversation": conversation, "messages": messages, "answered_at": now or datetime.now(UTC)}
        with self.engine.begin() as conn:
            conn.execute(last_answers.delete().where(last_answers.c.conversation == conversation))
            conn.execute(last_answers.insert().values(**row))

    def last_answer(self, conversation: str) -> str | None:
        """`conversation`'s last answering turn (Rasa's reply, as JSON), or None."""
        with self.engine.connect() as conn:
            query = sa.select(last_answers.c.messages).where(last_answers.c.conversation == conversation)
            return conn.execute(query).scalar()

    def add_code(
        self,
        code_hash: str,
        conversation: str,
        party: str,
        client: str | None,
        expires_at: datetime,
        now: datetime | None = None,
    ) -> bool:
        """Store a new code's hash; False when that hash is taken (the caller makes another code)."""
        row = {
            "code_hash": code_hash,
            "conversation": conversation,
            "party": party,
            "client": client,
            "created_at": now or datetime.now(UTC),
            "expires_at": expires_at,
        }
        insert = (
            _insert(self.engine)(continuation_codes)
            .values(**_fit(continuation_codes, row))
            .on_conflict_do_nothing(index_elements=["code_hash"])
            .returning(continuation_codes.c.code_hash)  # not rowcount: psycopg 3.3 reports -1 for an INSERT here
        )
        with self.engine.begin() as conn:
            return conn.execute(insert).first() is not None

    def codes_since(
        self,
        since: datetime,
        conversation: str | None = None,
        party: str | None = None,
        client: str | None = None,
    ) -> list[datetime]:
        """When codes were sent since `since`, for one conversation, party and/or client, oldest first."""
        row = continuation_codes.c
        query = sa.select(row.created_at).where(row.created_at > since).order_by(row.created_at)
        for column, value in ((row.conversation, conversation), (row.party, party), (row.client, client)):
            if value is not None:
                query = query.where(column == value)
        with self.engine.connect() as conn:
            return [_aware(t) for t in conn.execute(query).scalars()]

    def redeem_code(self, code_hash: str, party: str, now: datetime | None = None) -> tuple[str, str | None]:
        """Use a code for `party`. ("joined", conversation) the first time, and from then on `party`'s messages
        go to that conversation (the link replaces any older one); ("used", conversation) after that;
        ("expired", None); ("unknown", None), also for a code sent to anyone else. One transaction: a code is
        joined once however many messages bring it at the same moment.
        """
        now = now or datetime.now(UTC)
        row = continuation_codes.c
        take = (
            continuation_codes.update()
            .where(row.code_hash == code_hash, row.party == party, row.used_at.is_(None), row.expires_at > now)
            .values(used_at=now)
        )
        with self.engine.begin() as conn:
            taken = conn.execute(take).rowcount == 1
            found = conn.execute(
                sa.select(row.conversation, row.used_at).where(row.code_hash == code_hash, row.party == party)
            ).first()
            if found is None:
                return "unknown", None
            if taken:
                conn.execute(conversation_links.delete().where(conversation_links.c.party == party))
                conn.execute(
                    conversation_links.insert().values(party=party, conversation=found.conversation, linked_at=now)
                )
                return "joined", str(found.conversation)
            if found.used_at is not None:
                return "used", str(found.conversation)
            return "expired", None

    def record_attempt(self, party: str, outcome: str, now: datetime | None = None) -> None:
        """Keep one code texted or mailed in by `party`, and its outcome."""
        row = _fit(continuation_attempts, {"party": party, "at": now or datetime.now(UTC), "outcome": outcome})
        with self.engine.begin() as conn:
            conn.execute(continuation_attempts.insert().values(**row))

    def attempts_since(self, party: str, since: datetime, outcome: str = "unknown") -> list[datetime]:
        """When `party` texted or mailed in codes with `outcome` since `since`, oldest first."""
        row = continuation_attempts.c
        query = sa.select(row.at).where(row.party == party, row.outcome == outcome, row.at > since).order_by(row.at)
        with self.engine.connect() as conn:
            return [_aware(t) for t in conn.execute(query).scalars()]

    def linked_conversation(self, party: str, since: datetime) -> str | None:
        """The web conversation `party` joined with a code, if it was linked after `since`; else None."""
        link = conversation_links.c
        query = sa.select(link.conversation).where(link.party == party, link.linked_at > since)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()


def _aware(value: datetime) -> datetime:
    """SQLite gives back naive datetimes; every one was written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _utc(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its datetimes made timezone-aware (UTC)."""
    return {k: _aware(v) if isinstance(v, datetime) else v for k, v in row.items()}
