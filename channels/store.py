"""The channels' database tables: the only channels code that touches the database.

The schema is kept by the alembic migrations in `channels/migrations/`, with their own version table
(`channels_alembic_version`) so other packages can keep theirs in the same database. `upgrade_database` runs
them to head; `ChannelStore` calls it when it is made, which is when the gateway and the email listener start.
Several processes may start at once: on SQLite they take turns through a lock file beside the database, and
anywhere a failed upgrade is forgiven when the schema turns out to be at head (another process won the race).
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from channels.answers import AnswerEvent
from content_sync.jobs import get_engine

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "channels_alembic_version"
RACE_WAIT = 15.0  # seconds a process that lost a migration race waits for the winner to reach head

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
    sa.Index("ix_sms_messages_sender_received_at", "sender", "received_at"),
    sa.Index("ix_sms_messages_state_claimed_at", "state", "claimed_at"),
)
"""Every inbound SMS, claimed by its MessageSid before anything else happens, and what became of it.

    message_sid   Twilio's id; the primary key, so one MessageSid is claimed once (a repeat gets `reply_twiml`)
    sender        the customer's number (Twilio's From); recipient: the agency's number (To), which answers
    body          the message as received
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
"""Numbers that texted STOP (or another opt-out keyword) and not START since: they are sent nothing."""

LIVE_STATES = ("answering", "pending")  # someone holds the claim, within its lease

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
    conversation          the Rasa sender id the channel used: "web:<session_id>", "sms:<phone number>",
                          "email:<address>"; it names the customer, like the question may
    question              the customer's message exactly as the channel sent it to Rasa (not redacted yet;
                          the review queue redacts it), e.g. a question, "1" for a choice, or a feedback payload
    kind                  the action's message kind: "answer", "clarify", "feedback" or "handoff"
    reason                why it did not answer: no_match, out_of_scope, personal_account, injection, not_ready
                          (kind answer), clarify, feedback, handoff; NULL when the payload gave none
    lang                  the reply's language, "en" or "es" (NULL when the payload gave none)
    index_version         the index version the reply was made from
    helpful               feedback only: true for "yes, helpful", false for "no"; NULL otherwise
    about_question        feedback only: the question whose answer was rated
    about_source_url      feedback only: the rated answer's source_url
    about_chunk_digest    feedback only: the digest of the rated passage (which text exactly was rated)
    about_index_version   feedback only: the index version of the rated answer
"""


def _sqlite_file(database_url: str) -> Path | None:
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


@contextmanager
def _migration_lock(database_url: str) -> Iterator[None]:
    """On a SQLite file, one process at a time migrates: an exclusive lock on `<file>.migrate.lock`."""
    path = _sqlite_file(database_url)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.migrate.lock", "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    """The newest migration's revision id."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def upgrade_database(database_url: str) -> None:
    """Run the channels' migrations up to head. A no-op when already there; safe when processes race."""
    engine = get_engine(database_url)
    with _migration_lock(database_url):
        try:
            config = _alembic_config()
            with engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except sa.exc.DBAPIError:
            # Another process (one the lock does not reach: another host on a shared database) is migrating
            # too, and made a table first. Its upgrade is fine once the schema reaches head.
            deadline = time.monotonic() + RACE_WAIT
            while current_revision(engine) != head_revision():
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
            log.info("another process migrated the channels' tables first; they are at head")


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

    def __init__(self, database_url: str, migrate: bool = True) -> None:
        if migrate:
            upgrade_database(database_url)
        self.engine = get_engine(database_url)

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
        }
        insert = _insert(self.engine)(sms_messages).values(**row).on_conflict_do_nothing(index_elements=["message_sid"])
        with self.engine.begin() as conn:
            return conn.execute(insert).rowcount == 1

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
        with self.engine.begin() as conn:
            conn.execute(sms_messages.update().where(sms_messages.c.message_sid == message_sid).values(**values))

    def set_sms_state(self, message_sid: str, state: str, answer_text: str | None = None) -> None:
        """Move the message to `state` (its lease starts again), keeping the answer made for it, if any."""
        values: dict[str, Any] = {"state": state, "claimed_at": datetime.now(UTC)}
        if answer_text is not None:
            values["answer_text"] = answer_text
        with self.engine.begin() as conn:
            conn.execute(sms_messages.update().where(sms_messages.c.message_sid == message_sid).values(**values))

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
                row.sender == sender,
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
        """STOP (True) or START (False) for `phone`."""
        with self.engine.begin() as conn:
            conn.execute(sms_opt_outs.delete().where(sms_opt_outs.c.phone == phone))
            if opted_out:
                conn.execute(sms_opt_outs.insert().values(phone=phone, opted_out_at=datetime.now(UTC)))

    def is_opted_out(self, phone: str) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(sms_opt_outs.c.phone).where(sms_opt_outs.c.phone == phone)).first()
        return found is not None

    def record_events(self, events: Sequence[AnswerEvent]) -> int:
        """Write the events; how many were written. Never raises: a failed write is logged, and the
        customer's reply goes out all the same.
        """
        if not events:
            return 0
        now = datetime.now(UTC)
        rows = [_fit(answer_events, {**asdict(event), "created_at": now}) for event in events]
        try:
            with self.engine.begin() as conn:
                conn.execute(answer_events.insert(), rows)
        except Exception:
            log.exception(
                "could not record %d answer event(s) from %s; the reply is sent anyway", len(rows), events[0].channel
            )
            return 0
        return len(rows)

    def recent_events(
        self, limit: int = 100, channel: str | None = None, conversation: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest answer events first, each a dict of the table's columns."""
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
