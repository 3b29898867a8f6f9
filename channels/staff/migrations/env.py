"""The alembic environment for the staff tables, kept apart from other packages' by its version table."""

from __future__ import annotations

from channels.migrate import run_env
from channels.staff.store import VERSION_TABLE, metadata

run_env(VERSION_TABLE, metadata)
