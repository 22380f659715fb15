"""A village that scores its residents by a charter, built through the services.

Township 中子镇, village 清泉村, with a township role 村民小组长 (`group_leader`).
Household A (张家) has members 张三 (the head) and 张小梅; household B (李家) has 李四;
王五 belongs to no household. Everyone joined on 2025-01-01. The charter, if any, is
published as version 1.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from jifen.access import service as access
from jifen.access.permissions import Permission, ScopeKind
from jifen.charters import service as charters
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.models import CharterVersion, OutboxEvent, Record
from jifen.records import service as records
from jifen.records.service import Recorder, RecordRequest
from tests.factories import make_household, make_member, make_township, make_village

ZONE = ZoneInfo("Asia/Shanghai")
JOINED = date(2025, 1, 1)

CLERK = Recorder("村会计 张建国", frozenset({"village_clerk"}))
CLERK2 = Recorder("村主任 李卫东", frozenset({"village_clerk"}))
LEADER = Recorder("二组组长 王德明", frozenset({"group_leader"}))
ADMIN = Recorder("镇管理员 赵志强", frozenset({"township_admin"}))
CASHIER = Recorder("超市收银员 孙丽", frozenset({"supermarket_cashier"}))
SENIOR = "镇管理员 赵志强"


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """An instant in the village's own time (Asia/Shanghai)."""
    return datetime(year, month, day, hour, minute, tzinfo=ZONE)


EVENT = at(2026, 6, 15)


def resident(name: str) -> Recorder:
    """A resident reporting through a client (个人申报)."""
    return Recorder(f"村民 {name}", frozenset({"resident"}))


