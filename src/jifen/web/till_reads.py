"""What the till page reads: the villages a cashier may sell in, receipts as the till
prints them (the API's receipt plus the names a printed slip needs), a receipt by its
number, and the day's sales. Reads only: the till's writes are the supermarket's own
(market.service.sell_receipt, market.service.refund)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from pydantic import Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from jifen.access.guard import Caller
from jifen.access.permissions import Permission, ScopeKind
from jifen.kit.schemas import Schema
from jifen.ledger import service as ledger
from jifen.market import errors
from jifen.market import service as market
from jifen.market.router import day_bounds, sale_reads
from jifen.market.schemas import DaySummary, RefundRead, SaleRead
from jifen.market.till import day_summary
from jifen.models import Household, Principal, Sale, Township, Village
from jifen.tenancy.policy import mask_name

# A township or platform administrator may sell in many villages: the chooser lists at
# most this many.
VILLAGES_MAX = 200
# The day's list at the till: the newest receipts (a village shop sells far fewer).
DAY_SALES_MAX = 200
HASH_PREFIX_LENGTH = 12


class TillReceipt(SaleRead):
    """A receipt as the till shows and prints it."""

    village_name: str
    cashier_name: str = Field(description="The cashier's name (the sale's actor)")
    member_masked_name: str = Field(description="张*明: a printed slip shows no more")
    household_name: str | None
    hash_prefix: str = Field(description="The first 12 hex of the entry's hash")


class TillRefund(Schema):
    """A refund just made (or replayed), and its receipt as it stands after it."""

    refund: RefundRead
    receipt: TillReceipt


class TillDay(Schema):
    summary: DaySummary
    sales: list[TillReceipt]


class TillVillage(Schema):
    id: uuid.UUID
    name: str
    township_name: str


def till_villages(session: Session, caller: Caller) -> list[TillVillage]:
    """The villages where the caller may redeem points, by township and name."""
    everywhere = False
    townships: set[uuid.UUID] = set()
    villages: set[uuid.UUID] = set()
    for grant in caller.grants:
        if Permission.POINTS_REDEEM.value not in grant.permissions:
            continue
        if grant.scope is ScopeKind.SYSTEM:
            everywhere = True
        elif grant.scope is ScopeKind.TOWNSHIP and grant.township_id is not None:
            townships.add(grant.township_id)
        elif grant.scope is ScopeKind.VILLAGE and grant.village_id is not None:
            villages.add(grant.village_id)
    if not (everywhere or townships or villages):
        return []
    query = select(Village.id, Village.name, Township.name).join(
        Township, Township.id == Village.township_id
    )
    if not everywhere:
        query = query.where(or_(Village.id.in_(villages), Village.township_id.in_(townships)))
    rows = session.execute(query.order_by(Township.name, Village.name).limit(VILLAGES_MAX))
    return [TillVillage(id=row[0], name=row[1], township_name=row[2]) for row in rows]


def till_village(session: Session, village_id: uuid.UUID) -> TillVillage:
    row = session.execute(
        select(Village.id, Village.name, Township.name)
        .join(Township, Township.id == Village.township_id)
        .where(Village.id == village_id)
    ).one()
    return TillVillage(id=row[0], name=row[1], township_name=row[2])


def _names(session: Session, actors: set[str]) -> dict[str, str]:
    """Actor strings ("user:<id>") to the principals' names; others stay as they are."""
    ids: dict[uuid.UUID, str] = {}
    for actor in actors:
        _, _, raw = actor.partition(":")
        try:
            ids[uuid.UUID(raw)] = actor
        except ValueError:
            continue
    found = {actor: actor for actor in actors}
    if ids:
        for principal_id, name in session.execute(
            select(Principal.id, Principal.name).where(Principal.id.in_(ids))
        ):
            found[ids[principal_id]] = name
    return found


def decorate(session: Session, reads: Sequence[SaleRead]) -> list[TillReceipt]:
    """The API's receipts with the village, cashier and household names."""
    if not reads:
        return []
    village_names = dict(
        session.execute(
            select(Village.id, Village.name).where(Village.id.in_({r.village_id for r in reads}))
        ).all()
    )
    household_ids = {r.household_id for r in reads if r.household_id is not None}
    household_names = (
        dict(
            session.execute(
                select(Household.id, Household.name).where(Household.id.in_(household_ids))
            ).all()
        )
        if household_ids
        else {}
    )
    cashiers = _names(session, {r.cashier for r in reads})
    return [
        TillReceipt(
            **read.model_dump(),
            village_name=village_names.get(read.village_id, ""),
            cashier_name=cashiers.get(read.cashier, read.cashier),
            member_masked_name=mask_name(read.member_name),
            household_name=household_names.get(read.household_id) if read.household_id else None,
            hash_prefix=read.entry_hash[:HASH_PREFIX_LENGTH],
        )
        for read in reads
    ]


def receipts(session: Session, sales: Sequence[Sale]) -> list[TillReceipt]:
    return decorate(session, sale_reads(session, list(sales)))


def get_receipt_sale(session: Session, village_id: uuid.UUID, receipt_number: int) -> Sale:
    """The supermarket's sale with this receipt number in the village (an allied shop's
    redemption is not the till's: it is not found here)."""
    sale = session.execute(
        select(Sale).where(
            Sale.village_id == village_id,
            Sale.seq == receipt_number,
            Sale.shop_id.is_(None),
        )
    ).scalar_one_or_none()
    if sale is None:
        raise errors.SaleNotFound(
            f"receipt {receipt_number} is not a sale of this village's supermarket",
            detail_zh=f"小票 {receipt_number} 不是本村积分超市的兑换单",
            receipt_number=receipt_number,
        )
    return sale


def till_day(session: Session, village_id: uuid.UUID, day: date, clock: ledger.Clock) -> TillDay:
    """The day's totals, each good's sold, refunded and stock, and its receipts."""
    since, until = day_bounds(day, clock)
    summary = day_summary(session, village_id, day, since, until)
    sales = market.list_sales(
        session, village_id, since=since, until=until, allied=False, limit=DAY_SALES_MAX
    )
    return TillDay(summary=summary, sales=receipts(session, sales))
