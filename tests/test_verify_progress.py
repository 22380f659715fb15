"""`jifen verify`: every village of a township or of the database, with progress."""

from __future__ import annotations

import io
import os
import pty
import re
import select as selectmodule
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from jifen.config import Settings
from jifen.db import Database
from jifen.kit.progress import progress
from jifen.ledger.policy import AccountKind
from tests.factories import account_of, award, make_member, make_township, make_village

JIFEN = [sys.executable, "-m", "jifen"]


def _jifen(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JIFEN_DATABASE_URL": database_url}
    return subprocess.run([*JIFEN, *args], env=env, capture_output=True, text=True, timeout=120)


def _world(db: Database, settings: Settings) -> None:
    """Township east: villages a (2 entries) and b (1); township west: village c (3)."""
    with db.unit_of_work() as session:
        east = make_township(session, code="east", name="东镇")
        west = make_township(session, code="west", name="西镇")
        for town, code, entries in ((east, "a", 2), (east, "b", 1), (west, "c", 3)):
            village = make_village(session, town, code=code, name=f"{code}村")
            account = account_of(
                session, village, AccountKind.MEMBER, make_member(session, village).id
            )
            for _ in range(entries):
                award(session, settings, village, account, 2)


def test_verify_all_and_a_township_show_plain_progress_off_a_terminal(
    db: Database, settings: Settings, database_url: str
) -> None:
    _world(db, settings)
    everything = _jifen(database_url, "verify", "--all")
    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.splitlines() == [
        "[1/3] a a村: intact, 2 entries",
        "[2/3] b b村: intact, 1 entries",
        "[3/3] c c村: intact, 3 entries",
        "3 of 3 villages intact",
    ]
    east = _jifen(database_url, "verify", "--all", "--township", "east")
    assert east.returncode == 0
    assert east.stdout.splitlines() == [
        "[1/2] a a村: intact, 2 entries",
        "[2/2] b b村: intact, 1 entries",
        "2 of 2 villages intact",
    ]
    assert _jifen(database_url, "verify", "--all", "--township", "north").returncode == 2
    assert _jifen(database_url, "verify", "--all", "--village", "a").returncode == 2
    assert _jifen(database_url, "verify", "--township", "east").returncode == 2
    one = _jifen(database_url, "verify", "--village", "c")
    assert one.stdout.splitlines() == ["[1/1] c c村: intact, 3 entries", "1 of 1 villages intact"]


@pytest.mark.tampers
def test_verify_all_names_the_broken_village_and_fails(
    db: Database, settings: Settings, database_url: str
) -> None:
    _world(db, settings)
    engine = db.write_engine
    with engine.begin() as conn:
        if db.dialect == "sqlite":
            conn.execute(text("DROP TRIGGER entries_refuse_update"))
        else:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        # Village b's only entry is altered behind the ledger's back.
        conn.execute(
            text(
                "UPDATE entries SET memo = 'forged' WHERE village_id IN "
                "(SELECT id FROM villages WHERE code = 'b')"
            )
        )
    result = _jifen(database_url, "verify", "--all")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "[1/3] a a村: intact, 2 entries"
    assert re.fullmatch(r"\[2/3\] b b村: BROKEN at seq 1 \(entry [0-9a-f-]+\): .+", lines[1])
    assert lines[-2] == "[3/3] c c村: intact, 3 entries"
    assert lines[-1] == "2 of 3 villages intact, 1 BROKEN"


def test_progress_draws_a_bar_on_a_terminal() -> None:
    out = io.StringIO()
    with progress(2, description="verifying", stream=out, is_terminal=True) as step:
        step("a a村: intact, 2 entries")
        step("b b村: intact, 1 entries")
    drawn = out.getvalue()
    assert "\x1b[" in drawn  # a terminal's control sequences
    assert "a a村: intact, 2 entries" in drawn and "b b村: intact, 1 entries" in drawn
    assert "2/2" in drawn and "verifying" in drawn
    assert "[1/2]" not in drawn

    plain = io.StringIO()
    with progress(2, description="verifying", stream=plain, is_terminal=False) as step:
        step("x")
        step("y")
    assert plain.getvalue() == "[1/2] x\n[2/2] y\n"


def test_verify_on_a_real_terminal_shows_the_bar(
    db: Database, settings: Settings, database_url: str
) -> None:
    _world(db, settings)
    primary, secondary = pty.openpty()
    env = {**os.environ, "JIFEN_DATABASE_URL": database_url, "COLUMNS": "100"}
    process = subprocess.Popen(
        [*JIFEN, "verify", "--all"], env=env, stdout=secondary, stderr=secondary
    )
    os.close(secondary)
    drawn = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = selectmodule.select([primary], [], [], 1)
        if ready:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
        elif process.poll() is not None:
            break
    assert process.wait(timeout=60) == 0
    os.close(primary)
    shown = drawn.decode(errors="replace")
    assert "\x1b[" in shown and "3/3" in shown
    assert "c c村: intact, 3 entries" in shown
    assert "[1/3]" not in shown
