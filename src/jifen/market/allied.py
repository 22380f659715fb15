"""Allied shops (联盟商家): shops of the township that take a village's points at a rate,
and what the village's points-exchange fund (积分兑换基金) owes them.

- A shop is an organisation registered with a village at a rate (points_per_yuan: 10
  means 10 points take 1 yuan off). It gets a points account in the village's books.
- A redemption at a shop is ONE entry (code allied_sale) moving the points from the
  holder — the member, or the household where the charter pools points — to the shop's
  account, and a Sale row without lines that records what the fund owes the shop for it:
  points × 100 / points_per_yuan fen at the rate of the day, rounded half up to the fen.
- A settlement statement claims the shop's unsettled redemptions of a period with a
  guarded UPDATE (WHERE settlement_id IS NULL): a redemption is on one statement at most,
  whatever runs at the same time. Statements cover whole local days that are over, and a
  shop's statements never overlap, so no redemption is ever left out of every statement.
- Paying a statement is ONE entry: the fen from the fund to payouts (category allied),
  and the shop's points to the supermarket account, where redeemed points end. The fund
  cannot go below zero; a statement is paid once (a guarded UPDATE on paid_entry_id).

Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from jifen.access import cards
from jifen.kit import exports
from jifen.kit.ids import new_id
from jifen.ledger import errors as ledger_errors
from jifen.ledger import service as ledger
from jifen.ledger import writer
from jifen.ledger.policy import AccountKind, Asset
from jifen.market import errors
from jifen.market import service as market
from jifen.market.report_schemas import (
    AlliedSaleRead,
    AlliedShopRead,
    SettlementDetail,
    SettlementLineRead,
    SettlementRead,
)
from jifen.market.reports import fen_to_yuan, local_naive, period_bounds
from jifen.models import (
    AlliedSettlement,
    AlliedShop,
    Entry,
    Member,
    Organisation,
    Posting,
    Sale,
)
from jifen.problems import NotFound
from jifen.tenancy.service import get_village
from jifen.webhooks.events import CODE_ALLIED_SALE

CODE_ALLIED_PAYMENT = "allied_settlement_payment"
PAYOUTS_CATEGORY = "allied"
SHOP_SALES_PAGE_MAX = 200


def amount_fen(points: int, points_per_yuan: int) -> int:
    """What the fund owes for `points` at a rate: points × 100 / points_per_yuan fen,
    rounded half up to the fen (10 points at 3 per yuan: 333.33… → 333 fen; 1 point at 8
    per yuan: 12.5 → 13 fen)."""
    if points < 0 or points_per_yuan < 1:
        raise ValueError("points must be >= 0 and the rate >= 1")
    return (200 * points + points_per_yuan) // (2 * points_per_yuan)


# --- shops ------------------------------------------------------------------------------


def register_shop(
    session: Session,
    *,
    village_id: uuid.UUID,
    organisation_id: uuid.UUID,
    points_per_yuan: int,
    clock: ledger.Clock,
) -> AlliedShop:
    """An organisation of the village's township becomes an allied shop of the village,
    with a points account in the village's books (its existing one, if it has one)."""
    village = get_village(session, village_id)
    organisation = session.get(Organisation, organisation_id)
    if organisation is None or organisation.township_id != village.township_id:
        raise NotFound("organisation", organisation_id)
    writer.lock_books(session, village_id)  # one registration of an organisation at a time
    existing = session.execute(
        select(AlliedShop.id).where(
            AlliedShop.village_id == village_id, AlliedShop.organisation_id == organisation_id
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise errors.ShopAlreadyRegistered(
            f"{organisation.name} already is allied shop {existing} of this village",
            detail_zh=f"{organisation.name} 已是本村的联盟商家 {existing}",
            shop_id=str(existing),
        )
    account_id = ledger.find_account_id(
        session, village_id=village_id, kind=AccountKind.ORGANISATION, owner_id=organisation_id
    )
    if account_id is None:
        account_id = ledger.open_account(
            session,
            village_id=village_id,
            kind=AccountKind.ORGANISATION,
            organisation_id=organisation_id,
            now=clock.now,
        ).id
    shop = AlliedShop(
        id=new_id(),
        township_id=village.township_id,
        village_id=village_id,
        organisation_id=organisation_id,
        points_per_yuan=points_per_yuan,
        account_id=account_id,
        active=True,
        created_at=clock.now,
    )
    session.add(shop)
    session.flush()
    return shop


def get_shop(session: Session, shop_id: uuid.UUID) -> AlliedShop:
    shop = session.get(AlliedShop, shop_id)
    if shop is None:
        raise errors.ShopNotFound(
            f"allied shop {shop_id} does not exist",
            detail_zh=f"联盟商家 {shop_id} 不存在",
            shop_id=str(shop_id),
        )
    return shop


def change_rate(session: Session, *, shop_id: uuid.UUID, points_per_yuan: int) -> AlliedShop:
    """A new rate applies to redemptions from now on; each past one keeps what the fund
    owes for it."""
    shop = get_shop(session, shop_id)
    shop.points_per_yuan = points_per_yuan
    session.flush()
    return shop


def deactivate_shop(session: Session, *, shop_id: uuid.UUID) -> AlliedShop:
    """The shop takes no more points. What the fund owes it is still settled and paid."""
    shop = get_shop(session, shop_id)
    shop.active = False
    session.flush()
    return shop


def list_shops(
    session: Session, village_id: uuid.UUID, *, active_only: bool = False
) -> list[AlliedShop]:
    get_village(session, village_id)
    query = select(AlliedShop).where(AlliedShop.village_id == village_id)
    if active_only:
        query = query.where(AlliedShop.active.is_(True))
    return list(session.execute(query.order_by(AlliedShop.created_at, AlliedShop.id)).scalars())


def shop_reads(session: Session, shops: Sequence[AlliedShop]) -> list[AlliedShopRead]:
    """Shops with their names and what the fund owes each, in three statements."""
    if not shops:
        return []
    ids = [s.id for s in shops]
    names = _organisation_names(session, [s.organisation_id for s in shops])
    unsettled = {
        row.shop_id: row
        for row in session.execute(
            select(
                Sale.shop_id,
                func.count().label("sales"),
                func.coalesce(func.sum(Sale.total_points), 0).label("points"),
                func.coalesce(func.sum(Sale.amount_fen), 0).label("fen"),
            )
            .where(Sale.shop_id.in_(ids), Sale.settlement_id.is_(None))
            .group_by(Sale.shop_id)
        )
    }
    unpaid = {
        row.shop_id: row
        for row in session.execute(
            select(
                AlliedSettlement.shop_id,
                func.count().label("settlements"),
                func.coalesce(func.sum(AlliedSettlement.amount_fen), 0).label("fen"),
            )
            .where(AlliedSettlement.shop_id.in_(ids), AlliedSettlement.paid_entry_id.is_(None))
            .group_by(AlliedSettlement.shop_id)
        )
    }
    reads = []
    for shop in shops:
        owed = unsettled.get(shop.id)
        due = unpaid.get(shop.id)
        reads.append(
            AlliedShopRead(
                id=shop.id,
                village_id=shop.village_id,
                organisation_id=shop.organisation_id,
                name=names.get(shop.organisation_id, ""),
                points_per_yuan=shop.points_per_yuan,
                account_id=shop.account_id,
                active=shop.active,
                created_at=shop.created_at,
                unsettled_sales=owed.sales if owed else 0,
                unsettled_points=int(owed.points) if owed else 0,
                unsettled_fen=int(owed.fen) if owed else 0,
                unpaid_settlements=due.settlements if due else 0,
                unpaid_fen=int(due.fen) if due else 0,
            )
        )
    return reads


def _organisation_names(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    return dict(
        session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.id.in_(set(ids)))
        ).all()
    )


# --- redemptions ------------------------------------------------------------------------


def redeem(
    session: Session,
    *,
    shop_id: uuid.UUID,
    member_id: uuid.UUID | None,
    card_token: str | None,
    points: int,
    cashier: str,
    clock: ledger.Clock,
    idempotency_key: str | None,
) -> AlliedSaleRead:
    """A member (named, or by their card) pays `points` at an allied shop: one entry from
    the holder to the shop's account. A retry with the same idempotency key answers the
    first redemption."""
    shop = get_shop(session, shop_id)
    if idempotency_key is not None:
        replay = _sale_by_key(session, shop.village_id, cashier, idempotency_key)
        if replay is not None:
            return sale_reads(session, [replay])[0]
    if not shop.active:
        raise errors.ShopNotFound(
            f"allied shop {shop.id} no longer takes points",
            detail_zh=f"联盟商家 {shop.id} 已不再接受积分兑换",
            shop_id=str(shop.id),
        )
    if member_id is None:
        member_id = cards.member_for_card(session, card_token or "", village_id=shop.village_id).id
    who = market.payer(session, shop.village_id, member_id, clock.local_date(clock.now))
    if who.account_id is None:
        raise errors.NoPointsAccount(
            f"{who.holder.value} {who.holder_id} has no points account yet",
            detail_zh=f"{who.holder.value} {who.holder_id} 还没有积分账户",
            holder_kind=who.holder.value,
            holder_id=str(who.holder_id),
        )
    owed = amount_fen(points, shop.points_per_yuan)
    name = _organisation_names(session, [shop.organisation_id]).get(shop.organisation_id, "")
    try:
        view = ledger.book(
            session,
            village_id=shop.village_id,
            code=CODE_ALLIED_SALE,
            postings=[
                ledger.PostingInput(who.account_id, -points),
                ledger.PostingInput(shop.account_id, points),
            ],
            actor=cashier,
            clock=clock,
            memo=f"联盟商家兑换：{name} {points} 积分（抵 {fen_to_yuan(owed)} 元）",
            details={
                "shop_id": str(shop.id),
                "member_id": str(member_id),
                "points_per_yuan": shop.points_per_yuan,
                "amount_fen": owed,
            },
            idempotency_key=idempotency_key,
        )
    except ledger_errors.InsufficientPoints as exc:
        raise _points_short(exc, points) from None
    if view.replayed:
        sale = session.execute(select(Sale).where(Sale.entry_id == view.entry.id)).scalar_one()
        return sale_reads(session, [sale])[0]
    sale = Sale(
        id=new_id(),
        township_id=view.entry.township_id,
        village_id=shop.village_id,
        entry_id=view.entry.id,
        seq=view.entry.seq,
        entry_hash=view.entry.hash,
        member_id=member_id,
        household_id=who.household.id if who.household else None,
        holder_kind=who.holder.value,
        holder_account_id=who.account_id,
        shop_id=shop.id,
        total_points=points,
        amount_fen=owed,
        settlement_id=None,
        cashier=cashier,
        created_at=clock.now,
    )
    session.add(sale)
    session.flush()
    after = next(p.balance_after for p in view.entry.postings if p.account_id == who.account_id)
    return _sale_read(sale, name, who.member.name, after)


def _points_short(exc: ledger_errors.InsufficientPoints, points: int) -> Exception:
    balance = exc.extra.get("balance_points", 0)
    if isinstance(balance, int) and balance < 0:
        return errors.BalanceInDebt(
            f"积分余额为 {balance}，需先挣回 / the balance is {balance} points",
            detail_zh=f"积分余额为 {balance}，需先挣回",
            balance_points=balance,
            requested_points=points,
        )
    return ledger_errors.InsufficientPoints(
        f"积分不足：可用 {balance} 分，需要 {points} 分 / {balance} points available, "
        f"{points} needed",
        detail_zh=f"积分不足：可用 {balance} 分，需要 {points} 分",
        balance_points=balance,
        requested_points=points,
    )


def _sale_by_key(session: Session, village_id: uuid.UUID, actor: str, key: str) -> Sale | None:
    return session.execute(
        select(Sale)
        .join(Entry, Entry.id == Sale.entry_id)
        .where(
            Entry.village_id == village_id,
            Entry.actor == actor,
            Entry.idempotency_key == key,
            Sale.shop_id.is_not(None),
        )
    ).scalar_one_or_none()


def list_shop_sales(
    session: Session,
    shop_id: uuid.UUID,
    *,
    unsettled_only: bool,
    limit: int,
    before_seq: int | None,
) -> list[AlliedSaleRead]:
    shop = get_shop(session, shop_id)
    query = select(Sale).where(Sale.shop_id == shop.id)
    if unsettled_only:
        query = query.where(Sale.settlement_id.is_(None))
    if before_seq is not None:
        query = query.where(Sale.seq < before_seq)
    limit = min(limit, SHOP_SALES_PAGE_MAX)
    sales = list(session.execute(query.order_by(Sale.seq.desc()).limit(limit)).scalars())
    return sale_reads(session, sales)


def sale_reads(session: Session, sales: Sequence[Sale]) -> list[AlliedSaleRead]:
    """Allied redemptions as read back: names and balances in three statements."""
    if not sales:
        return []
    shops = {
        s.id: s
        for s in session.execute(
            select(AlliedShop).where(AlliedShop.id.in_({s.shop_id for s in sales}))
        ).scalars()
    }
    names = _organisation_names(session, [s.organisation_id for s in shops.values()])
    members = dict(
        session.execute(
            select(Member.id, Member.name).where(Member.id.in_({s.member_id for s in sales}))
        ).all()
    )
    after = {
        (row.entry_id, row.account_id): row.balance_after
        for row in session.execute(
            select(Posting.entry_id, Posting.account_id, Posting.balance_after).where(
                Posting.entry_id.in_([s.entry_id for s in sales]),
                Posting.account_id.in_({s.holder_account_id for s in sales}),
            )
        )
    }
    reads = []
    for sale in sales:
        assert sale.shop_id is not None
        shop = shops[sale.shop_id]
        reads.append(
            _sale_read(
                sale,
                names.get(shop.organisation_id, ""),
                members.get(sale.member_id, ""),
                after.get((sale.entry_id, sale.holder_account_id), 0),
            )
        )
    return reads


def _sale_read(sale: Sale, shop_name: str, member_name: str, balance_after: int) -> AlliedSaleRead:
    assert sale.shop_id is not None and sale.amount_fen is not None
    return AlliedSaleRead(
        id=sale.id,
        shop_id=sale.shop_id,
        shop_name=shop_name,
        village_id=sale.village_id,
        receipt_number=sale.seq,
        entry_id=sale.entry_id,
        entry_hash=sale.entry_hash,
        member_id=sale.member_id,
        member_name=member_name,
        household_id=sale.household_id,
        holder_kind=sale.holder_kind,  # type: ignore[arg-type]
        holder_account_id=sale.holder_account_id,
        points=sale.total_points,
        amount_fen=sale.amount_fen,
        balance_after=balance_after,
        settlement_id=sale.settlement_id,
        cashier=sale.cashier,
        created_at=sale.created_at,
    )


# --- settlements ------------------------------------------------------------------------


def settle(
    session: Session,
    *,
    shop_id: uuid.UUID,
    period_start: date,
    period_end: date,
    actor: str,
    clock: ledger.Clock,
) -> AlliedSettlement:
    """A statement of what the fund owes the shop for its redemptions in the period
    (local days, the last one over), which it claims so that no other statement can."""
    shop = get_shop(session, shop_id)
    today = clock.local_date(clock.now)
    if period_end >= today:
        raise errors.SettlementPeriodOpen(
            f"the period ends on {period_end}; a statement covers days that are over "
            f"(today is {today})",
            detail_zh=f"结算期间截至 {period_end}；结算单只涵盖已经过去的日子（今天是 {today}）",
            period_end=period_end.isoformat(),
            today=today.isoformat(),
        )
    # Statements of a village are made one at a time: the overlap check holds.
    writer.lock_books(session, shop.village_id)
    overlapping = session.execute(
        select(AlliedSettlement)
        .where(
            AlliedSettlement.shop_id == shop.id,
            AlliedSettlement.period_start <= period_end,
            AlliedSettlement.period_end >= period_start,
        )
        .limit(1)
    ).scalar_one_or_none()
    if overlapping is not None:
        raise errors.SettlementOverlaps(
            f"statement {overlapping.id} covers {overlapping.period_start} to "
            f"{overlapping.period_end}",
            detail_zh=f"结算单 {overlapping.id} 已涵盖 {overlapping.period_start} 至 "
            f"{overlapping.period_end}",
            settlement_id=str(overlapping.id),
            period_start=overlapping.period_start.isoformat(),
            period_end=overlapping.period_end.isoformat(),
        )
    since, until = period_bounds(period_start, period_end, clock.settings.zone)
    in_period = and_(
        Sale.shop_id == shop.id,
        Sale.settlement_id.is_(None),
        Sale.created_at >= since,
        Sale.created_at < until,
    )
    if not session.execute(select(Sale.id).where(in_period).limit(1)).first():
        raise _empty(shop, period_start, period_end)
    settlement = AlliedSettlement(
        id=new_id(),
        township_id=shop.township_id,
        village_id=shop.village_id,
        shop_id=shop.id,
        period_start=period_start,
        period_end=period_end,
        sales=0,
        points=0,
        amount_fen=0,
        created_at=clock.now,
        actor=actor,
        paid_entry_id=None,
        paid_at=None,
    )
    session.add(settlement)
    session.flush()
    claimed = session.execute(
        update(Sale)
        .where(in_period)
        .values(settlement_id=settlement.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount == 0:  # type: ignore[attr-defined]
        # Another statement claimed them meanwhile: the whole unit is undone.
        raise _empty(shop, period_start, period_end)
    # The totals are those of exactly the redemptions this statement claimed.
    count, points, fen = (
        int(value or 0)
        for value in session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(Sale.total_points), 0),
                func.coalesce(func.sum(Sale.amount_fen), 0),
            ).where(Sale.settlement_id == settlement.id)
        ).one()
    )
    settlement.sales, settlement.points, settlement.amount_fen = count, points, fen
    session.flush()
    return settlement


