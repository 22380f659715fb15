"""A village supermarket for the till's tests, seeded with the factories, and what the
tests read back from the books."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select

from jifen.access import cards
from jifen.charters import service as charters
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.market import service as market
from jifen.models import Refund, Sale, Village
from tests.factories import account_of, award, clock, make_goods, make_household, make_member

RICE_BARCODE = "6901234567892"


@dataclass(frozen=True)
class Goods:
    id: uuid.UUID
    name: str
    unit: str
    price_points: int


@dataclass(frozen=True)
class Member:
    id: uuid.UUID
    name: str
    masked_name: str
    phone: str
    household_name: str
    card_token: str
    points_account_id: uuid.UUID  # the member's, or the household's where points are pooled


@dataclass(frozen=True)
class Shop:
    village_id: uuid.UUID
    village_name: str
    rice: Goods  # 30 points a bag, 10 on the shelf, barcode RICE_BARCODE
    oil: Goods  # 50 points a bottle, 2 on the shelf
    towel: Goods  # 15 points each, 5 on the shelf
    member: Member  # 张小明, 200 points to spend


HOUSEHOLD_CHARTER = {
    "title": "户积分制",
    "effective_on": "2020-01-01",
    "settings": {"points_holder": "household"},
    "rules": [
        {
            "id": "clean",
            "category": "sanitation",
            "label": "清扫",
            "type": "fixed",
            "params": {"points": 5},
        }
    ],
}


def seed_shop(
    db: Database, settings: Settings, village_id: uuid.UUID, *, pooled: bool = False
) -> Shop:
    """The shelf and a member with 200 points; `pooled`: the village's charter holds points
    per household, and the 200 points are the household's."""
    with db.unit_of_work() as session:
        village = session.get(Village, village_id)
        assert village is not None
        if pooled:
            charters.create_version(
                session,
                village_id=village.id,
                data=HOUSEHOLD_CHARTER,
                actor="test",
                now=utc_now(),
                publish=True,
            )
        rice = make_goods(
            session,
            settings,
            village,
            stock=10,
            name="大米",
            unit="袋",
            category="粮油",
            price_points=30,
            barcode=RICE_BARCODE,
        )
        oil = make_goods(
            session, settings, village, stock=2, name="食用油", unit="瓶", price_points=50
        )
        towel = make_goods(
            session, settings, village, stock=5, name="毛巾", unit="条", price_points=15
        )
        household = make_household(session, village, name="张建国户")
        person = make_member(
            session,
            village,
            name="张小明",
            phone="13800001234",
            household_id=household.id,
            is_head=True,
        )
        account = (
            account_of(session, village, AccountKind.HOUSEHOLD, household.id)
            if pooled
            else account_of(session, village, AccountKind.MEMBER, person.id)
        )
        award(session, settings, village, account, 200)
        cards.make_key(session, utc_now())
        token = cards.get_card(session, person.id).token
        return Shop(
            village_id=village.id,
            village_name=village.name,
            rice=Goods(rice.id, rice.name, rice.unit, rice.price_points),
            oil=Goods(oil.id, oil.name, oil.unit, oil.price_points),
            towel=Goods(towel.id, towel.name, towel.unit, towel.price_points),
            member=Member(
                id=person.id,
                name=person.name,
                masked_name="张*明",
                phone="13800001234",
                household_name=household.name,
                card_token=token,
                points_account_id=account.id,
            ),
        )


def sell_elsewhere(
    db: Database, settings: Settings, shop: Shop, goods: Goods, quantity: int
) -> None:
    """Another till sells `quantity` of `goods` to a member of its own."""
    with db.unit_of_work() as session:
        village = session.get(Village, shop.village_id)
        assert village is not None
        buyer = make_member(session, village, name="王五")
        account = account_of(session, village, AccountKind.MEMBER, buyer.id)
        award(session, settings, village, account, goods.price_points * quantity)
        market.sell(
            session,
            village_id=village.id,
            member_id=buyer.id,
            lines=[market.BasketLine(goods.id, quantity)],
            expected_total_points=goods.price_points * quantity,
            cashier="test",
            clock=clock(settings),
            idempotency_key=None,
        )


def points(db: Database, account_id: uuid.UUID) -> int:
    with db.unit_of_work(write=False) as session:
        return ledger.get_balance(session, account_id).available


def stock(db: Database, goods: Goods) -> int:
    with db.unit_of_work(write=False) as session:
        shelf = market.get_goods(session, goods.id).shelf_account_id
        return ledger.get_balance(session, shelf).available


def sales_by(db: Database, shop: Shop, cashier_id: uuid.UUID) -> list[Sale]:
    """The cashier's sales in the village, oldest first."""
    with db.unit_of_work(write=False) as session:
        return list(
            session.execute(
                select(Sale)
                .where(Sale.village_id == shop.village_id, Sale.cashier == f"user:{cashier_id}")
                .order_by(Sale.seq)
            ).scalars()
        )


def refunds_of(db: Database, sale_id: uuid.UUID) -> int:
    with db.unit_of_work(write=False) as session:
        count: int = session.execute(
            select(func.count()).select_from(Refund).where(Refund.sale_id == sale_id)
        ).scalar_one()
        return count
