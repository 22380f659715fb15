"""`jifen backup`: a consistent copy of a live SQLite database.

sqlite3's online backup API copies the pages a few at a time; if a writer changes the
source between two steps, SQLite starts the copy again from the last consistent state, so
the copy is always one committed state of the database, taken while the server serves and
writes. The copy is then opened on its own and checked: PRAGMA integrity_check, its
schema revision, and every village's chain and balances (as `jifen verify` does).
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url

from jifen.config import Settings
from jifen.db import Database

PAGES_PER_STEP = 256
# A copy restarted by writers this many times over is finished in one step.
RESTART_FACTOR = 4


class _TooManyRestarts(Exception):
    pass


class BackupRefused(Exception):
    """The backup cannot be made (PostgreSQL, a missing source, an existing target)."""


class BackupBroken(Exception):
    """The copy was made but does not check out; it is left at its .partial name."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    pages: int
    villages: int
    entries: int
    revision: str | None


def sqlite_path(settings: Settings) -> Path:
    """The database file of a SQLite URL; BackupRefused for anything else."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupRefused(
            "jifen backup copies SQLite databases only; back up PostgreSQL with pg_dump "
            "(a logical dump) or base backups and WAL archiving (point-in-time recovery): "
            "see docs/operations.md, Backups"
        )
    if not url.database or url.database == ":memory:":
        raise BackupRefused("an in-memory database has nothing to back up")
    path = Path(url.database)
    if not path.is_file():
        raise BackupRefused(f"no database file at {path}")
    return path


def backup(
    settings: Settings,
    out: Path,
    *,
    progress_factory: Callable[[int], Callable[[str], None]] | None = None,
    pages_per_step: int = PAGES_PER_STEP,
) -> BackupReport:
    """Copy the database to `out` (never overwriting a file), then check the copy.
    `progress_factory(total_steps)` gives a `step(message)` called as pages are copied."""
    source_path = sqlite_path(settings)
    if out.exists():
        raise BackupRefused(f"{out} exists: not overwritten")
    if out.resolve() == source_path.resolve():
        raise BackupRefused("the backup cannot be the database itself")
    partial = out.with_name(f".{out.name}.partial")
    partial.unlink(missing_ok=True)
    # Read-write, as the server's own connections: a read-only one could not share the
    # WAL index of a database in WAL mode. The backup only reads from it.
    source = sqlite3.connect(source_path, timeout=30)
    target = sqlite3.connect(partial)
    try:
        total = source.execute("PRAGMA page_count").fetchone()[0]
        steps = max(1, -(-total // pages_per_step))
        step = progress_factory(steps) if progress_factory else None
        reported = 0

        def report(status: int, remaining: int, pages: int) -> None:
            nonlocal reported
            if step is None:
                return
            done = pages - remaining
            # One line per step; a restarted copy (the source changed) only says so.
            if reported < steps:
                reported += 1
                step(f"{done} of {pages} pages copied")

        calls = 0

        def bounded(status: int, remaining: int, pages: int) -> None:
            nonlocal calls
            calls += 1
            if calls > RESTART_FACTOR * steps:
                raise _TooManyRestarts
            report(status, remaining, pages)

        try:
            source.backup(target, pages=pages_per_step, progress=bounded)
        except _TooManyRestarts:
            # Each write between two steps restarts the copy; under steady writing it might
            # never end. The rest goes in one step: one read transaction, which in WAL mode
            # does not hold the writers up.
            source.backup(target, pages=-1)
        while step is not None and reported < steps:
            reported += 1
            step("copied")
        pages = target.execute("PRAGMA page_count").fetchone()[0]
        # The copy keeps the source's WAL mode; fold it into one self-contained file.
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
        source.close()
    report_ = check_copy(partial, settings, pages=pages)
    os.replace(partial, out)
    return BackupReport(out, report_.pages, report_.villages, report_.entries, report_.revision)


def check_copy(path: Path, settings: Settings, *, pages: int = 0) -> BackupReport:
    """PRAGMA integrity_check, the schema revision, and every village's chain and
    balances, on the copy alone. BackupBroken names what fails."""
    from alembic.runtime.migration import MigrationContext

    from jifen.ledger import service as ledger
    from jifen.models import Village

    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    finally:
        connection.close()
    if problems != ["ok"]:
        raise BackupBroken(f"{path}: integrity_check: {'; '.join(problems[:5])}")
    copy = Database(settings.model_copy(update={"database_url": f"sqlite:///{path}"}))
    try:
        with copy.read_engine.connect() as raw:
            revision = MigrationContext.configure(raw).get_current_revision()
        villages = entries = 0
        with copy.unit_of_work(write=False) as session:
            ids: list[uuid.UUID] = list(session.execute(select(Village.id)).scalars())
        for village_id in ids:
            with copy.unit_of_work(write=False) as session:
                result = ledger.verify_books(session, village_id)
            if not result.is_intact:
                where = result.first_break.reason if result.first_break else "balances differ"
                raise BackupBroken(f"{path}: village {village_id}: {where}")
            villages += 1
            entries += result.entries_checked
    finally:
        copy.dispose()
    return BackupReport(path, pages, villages, entries, revision)
