"""Charters and records for the ranking, history and what-if tests, built through the
services (the charter and record HTTP routes belong to other packages)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jifen.access import service as access
from jifen.charters import service as charters
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import local_date, utc_now
from jifen.models import (
    AuditEvent,
    Entry,
    OutboxEvent,
    Posting,
    Record,
    RecordReview,
    Village,
)
from jifen.records import service as records
from jifen.records.service import Recorder, RecordRequest
from tests import factories

CLERK = Recorder("user:clerk-test", frozenset({"village_clerk"}))
REVIEWER = Recorder("user:reviewer-test", frozenset({"village_clerk"}))
RESIDENT = Recorder("user:resident-test", frozenset({"resident"}))
LONG_AGO = date(2024, 1, 1)


def charter(**settings: Any) -> dict[str, Any]:
    """A small charter: labor 2 分/小时, a meeting 2 分 (and 2 merit), clutter −5 (and −5
    merit), a good deed worth 10 merit only, and a sweep worth 1. A resident's own report
    waits for the clerk's 复核."""
    return {
        "title": "测试村积分制管理办法",
        "effective_on": "2024-01-01",
        "settings": {
            "points_holder": "member",
            "deduction_floor": "zero",
            "merit": {"enabled": True, "label": "文明积分", "deductions_lower": True},
            "review": {
                "stages": [{"id": "final_review", "label": "复核", "roles": ["village_clerk"]}],
                "required": {"resident": ["final_review"]},
            },
            **settings,
        },
        "rules": [
            {
                "id": "labor",
                "category": "labor",
                "label": "义务劳动",
                "type": "per_unit",
                "params": {"unit": "hour", "points_per_unit": "2", "rounding": "half_up"},
                "recorders": ["village_clerk", "resident"],
            },
            {
                "id": "meeting",
                "category": "participation",
                "label": "参加村民大会",
                "type": "fixed",
                "params": {"points": 2},
                "moves": ["points", "merit"],
                "recorders": ["village_clerk", "resident"],
            },
            {
                "id": "clutter",
                "category": "sanitation",
                "label": "宅前屋后乱堆物",
                "type": "deduction",
                "params": {"points": 5},
                "moves": ["points", "merit"],
            },
            {
                "id": "good_deed",
                "category": "conduct",
                "label": "好人好事",
                "type": "fixed",
                "params": {"points": 10},
                "moves": ["merit"],
            },
            {
                "id": "sweep",
                "category": "sanitation",
                "label": "清扫公共区域",
                "type": "fixed",
                "params": {"points": 1},
            },
        ],
    }


def publish(db: Database, village_id: uuid.UUID, document: dict[str, Any]) -> uuid.UUID:
    with db.unit_of_work() as session:
        version = charters.create_version(
            session, village_id=village_id, data=document, actor="test", now=utc_now(), publish=True
        )
        return version.id


def draft(db: Database, village_id: uuid.UUID, document: dict[str, Any]) -> uuid.UUID:
    with db.unit_of_work() as session:
        version = charters.create_version(
            session, village_id=village_id, data=document, actor="test", now=utc_now()
        )
        return version.id


def at(settings: Settings, day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=settings.zone)


def record(
    db: Database,
    settings: Settings,
    village_id: uuid.UUID,
    rule_id: str,
    day: date,
    *,
    member_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    quantity: str = "1",
    recorder: Recorder = CLERK,
    hour: int = 10,
) -> uuid.UUID:
    with db.unit_of_work() as session:
        row = records.record(
            session,
            RecordRequest(
                village_id=village_id,
                rule_id=rule_id,
                member_id=member_id,
                household_id=household_id,
                quantity=Decimal(quantity),
                occurred_at=at(settings, day, hour),
            ),
            recorder=recorder,
            clock=factories.clock(settings),
        )
        return row.id


def review(
    db: Database, settings: Settings, record_id: uuid.UUID, *, approve: bool, reason: str = ""
) -> None:
    with db.unit_of_work() as session:
        records.review(
            session,
            record_id=record_id,
            approve=approve,
            reason=reason,
            reviewer=REVIEWER,
            clock=factories.clock(settings),
        )


def revoke(db: Database, settings: Settings, record_id: uuid.UUID) -> None:
    with db.unit_of_work() as session:
        records.revoke(
            session,
            record_id=record_id,
            reason="登记错误",
            actor="user:senior-test",
            clock=factories.clock(settings),
        )


def local_today(settings: Settings) -> date:
    return local_date(utc_now(), settings.zone)


def resident_key(db: Database, village_id: uuid.UUID, member_id: uuid.UUID) -> str:
    """An API key of the member's own user, with the built-in resident role."""
    now = utc_now()
    with db.unit_of_work() as session:
        village = session.get(Village, village_id)
        assert village is not None
        user = access.create_user(
            session,
            name="村民本人",
            township_id=village.township_id,
            village_id=village_id,
            member_id=member_id,
            created_by="test",
            now=now,
        )
        access.grant_role(
            session,
            caller=None,
            user_id=user.id,
            role_id=access.builtin_role(session, "resident").id,
            village_id=village_id,
            created_by="test",
            now=now,
        )
        _key, token = access.create_api_key(
            session, user_id=user.id, name="村民本人", created_by="test", now=now
        )
        return token


def counts(db: Database) -> dict[str, int]:
    """Rows of every table a booking would write to."""
    with db.unit_of_work(write=False) as session:
        return {
            model.__tablename__: _count(session, model)
            for model in (Entry, Posting, Record, RecordReview, OutboxEvent, AuditEvent)
        }


def _count(session: Session, model: Any) -> int:
    return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def by_name(items: list[dict[str, Any]]) -> Iterator[tuple[str, int, int]]:
    for item in items:
        yield item["name"], item["rank"], item["points"]