@dataclass
class World:
    db: Database
    settings: Settings
    township_id: uuid.UUID
    village_id: uuid.UUID
    household_a: uuid.UUID
    household_b: uuid.UUID
    a1: uuid.UUID  # 张三, head of household A
    a2: uuid.UUID  # 张小梅, household A
    b1: uuid.UUID  # 李四, household B
    loner: uuid.UUID  # 王五, no household

    def clock(self, now: datetime | None = None) -> ledger.Clock:
        return ledger.Clock(now=now or utc_now(), settings=self.settings)

    # --- charters -------------------------------------------------------------------

    def publish(self, document: dict[str, Any], *, now: datetime | None = None) -> CharterVersion:
        with self.db.unit_of_work() as session:
            return charters.create_version(
                session,
                village_id=self.village_id,
                data=document,
                actor=CLERK.actor,
                now=now or utc_now(),
                publish=True,
            )

    # --- records --------------------------------------------------------------------

    def record(
        self,
        rule_id: str,
        member: uuid.UUID | None,
        *,
        household: uuid.UUID | None = None,
        quantity: str | int = 1,
        occurred_at: datetime = EVENT,
        occurrence: str | None = None,
        recorder: Recorder = CLERK,
        evidence: Sequence[dict[str, Any]] = (),
        now: datetime | None = None,
        **extra: Any,
    ) -> Record:
        request = RecordRequest(
            village_id=self.village_id,
            rule_id=rule_id,
            member_id=member,
            household_id=household,
            quantity=Decimal(str(quantity)),
            occurred_at=occurred_at,
            occurrence=occurrence,
            evidence=evidence,
            **extra,
        )
        with self.db.unit_of_work() as session:
            return records.record(session, request, recorder=recorder, clock=self.clock(now))

    def review(
        self,
        record_id: uuid.UUID,
        *,
        approve: bool = True,
        reason: str = "",
        reviewer: Recorder = CLERK,
        now: datetime | None = None,
    ) -> Record:
        with self.db.unit_of_work() as session:
            return records.review(
                session,
                record_id=record_id,
                approve=approve,
                reason=reason,
                reviewer=reviewer,
                clock=self.clock(now),
            )

    def revoke(
        self,
        record_id: uuid.UUID,
        *,
        reason: str = "经核查，照片系代拍",
        actor: str = SENIOR,
        now: datetime | None = None,
    ) -> Record:
        with self.db.unit_of_work() as session:
            return records.revoke(
                session, record_id=record_id, reason=reason, actor=actor, clock=self.clock(now)
            )

    def get(self, record_id: uuid.UUID) -> Record:
        with self.db.unit_of_work(write=False) as session:
            return records.get_record(session, record_id)

    def entry(self, entry_id: uuid.UUID | None) -> ledger.EntryView:
        assert entry_id is not None
        with self.db.unit_of_work(write=False) as session:
            return ledger.get_entry(session, entry_id)

    def events(self, record_id: uuid.UUID | None = None) -> list[tuple[str, dict[str, Any]]]:
        """The village's outbox events, oldest first (only a record's, if one is named)."""
        with self.db.unit_of_work(write=False) as session:
            rows = session.execute(
                select(OutboxEvent.type, OutboxEvent.payload)
                .where(OutboxEvent.village_id == self.village_id)
                .order_by(OutboxEvent.seq)
            ).all()
        return [
            (kind, payload)
            for kind, payload in rows
            if record_id is None or payload.get("record_id") == str(record_id)
        ]

    # --- balances -------------------------------------------------------------------

    def account_id(
        self, kind: AccountKind, owner_id: uuid.UUID | None, category: str = "main"
    ) -> uuid.UUID | None:
        with self.db.unit_of_work(write=False) as session:
            account = ledger.find_account(
                session, village_id=self.village_id, kind=kind, owner_id=owner_id, category=category
            )
            return None if account is None else account.id

    def _balance(self, kind: AccountKind, owner_id: uuid.UUID, category: str) -> int:
        """The posted balance; 0 for a merit account not opened yet."""
        account_id = self.account_id(kind, owner_id, category)
        if account_id is None:
            assert category == "merit", f"no {category} account"
            return 0
        with self.db.unit_of_work(write=False) as session:
            return ledger.get_balance(session, account_id).posted

    def household_points(self, household_id: uuid.UUID) -> int:
        return self._balance(AccountKind.HOUSEHOLD, household_id, "main")

    def household_merit(self, household_id: uuid.UUID) -> int:
        return self._balance(AccountKind.HOUSEHOLD, household_id, "merit")

    def member_points(self, member_id: uuid.UUID) -> int:
        return self._balance(AccountKind.MEMBER, member_id, "main")

    def member_merit(self, member_id: uuid.UUID) -> int:
        return self._balance(AccountKind.MEMBER, member_id, "merit")

    def spend(self, kind: AccountKind, owner_id: uuid.UUID, points: int) -> None:
        """Redeem points at the village's 积分超市."""
        account = self.account_id(kind, owner_id)
        shop = self.account_id(AccountKind.SUPERMARKET, None)
        assert account is not None and shop is not None
        with self.db.unit_of_work() as session:
            ledger.book(
                session,
                village_id=self.village_id,
                code="redemption",
                postings=[
                    ledger.PostingInput(account, -points),
                    ledger.PostingInput(shop, points),
                ],
                actor=CASHIER.actor,
                clock=self.clock(),
                memo="兑换 食用油 一桶",
            )


def make_world(db: Database, settings: Settings, document: dict[str, Any] | None) -> World:
    now = utc_now()
    with db.unit_of_work() as session:
        township = make_township(session, name="中子镇")
        village = make_village(session, township, name="清泉村")
        access.create_role(
            session,
            caller=None,
            township_id=township.id,
            village_id=None,
            code="group_leader",
            label="村民小组长",
            scope_kind=ScopeKind.TOWNSHIP,
            permissions=[Permission.RECORDS_CREATE, Permission.RECORDS_REVIEW],
            now=now,
        )
        household_a = make_household(session, village, number="3-01", name="张家")
        household_b = make_household(session, village, number="3-02", name="李家")
        a1 = make_member(
            session,
            village,
            name="张三",
            household_id=household_a.id,
            joined_on=JOINED,
            is_head=True,
        )
        a2 = make_member(
            session, village, name="张小梅", household_id=household_a.id, joined_on=JOINED
        )
        b1 = make_member(
            session,
            village,
            name="李四",
            household_id=household_b.id,
            joined_on=JOINED,
            is_head=True,
        )
        loner = make_member(session, village, name="王五")
        world = World(
            db=db,
            settings=settings,
            township_id=township.id,
            village_id=village.id,
            household_a=household_a.id,
            household_b=household_b.id,
            a1=a1.id,
            a2=a2.id,
            b1=b1.id,
            loner=loner.id,
        )
    if document is not None:
        world.publish(document)
    return world
