"""The staff tables' schema history: alembic migrations that only `channels.staff.store` runs (and the alembic CLI)."""
