"""/v1 supermarket endpoints: catalog, stock, sales (redemptions), refunds, the till's
member lookup and day summary, and the catalog for mini-programs."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.access import cards
from jifen.access import errors as access_errors
from jifen.access import service as access
from jifen.access.guard import requires
from jifen.access.permissions import ClientScope, Permission
from jifen.api.deps import CallerDep, ClockDep, Limit, SessionDep
from jifen.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from jifen.api.routing import UnitOfWorkRoute
from jifen.kit.clock import as_utc
from jifen.ledger import errors as ledger_errors
from jifen.ledger import service as ledger
from jifen.market import errors, service, till
from jifen.market.schemas import (
    DaySummary,
    GoodsCreate,
    GoodsRead,
    GoodsUpdate,
    MemberAtTill,
    PriceRead,
    RefundCreate,
    RefundLineRead,
    RefundRead,
    SaleCreate,
    SaleLineRead,
    SaleRead,
    StockMovementCreate,
    StockMovementRead,
)
from jifen.models import Goods, Member, Posting, Refund, RefundLine, Sale, SaleLine
from jifen.problems import IdempotencyKeyReused, NotFound, problem_responses

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

RequiredKey = Annotated[
    str,
    Header(
        alias=IDEMPOTENCY_HEADER,
        min_length=1,
        max_length=255,
        description="Required: the till makes one per basket and keeps it until it knows "
        "the outcome. A retry with the same key returns the first sale; nothing is booked "
        "twice.",
    ),
]


def goods_read(goods: Goods, stock: int) -> GoodsRead:
    return GoodsRead(
        id=goods.id,
        village_id=goods.village_id,
        number=goods.number,
        asset=goods.asset,
        name=goods.name,
        unit=goods.unit,
        category=goods.category,
        price_points=goods.price_points,
        barcode=goods.barcode,
        image_url=goods.image_url,
        active=goods.active,
        stock=stock,
        created_at=goods.created_at,
        updated_at=goods.updated_at,
    )


def _one_goods(session: Session, goods: Goods) -> GoodsRead:
    return goods_read(goods, ledger.get_balance(session, goods.shelf_account_id).available)


# --- catalog ----------------------------------------------------------------------------


@router.post(
    "/villages/{village_id}/goods",
    status_code=status.HTTP_201_CREATED,
    tags=["supermarket"],
    summary="Add a good to the village's catalog (上架)",
    description="The good gets the next number in the village and its own asset in the "
    "books (G<number>); its shelf starts empty: stock comes in by a stock movement.",
    responses=problem_responses(NotFound, errors.BarcodeTaken, IdempotencyKeyReused),
)
@requires(Permission.CATALOG_WRITE, on="village_id")
def create_goods(
    village_id: uuid.UUID,
    body: GoodsCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> GoodsRead:
    goods = service.create_goods(
        session,
        village_id=village_id,
        spec=service.GoodsInput(**body.model_dump()),
        actor=caller.actor,
        clock=clock,
    )
    return goods_read(goods, 0)


@router.get(
    "/villages/{village_id}/goods",
    tags=["supermarket"],
    summary="The village's catalog with stock",
    responses=problem_responses(NotFound),
)
@requires(Permission.CATALOG_READ, on="village_id")
def list_goods(
    village_id: uuid.UUID,
    session: SessionDep,
    active: Annotated[bool | None, Query(description="Only goods on sale (true)")] = None,
    category: Annotated[str | None, Query(max_length=50)] = None,
    barcode: Annotated[str | None, Query(max_length=64)] = None,
) -> list[GoodsRead]:
    return [
        goods_read(s.goods, s.stock)
        for s in service.catalog(
            session, village_id, active_only=bool(active), category=category, barcode=barcode
        )
    ]


@router.get(
    "/goods/{goods_id}",
    tags=["supermarket"],
    summary="A good, with its stock",
    responses=problem_responses(NotFound),
)
@requires(Permission.CATALOG_READ, on="goods_id")
def get_goods(goods_id: uuid.UUID, session: SessionDep) -> GoodsRead:
    return _one_goods(session, service.get_goods(session, goods_id))


@router.patch(
    "/goods/{goods_id}",
    tags=["supermarket"],
    summary="Change a good: name, unit, category, price, barcode, image, on sale or not",
    description="A new price applies from now on and joins the price history; receipts "
    "keep the price they were sold at.",
    responses=problem_responses(NotFound, errors.BarcodeTaken, IdempotencyKeyReused),
)
@requires(Permission.CATALOG_WRITE, on="goods_id")
def update_goods(
    goods_id: uuid.UUID,
    body: GoodsUpdate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> GoodsRead:
    goods = service.update_goods(
        session,
        goods_id=goods_id,
        changes=body.model_dump(exclude_unset=True),
        actor=caller.actor,
        clock=clock,
    )
    return _one_goods(session, goods)


@router.get(
    "/goods/{goods_id}/prices",
    tags=["supermarket"],
    summary="A good's price history",
    responses=problem_responses(NotFound),
)
@requires(Permission.CATALOG_READ, on="goods_id")
def goods_prices(goods_id: uuid.UUID, session: SessionDep) -> list[PriceRead]:
    return [PriceRead.model_validate(p) for p in service.price_history(session, goods_id)]


# --- stock ------------------------------------------------------------------------------


@router.post(
    "/villages/{village_id}/stock-movements",
    status_code=status.HTTP_201_CREATED,
    tags=["supermarket"],
    summary="Goods onto or off the shelf: a purchase (进货), a donation (捐赠), a count",
    description="A purchase is paid from the village's points-exchange fund (积分兑换基金): "
    "one entry moves the goods onto the shelf and the cost from the fund to purchases; the "
    "fund cannot go below zero (insufficient_funds). A donation records its donor and "
    "value. An adjustment needs a reason; it cannot take the shelf below zero "
    "(insufficient_stock).",
    responses=problem_responses(
        NotFound,
        errors.GoodsNotInCatalog,
        ledger_errors.InsufficientStock,
        ledger_errors.InsufficientFunds,
        errors.BasketInvalid,
        IdempotencyKeyReused,
    ),
)
@requires(Permission.STOCK_WRITE, on="village_id")
def create_stock_movement(
    village_id: uuid.UUID,
    body: StockMovementCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, max_length=255)] = None,
) -> StockMovementRead:
    goods = session.get(Goods, body.goods_id)
    if goods is None or goods.village_id != village_id:
        raise errors.GoodsNotInCatalog(
            f"goods {body.goods_id} is not in this village's catalog",
            detail_zh=f"商品 {body.goods_id} 不在本村的商品目录中",
            goods_id=str(body.goods_id),
        )
    donor = (
        service.donor_of(session, village_id, body.donor.kind, body.donor.id, body.donor.name)
        if body.donor
        else None
    )
    movement = service.move_stock(
        session,
        goods_id=body.goods_id,
        kind=body.kind,
        quantity=body.quantity,
        amount_fen=body.cost_fen if body.kind == "purchase" else body.value_fen,
        donor=donor,
        reason=body.reason,
        note=body.note,
        actor=caller.actor,
        clock=clock,
        idempotency_key=idempotency_key,
    )
    return StockMovementRead.model_validate(movement)


@router.get(
    "/villages/{village_id}/stock-movements",
    tags=["supermarket"],
    summary="Stock movements: purchases, donations and adjustments",
    responses=problem_responses(NotFound),
)
@requires(Permission.CATALOG_READ, on="village_id")
def list_stock_movements(
    village_id: uuid.UUID,
    session: SessionDep,
    goods_id: uuid.UUID | None = None,
) -> list[StockMovementRead]:
    return [
        StockMovementRead.model_validate(m)
        for m in service.stock_movements(session, village_id, goods_id=goods_id)
    ]


# --- sales ------------------------------------------------------------------------------

_SALE_PROBLEMS = (
    NotFound,
    access_errors.CardInvalid,
    access_errors.CardOfAnotherVillage,
    access_errors.CardRevoked,
    errors.BasketInvalid,
    errors.GoodsNotInCatalog,
    errors.GoodsInactive,
    errors.PriceChanged,
    errors.NoPointsAccount,
    errors.BalanceInDebt,
    ledger_errors.InsufficientPoints,
    ledger_errors.InsufficientStock,
    ledger_errors.MemberInactive,
    IdempotencyKeyReused,
)


def sale_reads(session: Session, sales: list[Sale]) -> list[SaleRead]:
    """Receipts as the till and reports show them, in a few statements for a page."""
    if not sales:
        return []
    ids = [s.id for s in sales]
    lines = service.sale_lines(session, ids)
    refunds = service.refunds_of(session, ids)
    goods = service.goods_by_id(session, [line.goods_id for ls in lines.values() for line in ls])
    names = dict(
        session.execute(
            select(Member.id, Member.name).where(Member.id.in_({s.member_id for s in sales}))
        ).all()
    )
    after = dict(
        session.execute(
            select(Posting.entry_id, Posting.balance_after).where(
                Posting.entry_id.in_([s.entry_id for s in sales]),
                Posting.account_id.in_({s.holder_account_id for s in sales}),
            )
        ).all()
    )
    refund_ids = [r.id for rs in refunds.values() for r in rs]
    refund_lines: dict[uuid.UUID, list[RefundLine]] = {r: [] for r in refund_ids}
    if refund_ids:
        for rl in session.execute(
            select(RefundLine)
            .where(RefundLine.refund_id.in_(refund_ids))
            .order_by(RefundLine.position)
        ).scalars():
            refund_lines[rl.refund_id].append(rl)
    return [
        _sale_read(
            s,
            lines[s.id],
            goods,
            names.get(s.member_id, ""),
            after.get(s.entry_id, 0),
            [refund_read(r, refund_lines[r.id]) for r in refunds[s.id]],
        )
        for s in sales
    ]


def receipt(sold: service.Sold) -> SaleRead:
    """A new sale's receipt from what was just booked: no reads."""
    return _sale_read(sold.sale, sold.lines, sold.goods, sold.member_name, sold.balance_after, [])


