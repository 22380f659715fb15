"""The supermarket's reports: sales and stock per good and period, fast and slow movers,
the most redeemed goods, and a member's redemptions — with their CSV/XLSX sheets.

Units come from the books: each good's shelf postings, summed per entry code (a purchase,
a donation, an adjustment, a sale, a refund), so that a period's closing stock is its
opening stock plus what moved, exactly as the shelf account says. Points come from the
receipts (sale and refund lines), which name the good. Periods are local days (the
villages' time zone): [start of the first day, start of the day after the last). Every
figure is a handful of aggregate statements, whatever the number of goods.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jifen.kit import exports
from jifen.kit.clock import as_utc
from jifen.ledger.policy import Effect
from jifen.market import service as market
from jifen.market.report_schemas import (
    GoodsPeriodLine,
    GoodsReport,
    MemberRedemptions,
    MostRedeemedReport,
    MoverLine,
    MoversReport,
    RedeemedLine,
    RedemptionLine,
)
from jifen.models import (
    AlliedShop,
    Entry,
    Goods,
    Organisation,
    Posting,
    Refund,
    RefundLine,
    Sale,
    SaleLine,
)
from jifen.tenancy.service import get_member, get_village
from jifen.webhooks.events import CODE_SUPERMARKET_REFUND, CODE_SUPERMARKET_SALE

# Postings that count in a posted balance (a pending hold does not, until it is posted).
POSTED_EFFECTS = (Effect.POSTED.value, Effect.PENDING_POSTED.value)
REDEMPTIONS_LIMIT_MAX = 1000
SUPERMARKET_PLACE = "积分超市"


# --- time and money -----------------------------------------------------------------------


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local day begins, in UTC."""
    return as_utc(datetime.combine(day, time(), tzinfo=zone))


def period_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[the start of the first day, the start of the day after the last), in UTC."""
    return day_start(first, zone), day_start(last + timedelta(days=1), zone)


def local_naive(instant: datetime, zone: ZoneInfo) -> datetime:
    """The local wall-clock time of an instant, for a spreadsheet (which has no zones)."""
    return as_utc(instant).astimezone(zone).replace(tzinfo=None, microsecond=0)


def fen_to_yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def ratio_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (away from zero for halves), in integers."""
    if denominator <= 0:
        raise ValueError("the denominator must be positive")
    value = (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), ROUND_HALF_UP)
    return int(value)


# --- per good and period ----------------------------------------------------------------


@dataclass
class _Figures:
    opening: int = 0
    moved: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    points_sold: int = 0
    points_refunded: int = 0
    receipts: int = 0

    @property
    def purchased(self) -> int:
        return self.moved[market.CODE_STOCK_PURCHASE]

    @property
    def donated(self) -> int:
        return self.moved[market.CODE_STOCK_DONATION]

    @property
    def sold(self) -> int:
        return -self.moved[CODE_SUPERMARKET_SALE]

    @property
    def refunded(self) -> int:
        return self.moved[CODE_SUPERMARKET_REFUND]

    @property
    def adjusted(self) -> int:
        # Counts and losses, and anything else that ever moves a shelf: so that the
        # closing stock is always the opening plus the columns.
        named = {
            market.CODE_STOCK_PURCHASE,
            market.CODE_STOCK_DONATION,
            CODE_SUPERMARKET_SALE,
            CODE_SUPERMARKET_REFUND,
        }
        return sum(amount for code, amount in self.moved.items() if code not in named)

    @property
    def closing(self) -> int:
        return self.opening + sum(self.moved.values())

    @property
    def points_taken(self) -> int:
        return self.points_sold - self.points_refunded


