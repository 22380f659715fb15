"""A village under 清泉村's charter with two notice lists, and what the notice tests read.

贡献 (contribution) is listed `before` (先公示后生效), 卫生 (sanitation) `after`
(先生效后公示); both open on the 25th of the next month for 7 days, late appeals for 30
days; the village clerk decides objections.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from jifen.charters import document as charter_document
from jifen.config import Settings
from jifen.db import Database
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.models import Book, Entry, NoticeList
from tests.records.charters import VOLUNTEER_EVIDENCE, qingquan
from tests.records.world import World, at, make_world


def scope(categories: list[str], mode: str) -> dict[str, Any]:
    return {
        "categories": categories,
        "mode": mode,
        "period": "monthly",
        "opens_on_day": 25,
        "days": 7,
        "appeal_days": 30,
        "deciding_role": "village_clerk",
    }


def notice_world(db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setattr(charter_document, "NOTICE_LISTS_APPLIED", True)
    document = qingquan()
    document["settings"]["public_notice"] = {
        "lists": [scope(["contribution"], "before"), scope(["sanitation"], "after")]
    }
    world = make_world(db, settings, None)
    world.publish(document, now=at(2026, 1, 1, 0))
    return world


def volunteer(world: World, day: date, hours: int, *, now: Any = None) -> Any:
    """志愿服务, 2 points an hour, for 张三 of household A."""
    occurred = at(day.year, day.month, day.day)
    return world.record(
        "volunteer",
        world.a1,
        quantity=hours,
        occurred_at=occurred,
        evidence=VOLUNTEER_EVIDENCE,
        now=now or occurred,
    )


def balance(world: World) -> tuple[int, int, int]:
    """Household A: (posted, pending credits, available)."""
    account_id = world.account_id(AccountKind.HOUSEHOLD, world.household_a)
    assert account_id is not None
    with world.db.unit_of_work(write=False) as session:
        balance = ledger.get_balance(session, account_id)
    return balance.posted, balance.pending_credits, balance.available


def lists(world: World) -> list[NoticeList]:
    with world.db.unit_of_work(write=False) as session:
        return list(
            session.execute(
                select(NoticeList)
                .where(NoticeList.village_id == world.village_id)
                .order_by(NoticeList.period_start_on, NoticeList.list_index)
            ).scalars()
        )


def entries(world: World) -> int:
    with world.db.unit_of_work(write=False) as session:
        return len(
            session.execute(select(Entry.id).where(Entry.village_id == world.village_id)).all()
        )


def head(world: World) -> tuple[int, str]:
    with world.db.unit_of_work(write=False) as session:
        book = session.get(Book, world.village_id)
        assert book is not None
        return book.last_seq, book.last_hash
