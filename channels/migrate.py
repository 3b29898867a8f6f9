"""Run one package's alembic migrations to head: one thread and one process at a time, safe when hosts race.

Each package that keeps tables (channels, channels.staff, channels.review) has its own migration folder and
version table (ADR 7), so their chains move independently in one database. Its store module names its
`MigrationChain` and upgrades it when the store is made; its `env.py` calls `run_env`. Nothing here reads or
writes the packages' own tables.
"""

from __future__ import annotations

import fcntl
import logging
import logging.config
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from content_sync.jobs import get_engine

log = logging.getLogger(__name__)
RACE_WAIT = 15.0  # seconds a process that lost a migration race waits for the winner to reach head
# alembic's `context` and `op` are process-wide: two chains migrating in two threads at once would clash.
_MIGRATING = threading.Lock()


def _sqlite_file(database_url: str) -> Path | None:
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


@dataclass(frozen=True)
class MigrationChain:
    """One package's migrations: `directory` holds env.py and versions/, `version_table` records where it is."""

    name: str
    directory: Path
    version_table: str

    def config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.directory))
        return config

    def head(self) -> str | None:
        """The newest migration's revision id."""
        return ScriptDirectory.from_config(self.config()).get_current_head()

    def current(self, engine: Engine) -> str | None:
        """The revision the database is at for this chain (None before its first migration)."""
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": self.version_table})
            return context.get_current_revision()

    @contextmanager
    def _file_lock(self, database_url: str) -> Iterator[None]:
        """On a SQLite file, one process at a time migrates this chain: a lock on `<file>.<name>-migrate.lock`."""
        path = _sqlite_file(database_url)
        if path is None:
            yield
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{path}.{self.name}-migrate.lock", "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def upgrade(self, database_url: str) -> None:
        """Run the migrations up to head. A no-op when already there; safe when processes race."""
        engine = get_engine(database_url)
        with _MIGRATING, self._file_lock(database_url):
            try:
                config = self.config()
                with engine.begin() as conn:
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
            except sa.exc.DBAPIError:
                # Another process the lock does not reach (another host on a shared database) is migrating too
                # and made a table first. Its upgrade is fine once the schema reaches head.
                deadline = time.monotonic() + RACE_WAIT
                while self.current(engine) != self.head():
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
                log.info("another process migrated the %s tables first; they are at head", self.name)


def run_env(version_table: str, metadata: sa.MetaData) -> None:
    """The body of a chain's env.py: on the connection `MigrationChain.upgrade` gives (inside its transaction),
    or, from the alembic CLI, on `sqlalchemy.url` or DATABASE_URL. Autogenerate compares only `metadata`'s
    tables: other packages' tables in the same database are not this chain's."""
    from alembic import context

    def ours(name: str | None, type_: str, parent_names: Any) -> bool:
        return type_ != "table" or name in metadata.tables

    def configure(**kwargs: Any) -> None:
        context.configure(
            target_metadata=metadata,
            version_table=version_table,
            include_name=ours,
            render_as_batch=True,  # SQLite alters tables by copying them
            **kwargs,
        )

    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    if config.config_file_name:
        logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from content_sync.settings import SyncSettings

        url = SyncSettings().database_url
    if context.is_offline_mode():
        configure(url=url, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        configure(connection=conn)
        with context.begin_transaction():
            context.run_migrations()