def _empty(shop: AlliedShop, period_start: date, period_end: date) -> errors.SettlementEmpty:
    return errors.SettlementEmpty(
        f"allied shop {shop.id} has no unsettled redemptions from {period_start} to {period_end}",
        detail_zh=f"联盟商家 {shop.id} 在 {period_start} 至 {period_end} 期间没有待结算的兑换",
        shop_id=str(shop.id),
        period_start=period_start.isoformat(),
        period_end=period_end.isoformat(),
    )


def get_settlement(session: Session, settlement_id: uuid.UUID) -> AlliedSettlement:
    settlement = session.get(AlliedSettlement, settlement_id)
    if settlement is None:
        raise NotFound("allied settlement", settlement_id)
    return settlement


def list_settlements(session: Session, shop_id: uuid.UUID) -> list[AlliedSettlement]:
    shop = get_shop(session, shop_id)
    return list(
        session.execute(
            select(AlliedSettlement)
            .where(AlliedSettlement.shop_id == shop.id)
            .order_by(AlliedSettlement.period_start.desc())
        ).scalars()
    )


def pay(
    session: Session,
    *,
    settlement_id: uuid.UUID,
    actor: str,
    clock: ledger.Clock,
    idempotency_key: str | None,
) -> AlliedSettlement:
    """Pay a statement from the fund: one entry moving the fen from the fund to payouts
    and the shop's points to the supermarket. A statement is paid once."""
    settlement = get_settlement(session, settlement_id)
    shop = get_shop(session, settlement.shop_id)
    writer.lock_books(session, settlement.village_id)
    session.refresh(settlement)  # as it is now, under the lock
    if settlement.paid_entry_id is not None:
        if idempotency_key is not None and _paid_with(
            session, settlement.paid_entry_id, actor, idempotency_key
        ):
            return settlement
        raise errors.SettlementAlreadyPaid(
            f"statement {settlement.id} was paid at {settlement.paid_at}",
            detail_zh=f"结算单 {settlement.id} 已于 {settlement.paid_at} 付款",
            settlement_id=str(settlement.id),
            paid_entry_id=str(settlement.paid_entry_id),
        )
    village_id = settlement.village_id
    postings = [
        ledger.PostingInput(shop.account_id, -settlement.points),
        ledger.PostingInput(
            market.village_account(
                session, village_id, AccountKind.SUPERMARKET, Asset.POINTS, clock.now
            ),
            settlement.points,
        ),
    ]
    if settlement.amount_fen:  # a statement of a few points at a high rate may owe 0 fen
        postings += [
            ledger.PostingInput(
                market.village_account(session, village_id, AccountKind.FUND, Asset.CNY, clock.now),
                -settlement.amount_fen,
            ),
            ledger.PostingInput(
                market.village_account(
                    session,
                    village_id,
                    AccountKind.PAYOUTS,
                    Asset.CNY,
                    clock.now,
                    category=PAYOUTS_CATEGORY,
                    name="联盟商家结算付款",
                ),
                settlement.amount_fen,
            ),
        ]
    name = _organisation_names(session, [shop.organisation_id]).get(shop.organisation_id, "")
    view = ledger.book(
        session,
        village_id=village_id,
        code=CODE_ALLIED_PAYMENT,
        postings=postings,
        actor=actor,
        clock=clock,
        memo=f"联盟商家结算付款：{name} {settlement.period_start}至{settlement.period_end} "
        f"{settlement.points} 积分，{fen_to_yuan(settlement.amount_fen)} 元",
        details={
            "settlement_id": str(settlement.id),
            "shop_id": str(shop.id),
            "period_start": settlement.period_start.isoformat(),
            "period_end": settlement.period_end.isoformat(),
            "points": settlement.points,
            "amount_fen": settlement.amount_fen,
        },
        idempotency_key=idempotency_key,
    )
    paid = session.execute(
        update(AlliedSettlement)
        .where(AlliedSettlement.id == settlement.id, AlliedSettlement.paid_entry_id.is_(None))
        .values(paid_entry_id=view.entry.id, paid_at=clock.now)
        .execution_options(synchronize_session=False)
    )
    if paid.rowcount != 1:  # type: ignore[attr-defined]
        raise errors.SettlementAlreadyPaid(
            f"statement {settlement.id} was paid meanwhile",
            detail_zh=f"结算单 {settlement.id} 已在此期间付款",
            settlement_id=str(settlement.id),
        )
    session.refresh(settlement)
    return settlement


