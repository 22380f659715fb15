"""Engines, sessions, the unit of work, deferred writes and the bounds on every wait.

SQLite: a write unit of work starts with BEGIN IMMEDIATE, so writers never fail when a
read snapshot turns stale; reads start with a plain BEGIN and run beside the writer
thanks to WAL. Writers of one process first queue on an in-process lock, held from BEGIN
until the connection goes back to the pool (waiting on SQLite's busy handler instead
would sleep in steps of up to 100 ms). Writers in other processes meet the busy timeout.
PostgreSQL: both engines are one; the ledger's row locks do the work, and every session
carries lock_timeout, statement_timeout and idle_in_transaction_session_timeout.

No wait is unbounded: connecting, taking a pooled connection, taking a lock and running
a statement each have a bound (config.py), and a watchdog breaks off the connection of a
request that outlives its deadline (a frozen or unreachable server answers nothing, so
only the client side can end the wait). What ends a wait raises DatabaseUnavailable or a
driver error that the API answers with 503 and Retry-After.

Deferred writes (WriteBatch): rows that many bookings of one database transaction insert
into the same tables (postings, entries, events, audit) are kept and written together,
one multi-row statement per table, just before the transaction commits — or before any
other statement that could read or reference them (like the ORM's autoflush). Statements
that know to look into the batch themselves say so with BATCH_AWARE and run at once.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from jifen.config import Settings

if TYPE_CHECKING:
    from jifen.committer import Committer

# Execution option of statements that consult the write batch themselves and so need no
# flush before them: `statement.execution_options(**BATCH_AWARE)`.
BATCH_AWARE = {"jifen_batch_aware": True}
_BATCH_KEY = "jifen.write_batch"


class DatabaseUnavailable(Exception):
    """A bounded wait on the database ran out (the API answers 503 with Retry-After)."""

    def __init__(self, detail: str, *, detail_zh: str, outcome: str = "not_written") -> None:
        super().__init__(detail)
        self.detail = detail
        self.detail_zh = detail_zh  # the same in Chinese, for the 503's Chinese reader
        # "not_written": nothing of the request was written; "unknown": the commit was
        # under way when the wait ended (retry with the same Idempotency-Key).
        self.outcome = outcome


class RunAgainLater(Exception):
    """Raised by group-committed work that cannot go on in this group without risking a
    lock cycle (and wrote nothing): the committer runs it first in the next group."""


# --- deferred writes ----------------------------------------------------------------------


class WriteBatch:
    """Rows and state a database transaction defers to its end.

    `defer` keeps a row for a multi-row INSERT; participants (the ledger's balances and
    books heads) keep state of their own and write it in `flush`. `mark`/`undo` take back
    what was deferred since a mark — as long as nothing was written since: `dml_count`
    counts every statement that may have changed the database, flushes included.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        # The DBAPI connection's info dictionary, where the autoflush hook finds the batch
        # (kept here: the Connection may already be closed when the transaction ends).
        self.connection_info: dict[str, Any] = connection.info
        self._rows: dict[Any, list[dict[str, Any]]] = {}
        self._undo: list[Callable[[], object]] = []
        self._participants: dict[str, BatchParticipant] = {}
        self.dml_count = 0
        self.flushing = False
        self.flushes = 0
        # Set by the group committer: the transaction holds several callers' writes.
        self.grouped = False

    def defer(self, statement: Any, row: dict[str, Any]) -> None:
        """Keep a row for `statement`, an INSERT built once and `.inline()`: it asks
        nothing back (no generated keys), so that it can be sent without waiting."""
        rows = self._rows.get(statement)
        if rows is None:
            rows = self._rows[statement] = []
        rows.append(row)
        self._undo.append(rows.pop)  # type: ignore[arg-type]  # its result is dropped

    def remember(self, restore: Callable[[], object]) -> None:
        """Register how to take back a change to a participant's state."""
        self._undo.append(restore)

    def participant(self, name: str, factory: Callable[[], BatchParticipant]) -> Any:
        found = self._participants.get(name)
        if found is None:
            found = self._participants[name] = factory()
        return found

    def participant_if_any(self, name: str) -> Any:
        return self._participants.get(name)

    @property
    def pending(self) -> bool:
        return any(self._rows.values()) or any(p.dirty for p in self._participants.values())

    def mark(self) -> tuple[int, int]:
        return len(self._undo), self.dml_count

    def can_undo(self, mark: tuple[int, int]) -> bool:
        return self.dml_count == mark[1]

    def undo(self, mark: tuple[int, int]) -> None:
        if not self.can_undo(mark):
            raise RuntimeError("the batch was written since the mark: roll back instead")
        while len(self._undo) > mark[0]:
            self._undo.pop()()

    def prefetch(self) -> None:
        """Let every participant read, in one statement each, what the work of this
        transaction said it would need (a group commit's units, before they run)."""
        for participant in self._participants.values():
            participant.prefetch(self.connection)

    def flush(self) -> None:
        if self.flushing or not self.pending:
            return
        self.flushing = True
        self.dml_count += 1
        self.flushes += 1
        try:
            for statement, rows in self._rows.items():
                if rows:
                    self.connection.execute(statement, list(rows))
                    rows.clear()
            for participant in self._participants.values():
                participant.flush(self.connection)
            self._undo.clear()
        finally:
            self.flushing = False


