"""A village whose clock the tests set: a charter with expiry settings, members and
households, and the bookings the stories need, each dated when it happens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from jifen.charters import service as charters
from jifen.config import Settings
from jifen.db import Database
from jifen.expiry import service as expiry
from jifen.expiry.policy import EXPIRY_ACTOR
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.models import Entry, Posting, Village
from jifen.webhooks.events import CODE_SUPERMARKET_REFUND
from tests.factories import account_of, clock, make_household, make_member, make_village

ZONE = ZoneInfo("Asia/Shanghai")  # the default JIFEN_TIMEZONE
PENALTY = "conduct_deduction"
RULE = {
    "id": "labor",
    "category": "labor",
    "label": "义务劳动",
    "type": "fixed",
    "params": {"points": 1},
}


def at(day: str, hour: int = 10, minute: int = 0) -> datetime:
    """A moment on a day, in the villages' time zone."""
    return datetime.combine(date.fromisoformat(day), time(hour, minute), tzinfo=ZONE)


def charter(expiry_settings: dict[str, Any], effective_on: str = "2024-01-01") -> dict[str, Any]:
    return {
        "title": "测试村积分制管理办法",
        "effective_on": effective_on,
        "settings": {"expiry": expiry_settings},
        "rules": [RULE],
    }


@dataclass(frozen=True)
class Booked:
    """An expiry entry as the tests look at it."""

    seq: int
    code: str
    amount: int  # on the holder's account
    occurred_at: datetime
    details: dict[str, Any]
    idempotency_key: str | None


@dataclass
class World:
    db: Database
    settings: Settings
    village_id: uuid.UUID
    member_ids: dict[str, uuid.UUID] = field(default_factory=dict)  # name -> member id

    def publish(self, expiry_settings: dict[str, Any], effective_on: str = "2024-01-01") -> None:
        with self.db.unit_of_work() as session:
            charters.create_version(
                session,
                village_id=self.village_id,
                data=charter(expiry_settings, effective_on),
                actor="test",
                now=at("2024-01-01", 0),
                publish=True,
            )

    def member(self, name: str) -> uuid.UUID:
        with self.db.unit_of_work() as session:
            village = session.get(Village, self.village_id)
            assert village is not None
            household = make_household(session, village, name=f"{name}家")
            member = make_member(session, village, name=name, household_id=household.id)
            account = account_of(session, village, AccountKind.MEMBER, member.id)
        self.member_ids[name] = member.id
        return account.id

    def household_account(self, name: str) -> uuid.UUID:
        with self.db.unit_of_work() as session:
            village = session.get(Village, self.village_id)
            assert village is not None
            household = make_household(session, village, name=name)
            return account_of(session, village, AccountKind.HOUSEHOLD, household.id).id

    def _village_account(self, kind: AccountKind) -> uuid.UUID:
        with self.db.unit_of_work(write=False) as session:
            village = session.get(Village, self.village_id)
            assert village is not None
            return account_of(session, village, kind).id

    def _book(
        self, when: datetime, code: str, lines: list[tuple[uuid.UUID, int]], **kwargs: Any
    ) -> uuid.UUID:
        with self.db.unit_of_work() as session:
            view = ledger.book(
                session,
                village_id=self.village_id,
                code=code,
                postings=[ledger.PostingInput(a, n) for a, n in lines],
                actor="test",
                clock=clock(self.settings, when),
                **kwargs,
            )
        return view.entry.id

    def earn(self, account_id: uuid.UUID, points: int, when: datetime) -> uuid.UUID:
        issuance = self._village_account(AccountKind.ISSUANCE)
        return self._book(when, "labor_award", [(issuance, -points), (account_id, points)])

    def spend(self, account_id: uuid.UUID, points: int, when: datetime) -> uuid.UUID:
        shop = self._village_account(AccountKind.SUPERMARKET)
        return self._book(when, "redemption", [(account_id, -points), (shop, points)])

    def hold(self, account_id: uuid.UUID, points: int, when: datetime) -> uuid.UUID:
        shop = self._village_account(AccountKind.SUPERMARKET)
        return self._book(
            when, "redemption", [(account_id, -points), (shop, points)], is_pending=True
        )

    def award_pending(self, account_id: uuid.UUID, points: int, when: datetime) -> uuid.UUID:
        issuance = self._village_account(AccountKind.ISSUANCE)
        return self._book(
            when, "labor_award", [(issuance, -points), (account_id, points)], is_pending=True
        )

    def penalty(self, account_id: uuid.UUID, points: int, when: datetime) -> uuid.UUID:
        with self.db.unit_of_work() as session:
            village = session.get(Village, self.village_id)
            assert village is not None
            village.allow_below_floor_codes = [PENALTY]
        issuance = self._village_account(AccountKind.ISSUANCE)
        return self._book(
            when,
            PENALTY,
            [(account_id, -points), (issuance, points)],
            allow_below_floor=True,
        )

    def partial_refund(
        self, account_id: uuid.UUID, sale_id: uuid.UUID, points: int, when: datetime
    ) -> uuid.UUID:
        """Points back as the supermarket books a refund of some lines of a sale."""
        shop = self._village_account(AccountKind.SUPERMARKET)
        return self._book(
            when,
            CODE_SUPERMARKET_REFUND,
            [(shop, -points), (account_id, points)],
            details={"sale_id": str(uuid.uuid4()), "refund_of": str(sale_id)},
        )

    def refund(self, entry_id: uuid.UUID, when: datetime) -> uuid.UUID:
        with self.db.unit_of_work() as session:
            view = ledger.reverse(
                session, entry_id=entry_id, actor="test", clock=clock(self.settings, when)
            )
        return view.entry.id

    def void(self, entry_id: uuid.UUID, when: datetime) -> None:
        with self.db.unit_of_work() as session:
            ledger.void_pending(
                session, entry_id=entry_id, actor="test", clock=clock(self.settings, when)
            )

    def post(self, entry_id: uuid.UUID, when: datetime) -> None:
        with self.db.unit_of_work() as session:
            ledger.post_pending(
                session, entry_id=entry_id, actor="test", clock=clock(self.settings, when)
            )

    def tick(self, when: datetime) -> expiry.TickReport:
        return expiry.tick(self.db, now=when)

    def balance(self, account_id: uuid.UUID) -> ledger.Balance:
        with self.db.unit_of_work(write=False) as session:
            return ledger.get_balance(session, account_id)

    def expiries(self, account_id: uuid.UUID) -> list[Booked]:
        """The expiry entries on the account, in seq order."""
        with self.db.unit_of_work(write=False) as session:
            rows = session.execute(
                select(
                    Entry.seq,
                    Entry.code,
                    Posting.amount,
                    Entry.occurred_at,
                    Entry.details,
                    Entry.idempotency_key,
                )
                .join(Posting, Posting.entry_id == Entry.id)
                .where(Posting.account_id == account_id, Entry.actor == EXPIRY_ACTOR)
                .order_by(Entry.seq)
            ).all()
        return [Booked(*row) for row in rows]


def make_world(db: Database, settings: Settings) -> World:
    with db.unit_of_work() as session:
        village = make_village(session)
    return World(db, settings, village.id)
