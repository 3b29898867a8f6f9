"""The channels' schema history: alembic migrations that only `channels.store` runs (and the alembic CLI)."""