class BatchParticipant:
    """State a domain keeps in a WriteBatch (see WriteBatch.participant)."""

    @property
    def dirty(self) -> bool:
        return False

    def prefetch(self, connection: Connection) -> None:
        """Read at once what was announced as needed (see WriteBatch.prefetch)."""

    def flush(self, connection: Connection) -> None:
        """Write what is still only in memory."""


def write_batch(session: Session) -> WriteBatch:
    """The write batch of the session's current transaction (made on first use)."""
    batch: WriteBatch | None = session.info.get(_BATCH_KEY)
    if batch is None:
        connection = session.connection()
        batch = WriteBatch(connection)
        session.info[_BATCH_KEY] = batch
        connection.info[_BATCH_KEY] = batch
    return batch


@contextmanager
def pipelined(session: Session) -> Iterator[Callable[[], None]]:
    """On PostgreSQL, send the statements of the block without waiting for each answer
    (psycopg's pipeline mode), so that a group's writes go in one round trip; the block
    may call the function it is given to send the COMMIT with them. A statement the
    database refuses is raised when the pipeline ends, as SQLAlchemy's error for it.

    Elsewhere the block runs as it is, and the function does nothing: the caller's
    session.commit() commits (on PostgreSQL it then finds the work done)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        yield lambda: None
        return
    dbapi_connection: Any = connection.connection.dbapi_connection
    try:
        with dbapi_connection.pipeline():
            yield dbapi_connection.commit
    except connection.dialect.loaded_dbapi.Error as exc:
        invalidated = connection.dialect.is_disconnect(exc, dbapi_connection, None)
        if invalidated:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            None,
            None,
            exc,
            connection.dialect.loaded_dbapi.Error,
            connection_invalidated=invalidated,
            dialect=connection.dialect,
        ) from exc


def current_batch(session: Session) -> WriteBatch | None:
    batch: WriteBatch | None = session.info.get(_BATCH_KEY)
    return batch


def _end_batch(session: Session) -> None:
    batch: WriteBatch | None = session.info.pop(_BATCH_KEY, None)
    if batch is not None:
        batch.connection_info.pop(_BATCH_KEY, None)


@event.listens_for(Session, "before_commit")
def _flush_before_commit(session: Session) -> None:
    batch = current_batch(session)
    if batch is not None:
        batch.flush()


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: Any) -> None:
    # Committed, or rolled back with whatever was deferred: the batch ends either way.
    if transaction.parent is None:
        _end_batch(session)


def _before_execute(
    conn: Connection,
    clauseelement: Any,
    _multiparams: Any,
    _params: Any,
    execution_options: Any,
) -> None:
    batch: WriteBatch | None = conn.info.get(_BATCH_KEY)
    if batch is None or batch.flushing:
        return
    is_read = getattr(clauseelement, "is_select", False)
    aware = execution_options.get("jifen_batch_aware") or clauseelement_aware(clauseelement)
    if not is_read and not aware:
        batch.dml_count += 1
    if not aware and batch.pending:
        batch.flush()


def clauseelement_aware(clauseelement: Any) -> bool:
    options = getattr(clauseelement, "_execution_options", None)
    return bool(options and options.get("jifen_batch_aware"))


# --- the watchdog -------------------------------------------------------------------------


class Watchdog:
    """Breaks off the connection of a request past its deadline.

    A request sets its deadline (`with watchdog.deadline(seconds)`) in the thread it runs
    in; the first statement on a connection registers the connection, and the pool's
    checkin forgets it. A thread wakes every `tick` seconds and breaks every connection
    held past its deadline: on PostgreSQL it shuts the socket down (the blocked call
    returns an error at once), on SQLite it interrupts the running statement.
    """

    def __init__(self, tick: float = 0.25) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[float, Callable[[], None]]] = {}
        self._tick = tick
        self._thread: threading.Thread | None = None
        self.broken = 0

    @contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        previous = getattr(self._local, "deadline", None)
        self._local.deadline = time.monotonic() + seconds
        try:
            yield
        finally:
            self._local.deadline = previous

    def register(self, dbapi_connection: Any, breaker: Callable[[], None]) -> None:
        deadline = getattr(self._local, "deadline", None)
        if deadline is None:
            return
        key = id(dbapi_connection)
        with self._lock:
            if key in self._watched:
                return
            self._watched[key] = (deadline, breaker)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="jifen-db-watchdog", daemon=True
                )
                self._thread.start()

    def forget(self, dbapi_connection: Any) -> None:
        with self._lock:
            self._watched.pop(id(dbapi_connection), None)

    def _run(self) -> None:
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:
                late = [key for key, (deadline, _) in self._watched.items() if deadline < now]
                breakers = [self._watched.pop(key)[1] for key in late]
            for breaker in breakers:
                self.broken += 1
                with suppress(Exception):  # already broken, or closed meanwhile
                    breaker()


def _pg_breaker(dbapi_connection: Any) -> Callable[[], None]:
    def shut() -> None:
        fd = dbapi_connection.pgconn.socket
        # shutdown() acts on the socket itself, so the duplicate is enough; closing the
        # duplicate leaves psycopg's own descriptor alone.
        with socket.socket(fileno=socket.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)

    return shut


def _sqlite_breaker(dbapi_connection: Any) -> Callable[[], None]:
    return dbapi_connection.interrupt  # type: ignore[no-any-return]


def _watch(
    engine: Engine, watchdog: Watchdog, breaker: Callable[[Any], Callable[[], None]]
) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _register(
        conn: Connection, _cursor: Any, _statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        dbapi_connection = conn.connection.dbapi_connection
        if dbapi_connection is not None:
            watchdog.register(dbapi_connection, breaker(dbapi_connection))

    @event.listens_for(engine, "checkin")
    def _forget(dbapi_connection: DBAPIConnection | None, _record: ConnectionPoolEntry) -> None:
        if dbapi_connection is not None:
            watchdog.forget(dbapi_connection)


# --- engines ------------------------------------------------------------------------------


def _sqlite_engine(
    settings: Settings, begin: str, write_lock: threading.Lock | None = None
) -> Engine:
    in_memory = make_url(settings.database_url).database in (None, "", ":memory:")
    busy_ms = settings.db_lock_timeout_ms
    engine = create_engine(
        settings.database_url,
        connect_args={"check_same_thread": False, "timeout": busy_ms / 1000},
        **(
            {}
            if in_memory
            else {
                "pool_size": settings.db_pool_size,
                "max_overflow": 8,
                "pool_timeout": settings.db_pool_timeout_seconds,
            }
        ),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not the driver, open transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if write_lock is not None:
            if not write_lock.acquire(timeout=busy_ms / 1000):
                raise DatabaseUnavailable(
                    f"the database stayed busy with other writes for {busy_ms} ms",
                    detail_zh=f"数据库忙于其他写入，已等待 {busy_ms} 毫秒",
                )
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


def _postgresql_engine(settings: Settings) -> Engine:
    options = " ".join(
        [
            f"-c lock_timeout={settings.db_lock_timeout_ms}",
            f"-c statement_timeout={settings.db_statement_timeout_ms}",
            # A transaction left open by a client that vanished ends by itself.
            f"-c idle_in_transaction_session_timeout={settings.db_statement_timeout_ms * 2}",
        ]
    )
    return create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=8,
        pool_timeout=settings.db_pool_timeout_seconds,
        # A connection that broke (a restart, the watchdog) fails its request with 503 and
        # is replaced; no extra round trip on every checkout.
        pool_pre_ping=False,
        connect_args={
            "connect_timeout": settings.db_connect_timeout_seconds,
            "options": options,
            # Give up on a peer that stops acknowledging (a partition), and notice dead
            # idle connections.
            "tcp_user_timeout": settings.db_statement_timeout_ms,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "application_name": "jifen",
        },
    )


class Database:
    """The engines and session factories of one database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.watchdog = Watchdog()
        if settings.is_sqlite:
            self.read_engine = _sqlite_engine(settings, "BEGIN")
            self.write_engine = _sqlite_engine(settings, "BEGIN IMMEDIATE", threading.Lock())
            _watch(self.read_engine, self.watchdog, _sqlite_breaker)
            _watch(self.write_engine, self.watchdog, _sqlite_breaker)
        else:
            self.read_engine = self.write_engine = _postgresql_engine(settings)
            _watch(self.read_engine, self.watchdog, _pg_breaker)
        for engine in {self.read_engine, self.write_engine}:
            event.listen(engine, "before_execute", _before_execute)
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)
        self._committer: Committer | None = None
        self._committer_lock = threading.Lock()

    @property
    def committer(self) -> Committer:
        """The group committer of this database (jifen.committer), made on first use."""
        if self._committer is None:
            from jifen.committer import Committer

            with self._committer_lock:
                if self._committer is None:
                    self._committer = Committer(
                        self,
                        group_max=self.settings.write_group_max,
                        window_seconds_max=self.settings.write_window_ms_max / 1000,
                        wait_timeout_seconds=self.settings.write_wait_timeout_seconds,
                    )
        return self._committer

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    @property
    def operation_timeout_seconds(self) -> float:
        """The bound on one request's use of a connection (the watchdog's deadline)."""
        return self.settings.db_statement_timeout_ms / 1000 + 1.0

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
        if self._committer is not None:
            self._committer.stop()
        self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            self.write_engine.dispose()
