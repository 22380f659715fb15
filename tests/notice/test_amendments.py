"""Amendments of records on notice lists: a held (`before`) record's entry is voided and
its correction held again; once the record's list has closed, only the revoking role
amends it; a record under an open objection waits for the decision.

October 2026's lists are open 25 Nov - 1 Dec 2026 and close at the start of 2 Dec.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from jifen.config import Settings
from jifen.db import Database
from jifen.models import NoticeListItem
from jifen.notice import service as notice
from jifen.records import errors
from jifen.records import service as records
from jifen.records.service import Amender, Correction
from tests.notice.world import balance, lists, notice_world, volunteer
from tests.records.charters import qingquan
from tests.records.world import ADMIN, CLERK, World, at


def amend(
    world: World, record_id: uuid.UUID, hours: int, now: datetime, *, revoke: bool = False
) -> records.Record:
    with world.db.unit_of_work() as session:
        return records.amend(
            session,
            record_id=record_id,
            correction=Correction(quantity=Decimal(hours)),
            reason="误录工时",
            amender=Amender(ADMIN if revoke else CLERK, may_amend_own=True, may_revoke=revoke),
            clock=world.clock(now),
        )


def list_of(world: World, record_id: uuid.UUID) -> uuid.UUID:
    with world.db.unit_of_work(write=False) as session:
        return session.execute(
            select(NoticeListItem.list_id).where(NoticeListItem.record_id == record_id)
        ).scalar_one()


def test_a_held_record_is_voided_and_its_correction_held_on_the_same_list(world: World) -> None:
    old = volunteer(world, date(2026, 10, 10), 3)  # 6 points, held
    assert balance(world) == (0, 6, 0)

    new = amend(world, old.id, 2, at(2026, 10, 12))

    old = world.get(old.id)
    assert world.entry(old.entry_id).status == "voided"
    assert world.entry(old.reversal_entry_id).entry.code == "pending_void"
    assert world.entry(new.entry_id).status == "pending"
    assert balance(world) == (0, 4, 0)
    assert list_of(world, new.id) == list_of(world, old.id)

    notice.tick(world.db, now=at(2026, 12, 2, 0, 30))
    assert world.entry(new.entry_id).status == "posted"
    assert world.entry(old.entry_id).status == "voided"
    assert balance(world) == (4, 0, 4)


def test_after_the_list_closed_the_clerk_is_refused_and_the_revoking_role_amends(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = notice_world(db, settings, monkeypatch)
    document = qingquan(effective_on="2026-02-01")
    document["settings"]["public_notice"] = {
        "lists": [
            {
                "categories": ["contribution"],
                "mode": "before",
                "opens_on_day": 25,
                "days": 7,
                "appeal_days": 30,
                "deciding_role": "village_clerk",
            }
        ]
    }
    document["settings"]["amendments"] = {"window_days": 60}  # the window is still open
    world.publish(document, now=at(2026, 1, 2, 0))
    old = volunteer(world, date(2026, 10, 28), 3)
    notice.tick(world.db, now=at(2026, 12, 2, 0, 30))
    assert balance(world) == (6, 0, 6)

    with pytest.raises(errors.NoticeClosed) as refused:
        amend(world, old.id, 2, at(2026, 12, 3))
    assert refused.value.code == "notice_closed"
    assert refused.value.extra["closed_on"] == "2026-12-02"
    assert world.get(old.id).status == "approved"

    new = amend(world, old.id, 2, at(2026, 12, 3), revoke=True)

    # The posted points are reversed now; the correction is held on November's list.
    assert balance(world) == (0, 4, 0)
    assert world.entry(world.get(old.id).entry_id).status == "reversed"
    november = [item for item in lists(world) if item.period_start_on == date(2026, 11, 1)]
    assert [item.id for item in november] == [list_of(world, new.id)]


def test_a_record_under_an_open_objection_is_not_amended(world: World) -> None:
    old = volunteer(world, date(2026, 10, 10), 3)
    with world.db.unit_of_work() as session:
        notice.raise_objection(
            session,
            list_id=list_of(world, old.id),
            entry_id=old.entry_id,  # type: ignore[arg-type]
            raised_by="村民 李四",
            reason="当天未见其参加志愿服务",
            recorded_by=CLERK.actor,
            clock=world.clock(at(2026, 11, 26)),
        )

    with pytest.raises(errors.RecordUnderObjection):
        amend(world, old.id, 2, at(2026, 11, 26), revoke=True)
    assert world.get(old.id).status == "approved"
