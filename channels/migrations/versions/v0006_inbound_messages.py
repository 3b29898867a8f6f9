"""inbound_messages: the journal of web chat and email messages, written before they are answered and marked
once they are, with an idempotency key so a message is answered once however often it arrives.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

What each column means is written beside the table in channels/store.py; why, in
docs/adr/0018-inbound-journal.md. SMS keeps its own journal, sms_messages (revision 0001).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
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
    )
    op.create_index("ix_inbound_messages_state_claimed_at", "inbound_messages", ["state", "claimed_at"])
    op.create_index("ix_inbound_messages_received_at", "inbound_messages", ["received_at"])


def downgrade() -> None:
    op.drop_table("inbound_messages")
