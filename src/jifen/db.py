"""Engines, sessions and the unit of work.

On SQLite a write unit of work starts with BEGIN IMMEDIATE, so writers never fail when a
read snapshot turns stale; reads start with a plain BEGIN and run beside the writer
thanks to WAL. Writers of one process first queue on an in-process lock, held from BEGIN
until the connection goes back to the pool: waiting on SQLite's busy handler instead
would sleep in steps of up to 100 ms. Writers in other processes still meet the busy
timeout. On PostgreSQL both engines are one and the ledger's row locks do the work.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from jifen.config import Settings

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_engine(
    settings: Settings, begin: str, write_lock: threading.Lock | None = None
) -> Engine:
    in_memory = make_url(settings.database_url).database in (None, "", ":memory:")
    engine = create_engine(
        settings.database_url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        **({} if in_memory else {"pool_size": 8, "max_overflow": 32}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not the driver, open transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if write_lock is not None and write_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            connection.info["holds_write_lock"] = True
        try:
            connection.exec_driver_sql(begin)
        except BaseException:
            _release(connection.info)
            raise

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        _release(record.info)

    def _release(info: dict[str, Any]) -> None:
        if write_lock is not None and info.pop("holds_write_lock", False):
            write_lock.release()

    return engine


class Database:
    """The engines and session factories of one database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        if settings.is_sqlite:
            self.read_engine = _sqlite_engine(settings, "BEGIN")
            self.write_engine = _sqlite_engine(settings, "BEGIN IMMEDIATE", threading.Lock())
        else:
            self.read_engine = self.write_engine = create_engine(
                settings.database_url, pool_size=10, max_overflow=30, pool_pre_ping=True
            )
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    def session(self, *, write: bool) -> Session:
        return (self._write_sessions if write else self._read_sessions)()

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        """One database transaction: commit on success, roll back on any error."""
        session = self.session(write=write)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            self.write_engine.dispose()
