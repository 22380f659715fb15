"""The demo's allied shop (联盟商家): a barber's that takes 新华村's points, a few of its
customers, and a statement settled and paid from the fund — through the allied-shop
services, like every other write."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy.orm import Session

from jifen.ledger import service as ledger
from jifen.market import allied
from jifen.models import AlliedShop, Member, Village
from jifen.tenancy import service as tenancy

FINANCE = "seed-demo:township_finance"
SHOP_TILL = "seed-demo:allied_shop"


def open_shop(
    session: Session, village: Village, name: str, points_per_yuan: int, clock: ledger.Clock
) -> AlliedShop:
    organisation = tenancy.create_organisation(
        session, township_id=village.township_id, name=name, kind="shop", now=clock.now
    )
    return allied.register_shop(
        session,
        village_id=village.id,
        organisation_id=organisation.id,
        points_per_yuan=points_per_yuan,
        clock=clock,
    )


def pay_points(
    session: Session,
    shop: AlliedShop,
    member: Member,
    points: int,
    clock: ledger.Clock,
    *,
    days_ago: int,
) -> None:
    allied.redeem(
        session,
        shop_id=shop.id,
        member_id=member.id,
        card_token=None,
        points=points,
        cashier=SHOP_TILL,
        clock=replace(clock, now=clock.now - timedelta(days=days_ago)),
        idempotency_key=None,
    )


def settle_and_pay(
    session: Session, shop: AlliedShop, clock: ledger.Clock, *, days_ago: int
) -> None:
    """The statement of one past day, made yesterday and paid today."""
    day = clock.local_date(clock.now - timedelta(days=days_ago))
    statement = allied.settle(
        session,
        shop_id=shop.id,
        period_start=day,
        period_end=day,
        actor=FINANCE,
        clock=replace(clock, now=clock.now - timedelta(days=1)),
    )
    allied.pay(
        session, settlement_id=statement.id, actor=FINANCE, clock=clock, idempotency_key=None
    )