def _sale_read(
    s: Sale,
    lines: list[SaleLine],
    goods: dict[uuid.UUID, Goods],
    member_name: str,
    balance_after: int,
    refunds: list[RefundRead],
) -> SaleRead:
    return SaleRead(
        id=s.id,
        village_id=s.village_id,
        receipt_number=s.seq,
        entry_id=s.entry_id,
        entry_hash=s.entry_hash,
        member_id=s.member_id,
        member_name=member_name,
        household_id=s.household_id,
        holder_kind=s.holder_kind,  # type: ignore[arg-type]
        holder_account_id=s.holder_account_id,
        total_points=s.total_points,
        refunded_points=sum(r.points for r in refunds),
        balance_after=balance_after,
        cashier=s.cashier,
        created_at=s.created_at,
        lines=[
            SaleLineRead(
                position=line.position,
                goods_id=line.goods_id,
                goods_name=goods[line.goods_id].name,
                unit=goods[line.goods_id].unit,
                quantity=line.quantity,
                unit_points=line.unit_points,
                points=line.points,
                refunded_quantity=line.refunded_quantity,
            )
            for line in lines
        ],
        refunds=refunds,
    )


def refund_read(row: Refund, lines: list[RefundLine]) -> RefundRead:
    return RefundRead(
        id=row.id,
        sale_id=row.sale_id,
        entry_id=row.entry_id,
        seq=row.seq,
        entry_hash=row.entry_hash,
        points=row.points,
        reason=row.reason,
        actor=row.actor,
        created_at=row.created_at,
        lines=[RefundLineRead.model_validate(line) for line in lines],
    )


