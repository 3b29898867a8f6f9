"""answer_events: every assistant message that did not answer from the guidance, and every rating.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

What each column means is written beside the table in channels/store.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answer_events",
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
    )
    op.create_index("ix_answer_events_created_at", "answer_events", ["created_at"])
    op.create_index("ix_answer_events_reason_created_at", "answer_events", ["reason", "created_at"])


def downgrade() -> None:
    op.drop_table("answer_events")
