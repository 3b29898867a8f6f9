"""sms_messages: inbound SMS and the TwiML reply made for each, so a repeated MessageSid gets the same reply.

Revision ID: 0001
Revises:
Create Date: 2026-12-01

Databases made before migrations existed already have this table (ChannelStore created it): it is kept.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not context.is_offline_mode() and sa.inspect(op.get_bind()).has_table("sms_messages"):
        return
    op.create_table(
        "sms_messages",
        sa.Column("message_sid", sa.String(64), primary_key=True),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("reply_twiml", sa.Text, nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sms_messages")
