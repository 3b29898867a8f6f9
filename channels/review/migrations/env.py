"""The alembic environment for the review tables, kept apart from other packages' by its version table."""

from __future__ import annotations

from channels.migrate import run_env
from channels.review.store import VERSION_TABLE
from channels.review.tables import metadata

run_env(VERSION_TABLE, metadata)
