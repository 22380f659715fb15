"""/v1 endpoints of allied shops (联盟商家) and their settlements, the fund's
reconciliation (对账), and the supermarket's reports, with their CSV/XLSX downloads."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response, status

from jifen.access import errors as access_errors
from jifen.access.guard import requires
from jifen.access.permissions import Permission
from jifen.api.deps import CallerDep, ClockDep, Limit, SessionDep
from jifen.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from jifen.api.routing import UnitOfWorkRoute
from jifen.kit import exports
from jifen.ledger import errors as ledger_errors
from jifen.ledger import service as ledger
from jifen.market import allied, errors, reconciliation, reports
from jifen.market.report_schemas import (
    PERIOD_DAYS_MAX,
    AlliedSaleCreate,
    AlliedSaleRead,
    AlliedShopCreate,
    AlliedShopRead,
    AlliedShopUpdate,
    GoodsReport,
    MemberRedemptions,
    MostRedeemedReport,
    MoversReport,
    ReconciliationRead,
    SettlementCreate,
    SettlementDetail,
    SettlementRead,
    check_period,
)
from jifen.problems import IdempotencyKeyReused, NotFound, ValidationFailed, problem_responses

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

RequiredKey = Annotated[
    str,
    Header(
        alias=IDEMPOTENCY_HEADER,
        min_length=1,
        max_length=255,
        description="Required: the shop's till makes one per payment and keeps it until it "
        "knows the outcome. A retry with the same key returns the first redemption.",
    ),
]
OptionalKey = Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER, max_length=255)]
Format = Annotated[
    Literal["json", "csv", "xlsx"],
    Query(alias="format", description="json, or a download: csv (UTF-8, for Excel) or xlsx"),
]
Download = Annotated[Literal["csv", "xlsx"], Query(alias="format")]
First = Annotated[
    date | None,
    Query(alias="from", description="First local day; the first of `to`'s month if omitted"),
]
Last = Annotated[date | None, Query(alias="to", description="Last local day; today if omitted")]
_DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or the same figures as a download with Chinese headers",
        "content": {
            media: {"schema": {"type": "string"}} for media in exports.MEDIA_TYPES.values()
        },
    }
}


def _responses(*problems: type[Any], download: bool = False) -> dict[int | str, dict[str, Any]]:
    declared = problem_responses(*problems)
    return {**declared, **_DOWNLOADS} if download else declared


def _download(sheet: exports.Sheet, fmt: exports.Format, stem: str) -> Response:
    made = exports.render(sheet, fmt, stem)
    return Response(
        made.content,
        media_type=made.media_type,
        headers={"Content-Disposition": made.content_disposition, "Cache-Control": "no-store"},
    )


def _period(first: date | None, last: date | None, clock: ledger.Clock) -> tuple[date, date]:
    last = last or clock.local_date(clock.now)
    first = first or last.replace(day=1)
    try:
        check_period(first, last)
    except ValueError as exc:
        raise ValidationFailed(
            str(exc),
            detail_zh="期间的结束日期早于开始日期"
            if last < first
            else f"一个期间最多 {PERIOD_DAYS_MAX} 天",
            errors=[{"location": ["query", "to"], "message": str(exc), "type": "value_error"}],
        ) from None
    return first, last


# --- allied shops -----------------------------------------------------------------------


@router.post(
    "/villages/{village_id}/allied-shops",
    status_code=status.HTTP_201_CREATED,
    tags=["supermarket"],
    summary="Register an organisation as an allied shop of the village (联盟商家)",
    description="The organisation (of the village's township) takes the village's points "
    "at `points_per_yuan` (10: 10 points take 1 yuan off) and gets a points account in the "
    "village's books, where its customers' points go.",
    responses=_responses(NotFound, errors.ShopAlreadyRegistered, IdempotencyKeyReused),
)
@requires(Permission.CATALOG_WRITE, on="village_id")
def create_allied_shop(
    village_id: uuid.UUID, body: AlliedShopCreate, session: SessionDep, clock: ClockDep
) -> AlliedShopRead:
    shop = allied.register_shop(
        session,
        village_id=village_id,
        organisation_id=body.organisation_id,
        points_per_yuan=body.points_per_yuan,
        clock=clock,
    )
    return allied.shop_reads(session, [shop])[0]


@router.get(
    "/villages/{village_id}/allied-shops",
    tags=["supermarket"],
    summary="The village's allied shops, with what the fund owes each",
    responses=_responses(NotFound),
)
@requires(Permission.CATALOG_READ, on="village_id")
def list_allied_shops(
    village_id: uuid.UUID,
    session: SessionDep,
    active: Annotated[bool | None, Query(description="Only shops taking points (true)")] = None,
) -> list[AlliedShopRead]:
    return allied.shop_reads(
        session, allied.list_shops(session, village_id, active_only=bool(active))
    )


@router.get(
    "/allied-shops/{shop_id}",
    tags=["supermarket"],
    summary="An allied shop, with what the fund owes it",
    responses=_responses(NotFound),
)
@requires(Permission.CATALOG_READ, on="shop_id")
def get_allied_shop(shop_id: uuid.UUID, session: SessionDep) -> AlliedShopRead:
    return allied.shop_reads(session, [allied.get_shop(session, shop_id)])[0]


@router.patch(
    "/allied-shops/{shop_id}",
    tags=["supermarket"],
    summary="Change an allied shop's rate",
    description="The new rate applies to redemptions from now on; each past redemption "
    "keeps what the fund owes for it.",
    responses=_responses(NotFound, IdempotencyKeyReused),
)
@requires(Permission.CATALOG_WRITE, on="shop_id")
def update_allied_shop(
    shop_id: uuid.UUID, body: AlliedShopUpdate, session: SessionDep
) -> AlliedShopRead:
    shop = allied.change_rate(session, shop_id=shop_id, points_per_yuan=body.points_per_yuan)
    return allied.shop_reads(session, [shop])[0]


@router.post(
    "/allied-shops/{shop_id}/deactivation",
    tags=["supermarket"],
    summary="Stop an allied shop taking points",
    description="What the fund owes the shop is still settled and paid.",
    responses=_responses(NotFound, IdempotencyKeyReused),
)
@requires(Permission.CATALOG_WRITE, on="shop_id")
def deactivate_allied_shop(shop_id: uuid.UUID, session: SessionDep) -> AlliedShopRead:
    shop = allied.deactivate_shop(session, shop_id=shop_id)
    return allied.shop_reads(session, [shop])[0]


@router.post(
    "/allied-shops/{shop_id}/sales",
    status_code=status.HTTP_201_CREATED,
    tags=["supermarket"],
    summary="A member pays with points at an allied shop (联盟商家积分抵扣)",
    description="One entry (code `allied_sale`) moves the points from the holder (the "
    "member, or the household where the charter pools points) to the shop's account in "
    "the village's books. The fund then owes the shop points × 100 / points_per_yuan fen, "
    "rounded half up to the fen (`amount_fen`), at today's rate. Only available points "
    "count; a balance below zero cannot pay. The Idempotency-Key header is required.",
    responses=_responses(
        NotFound,
        errors.ShopNotFound,
        errors.NoPointsAccount,
        errors.BalanceInDebt,
        ledger_errors.InsufficientPoints,
        ledger_errors.MemberInactive,
        access_errors.CardInvalid,
        access_errors.CardOfAnotherVillage,
        access_errors.CardRevoked,
        IdempotencyKeyReused,
    ),
)
@requires(Permission.POINTS_REDEEM, on="shop_id")
def create_allied_sale(
    shop_id: uuid.UUID,
    body: AlliedSaleCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    idempotency_key: RequiredKey,
) -> AlliedSaleRead:
    return allied.redeem(
        session,
        shop_id=shop_id,
        member_id=body.member_id,
        card_token=body.card_token,
        points=body.points,
        cashier=caller.actor,
        clock=clock,
        idempotency_key=idempotency_key,
    )


@router.get(
    "/allied-shops/{shop_id}/sales",
    tags=["supermarket"],
    summary="Redemptions at an allied shop, newest first",
    responses=_responses(NotFound),
)
@requires(Permission.ENTRIES_READ, on="shop_id")
def list_allied_sales(
    shop_id: uuid.UUID,
    session: SessionDep,
    limit: Limit = 50,
    unsettled: Annotated[bool, Query(description="Only those on no statement yet")] = False,
    before_receipt: Annotated[int | None, Query(ge=1, description="Next page: older than")] = None,
) -> list[AlliedSaleRead]:
    return allied.list_shop_sales(
        session, shop_id, unsettled_only=unsettled, limit=limit, before_seq=before_receipt
    )


# --- settlements ------------------------------------------------------------------------


@router.post(
    "/allied-shops/{shop_id}/settlements",
    status_code=status.HTTP_201_CREATED,
    tags=["supermarket"],
    summary="Make a settlement statement: what the fund owes the shop for a period (结算单)",
    description="Sums the shop's redemptions of the period (local days) that are on no "
    "statement yet, and puts them on this one: a redemption is settled once. The period "
    "must be over (settlement_period_open) and overlap none of the shop's other statements "
    "(settlement_overlaps); a period without redemptions is refused (settlement_empty).",
    responses=_responses(
        NotFound,
        errors.SettlementEmpty,
        errors.SettlementPeriodOpen,
        errors.SettlementOverlaps,
        IdempotencyKeyReused,
    ),
)
@requires(Permission.FINANCE_SETTLE, on="shop_id")
def create_allied_settlement(
    shop_id: uuid.UUID,
    body: SettlementCreate,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
) -> SettlementRead:
    settlement = allied.settle(
        session,
        shop_id=shop_id,
        period_start=body.period_start,
        period_end=body.period_end,
        actor=caller.actor,
        clock=clock,
    )
    return allied.settlement_reads(session, [settlement])[0]


@router.get(
    "/allied-shops/{shop_id}/settlements",
    tags=["supermarket"],
    summary="An allied shop's statements, newest period first",
    responses=_responses(NotFound),
)
@requires(Permission.BOOKS_READ, on="shop_id")
def list_allied_settlements(shop_id: uuid.UUID, session: SessionDep) -> list[SettlementRead]:
    return allied.settlement_reads(session, allied.list_settlements(session, shop_id))


@router.get(
    "/allied-settlements/{settlement_id}",
    tags=["supermarket"],
    summary="A statement with its redemptions",
    responses=_responses(NotFound),
)
@requires(Permission.BOOKS_READ, on="settlement_id")
def get_allied_settlement(settlement_id: uuid.UUID, session: SessionDep) -> SettlementDetail:
    return allied.settlement_detail(session, settlement_id)


@router.post(
    "/allied-settlements/{settlement_id}/payment",
    tags=["supermarket"],
    summary="Pay a statement from the points-exchange fund",
    description="One entry moves the amount from the fund (积分兑换基金) to payouts "
    "(category allied) and the shop's points to the supermarket account, where redeemed "
    "points end. The fund cannot go below zero (insufficient_funds); a statement is paid "
    "once (settlement_already_paid).",
    responses=_responses(
        NotFound,
        errors.SettlementAlreadyPaid,
        ledger_errors.InsufficientFunds,
        ledger_errors.InsufficientPoints,
        IdempotencyKeyReused,
    ),
)
@requires(Permission.FUNDS_WRITE, on="settlement_id")
def pay_allied_settlement(
    settlement_id: uuid.UUID,
    session: SessionDep,
    caller: CallerDep,
    clock: ClockDep,
    idempotency_key: OptionalKey = None,
) -> SettlementRead:
    settlement = allied.pay(
        session,
        settlement_id=settlement_id,
        actor=caller.actor,
        clock=clock,
        idempotency_key=idempotency_key,
    )
    return allied.settlement_reads(session, [settlement])[0]


@router.get(
    "/allied-settlements/{settlement_id}/statement",
    tags=["supermarket"],
    summary="Download a statement (CSV or XLSX, Chinese headers)",
    response_class=Response,
    responses=_responses(NotFound, download=True),
)
@requires(Permission.FINANCE_EXPORT, on="settlement_id")
def export_allied_settlement(
    settlement_id: uuid.UUID, session: SessionDep, clock: ClockDep, fmt: Download = "xlsx"
) -> Response:
    detail = allied.settlement_detail(session, settlement_id)
    sheet = allied.statement_sheet(detail, clock.settings.zone)
    stem = f"联盟商家结算单-{detail.shop_name}-{detail.period_start}-{detail.period_end}"
    return _download(sheet, fmt, stem)


# --- reconciliation ---------------------------------------------------------------------


@router.get(
    "/villages/{village_id}/reconciliation",
    tags=["reports"],
    summary="Reconcile the points-exchange fund with the points outstanding (对账)",
    description="As of the end of a local day (`on`, today if omitted), from the books: "
    "the points members and households hold × the charter's point value "
    "(settings.point_value_fen, 100 without a charter) is what the fund owes; beside it the "
    "fund's balance, the stock at cost (weighted average purchase cost; goods never "
    "purchased at their donations' declared value, or 0), donations received, and what "
    "the fund owes allied shops. The difference is fund + stock − liability − allied debts. "
    "`format=csv` or `xlsx` downloads it.",
    response_model=ReconciliationRead,
    responses=_responses(NotFound, download=True),
)
@requires(Permission.BOOKS_READ, on="village_id")
def get_reconciliation(
    village_id: uuid.UUID,
    session: SessionDep,
    clock: ClockDep,
    on: Annotated[date | None, Query(description="Local day; today if omitted")] = None,
    fmt: Format = "json",
) -> ReconciliationRead | Response:
    report = reconciliation.reconcile(
        session,
        village_id=village_id,
        on=on or clock.local_date(clock.now),
        zone=clock.settings.zone,
    )
    if fmt == "json":
        return report
    return _download(
        reconciliation.reconciliation_sheet(report), fmt, f"积分兑换基金对账-{report.on}"
    )


@router.get(
    "/villages/{village_id}/reconciliation/chart",
    tags=["reports"],
    summary="The reconciliation as a bar chart (SVG)",
    response_class=Response,
    responses={
        **_responses(NotFound),
        200: {"description": "An SVG image", "content": {"image/svg+xml": {}}},
    },
)
@requires(Permission.BOOKS_READ, on="village_id")
def get_reconciliation_chart(
    village_id: uuid.UUID,
    session: SessionDep,
    clock: ClockDep,
    on: Annotated[date | None, Query(description="Local day; today if omitted")] = None,
) -> Response:
    report = reconciliation.reconcile(
        session,
        village_id=village_id,
        on=on or clock.local_date(clock.now),
        zone=clock.settings.zone,
    )
    return Response(
        reconciliation.reconciliation_chart(report),
        media_type="image/svg+xml",
        headers={"Cache-Control": "no-store"},
    )


# --- reports ----------------------------------------------------------------------------


@router.get(
    "/villages/{village_id}/reports/goods",
    tags=["reports"],
    summary="Sales and stock of each good over a period (进销存)",
    description="For each good: the stock at the start of the period, what was purchased, "
    "donated, adjusted, sold and refunded in it, the stock at its end, and the points "
    "taken. Units come from the shelf's entries, points from the receipts.",
    response_model=GoodsReport,
    responses=_responses(NotFound, download=True),
)
@requires(Permission.BOOKS_READ, on="village_id")
def get_goods_report(
    village_id: uuid.UUID,
    session: SessionDep,
    clock: ClockDep,
    first: First = None,
    last: Last = None,
    fmt: Format = "json",
) -> GoodsReport | Response:
    first, last = _period(first, last, clock)
    report = reports.goods_report(
        session, village_id=village_id, first=first, last=last, zone=clock.settings.zone
    )
    if fmt == "json":
        return report
    return _download(reports.goods_sheet(report), fmt, f"商品进销存-{first}-{last}")


@router.get(
    "/villages/{village_id}/reports/movers",
    tags=["reports"],
    summary="Fast and slow movers: goods ranked by units sold in a period",
    description="Fastest first, by units sold (less refunds) and then receipts. Goods with "
    "stock and no sale in the period are the slowest and come last.",
    response_model=MoversReport,
    responses=_responses(NotFound, download=True),
)
@requires(Permission.BOOKS_READ, on="village_id")
def get_movers_report(
    village_id: uuid.UUID,
    session: SessionDep,
    clock: ClockDep,
    first: First = None,
    last: Last = None,
    fmt: Format = "json",
) -> MoversReport | Response:
    first, last = _period(first, last, clock)
    report = reports.movers(
        session, village_id=village_id, first=first, last=last, zone=clock.settings.zone
    )
    if fmt == "json":
        return report
    return _download(reports.movers_sheet(report), fmt, f"畅销与滞销-{first}-{last}")


@router.get(
    "/villages/{village_id}/reports/most-redeemed",
    tags=["reports"],
    summary="The goods redeemed most often in a period",
    description="By the number of receipts with the good on them, then points taken.",
    response_model=MostRedeemedReport,
    responses=_responses(NotFound, download=True),
)
@requires(Permission.BOOKS_READ, on="village_id")
def get_most_redeemed_report(
    village_id: uuid.UUID,
    session: SessionDep,
    clock: ClockDep,
    first: First = None,
    last: Last = None,
    limit: Annotated[int, Query(ge=1, le=100, description="How many goods")] = 10,
    fmt: Format = "json",
) -> MostRedeemedReport | Response:
    first, last = _period(first, last, clock)
    report = reports.most_redeemed(
        session,
        village_id=village_id,
        first=first,
        last=last,
        zone=clock.settings.zone,
        limit=limit,
    )
    if fmt == "json":
        return report
    return _download(reports.most_redeemed_sheet(report), fmt, f"兑换最多的商品-{first}-{last}")


@router.get(
    "/members/{member_id}/redemptions",
    tags=["reports"],
    summary="A member's receipts at the supermarket and at allied shops",
    description="Newest first; `from` and `to` (local days) narrow them to a period.",
    response_model=MemberRedemptions,
    responses=_responses(NotFound, download=True),
)
@requires(Permission.BOOKS_READ, on="member_id")
def get_member_redemptions(
    member_id: uuid.UUID,
    session: SessionDep,
    clock: ClockDep,
    first: Annotated[date | None, Query(alias="from", description="First local day")] = None,
    last: Annotated[date | None, Query(alias="to", description="Last local day")] = None,
    limit: Annotated[int, Query(ge=1, le=reports.REDEMPTIONS_LIMIT_MAX)] = 200,
    fmt: Format = "json",
) -> MemberRedemptions | Response:
    if first is not None and last is not None:
        first, last = _period(first, last, clock)
    report = reports.member_redemptions(
        session,
        member_id=member_id,
        first=first,
        last=last,
        zone=clock.settings.zone,
        limit=limit,
    )
    if fmt == "json":
        return report
    sheet = reports.redemptions_sheet(report, clock.settings.zone)
    return _download(sheet, fmt, f"兑换记录-{report.member_name}")
