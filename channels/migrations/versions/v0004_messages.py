"""messages: every turn of every conversation, on every channel, with personal data redacted; sms_messages
gets `sender_hash` (the rate limit counts by it, and it replaces the number once the message is answered).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

What each column means is written beside the table in channels/store.py. Rows written before this revision
in answer_events and sms_messages may hold raw phone numbers, addresses and message bodies: the retention
purge (`assistant purge`) removes them once they are older than RETENTION_DAYS.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messages",
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
    )
    op.create_index("ix_messages_conversation_id", "messages", ["conversation", "id"])
    op.create_index("ix_messages_created_at", "messages", ["created_at"])
    with op.batch_alter_table("sms_messages") as batch:
        batch.add_column(sa.Column("sender_hash", sa.String(64), nullable=True))
        batch.create_index("ix_sms_messages_sender_hash_received_at", ["sender_hash", "received_at"])
        batch.create_index("ix_sms_messages_received_at", ["received_at"])


def downgrade() -> None:
    with op.batch_alter_table("sms_messages") as batch:
        batch.drop_index("ix_sms_messages_received_at")
        batch.drop_index("ix_sms_messages_sender_hash_received_at")
        batch.drop_column("sender_hash")
    op.drop_table("messages")
