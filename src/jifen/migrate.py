"""Apply the Alembic migrations that ship inside the package.

Several replicas may start at once, each running `jifen migrate` first: only one at a
time migrates, under a lock the others wait for (bounded), and they then find the
database at head and do nothing. On PostgreSQL the lock is a session advisory lock; on
SQLite an exclusive lock on a file beside the database.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, pool, text
from sqlalchemy.engine import make_url

# The advisory lock's key: a fixed 64-bit number derived from a name, so that it is the
# same for every jifen process and unlikely to meet another application's.
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"jifen.migrate").digest()[:8], "big", signed=True
)
_POLL_SECONDS = 0.2


class MigrationLockTimeout(RuntimeError):
    """Another process held the migration lock for longer than the bound."""


def alembic_config(database_url: str | None = None, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("jifen._migrations")))
    if database_url:
        config.attributes["database_url"] = database_url
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(
    database_url: str, revision: str = "head", *, lock_timeout_seconds: float = 300
) -> tuple[str | None, str | None]:
    """Migrate to `revision`, holding the migration lock (waiting for it at most
    `lock_timeout_seconds`; MigrationLockTimeout past that). Returns the revisions the
    database was at before and after, as seen under the lock."""
    url = make_url(database_url)
    engine = create_engine(database_url, poolclass=pool.NullPool)
    try:
        if url.get_backend_name() == "postgresql":
            with engine.connect() as connection, _advisory_lock(connection, lock_timeout_seconds):
                before = _revision(connection)
                command.upgrade(alembic_config(connection=connection), revision)
                connection.commit()
                return before, _revision(connection)
        with _file_lock(url.database, lock_timeout_seconds):
            with engine.connect() as connection:
                before = _revision(connection)
            command.upgrade(alembic_config(database_url), revision)
            with engine.connect() as connection:
                return before, _revision(connection)
    finally:
        engine.dispose()


def _revision(connection: Connection) -> str | None:
    current = MigrationContext.configure(connection).get_current_revision()
    if connection.in_transaction():
        connection.commit()
    return current


@contextlib.contextmanager
def _advisory_lock(connection: Connection, timeout_seconds: float) -> Iterator[None]:
    deadline = time.monotonic() + timeout_seconds
    while True:
        taken = connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
        ).scalar_one()
        # The lock is the session's: it outlives this transaction, which ends here so
        # that Alembic begins its own.
        connection.commit()
        if taken:
            break
        if time.monotonic() >= deadline:
            raise MigrationLockTimeout(
                f"another process held the migration lock for {timeout_seconds:g} s"
            )
        time.sleep(_POLL_SECONDS)
    try:
        yield
    finally:
        if connection.in_transaction():
            connection.rollback()
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        connection.commit()


@contextlib.contextmanager
def _file_lock(database: str | None, timeout_seconds: float) -> Iterator[None]:
    if not database or database == ":memory:":
        yield  # a private in-memory database: nobody to race with
        return
    import fcntl

    path = Path(database).with_name(Path(database).name + ".migrate-lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_seconds
    with path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise MigrationLockTimeout(
                        f"another process held the migration lock for {timeout_seconds:g} s"
                    ) from None
                time.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
