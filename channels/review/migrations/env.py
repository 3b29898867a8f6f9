"""The alembic environment for the review tables, kept apart from other packages' by its version table."""

from __future__ import annotations

import logging.config
from typing import Any

import sqlalchemy as sa
from alembic import context

from channels.review.store import VERSION_TABLE
from channels.review.tables import metadata


def _ours(name: str | None, type_: str, parent_names: Any) -> bool:
    """Autogenerate compares only the review tables: other packages' tables in the database are not ours."""
    return type_ != "table" or name in metadata.tables


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_name=_ours,
        render_as_batch=True,  # SQLite alters tables by copying them
        **kwargs,
    )


def run_migrations() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:  # channels.review.store.upgrade_database: its connection, inside its transaction
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    if config.config_file_name:  # the alembic CLI
        logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from content_sync.settings import SyncSettings

        url = SyncSettings().database_url
    if context.is_offline_mode():
        _configure(url=url, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _configure(connection=conn)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
