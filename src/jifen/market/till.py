"""What the cashier's till asks: who is at the till, and how the day went."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jifen.access import cards
from jifen.charters.document import Holder
from jifen.ledger import service as ledger
from jifen.market import errors, service
from jifen.market.schemas import DayGoods, DaySummary, MemberAtTill
from jifen.models import AccountBalance, Goods, Refund, RefundLine, Sale, SaleLine
from jifen.problems import NotFound
from jifen.tenancy.policy import mask_name
from jifen.tenancy.service import get_village


def member_at_till(
    session: Session,
    village_id: uuid.UUID,
    today: date,
    *,
    card_token: str | None,
    phone: str | None,
    member_id: uuid.UUID | None,
) -> MemberAtTill:
    given = [v for v in (card_token, phone, member_id) if v is not None]
    if len(given) != 1:
        raise errors.BasketInvalid(
            "give exactly one of card_token, phone and member_id",
            detail_zh="card_token、phone 和 member_id 须且只须给出其中一个",
            field="query",
        )
    get_village(session, village_id)
    if card_token is not None:
        member_id = cards.member_for_card(session, card_token, village_id=village_id).id
    elif phone is not None:
        found = [
            m
            for m in cards.find_members(session, village_id=village_id, query=phone)
            if m.deactivated_on is None
        ]
        if not found:
            raise NotFound("member with phone or member number", phone)
        if len(found) > 1:
            raise errors.MemberAmbiguous(
                f"{len(found)} members have phone or number {phone}: choose one",
                detail_zh=f"有 {len(found)} 位成员的电话或编号为 {phone}：请选择其中一位",
                candidates=[
                    {"member_id": str(m.id), "masked_name": mask_name(m.name)} for m in found
                ],
            )
        member_id = found[0].id
    assert member_id is not None
    who = service.payer(session, village_id, member_id, today)
    available = 0
    if who.account_id is not None:
        available = ledger.get_balance(session, who.account_id).available
    return MemberAtTill(
        member_id=who.member.id,
        name=who.member.name,
        masked_name=mask_name(who.member.name),
        household_id=who.household.id if who.household else None,
        household_name=who.household.name if who.household else None,
        holder_kind="household" if who.holder is Holder.HOUSEHOLD else "member",
        available_points=available,
        in_debt=available < 0,
    )


def day_summary(
    session: Session, village_id: uuid.UUID, day: date, since: datetime, until: datetime
) -> DaySummary:
    get_village(session, village_id)
    sales = session.execute(
        select(func.count(), func.coalesce(func.sum(Sale.total_points), 0)).where(
            Sale.village_id == village_id,
            Sale.shop_id.is_(None),
            Sale.created_at >= since,
            Sale.created_at < until,
        )
    ).one()
    refunds = session.execute(
        select(func.count(), func.coalesce(func.sum(Refund.points), 0)).where(
            Refund.village_id == village_id,
            Refund.created_at >= since,
            Refund.created_at < until,
        )
    ).one()
    sold = dict(
        session.execute(
            select(SaleLine.goods_id, func.sum(SaleLine.quantity))
            .join(Sale, Sale.id == SaleLine.sale_id)
            .where(
                Sale.village_id == village_id,
                Sale.created_at >= since,
                Sale.created_at < until,
            )
            .group_by(SaleLine.goods_id)
        ).all()
    )
    refunded = dict(
        session.execute(
            select(RefundLine.goods_id, func.sum(RefundLine.quantity))
            .join(Refund, Refund.id == RefundLine.refund_id)
            .where(
                Refund.village_id == village_id,
                Refund.created_at >= since,
                Refund.created_at < until,
            )
            .group_by(RefundLine.goods_id)
        ).all()
    )
    goods = session.execute(
        select(Goods, AccountBalance.posted - AccountBalance.pending_debits)
        .join(AccountBalance, AccountBalance.account_id == Goods.shelf_account_id)
        .where(Goods.village_id == village_id)
        .order_by(Goods.number)
    ).all()
    return DaySummary(
        village_id=village_id,
        day=day,
        sales=sales[0],
        points=sales[1],
        refunds=refunds[0],
        refunded_points=refunds[1],
        goods=[
            DayGoods(
                goods_id=g.id,
                name=g.name,
                unit=g.unit,
                sold=int(sold.get(g.id, 0)),
                refunded=int(refunded.get(g.id, 0)),
                stock=stock,
            )
            for g, stock in goods
        ],
    )