@router.post(
    "/villages/{village_id}/sales",
    status_code=status.HTTP_201_CREATED,
    tags=["supermarket"],
    summary="Redeem a basket (积分兑换): points from the member or household, goods off the shelf",
    description="One entry moves the basket's points from the holder (the member, or the "
    "household where the charter pools points) to the supermarket and each good off the "
    "shelf. Points or stock short for any line refuses the whole basket, naming the line; "
    "nothing is booked. Only available points count (pending and held points do not); a "
    "balance below zero cannot redeem. The Idempotency-Key header is required: a till "
    "that lost the answer sends the same basket with the same key and gets the first "
    "sale back.",
    responses=problem_responses(*_SALE_PROBLEMS),
)
@requires(Permission.POINTS_REDEEM, on="village_id")
def create_sale(
    village_id: uuid.UUID,
    body: SaleCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    idempotency_key: RequiredKey,
) -> SaleRead:
    member_id = (
        body.member_id
        or cards.member_for_card(session, body.card_token or "", village_id=village_id).id
    )
    sold = service.sell_receipt(
        session,
        village_id=village_id,
        member_id=member_id,
        lines=[service.BasketLine(line.goods_id, line.quantity) for line in body.lines],
        expected_total_points=body.expected_total_points,
        cashier=caller.actor,
        clock=clock,
        idempotency_key=idempotency_key,
    )
    if sold.replayed:
        return sale_reads(session, [sold.sale])[0]
    return receipt(sold)


@router.get(
    "/villages/{village_id}/sales",
    tags=["supermarket"],
    summary="Receipts, newest first: a day's, a member's, a household's",
    responses=problem_responses(NotFound),
)
@requires(Permission.ENTRIES_READ, on="village_id")
def list_sales(
    village_id: uuid.UUID,
    session: SessionDep,
    clock: ClockDep,
    limit: Limit = 50,
    day: Annotated[date | None, Query(description="Local day (the township's zone)")] = None,
    member_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    before_receipt: Annotated[int | None, Query(ge=1, description="Next page: older than")] = None,
) -> list[SaleRead]:
    since = until = None
    if day is not None:
        since, until = day_bounds(day, clock)
    sales = service.list_sales(
        session,
        village_id,
        since=since,
        until=until,
        member_id=member_id,
        household_id=household_id,
        allied=False,
        limit=limit,
        before_seq=before_receipt,
    )
    return sale_reads(session, sales)


def day_bounds(day: date, clock: ledger.Clock) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=clock.settings.zone)
    return as_utc(start), as_utc(start + timedelta(days=1))


