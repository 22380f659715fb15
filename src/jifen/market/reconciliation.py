"""Reconciliation (对账): does the village's points-exchange fund cover its points?

For a village and a local day, as of the end of that day, every figure from the books:
- points outstanding: members' and households' points (main track), as posted; pending
  holds do not count until posted, and a balance below zero (a penalty debt) lowers it;
- the fund's liability: points outstanding × the point value in fen of the charter in
  force on the day (settings.point_value_fen; 100 when no charter is in force);
- the fund's balance (积分兑换基金, CNY);
- the stock at cost: each good's units on the shelf × its weighted average cost over
  every purchase up to the day; a good never purchased is valued at its donations'
  declared value per unit, and at 0 if it has none;
- donations of goods received (how many, and their declared value);
- allied-shop debts: statements not paid by the end of the day, and allied redemptions
  not on a statement made by then, in fen;
- the difference: fund + stock at cost − liability − allied debts, explained in Chinese.

Balances as of the day are a few aggregate statements over postings (occurred before
the end of the day), never one statement per account.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from jifen.charters import service as charters
from jifen.charters.document import CharterSettings
from jifen.charters.errors import NoCharterInForce
from jifen.kit import charts, exports
from jifen.ledger.policy import AccountKind, Asset
from jifen.market import service as market
from jifen.market.report_schemas import ReconciliationRead, StockValueLine
from jifen.market.reports import POSTED_EFFECTS, day_start, fen_to_yuan, ratio_half_up
from jifen.models import Account, AlliedSettlement, Entry, Goods, Posting, Sale, StockMovement
from jifen.tenancy.service import get_village

DEFAULT_POINT_VALUE_FEN = CharterSettings().point_value_fen


def reconcile(
    session: Session, *, village_id: uuid.UUID, on: date, zone: ZoneInfo
) -> ReconciliationRead:
    get_village(session, village_id)
    until = day_start(on + timedelta(days=1), zone)
    value_fen, source, version = _point_value(session, village_id, on)

    balances = dict(
        session.execute(
            select(Account.kind, func.sum(Posting.amount))
            .join(Posting, Posting.account_id == Account.id)
            .where(
                Account.village_id == village_id,
                Account.category == "main",
                or_(
                    and_(
                        Account.kind.in_([AccountKind.MEMBER.value, AccountKind.HOUSEHOLD.value]),
                        Account.asset == Asset.POINTS.value,
                    ),
                    and_(Account.kind == AccountKind.FUND.value, Account.asset == Asset.CNY.value),
                ),
                Posting.occurred_at < until,
                Posting.effect.in_(POSTED_EFFECTS),
            )
            .group_by(Account.kind)
        ).all()
    )
    points_members = int(balances.get(AccountKind.MEMBER.value) or 0)
    points_households = int(balances.get(AccountKind.HOUSEHOLD.value) or 0)
    fund_fen = int(balances.get(AccountKind.FUND.value) or 0)
    points_outstanding = points_members + points_households
    liability_fen = points_outstanding * value_fen

    stock = _stock_at_cost(session, village_id, until)
    stock_value_fen = sum(line.value_fen for line in stock)
    donations_count, donations_value_fen = (
        int(value or 0)
        for value in session.execute(
            select(func.count(), func.coalesce(func.sum(StockMovement.amount_fen), 0))
            .select_from(StockMovement)
            .join(Entry, Entry.id == StockMovement.entry_id)
            .where(
                StockMovement.village_id == village_id,
                StockMovement.kind == "donation",
                Entry.occurred_at < until,
            )
        ).one()
    )

    unsettled_sales, unsettled_fen = (
        int(value or 0)
        for value in session.execute(
            select(func.count(), func.coalesce(func.sum(Sale.amount_fen), 0))
            .select_from(Sale)
            .outerjoin(AlliedSettlement, AlliedSettlement.id == Sale.settlement_id)
            .where(
                Sale.village_id == village_id,
                Sale.shop_id.is_not(None),
                Sale.created_at < until,
                or_(Sale.settlement_id.is_(None), AlliedSettlement.created_at >= until),
            )
        ).one()
    )
    unpaid_settlements, unpaid_fen = (
        int(value or 0)
        for value in session.execute(
            select(func.count(), func.coalesce(func.sum(AlliedSettlement.amount_fen), 0)).where(
                AlliedSettlement.village_id == village_id,
                AlliedSettlement.created_at < until,
                or_(AlliedSettlement.paid_at.is_(None), AlliedSettlement.paid_at >= until),
            )
        ).one()
    )
    allied_debt_fen = unsettled_fen + unpaid_fen
    difference_fen = fund_fen + stock_value_fen - liability_fen - allied_debt_fen
    return ReconciliationRead(
        village_id=village_id,
        on=on,
        as_of=until,
        point_value_fen=value_fen,
        point_value_source=source,  # type: ignore[arg-type]
        charter_version=version,
        points_outstanding=points_outstanding,
        points_members=points_members,
        points_households=points_households,
        liability_fen=liability_fen,
        fund_fen=fund_fen,
        stock_value_fen=stock_value_fen,
        stock=stock,
        donations_count=donations_count,
        donations_value_fen=donations_value_fen,
        allied_unsettled_sales=unsettled_sales,
        allied_unsettled_fen=unsettled_fen,
        allied_unpaid_settlements=unpaid_settlements,
        allied_unpaid_fen=unpaid_fen,
        allied_debt_fen=allied_debt_fen,
        difference_fen=difference_fen,
        explanation=explain(difference_fen),
    )


def _point_value(session: Session, village_id: uuid.UUID, on: date) -> tuple[int, str, int | None]:
    try:
        ref, charter = charters.charter_in_force(session, village_id, on)
    except NoCharterInForce:
        return DEFAULT_POINT_VALUE_FEN, "default", None
    return charter.document.settings.point_value_fen, "charter", ref.version


def _stock_at_cost(
    session: Session, village_id: uuid.UUID, until: datetime
) -> list[StockValueLine]:
    """Each good on the shelf at `until`, valued at cost, in three statements."""
    goods = {
        g.id: g
        for g in session.execute(select(Goods).where(Goods.village_id == village_id)).scalars()
    }
    quantities = dict(
        session.execute(
            select(Goods.id, func.sum(Posting.amount))
            .join(Posting, Posting.account_id == Goods.shelf_account_id)
            .where(
                Goods.village_id == village_id,
                Posting.occurred_at < until,
                Posting.effect.in_(POSTED_EFFECTS),
            )
            .group_by(Goods.id)
        ).all()
    )
    # A purchase entry moves one good onto its shelf and its cost into purchases: the
    # two postings of the same entry give the units and what they cost.
    units, money = aliased(Posting), aliased(Posting)
    purchased = {
        goods_id: (int(quantity), int(cost))
        for goods_id, quantity, cost in session.execute(
            select(Goods.id, func.sum(units.amount), func.sum(money.amount))
            .join(units, units.account_id == Goods.shelf_account_id)
            .join(
                Entry,
                and_(Entry.id == units.entry_id, Entry.code == market.CODE_STOCK_PURCHASE),
            )
            .join(money, money.entry_id == units.entry_id)
            .join(
                Account,
                and_(
                    Account.id == money.account_id,
                    Account.kind == AccountKind.PURCHASES.value,
                ),
            )
            .where(Goods.village_id == village_id, units.occurred_at < until)
            .group_by(Goods.id)
        )
    }
    valued = StockMovement.amount_fen.is_not(None)
    donated = {
        goods_id: (int(quantity), int(value))
        for goods_id, quantity, value in session.execute(
            select(
                StockMovement.goods_id,
                func.coalesce(func.sum(case((valued, StockMovement.quantity), else_=0)), 0),
                func.coalesce(func.sum(StockMovement.amount_fen), 0),
            )
            .join(Entry, Entry.id == StockMovement.entry_id)
            .where(
                StockMovement.village_id == village_id,
                StockMovement.kind == "donation",
                Entry.occurred_at < until,
            )
            .group_by(StockMovement.goods_id)
        )
    }
    lines = []
    for goods_id, quantity in quantities.items():
        quantity = int(quantity)
        if quantity <= 0:
            continue
        g = goods[goods_id]
        basis, basis_quantity, basis_fen = "none", 0, 0
        if purchased.get(goods_id, (0, 0))[0] > 0:
            basis = "purchases"
            basis_quantity, basis_fen = purchased[goods_id]
        elif donated.get(goods_id, (0, 0))[0] > 0:
            basis = "donations"
            basis_quantity, basis_fen = donated[goods_id]
        lines.append(
            StockValueLine(
                goods_id=g.id,
                number=g.number,
                name=g.name,
                unit=g.unit,
                quantity=quantity,
                basis=basis,  # type: ignore[arg-type]
                basis_quantity=basis_quantity,
                basis_fen=basis_fen,
                value_fen=ratio_half_up(quantity * basis_fen, basis_quantity)
                if basis_quantity
                else 0,
            )
        )
    return sorted(lines, key=lambda line: line.number)


def explain(difference_fen: int) -> str:
    """The difference in words a village assembly understands."""
    amount = fen_to_yuan(abs(difference_fen))
    if difference_fen == 0:
        return "基金余额加库存（按进价）正好等于在外积分应兑付的金额加联盟商家欠款，账实相符。"
    if difference_fen > 0:
        return (
            f"基金余额加库存（按进价）比在外积分应兑付的金额加联盟商家欠款多 {amount} 元："
            "即使所有积分都来兑换，现有资金和货物也足够。"
        )
    return (
        f"基金余额加库存（按进价）比在外积分应兑付的金额加联盟商家欠款少 {amount} 元："
        f"如果所有积分都来兑换，还差 {amount} 元，需要补充积分兑换基金。"
    )


def _source(report: ReconciliationRead) -> str:
    if report.point_value_source == "charter":
        return f"村规民约第 {report.charter_version} 版"
    return "未设村规民约，按默认"


def reconciliation_sheet(report: ReconciliationRead) -> exports.Sheet:
    point = fen_to_yuan(report.point_value_fen)
    return exports.Sheet(
        title="积分兑换基金对账",
        headers=["项目", "数量", "金额（元）", "说明"],
        rows=[
            [
                "在外积分",
                report.points_outstanding,
                None,
                f"村民 {report.points_members} 分，农户 {report.points_households} 分",
            ],
            [
                "积分兑付义务",
                None,
                fen_to_yuan(report.liability_fen),
                f"在外积分 × 每分 {point} 元（{_source(report)}）",
            ],
            ["积分兑换基金余额", None, fen_to_yuan(report.fund_fen), ""],
            [
                "库存（按进价）",
                sum(line.quantity for line in report.stock),
                fen_to_yuan(report.stock_value_fen),
                "按加权平均进价；从未进货的按捐赠估价，没有估价的计 0",
            ],
            [
                "累计捐赠物资",
                report.donations_count,
                fen_to_yuan(report.donations_value_fen),
                "笔数与捐赠估价（不计入差额）",
            ],
            [
                "联盟商家欠款",
                report.allied_unsettled_sales + report.allied_unpaid_settlements,
                fen_to_yuan(report.allied_debt_fen),
                f"未结算 {report.allied_unsettled_sales} 笔 "
                f"{fen_to_yuan(report.allied_unsettled_fen)} 元；已结算未付款 "
                f"{report.allied_unpaid_settlements} 张 {fen_to_yuan(report.allied_unpaid_fen)} 元",
            ],
            [
                "差额",
                None,
                fen_to_yuan(report.difference_fen),
                "基金余额 + 库存 − 积分兑付义务 − 联盟商家欠款",
            ],
        ],
        totals=[("截至", f"{report.on} 日终"), ("结论", report.explanation)],
    )


def reconciliation_chart(report: ReconciliationRead) -> bytes:
    return charts.bar_chart_svg(
        title=f"积分兑换基金对账（截至 {report.on} 日终）",
        y_title="金额（元）",
        unit=" 元",
        bars=[
            charts.Bar("基金余额", fen_to_yuan(report.fund_fen)),
            charts.Bar("库存（按进价）", fen_to_yuan(report.stock_value_fen)),
            charts.Bar("积分兑付义务", fen_to_yuan(report.liability_fen), is_negative=True),
            charts.Bar("联盟商家欠款", fen_to_yuan(report.allied_debt_fen), is_negative=True),
            charts.Bar("差额", fen_to_yuan(report.difference_fen)),
        ],
    )
