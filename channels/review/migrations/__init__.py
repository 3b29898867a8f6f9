"""The review queue's alembic migrations."""
