"""`jifen backup`: a consistent, checked copy of a SQLite database taken while it is
being written; PostgreSQL is pointed at pg_dump and PITR."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from jifen.backup import snapshot
from jifen.config import Settings
from jifen.db import Database
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.migrate import upgrade
from jifen.models import Entry, Village
from tests.factories import account_of, award, make_member, make_village

JIFEN = [sys.executable, "-m", "jifen"]


def _jifen(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JIFEN_DATABASE_URL": database_url}
    return subprocess.run([*JIFEN, *args], env=env, capture_output=True, text=True, timeout=300)


def test_a_backup_taken_while_booking_is_consistent_and_checked(
    db: Database, settings: Settings, backend: str, database_url: str, tmp_path: Path
) -> None:
    if backend != "sqlite":
        pytest.skip("jifen backup copies SQLite; PostgreSQL is refused (tested below)")
    with db.unit_of_work() as session:
        village = make_village(session)
        account = account_of(session, village, AccountKind.MEMBER, make_member(session, village).id)
        for _ in range(200):  # enough pages for several backup steps
            award(session, settings, village, account, 1, memo="义务劳动" * 40)
    stop = threading.Event()
    booked = 0
    failures: list[BaseException] = []

    def keep_booking() -> None:
        nonlocal booked
        try:
            while not stop.is_set():
                with db.unit_of_work() as session:
                    award(session, settings, village, account, 1, memo="边备份边记账")
                booked += 1
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    writer = threading.Thread(target=keep_booking)
    writer.start()
    out = tmp_path / "copy.db"
    steps: list[str] = []
    try:
        while booked < 3 and not failures:
            stop.wait(0.01)
        report = snapshot.backup(
            settings,
            out,
            progress_factory=lambda total: steps.append,
            pages_per_step=4,
        )
    finally:
        stop.set()
        writer.join()
    assert failures == [] and booked >= 3
    assert len(steps) >= 2
    assert report.villages == 1 and report.entries >= 203
    assert not list(tmp_path.glob(".*partial"))
    # The copy opens on its own, is at head (migrating does nothing), and verifies.
    copy_url = f"sqlite:///{out}"
    before, after = upgrade(copy_url)
    assert before == after == report.revision
    copy = Database(Settings(database_url=copy_url))
    try:
        with copy.unit_of_work(write=False) as session:
            assert ledger.verify_books(session, village.id).is_intact
            copied = set(session.execute(select(Entry.id, Entry.hash)).all())
    finally:
        copy.dispose()
    with db.unit_of_work(write=False) as session:
        source = set(session.execute(select(Entry.id, Entry.hash)).all())
    assert copied <= source and len(copied) == report.entries


def test_the_backup_command_checks_the_copy_and_never_overwrites(
    db: Database, settings: Settings, backend: str, database_url: str, tmp_path: Path
) -> None:
    if backend != "sqlite":
        result = _jifen(database_url, "backup", "--out", str(tmp_path / "x.db"))
        assert result.returncode == 2
        assert "pg_dump" in result.stderr and "docs/operations.md" in result.stderr
        assert not (tmp_path / "x.db").exists()
        return
    with db.unit_of_work() as session:
        village = make_village(session, code="a", name="甲村")
        account = account_of(session, village, AccountKind.MEMBER, make_member(session, village).id)
        award(session, settings, village, account, 5)
    out = tmp_path / "copy.db"
    result = _jifen(database_url, "backup", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("[1/")
    assert "integrity ok, 1 villages' chains intact (1 entries)" in result.stdout
    with sqlite3.connect(out) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    again = _jifen(database_url, "backup", "--out", str(out))
    assert again.returncode == 2 and "not overwritten" in again.stderr


def test_a_copy_whose_chain_is_broken_is_not_called_a_backup(
    db: Database, settings: Settings, backend: str, tmp_path: Path
) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite copies only")
    with db.unit_of_work() as session:
        village = make_village(session)
        account = account_of(session, village, AccountKind.MEMBER, make_member(session, village).id)
        award(session, settings, village, account, 5)
        village_id = session.execute(select(Village.id)).scalar_one()
    broken = tmp_path / "broken.db"
    with (
        sqlite3.connect(broken) as target,
        sqlite3.connect(settings.database_url.removeprefix("sqlite:///")) as source,
    ):
        source.backup(target)
        # Tamper with the copy only, past the append-only triggers.
        target.execute("DROP TRIGGER entries_refuse_update")
        target.execute("UPDATE entries SET memo = 'altered'")
    with pytest.raises(snapshot.BackupBroken, match=str(village_id)):
        snapshot.check_copy(broken, settings)