def _figures(
    session: Session, village_id: uuid.UUID, since: datetime, until: datetime
) -> list[tuple[Goods, _Figures]]:
    """Each good of the village with what moved in [since, until), in five statements."""
    goods = list(
        session.execute(
            select(Goods).where(Goods.village_id == village_id).order_by(Goods.number)
        ).scalars()
    )
    figures: dict[uuid.UUID, _Figures] = {g.id: _Figures() for g in goods}
    shelf = (
        select(Goods.id)
        .join(Posting, Posting.account_id == Goods.shelf_account_id)
        .where(Goods.village_id == village_id, Posting.effect.in_(POSTED_EFFECTS))
    )
    opening = shelf.add_columns(func.sum(Posting.amount)).where(Posting.occurred_at < since)
    for goods_id, amount in session.execute(opening.group_by(Goods.id)):
        figures[goods_id].opening = int(amount)
    moves = (
        shelf.add_columns(Entry.code, func.sum(Posting.amount))
        .join(Entry, Entry.id == Posting.entry_id)
        .where(Posting.occurred_at >= since, Posting.occurred_at < until)
        .group_by(Goods.id, Entry.code)
    )
    for goods_id, code, amount in session.execute(moves):
        figures[goods_id].moved[code] += int(amount)
    sold = (
        select(
            SaleLine.goods_id,
            func.sum(SaleLine.points),
            func.count(func.distinct(SaleLine.sale_id)),
        )
        .join(Sale, Sale.id == SaleLine.sale_id)
        .where(Sale.village_id == village_id, Sale.created_at >= since, Sale.created_at < until)
        .group_by(SaleLine.goods_id)
    )
    for goods_id, points, receipts in session.execute(sold):
        figures[goods_id].points_sold = int(points)
        figures[goods_id].receipts = int(receipts)
    refunded = (
        select(RefundLine.goods_id, func.sum(RefundLine.points))
        .join(Refund, Refund.id == RefundLine.refund_id)
        .where(
            Refund.village_id == village_id, Refund.created_at >= since, Refund.created_at < until
        )
        .group_by(RefundLine.goods_id)
    )
    for goods_id, points in session.execute(refunded):
        figures[goods_id].points_refunded = int(points)
    return [(g, figures[g.id]) for g in goods]


def goods_report(
    session: Session, *, village_id: uuid.UUID, first: date, last: date, zone: ZoneInfo
) -> GoodsReport:
    """Sales and stock of each good over the period."""
    get_village(session, village_id)
    since, until = period_bounds(first, last, zone)
    lines = [
        GoodsPeriodLine(
            goods_id=g.id,
            number=g.number,
            name=g.name,
            unit=g.unit,
            active=g.active,
            opening=f.opening,
            purchased=f.purchased,
            donated=f.donated,
            adjusted=f.adjusted,
            sold=f.sold,
            refunded=f.refunded,
            closing=f.closing,
            points_sold=f.points_sold,
            points_refunded=f.points_refunded,
            points_taken=f.points_taken,
        )
        for g, f in _figures(session, village_id, since, until)
    ]
    return GoodsReport(
        village_id=village_id,
        period_start=first,
        period_end=last,
        goods=lines,
        points_taken=sum(line.points_taken for line in lines),
    )


def movers(
    session: Session, *, village_id: uuid.UUID, first: date, last: date, zone: ZoneInfo
) -> MoversReport:
    """Goods ranked by units sold in the period, fastest first; goods that sat on the
    shelf without a sale come last, the most stock last of all."""
    get_village(session, village_id)
    since, until = period_bounds(first, last, zone)
    ranked = [
        (g, f) for g, f in _figures(session, village_id, since, until) if f.receipts or f.closing
    ]
    ranked.sort(
        key=lambda gf: (
            (0, -(gf[1].sold - gf[1].refunded), -gf[1].receipts, gf[0].number)
            if gf[1].receipts
            else (1, gf[1].closing, 0, gf[0].number)
        )
    )
    return MoversReport(
        village_id=village_id,
        period_start=first,
        period_end=last,
        ranking=[
            MoverLine(
                rank=rank,
                goods_id=g.id,
                number=g.number,
                name=g.name,
                unit=g.unit,
                units_sold=f.sold - f.refunded,
                receipts=f.receipts,
                points_taken=f.points_taken,
                closing_stock=f.closing,
                idle=not f.receipts,
            )
            for rank, (g, f) in enumerate(ranked, 1)
        ],
    )


