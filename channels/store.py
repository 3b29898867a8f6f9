"""The channels' database tables: the only channels code that touches the database."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from content_sync.jobs import get_engine

metadata = sa.MetaData()

sms_messages = sa.Table(
    "sms_messages",
    metadata,
    sa.Column("message_sid", sa.String(64), primary_key=True),
    sa.Column("sender", sa.String(64), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("reply_twiml", sa.Text, nullable=True),  # NULL while the answer is not made yet
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)


class ChannelStore:
    """Remembers inbound SMS and their replies, so a repeated MessageSid gets the same reply."""

    def __init__(self, database_url: str) -> None:
        self.engine = get_engine(database_url)
        metadata.create_all(self.engine)

    def sms_reply(self, message_sid: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sms_messages.c.reply_twiml).where(sms_messages.c.message_sid == message_sid)
            ).scalar()

    def claim_sms(self, message_sid: str, sender: str, body: str) -> bool:
        """Keep the inbound message before anything else happens. False when this MessageSid was seen before."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sms_messages.insert().values(
                        message_sid=message_sid, sender=sender, body=body, received_at=datetime.now(UTC)
                    )
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def save_sms_reply(self, message_sid: str, twiml: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sms_messages.update().where(sms_messages.c.message_sid == message_sid).values(reply_twiml=twiml)
            )
