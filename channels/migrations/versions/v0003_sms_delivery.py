"""sms_messages gets its delivery state (claim lease, answers sent later by REST); sms_opt_outs (STOP/START).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Rows from before keep their reply and are marked `replied`. What each column means is written beside the
tables in channels/store.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sms_messages") as batch:
        batch.add_column(sa.Column("recipient", sa.String(64), nullable=True))
        batch.add_column(sa.Column("state", sa.String(16), nullable=False, server_default="replied"))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("answer_text", sa.Text, nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        batch.create_index("ix_sms_messages_sender_received_at", ["sender", "received_at"])
        batch.create_index("ix_sms_messages_state_claimed_at", ["state", "claimed_at"])
    op.create_table(
        "sms_opt_outs",
        sa.Column("phone", sa.String(64), primary_key=True),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sms_opt_outs")
    with op.batch_alter_table("sms_messages") as batch:
        batch.drop_index("ix_sms_messages_state_claimed_at")
        batch.drop_index("ix_sms_messages_sender_received_at")
        for name in ("attempts", "answer_text", "claimed_at", "state", "recipient"):
            batch.drop_column(name)