def _paid_with(session: Session, entry_id: uuid.UUID, actor: str, key: str) -> bool:
    """Whether the statement's payment is the entry booked with this key (a retry)."""
    found = session.execute(
        select(Entry.id).where(
            Entry.id == entry_id, Entry.actor == actor, Entry.idempotency_key == key
        )
    ).first()
    return found is not None


def settlement_reads(
    session: Session, settlements: Sequence[AlliedSettlement]
) -> list[SettlementRead]:
    if not settlements:
        return []
    shops = {
        s.id: s.organisation_id
        for s in session.execute(
            select(AlliedShop).where(AlliedShop.id.in_({s.shop_id for s in settlements}))
        ).scalars()
    }
    names = _organisation_names(session, list(shops.values()))
    return [
        SettlementRead(
            id=s.id,
            shop_id=s.shop_id,
            shop_name=names.get(shops[s.shop_id], ""),
            village_id=s.village_id,
            period_start=s.period_start,
            period_end=s.period_end,
            sales=s.sales,
            points=s.points,
            amount_fen=s.amount_fen,
            created_at=s.created_at,
            actor=s.actor,
            paid=s.paid_entry_id is not None,
            paid_entry_id=s.paid_entry_id,
            paid_at=s.paid_at,
        )
        for s in settlements
    ]


