"""The review queue: clusters, items, the events they came from, notes, customers to tell, and bookmarks.

Revision ID: 0001
Revises:
Create Date: 2026-12-02

What each column means is written beside the table in channels/review/store.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_clusters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(32), nullable=False, server_default="new"),
        sa.Column("assigned_to", sa.Text, nullable=True),
        sa.Column("centroid", sa.LargeBinary, nullable=True),
        sa.Column("size", sa.Integer, nullable=False, server_default="0"),
        sa.Column("model", sa.String(255), nullable=True),
    )
    op.create_index("ix_review_clusters_status", "review_clusters", ["status"])
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cluster_id", sa.Integer, sa.ForeignKey("review_clusters.id"), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("signal", sa.String(16), nullable=False),
        sa.Column("question_key", sa.String(64), nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("conversation", sa.String(128), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer, nullable=False, server_default="1"),
        sa.Column("status", sa.String(32), nullable=False, server_default="new"),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("lang", sa.String(16), nullable=True),
        sa.Column("index_version", sa.String(64), nullable=True),
        sa.Column("assigned_to", sa.Text, nullable=True),
        sa.Column("rated_source_url", sa.Text, nullable=True),
        sa.Column("rated_chunk_digest", sa.String(128), nullable=True),
        sa.Column("reasked_version", sa.String(64), nullable=True),
        sa.Column("answered_by_url", sa.Text, nullable=True),
        sa.Column("answered_in_version", sa.String(64), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_json", sa.Text, nullable=True),
        sa.UniqueConstraint("channel", "signal", "question_key", name="uq_review_items_question"),
    )
    op.create_index("ix_review_items_cluster_id", "review_items", ["cluster_id"])
    op.create_index("ix_review_items_status", "review_items", ["status"])
    op.create_index("ix_review_items_last_seen", "review_items", ["last_seen"])
    op.create_table(
        "review_occurrences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Integer, nullable=False),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("review_items.id"), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("conversation", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("index_version", sa.String(64), nullable=True),
    )
    op.create_index("ix_review_occurrences_item_id", "review_occurrences", ["item_id"])
    op.create_index("ix_review_occurrences_conversation", "review_occurrences", ["conversation", "created_at"])
    op.create_table(
        "review_notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("cluster_id", sa.Integer, sa.ForeignKey("review_clusters.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(254), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
    )
    op.create_index("ix_review_notes_cluster_id", "review_notes", ["cluster_id"])
    op.create_table(
        "review_notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("review_items.id"), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("conversation", sa.String(128), nullable=False),
        sa.Column("contact", sa.Text, nullable=True),
        sa.Column("reply_from", sa.Text, nullable=True),
        sa.Column("thread", sa.Text, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("told_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text, nullable=True),
        sa.UniqueConstraint("item_id", "channel", "conversation", name="uq_review_notifications_customer"),
    )
    op.create_index("ix_review_notifications_state", "review_notifications", ["state", "channel"])
    op.create_index("ix_review_notifications_conversation", "review_notifications", ["conversation", "state"])
    state = op.create_table(
        "review_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.bulk_insert(state, [{"key": "last_event_id", "value": "0"}, {"key": "last_event_at", "value": ""}])


def downgrade() -> None:
    op.drop_table("review_state")
    op.drop_table("review_notifications")
    op.drop_table("review_notes")
    op.drop_table("review_occurrences")
    op.drop_table("review_items")
    op.drop_table("review_clusters")
