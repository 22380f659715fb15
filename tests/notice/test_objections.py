"""Objections (异议) and late appeals (逾期申诉) through the services.

October 2026's lists: open 25 Nov - 1 Dec, close at the start of 2 Dec, late appeals until
the end of 31 Dec (refused from 1 Jan 2027). 张三's 志愿服务 (contribution, `before`) is 2
points an hour; 公共区域清扫 (sanitation, `after`) is 3 points.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest

from jifen.models import NoticeList, NoticeObjection, Record
from jifen.notice import errors
from jifen.notice import service as notice
from tests.notice.world import balance, lists, volunteer
from tests.records.world import World, at

CLERK_ROLES = frozenset({"village_clerk"})
CLERK = "村会计 张建国"


def _list_of(world: World, record: Record) -> NoticeList:
    return next(
        row
        for row in lists(world)
        if row.period_start_on.month == record.occurred_on.month
        and row.mode == ("before" if record.category == "contribution" else "after")
    )


def _object(
    world: World, record: Record, when: datetime, list_id: uuid.UUID | None = None
) -> NoticeObjection:
    assert record.entry_id is not None
    with world.db.unit_of_work() as session:
        return notice.raise_objection(
            session,
            list_id=list_id or _list_of(world, record).id,
            entry_id=record.entry_id,
            raised_by="村民 李四",
            reason="当天未见其参加志愿服务",
            recorded_by=CLERK,
            clock=world.clock(when),
        )


def _decide(
    world: World,
    objection: NoticeObjection,
    when: datetime,
    *,
    upheld: bool,
    roles: frozenset[str] = CLERK_ROLES,
) -> NoticeObjection:
    with world.db.unit_of_work() as session:
        return notice.decide_objection(
            session,
            objection_id=objection.id,
            upheld=upheld,
            reason="经村务监督委员会核实",
            decider="村主任 李卫东",
            roles=roles,
            clock=world.clock(when),
        )


def test_an_objection_holds_its_entry_past_closing_and_upheld_voids_it(world: World) -> None:
    held = volunteer(world, date(2026, 10, 10), 3)  # 6 points held
    other = volunteer(world, date(2026, 10, 11), 1)  # 2 points held, no objection
    objection = _object(world, held, at(2026, 11, 26))
    assert (objection.kind, objection.state, objection.raised_on) == (
        "objection",
        "open",
        date(2026, 11, 26),
    )

    report = notice.tick(world.db, now=at(2026, 12, 2, 8))
    # Only the 2 points not under objection post; the 6 stay held.
    assert report.posted == 1
    assert balance(world) == (2, 6, 2)
    assert world.entry(other.entry_id).status == "posted"

    decided = _decide(world, objection, at(2026, 12, 3), upheld=True)

    assert (decided.state, decided.decided_by_role, decided.decided_on) == (
        "upheld",
        "village_clerk",
        date(2026, 12, 3),
    )
    assert world.entry(held.entry_id).status == "voided"
    assert world.get(held.id).status == "revoked"
    assert balance(world) == (2, 0, 2)


def test_rejected_while_open_posts_at_closing(world: World) -> None:
    held = volunteer(world, date(2026, 10, 10), 3)
    objection = _object(world, held, at(2026, 11, 26))
    _decide(world, objection, at(2026, 11, 28), upheld=False)
    # Posted on the later of the decision (28 Nov) and the closing day (2 Dec): not yet.
    assert balance(world) == (0, 6, 0)
    notice.tick(world.db, now=at(2026, 12, 2, 8))
    assert balance(world) == (6, 0, 6)


def test_rejected_after_closing_posts_at_the_decision(world: World) -> None:
    held = volunteer(world, date(2026, 10, 10), 3)
    objection = _object(world, held, at(2026, 11, 30))
    notice.tick(world.db, now=at(2026, 12, 2, 8))
    assert balance(world) == (0, 6, 0)
    _decide(world, objection, at(2026, 12, 5), upheld=False)
    assert world.entry(held.entry_id).status == "posted"
    assert balance(world) == (6, 0, 6)


def test_an_upheld_objection_to_an_after_entry_reverses_it(world: World) -> None:
    cleaning = world.record(
        "public_cleaning", world.a1, occurred_at=at(2026, 10, 12), now=at(2026, 10, 12)
    )
    assert balance(world) == (3, 0, 3)
    objection = _object(world, cleaning, at(2026, 11, 26))
    assert balance(world) == (3, 0, 3)  # `after`: an objection holds nothing that counted
    _decide(world, objection, at(2026, 11, 27), upheld=True)
    assert world.entry(cleaning.entry_id).status == "reversed"
    assert balance(world) == (0, 0, 0)


def test_a_late_appeal_reverses_a_posted_entry(world: World) -> None:
    held = volunteer(world, date(2026, 10, 10), 3)
    notice.tick(world.db, now=at(2026, 12, 2, 8))
    assert balance(world) == (6, 0, 6)
    appeal = _object(world, held, at(2026, 12, 31, 20))  # the last day of the window
    assert appeal.kind == "late_appeal"
    assert balance(world) == (6, 0, 6)  # a late appeal meets counted points: nothing held
    _decide(world, appeal, at(2027, 1, 3), upheld=True)
    assert balance(world) == (0, 0, 0)


def test_objections_outside_the_window_or_the_list_are_refused(world: World) -> None:
    october = volunteer(world, date(2026, 10, 10), 1)
    november = volunteer(world, date(2026, 11, 10), 1)
    with pytest.raises(errors.NoticeListNotOpen):
        _object(world, october, at(2026, 11, 24, 23))
    with pytest.raises(errors.AppealWindowClosed):
        _object(world, october, at(2027, 1, 1, 0, 30))
    with pytest.raises(errors.EntryNotOnList) as refused:
        _object(world, november, at(2026, 11, 26), list_id=_list_of(world, october).id)
    assert refused.value.status == 422
    objection = _object(world, october, at(2026, 11, 26))
    with pytest.raises(errors.ObjectionAlreadyOpen):
        _object(world, october, at(2026, 11, 27))
    with pytest.raises(errors.ObjectionDeciderNotAllowed):
        _decide(world, objection, at(2026, 11, 28), upheld=True, roles=frozenset({"group_leader"}))
    _decide(world, objection, at(2026, 11, 28), upheld=True)
    with pytest.raises(errors.ObjectionAlreadyDecided):
        _decide(world, objection, at(2026, 11, 29), upheld=False)
    # The entry was voided: nothing left to object to.
    with pytest.raises(errors.EntryNotObjectable):
        _object(world, october, at(2026, 11, 30))
    assert balance(world) == (0, 2, 0)  # November's 2 points are still held
