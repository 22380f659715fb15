"""`jifen settle`: a township's quarter drafted from the command line, exports written,
progress shown as plain lines off a terminal and as a bar on one; refusals exit non-zero
and write nothing. The township is tests/subsidies/test_settlement.py's, its awards worked
out there (清泉村 570 yuan, 新华村 0, 石门村 300)."""

from __future__ import annotations

import hashlib
import os
import pty
import select as selectmodule
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select

from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.models import Settlement
from jifen.subsidies import service as subsidies
from tests.subsidies.test_settlement import SCHEME, _township

JIFEN = [sys.executable, "-m", "jifen"]
STEM = "以奖代补结算_2026-01-01_2026-03-31"


def _jifen(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JIFEN_DATABASE_URL": database_url}
    return subprocess.run([*JIFEN, *args], env=env, capture_output=True, text=True, timeout=120)


def _with_scheme(db: Database, settings: Settings) -> str:
    world = _township(db, settings)
    with db.unit_of_work() as session:
        subsidies.create_scheme_version(
            session,
            township_id=uuid.UUID(world["township_id"]),
            data=SCHEME,
            actor="finance",
            now=utc_now(),
        )
    return str(world["township_id"])


def _settlements(db: Database) -> list[Settlement]:
    with db.unit_of_work(write=False) as session:
        found = list(session.execute(select(Settlement)).scalars())
        session.expunge_all()
        return found


def test_settle_drafts_exports_and_shows_plain_progress(
    db: Database, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    township = _with_scheme(db, settings)
    out = tmp_path / "exports"
    result = _jifen(
        database_url, "settle", "--township", township, "--period", "2026q1", "--export", str(out)
    )
    assert result.returncode == 0, result.stderr
    [settlement] = _settlements(db)
    assert (settlement.total_fen, settlement.created_by) == (87_000, "operator")
    csv_path, xlsx_path = out / f"{STEM}.csv", out / f"{STEM}.xlsx"
    assert result.stdout.splitlines() == [
        f"[1/6] settlement {settlement.id}: 870.00 yuan in all",
        "[2/6] v1 清泉村: 570.00 yuan",
        "[3/6] v2 新华村: 0.00 yuan",
        "[4/6] v3 石门村: 300.00 yuan",
        f"[5/6] wrote {csv_path} ({csv_path.stat().st_size} bytes)",
        f"[6/6] wrote {xlsx_path} ({xlsx_path.stat().st_size} bytes)",
        f"drafted settlement {settlement.id}; approve it with the API (another person)",
    ]
    # The files are the bytes whose digests the settlement keeps.
    assert hashlib.sha256(csv_path.read_bytes()).hexdigest() == settlement.csv_sha256
    assert hashlib.sha256(xlsx_path.read_bytes()).hexdigest() == settlement.xlsx_sha256
    assert "清泉村" in csv_path.read_text(encoding="utf-8-sig")
    assert sorted(p.name for p in out.iterdir()) == [f"{STEM}.csv", f"{STEM}.xlsx"]

    # Again, unchanged books: the same draft, no second one; without --export, no files.
    again = _jifen(database_url, "settle", "--township", township, "--period", "2026Q1")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[0] == f"[1/4] settlement {settlement.id}: 870.00 yuan in all"
    assert [s.id for s in _settlements(db)] == [settlement.id]


def test_settle_refusals_exit_non_zero_and_write_nothing(
    db: Database, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    world = _township(db, settings)  # no scheme yet
    township = str(world["township_id"])
    out = tmp_path / "exports"
    no_scheme = _jifen(
        database_url, "settle", "--township", township, "--period", "2026Q1", "--export", str(out)
    )
    assert no_scheme.returncode == 1
    assert "no_subsidy_scheme_in_force" in no_scheme.stderr
    assert not out.exists()
    bad_period = _jifen(database_url, "settle", "--township", township, "--period", "2026Q5")
    assert bad_period.returncode == 2 and "2026Q5" in bad_period.stderr
    nowhere = _jifen(database_url, "settle", "--township", "nowhere", "--period", "2026Q1")
    assert nowhere.returncode == 2 and "nowhere" in nowhere.stderr
    with db.unit_of_work(write=False) as session:
        assert session.execute(select(func.count()).select_from(Settlement)).scalar_one() == 0


def test_settle_on_a_terminal_draws_a_bar(
    db: Database, settings: Settings, database_url: str
) -> None:
    township = _with_scheme(db, settings)
    primary, secondary = pty.openpty()
    env = {**os.environ, "JIFEN_DATABASE_URL": database_url, "COLUMNS": "100"}
    process = subprocess.Popen(
        [*JIFEN, "settle", "--township", township, "--period", "2026Q1"],
        env=env,
        stdout=secondary,
        stderr=secondary,
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
    text = drawn.decode("utf-8", errors="replace")
    assert "\x1b[" in text  # the bar's control sequences
    assert "4/4" in text and "settling" in text
    assert "v1 清泉村: 570.00 yuan" in text
    assert "[1/4]" not in text  # no plain lines on a terminal