@router.get(
    "/sales/{sale_id}",
    tags=["supermarket"],
    summary="A receipt, with its refunds",
    responses=problem_responses(NotFound, errors.SaleNotFound),
)
@requires(Permission.ENTRIES_READ, on="sale_id")
def get_sale(sale_id: uuid.UUID, session: SessionDep) -> SaleRead:
    return sale_reads(session, [service.get_sale(session, sale_id)])[0]


@router.post(
    "/sales/{sale_id}/refunds",
    status_code=status.HTTP_201_CREATED,
    tags=["supermarket"],
    summary="Refund a whole receipt or some of its lines (退货)",
    description="Goods go back on the shelf and the points back to whom they came from, "
    "at the price on the receipt, in one entry. Never more than was sold, per line, "
    "across refunds (refund_exceeds_sale).",
    responses=problem_responses(
        NotFound,
        errors.SaleNotFound,
        errors.RefundExceedsSale,
        errors.BasketInvalid,
        IdempotencyKeyReused,
    ),
)
@requires(Permission.POINTS_REFUND, on="sale_id")
def create_refund(
    sale_id: uuid.UUID,
    body: RefundCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    idempotency_key: RequiredKey,
) -> SaleRead:
    service.refund(
        session,
        sale_id=sale_id,
        lines=None
        if body.lines is None
        else [service.RefundRequestLine(line.position, line.quantity) for line in body.lines],
        reason=body.reason,
        actor=caller.actor,
        clock=clock,
        idempotency_key=idempotency_key,
    )
    return sale_reads(session, [service.get_sale(session, sale_id)])[0]


# --- the till ---------------------------------------------------------------------------


@router.get(
    "/villages/{village_id}/till/member",
    tags=["supermarket"],
    summary="Who is at the till: by card, phone number or member id",
    description="Give one of card_token (what the card's QR code or a USB scanner reads), "
    "phone (a phone number or the card's member number), or member_id. Answers the name "
    "(and a masked one for a screen the queue can see), the household, and the points the "
    "holder may spend now. Several members sharing a phone answer member_ambiguous with "
    "the candidates to choose from.",
    responses=problem_responses(
        NotFound,
        errors.BasketInvalid,
        errors.MemberAmbiguous,
        access_errors.CardInvalid,
        access_errors.CardOfAnotherVillage,
        access_errors.CardRevoked,
    ),
)
@requires(Permission.POINTS_REDEEM, on="village_id")
def till_member(
    village_id: uuid.UUID,
    session: SessionDep,
    clock: ClockDep,
    card_token: Annotated[str | None, Query(max_length=300)] = None,
    phone: Annotated[
        str | None,
        Query(min_length=4, max_length=32, description="A phone number or member number"),
    ] = None,
    member_id: uuid.UUID | None = None,
) -> MemberAtTill:
    return till.member_at_till(
        session,
        village_id,
        clock.local_date(clock.now),
        card_token=card_token,
        phone=phone,
        member_id=member_id,
    )


@router.get(
    "/villages/{village_id}/till/day",
    tags=["supermarket"],
    summary="A day at the till: sales, refunds, and each good's sold, refunded and stock",
    responses=problem_responses(NotFound),
)
@requires(Permission.POINTS_REDEEM, on="village_id")
def till_day(
    village_id: uuid.UUID,
    session: SessionDep,
    clock: ClockDep,
    day: Annotated[date | None, Query(description="Local day; today if omitted")] = None,
) -> DaySummary:
    day = day or clock.local_date(clock.now)
    since, until = day_bounds(day, clock)
    return till.day_summary(session, village_id, day, since, until)


# --- mini-programs ----------------------------------------------------------------------


@router.get(
    "/bindings/{binding_id}/catalog",
    tags=["supermarket"],
    summary="The bound member's village catalog, with stock (for mini-programs)",
    responses=problem_responses(NotFound),
)
@requires(None, on="binding_id", client_scope=ClientScope.CATALOG_READ, staff=False)
def bound_catalog(binding_id: uuid.UUID, session: SessionDep) -> list[GoodsRead]:
    binding = access.get_binding(session, binding_id)
    return [
        goods_read(s.goods, s.stock)
        for s in service.catalog(session, binding.village_id, active_only=True)
    ]


@router.get(
    "/bindings/{binding_id}/redemptions",
    tags=["supermarket"],
    summary="The bound member's receipts, newest first (for mini-programs)",
    responses=problem_responses(NotFound),
)
@requires(None, on="binding_id", client_scope=ClientScope.MEMBERS_READ, staff=False)
def bound_redemptions(
    binding_id: uuid.UUID, session: SessionDep, limit: Limit = 50
) -> list[SaleRead]:
    binding = access.get_binding(session, binding_id)
    return sale_reads(
        session,
        service.list_sales(session, binding.village_id, member_id=binding.member_id, limit=limit),
    )
