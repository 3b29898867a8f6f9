"""The review queue's tables: the schema `channels.review.store` reads and writes (only it does).

What each column means is written beside its table. The migrations in `channels/review/migrations/` make them.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

review_clusters = sa.Table(
    "review_clusters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(32), nullable=False, server_default="new"),
    sa.Column("assigned_to", sa.Text, nullable=True),
    sa.Column("centroid", sa.LargeBinary, nullable=True),
    sa.Column("size", sa.Integer, nullable=False, server_default="0"),
    sa.Column("model", sa.String(255), nullable=True),
    sa.Index("ix_review_clusters_status", "status"),
)
"""One question asked many ways.

    status       new, needs_content, answered_by_update, closed, wont_fix (see TRANSITIONS); its items follow
    assigned_to  who or what will answer it: an editor's email, or the URL of the page that should
    centroid     the mean of its items' unit vectors (float32 bytes); `size` items went into it
    model        the embedding model the centroid was made with (EMBEDDING_MODEL)
"""

review_items = sa.Table(
    "review_items",
    metadata,
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
    sa.Index("ix_review_items_cluster_id", "cluster_id"),
    sa.Index("ix_review_items_status", "status"),
    sa.Index("ix_review_items_last_seen", "last_seen"),
)
"""One customer question, on one channel, however many times it was asked (identical once normalised).

    cluster_id           its cluster; NULL until the gateway has embedded it (a few seconds)
    channel              web, sms or email
    signal               unanswered (the assistant could not answer), not_helpful (a customer said the answer
                         did not help: `question` is the rated question) or handoff (asked for a person)
    question_key         sha256 of the normalised question: the merge key, with channel and signal
    question             the question, personal data redacted (the first wording seen)
    conversation         the keyed hash of the conversation it was last asked in (never the raw sender)
    first_seen/last_seen when it was first and last asked (UTC); count: how many times
    status, assigned_to  its cluster's, unless the closed loop answered it (answered_by_update)
    reason               why it was not answered, the last time: no_match, out_of_scope, personal_account,
                         injection, not_ready, feedback, handoff
    lang, index_version  the reply's language and the index version it was made from, the last time
    rated_source_url, rated_chunk_digest   not_helpful only: the answer that was rated
    reasked_version      the index version the closed loop last asked it again at
    answered_by_url, answered_in_version, answered_at   the page and version that answer it now
    answer_json          Rasa's reply when it was asked again and answered: what customers are told
"""

review_occurrences = sa.Table(
    "review_occurrences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Integer, nullable=False),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("review_items.id"), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("conversation", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.String(32), nullable=True),
    sa.Column("index_version", sa.String(64), nullable=True),
    sa.Index("ix_review_occurrences_item_id", "item_id"),
    sa.Index("ix_review_occurrences_conversation", "conversation", "created_at"),
)
"""Each answer event an item was made from (`event_id` is answer_events.id when it was taken)."""

review_notes = sa.Table(
    "review_notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("cluster_id", sa.Integer, sa.ForeignKey("review_clusters.id"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("author", sa.String(254), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Index("ix_review_notes_cluster_id", "cluster_id"),
)
"""Notes on a cluster: reviewers' own, and the queue's ("answered by … in version …"), whose author is
`assistant`."""

review_notifications = sa.Table(
    "review_notifications",
    metadata,
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
    sa.Index("ix_review_notifications_state", "state", "channel"),
    sa.Index("ix_review_notifications_conversation", "conversation", "state"),
)
"""Customers to tell once the guidance answers their question: one row per item and customer, so each is told
once.

    channel       web (shown on the customer's next visit), sms (they texted YES) or email (they emailed)
    conversation  the keyed hash of their conversation
    contact       the raw phone number or email address, kept only while they wait to be told; NULL for web
    reply_from    sms: the agency number they texted (the notice comes from it)
    thread        email: JSON {message_id, references, subject} of their message, so the notice is a reply in
                  the same thread; NULL once told
    state         waiting (opted in, no answer yet), due (answered: tell them), sending (being sent), sent,
                  dropped (not sent: the number opted out), failed (could not be sent; `error` says why)
"""

review_state = sa.Table(
    "review_state",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
"""The queue's own bookmarks: `last_event_id`, the last answer_events row taken into the queue, and
`last_event_at`, when that row was written (to notice ids that started again after the table was emptied)."""
