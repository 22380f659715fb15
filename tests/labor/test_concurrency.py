"""Many taps at once (a member's phone and a clerk, a double tap): one check-in.

On PostgreSQL the books lock orders them; on SQLite, writers queue on the database lock.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from jifen.charters import service as charters
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.labor import service as labor
from jifen.models import Record
from jifen.records import errors as record_errors
from jifen.records import service as records
from tests.factories import clock, make_member, make_village
from tests.labor.conftest import RULES

THREADS = 12


@pytest.mark.parametrize("rule_id", ["meeting", "volunteer"])  # volunteer allows repeats
def test_simultaneous_check_ins_of_one_member_make_one_record(
    db: Database, settings: Settings, rule_id: str
) -> None:
    with db.unit_of_work() as session:
        village = make_village(session)
        member = make_member(session, village)
        charters.create_version(
            session,
            village_id=village.id,
            data={
                "title": "村规",
                "effective_on": (date.today() - timedelta(days=30)).isoformat(),
                "rules": RULES,
            },
            actor="test",
            now=utc_now(),
            publish=True,
        )
        now = utc_now()
        activity = labor.create_activity(
            session,
            village_id=village.id,
            rule_id=rule_id,
            title="植树",
            place="后山",
            starts_at=now - timedelta(minutes=10),
            ends_at=now + timedelta(hours=2),
            quantity=Decimal(1),
            project_id=None,
            actor="test",
            clock=clock(settings),
        )
    barrier = threading.Barrier(THREADS)

    def tap(i: int) -> str:
        barrier.wait()
        try:
            with db.unit_of_work() as session:
                labor.check_in(
                    session,
                    activity=labor.get_activity(session, activity.id),
                    member_id=member.id,
                    recorder=records.Recorder(f"client:{i}", frozenset({"check_in"})),
                    note="",
                    clock=clock(settings),
                )
            return "recorded"
        except record_errors.DuplicateRecord:
            return "duplicate"

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = Counter(pool.map(tap, range(THREADS)))
    assert outcomes == {"recorded": 1, "duplicate": THREADS - 1}
    with db.unit_of_work(write=False) as session:
        assert session.execute(select(func.count(Record.id))).scalar_one() == 1
