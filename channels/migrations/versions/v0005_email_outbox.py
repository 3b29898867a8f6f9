"""email_outbox (replies sent exactly once), and continuation codes: last_answers, continuation_codes,
continuation_attempts, conversation_links.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

What each column means is written beside the tables in channels/store.py; the outbox's delivery rules are in
docs/adr/0012-email-outbox.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_outbox",
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
    )
    op.create_index("ix_email_outbox_state_next_attempt_at", "email_outbox", ["state", "next_attempt_at"])
    op.create_table(
        "last_answers",
        sa.Column("conversation", sa.String(160), primary_key=True),
        sa.Column("messages", sa.Text, nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "continuation_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column("conversation", sa.String(160), nullable=False),
        sa.Column("party", sa.String(330), nullable=False),
        sa.Column("client", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_continuation_codes_conversation_created_at", "continuation_codes", ["conversation", "created_at"]
    )
    op.create_index("ix_continuation_codes_party_created_at", "continuation_codes", ["party", "created_at"])
    op.create_index("ix_continuation_codes_client_created_at", "continuation_codes", ["client", "created_at"])
    op.create_table(
        "continuation_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("party", sa.String(330), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
    )
    op.create_index("ix_continuation_attempts_party_at", "continuation_attempts", ["party", "at"])
    op.create_table(
        "conversation_links",
        sa.Column("party", sa.String(330), primary_key=True),
        sa.Column("conversation", sa.String(160), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("conversation_links", "continuation_attempts", "continuation_codes", "last_answers", "email_outbox"):
        op.drop_table(table)