def most_redeemed(
    session: Session,
    *,
    village_id: uuid.UUID,
    first: date,
    last: date,
    zone: ZoneInfo,
    limit: int,
) -> MostRedeemedReport:
    """The goods redeemed most often in the period: by receipts with the good on them,
    then points taken."""
    get_village(session, village_id)
    since, until = period_bounds(first, last, zone)
    figures = _figures(session, village_id, since, until)
    total = sum(f.points_taken for _, f in figures)
    redeemed = sorted(
        ((g, f) for g, f in figures if f.receipts),
        key=lambda gf: (-gf[1].receipts, -gf[1].points_taken, gf[0].number),
    )[:limit]
    return MostRedeemedReport(
        village_id=village_id,
        period_start=first,
        period_end=last,
        goods=[
            RedeemedLine(
                rank=rank,
                goods_id=g.id,
                number=g.number,
                name=g.name,
                unit=g.unit,
                receipts=f.receipts,
                units_sold=f.sold - f.refunded,
                points_taken=f.points_taken,
                points_share_permille=ratio_half_up(1000 * f.points_taken, total) if total else 0,
            )
            for rank, (g, f) in enumerate(redeemed, 1)
        ],
        points_taken=total,
    )


# --- a member's redemptions -------------------------------------------------------------


def member_redemptions(
    session: Session,
    *,
    member_id: uuid.UUID,
    first: date | None,
    last: date | None,
    zone: ZoneInfo,
    limit: int,
) -> MemberRedemptions:
    """The member's receipts at the supermarket and at allied shops, newest first."""
    member = get_member(session, member_id)
    query = select(Sale).where(Sale.member_id == member.id)
    if first is not None:
        query = query.where(Sale.created_at >= day_start(first, zone))
    if last is not None:
        query = query.where(Sale.created_at < day_start(last + timedelta(days=1), zone))
    limit = min(limit, REDEMPTIONS_LIMIT_MAX)
    found = list(session.execute(query.order_by(Sale.seq.desc()).limit(limit + 1)).scalars())
    sales = found[:limit]
    ids = [s.id for s in sales]
    lines = market.sale_lines(session, ids) if ids else {}
    goods = market.goods_by_id(session, [line.goods_id for ls in lines.values() for line in ls])
    refunded: dict[uuid.UUID, int] = {}
    if ids:
        refunded = {
            sale_id: int(points)
            for sale_id, points in session.execute(
                select(Refund.sale_id, func.sum(Refund.points))
                .where(Refund.sale_id.in_(ids))
                .group_by(Refund.sale_id)
            )
        }
    shops = _shop_names(session, {s.shop_id for s in sales if s.shop_id is not None})
    receipts = []
    for sale in sales:
        back = refunded.get(sale.id, 0)
        receipts.append(
            RedemptionLine(
                sale_id=sale.id,
                receipt_number=sale.seq,
                created_at=sale.created_at,
                place=shops.get(sale.shop_id, "") if sale.shop_id else SUPERMARKET_PLACE,
                shop_id=sale.shop_id,
                holder_kind=sale.holder_kind,  # type: ignore[arg-type]
                items="、".join(
                    f"{goods[line.goods_id].name}×{line.quantity}"
                    for line in lines.get(sale.id, [])
                ),
                points=sale.total_points,
                refunded_points=back,
                net_points=sale.total_points - back,
                amount_fen=sale.amount_fen,
            )
        )
    return MemberRedemptions(
        member_id=member.id,
        member_name=member.name,
        village_id=member.village_id,
        period_start=first,
        period_end=last,
        receipts=receipts,
        complete=len(found) <= limit,
        points=sum(r.points for r in receipts),
        refunded_points=sum(r.refunded_points for r in receipts),
        net_points=sum(r.net_points for r in receipts),
    )


