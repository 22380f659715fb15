"""The demo villages' points supermarkets (积分超市): a realistic shelf bought with the
points-exchange fund, donated goods, and a few days of sales and a refund at the till —
through the market services, like every other write."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy.orm import Session

from jifen.ledger import service as ledger
from jifen.market import service as market
from jifen.models import Goods, Member, Sale, Village

CASHIER = "seed-demo:supermarket_cashier"

# (name, unit, category, points, barcode, units bought, cost per unit in fen)
SHELF = [
    ("大米（5斤装）", "袋", "粮油", 30, "6901234500017", 30, 1600),
    ("食用油（1.8升）", "瓶", "粮油", 50, "6901234500024", 15, 2800),
    ("洗衣粉（1千克）", "袋", "日用品", 8, "6901234500031", 20, 650),
    ("肥皂", "块", "日用品", 5, "6901234500048", 40, 300),
    ("毛巾", "条", "日用品", 6, "6901234500055", 20, 500),
    ("酱油（500毫升）", "瓶", "调味品", 6, "6901234500062", 20, 550),
    ("卫生纸（10卷）", "提", "日用品", 5, None, 20, 1200),
]


def stock_shelf(
    session: Session, village: Village, clock: ledger.Clock, *, days_ago: int
) -> dict[str, Goods]:
    """The village's catalog, with a purchase of each good paid from the fund."""
    then = replace(clock, now=clock.now - timedelta(days=days_ago))
    goods: dict[str, Goods] = {}
    for name, unit, category, points, barcode, units, cost in SHELF:
        goods[name] = market.create_goods(
            session,
            village_id=village.id,
            spec=market.GoodsInput(name, unit, category, points, barcode),
            actor=CASHIER,
            clock=then,
        )
        market.move_stock(
            session,
            goods_id=goods[name].id,
            kind="purchase",
            quantity=units,
            amount_fen=units * cost,
            donor=None,
            reason=None,
            note="镇供销社进货",
            actor=CASHIER,
            clock=then,
            idempotency_key=None,
        )
    return goods


def donate(
    session: Session,
    goods: Goods,
    quantity: int,
    value_fen: int,
    donor: market.Donor,
    clock: ledger.Clock,
    *,
    days_ago: int,
) -> None:
    market.move_stock(
        session,
        goods_id=goods.id,
        kind="donation",
        quantity=quantity,
        amount_fen=value_fen,
        donor=donor,
        reason=None,
        note="爱心捐赠物资",
        actor=CASHIER,
        clock=replace(clock, now=clock.now - timedelta(days=days_ago)),
        idempotency_key=None,
    )


def sell(
    session: Session,
    village: Village,
    member: Member,
    basket: list[tuple[Goods, int]],
    clock: ledger.Clock,
    *,
    days_ago: int,
) -> Sale:
    return market.sell(
        session,
        village_id=village.id,
        member_id=member.id,
        lines=[market.BasketLine(g.id, quantity) for g, quantity in basket],
        expected_total_points=sum(g.price_points * quantity for g, quantity in basket),
        cashier=CASHIER,
        clock=replace(clock, now=clock.now - timedelta(days=days_ago)),
        idempotency_key=None,
    )


def refund_line(
    session: Session, sale: Sale, position: int, clock: ledger.Clock, *, days_ago: int
) -> None:
    market.refund(
        session,
        sale_id=sale.id,
        lines=[market.RefundRequestLine(position, 1)],
        reason="包装破损，退回一件",
        actor=CASHIER,
        clock=replace(clock, now=clock.now - timedelta(days=days_ago)),
        idempotency_key=None,
    )
