"""One alembic revision per file, oldest first: v0001 (sms_messages), v0002 (answer_events)."""
