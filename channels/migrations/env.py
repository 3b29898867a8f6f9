"""The alembic environment for the channels' tables, kept apart from other packages' by its version table."""

from __future__ import annotations

from channels.migrate import run_env
from channels.store import VERSION_TABLE, metadata

run_env(VERSION_TABLE, metadata)