def _shop_names(session: Session, shop_ids: set[uuid.UUID]) -> dict[uuid.UUID | None, str]:
    if not shop_ids:
        return {}
    return dict(
        session.execute(
            select(AlliedShop.id, Organisation.name)
            .join(Organisation, Organisation.id == AlliedShop.organisation_id)
            .where(AlliedShop.id.in_(shop_ids))
        ).all()
    )


# --- sheets -----------------------------------------------------------------------------


def _period(first: date | None, last: date | None) -> str:
    return f"{first or '最早'} 至 {last or '今天'}"


def goods_sheet(report: GoodsReport) -> exports.Sheet:
    return exports.Sheet(
        title="商品进销存",
        headers=[
            "编号",
            "商品",
            "单位",
            "期初库存",
            "进货",
            "捐赠",
            "盘点调整",
            "兑换",
            "退货",
            "期末库存",
            "兑换积分",
            "退货积分",
            "净兑换积分",
        ],
        rows=[
            [
                line.number,
                line.name,
                line.unit,
                line.opening,
                line.purchased,
                line.donated,
                line.adjusted,
                line.sold,
                line.refunded,
                line.closing,
                line.points_sold,
                line.points_refunded,
                line.points_taken,
            ]
            for line in report.goods
        ],
        totals=[
            ("期间", _period(report.period_start, report.period_end)),
            ("净兑换积分合计", report.points_taken),
        ],
    )


def movers_sheet(report: MoversReport) -> exports.Sheet:
    return exports.Sheet(
        title="畅销与滞销",
        headers=[
            "排名",
            "编号",
            "商品",
            "单位",
            "净兑换数量",
            "小票数",
            "净兑换积分",
            "期末库存",
            "滞销（有库存无兑换）",
        ],
        rows=[
            [
                line.rank,
                line.number,
                line.name,
                line.unit,
                line.units_sold,
                line.receipts,
                line.points_taken,
                line.closing_stock,
                "是" if line.idle else "否",
            ]
            for line in report.ranking
        ],
        totals=[("期间", _period(report.period_start, report.period_end))],
    )


def most_redeemed_sheet(report: MostRedeemedReport) -> exports.Sheet:
    return exports.Sheet(
        title="兑换最多的商品",
        headers=[
            "排名",
            "编号",
            "商品",
            "单位",
            "小票数",
            "净兑换数量",
            "净兑换积分",
            "积分占比（‰）",
        ],
        rows=[
            [
                line.rank,
                line.number,
                line.name,
                line.unit,
                line.receipts,
                line.units_sold,
                line.points_taken,
                line.points_share_permille,
            ]
            for line in report.goods
        ],
        totals=[
            ("期间", _period(report.period_start, report.period_end)),
            ("净兑换积分合计", report.points_taken),
        ],
    )


def redemptions_sheet(report: MemberRedemptions, zone: ZoneInfo) -> exports.Sheet:
    holders = {"member": "本人", "household": "本户"}
    return exports.Sheet(
        title="村民兑换记录",
        headers=[
            "小票号",
            "兑换时间",
            "兑换地点",
            "积分账户",
            "商品",
            "积分",
            "已退积分",
            "净积分",
            "联盟商家应付（元）",
        ],
        rows=[
            [
                line.receipt_number,
                local_naive(line.created_at, zone),
                line.place,
                holders[line.holder_kind],
                line.items,
                line.points,
                line.refunded_points,
                line.net_points,
                fen_to_yuan(line.amount_fen) if line.amount_fen is not None else None,
            ]
            for line in report.receipts
        ],
        totals=[
            ("村民", report.member_name),
            ("期间", _period(report.period_start, report.period_end)),
            ("积分合计", report.points),
            ("已退积分合计", report.refunded_points),
            ("净积分合计", report.net_points),
        ],
    )


__all__ = [
    "day_start",
    "fen_to_yuan",
    "goods_report",
    "goods_sheet",
    "local_naive",
    "member_redemptions",
    "most_redeemed",
    "most_redeemed_sheet",
    "movers",
    "movers_sheet",
    "period_bounds",
    "ratio_half_up",
    "redemptions_sheet",
]
