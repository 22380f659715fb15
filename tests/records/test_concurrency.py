"""Caps and duplicates hold when clerks record at the same moment (PostgreSQL: real row
locks, each thread its own session and transaction, each committing).

义务劳动 1.5 分/小时 with at most 8 分 per member per day: eight clerks each record 3 hours
(4.5, rounded to 5 分) for 张三 on the same day. Whatever the order, one record gets 5,
the next 3 (cut), and six are capped: 8 分 exactly.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import TypeVar

import pytest
from sqlalchemy import select

from jifen.kit.clock import utc_now
from jifen.ledger import service as ledger
from jifen.models import Record
from jifen.records import errors
from jifen.records import service as records
from jifen.records.service import Recorder, RecordRequest
from tests.records.world import EVENT, LEADER, World

pytestmark = pytest.mark.postgres_only

THREADS = 8
T = TypeVar("T")


def _run_at_once(job: Callable[[int], T], count: int) -> list[T]:
    barrier = threading.Barrier(count)

    def run(i: int) -> T:
        barrier.wait()
        return job(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def _labor(world: World, occurrence: str) -> RecordRequest:
    return RecordRequest(
        village_id=world.village_id,
        rule_id="voluntary_labor",
        member_id=world.a1,
        household_id=None,
        quantity=Decimal(3),
        occurred_at=EVENT,
        occurrence=occurrence,
    )


def _clerk(i: int) -> Recorder:
    return Recorder(f"村干部 {i}", frozenset({"village_clerk"}))


def test_simultaneous_records_never_pass_a_cap(world: World) -> None:
    def record(i: int) -> tuple[str, int]:
        with world.db.unit_of_work() as session:
            row = records.record(
                session,
                _labor(world, f"第 {i} 批"),
                recorder=_clerk(i),
                clock=ledger.Clock(now=utc_now(), settings=world.settings),
            )
            return row.status, row.awarded_points

    outcomes = _run_at_once(record, THREADS)

    assert sorted(points for _, points in outcomes) == [0] * (THREADS - 2) + [3, 5]
    assert Counter(status for status, _ in outcomes) == {
        "approved": 2,
        "capped": THREADS - 2,
    }
    assert world.household_points(world.household_a) == 8
    with world.db.unit_of_work(write=False) as session:
        stored = session.execute(
            select(Record.status, Record.awarded_points, Record.points, Record.entry_id).where(
                Record.village_id == world.village_id
            )
        ).all()
    assert len(stored) == THREADS
    assert sum(row.points for row in stored) == 8
    assert sum(1 for row in stored if row.entry_id is not None) == 2


def test_simultaneous_approvals_never_pass_a_cap(world: World) -> None:
    pending = [
        world.record(
            "voluntary_labor", world.a1, quantity=3, occurrence=f"第 {i} 批", recorder=LEADER
        )
        for i in range(THREADS)
    ]

    def approve(i: int) -> tuple[str, int]:
        with world.db.unit_of_work() as session:
            row = records.review(
                session,
                record_id=pending[i].id,
                approve=True,
                reason="复核通过",
                reviewer=_clerk(i),
                clock=ledger.Clock(now=utc_now(), settings=world.settings),
            )
            return row.status, row.awarded_points

    outcomes = _run_at_once(approve, THREADS)

    assert sorted(points for _, points in outcomes) == [0] * (THREADS - 2) + [3, 5]
    assert Counter(status for status, _ in outcomes) == {"approved": 2, "capped": THREADS - 2}
    assert world.household_points(world.household_a) == 8


def test_simultaneous_duplicates_record_once(world: World) -> None:
    def record(i: int) -> str:
        try:
            with world.db.unit_of_work() as session:
                row = records.record(
                    session,
                    _labor(world, "6 月 15 日 村道清淤"),
                    recorder=_clerk(i),
                    clock=ledger.Clock(now=utc_now(), settings=world.settings),
                )
                return str(row.id)
        except errors.DuplicateRecord:
            return "duplicate"

    outcomes = Counter(_run_at_once(record, THREADS))

    assert outcomes["duplicate"] == THREADS - 1
    assert len(outcomes) == 2
    assert world.household_points(world.household_a) == 5