def settlement_detail(session: Session, settlement_id: uuid.UUID) -> SettlementDetail:
    """A statement with its redemptions, oldest first (at most a download's rows)."""
    settlement = get_settlement(session, settlement_id)
    [read] = settlement_reads(session, [settlement])
    rows = session.execute(
        select(Sale, Member.name)
        .join(Member, Member.id == Sale.member_id)
        .where(Sale.settlement_id == settlement.id)
        .order_by(Sale.seq)
        .limit(exports.EXPORT_ROWS_MAX + 1)
    ).all()
    lines = [
        SettlementLineRead(
            sale_id=sale.id,
            receipt_number=sale.seq,
            created_at=sale.created_at,
            member_id=sale.member_id,
            member_name=member_name,
            points=sale.total_points,
            amount_fen=sale.amount_fen or 0,
        )
        for sale, member_name in rows[: exports.EXPORT_ROWS_MAX]
    ]
    return SettlementDetail(
        **read.model_dump(), lines=lines, lines_complete=len(rows) <= exports.EXPORT_ROWS_MAX
    )


def statement_sheet(detail: SettlementDetail, zone: ZoneInfo) -> exports.Sheet:
    """The statement as the shop and the township's finance office read it."""
    return exports.Sheet(
        title="联盟商家结算单",
        headers=["小票号", "兑换时间", "村民", "积分", "应付金额（元）"],
        rows=[
            [
                line.receipt_number,
                local_naive(line.created_at, zone),
                line.member_name,
                line.points,
                fen_to_yuan(line.amount_fen),
            ]
            for line in detail.lines
        ],
        totals=[
            ("商家", detail.shop_name),
            ("结算期间", f"{detail.period_start} 至 {detail.period_end}"),
            ("兑换笔数", detail.sales),
            ("积分合计", detail.points),
            ("应付合计（元）", fen_to_yuan(detail.amount_fen)),
            (
                "付款",
                f"已付款 {local_naive(detail.paid_at, zone):%Y-%m-%d %H:%M}"
                if detail.paid_at
                else "未付款",
            ),
        ],
    )
