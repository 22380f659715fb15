"""Request and response bodies of allied shops, settlements, reconciliation and reports.

Money is in fen (integers) throughout; points are whole points.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import Field, model_validator

from jifen.kit.schemas import InputSchema, Invalid, Schema

POINTS_PER_YUAN_MAX = 10_000
ALLIED_SALE_POINTS_MAX = 1_000_000
PERIOD_DAYS_MAX = 366

PointsPerYuan = Field(
    ge=1,
    le=POINTS_PER_YUAN_MAX,
    description="How many points make one yuan off at the shop (10: 10 积分抵 1 元)",
    examples=[10],
)


# --- allied shops -----------------------------------------------------------------------


class AlliedShopCreate(InputSchema):
    organisation_id: uuid.UUID = Field(description="An organisation of the village's township")
    points_per_yuan: int = PointsPerYuan


class AlliedShopUpdate(InputSchema):
    points_per_yuan: int = PointsPerYuan


class AlliedShopRead(Schema):
    id: uuid.UUID
    village_id: uuid.UUID
    organisation_id: uuid.UUID
    name: str
    points_per_yuan: int
    account_id: uuid.UUID = Field(description="The shop's points account in the village's books")
    active: bool
    created_at: datetime
    unsettled_sales: int = Field(description="Redemptions at the shop on no statement yet")
    unsettled_points: int
    unsettled_fen: int = Field(description="What the fund owes for them, in fen")
    unpaid_settlements: int
    unpaid_fen: int = Field(description="Statements not paid yet, in fen")


class AlliedSaleCreate(InputSchema):
    member_id: uuid.UUID | None = Field(
        default=None, description="The member paying with points (or give card_token)"
    )
    card_token: str | None = Field(
        default=None, max_length=300, description="What the member's card QR code holds"
    )
    points: int = Field(ge=1, le=ALLIED_SALE_POINTS_MAX, description="Points the member pays")

    @model_validator(mode="after")
    def _one_member(self) -> AlliedSaleCreate:
        if (self.member_id is None) == (self.card_token is None):
            raise Invalid(
                "give exactly one of member_id and card_token",
                "member_id 与 card_token 须且只须给出一个",
            )
        return self


class AlliedSaleRead(Schema):
    id: uuid.UUID
    shop_id: uuid.UUID
    shop_name: str
    village_id: uuid.UUID
    receipt_number: int = Field(description="The entry's sequence number in the village's books")
    entry_id: uuid.UUID
    entry_hash: str
    member_id: uuid.UUID
    member_name: str
    household_id: uuid.UUID | None
    holder_kind: Literal["member", "household"]
    holder_account_id: uuid.UUID
    points: int
    amount_fen: int = Field(
        description="What the fund owes the shop for it: points × 100 / points_per_yuan of "
        "the day, rounded half up to the fen"
    )
    balance_after: int = Field(description="The holder's points after the redemption")
    settlement_id: uuid.UUID | None
    cashier: str
    created_at: datetime


class SettlementCreate(InputSchema):
    period_start: date = Field(description="First day (local) of the statement")
    period_end: date = Field(description="Last day (local); it must be over")

    @model_validator(mode="after")
    def _period(self) -> SettlementCreate:
        check_period(self.period_start, self.period_end)
        return self


def check_period(first: date, last: date) -> None:
    if last < first:
        raise Invalid("the period ends before it starts", "期间的结束日早于开始日")
    if (last - first).days + 1 > PERIOD_DAYS_MAX:
        raise Invalid(
            f"a period is at most {PERIOD_DAYS_MAX} days", f"期间最长 {PERIOD_DAYS_MAX} 天"
        )


class SettlementLineRead(Schema):
    sale_id: uuid.UUID
    receipt_number: int
    created_at: datetime
    member_id: uuid.UUID
    member_name: str
    points: int
    amount_fen: int


class SettlementRead(Schema):
    id: uuid.UUID
    shop_id: uuid.UUID
    shop_name: str
    village_id: uuid.UUID
    period_start: date
    period_end: date
    sales: int
    points: int
    amount_fen: int = Field(description="What the fund owes the shop, in fen")
    created_at: datetime
    actor: str
    paid: bool
    paid_entry_id: uuid.UUID | None
    paid_at: datetime | None


class SettlementDetail(SettlementRead):
    lines: list[SettlementLineRead]
    lines_complete: bool = Field(description="False if the statement has more lines than shown")


# --- reconciliation ---------------------------------------------------------------------


class StockValueLine(Schema):
    goods_id: uuid.UUID
    number: int
    name: str
    unit: str
    quantity: int = Field(description="Units on the shelf at the end of the day")
    basis: Literal["purchases", "donations", "none"] = Field(
        description="purchases: the weighted average cost of every purchase up to the day; "
        "donations (never purchased): the donations' declared value per unit; none: 0"
    )
    basis_quantity: int = Field(description="Units the basis covers")
    basis_fen: int = Field(description="What those units cost (or were declared worth), in fen")
    value_fen: int = Field(
        description="quantity × basis_fen / basis_quantity, rounded half up to the fen"
    )


class ReconciliationRead(Schema):
    village_id: uuid.UUID
    on: date
    as_of: datetime = Field(description="The end of the day: figures count entries before it")
    point_value_fen: int = Field(description="What one point is worth, from the charter")
    point_value_source: Literal["charter", "default"]
    charter_version: int | None
    points_outstanding: int = Field(
        description="Members' and households' points (main track), posted by the end of the day"
    )
    points_members: int
    points_households: int
    liability_fen: int = Field(description="points_outstanding × point_value_fen")
    fund_fen: int = Field(description="The points-exchange fund (积分兑换基金)")
    stock_value_fen: int = Field(description="Goods on the shelf at cost")
    stock: list[StockValueLine]
    donations_count: int = Field(description="Donations of goods received by the end of the day")
    donations_value_fen: int
    allied_unsettled_sales: int
    allied_unsettled_fen: int
    allied_unpaid_settlements: int
    allied_unpaid_fen: int
    allied_debt_fen: int = Field(description="Unpaid statements and unsettled allied sales")
    difference_fen: int = Field(
        description="fund_fen + stock_value_fen − liability_fen − allied_debt_fen"
    )
    explanation: str


# --- reports ----------------------------------------------------------------------------


class GoodsPeriodLine(Schema):
    goods_id: uuid.UUID
    number: int
    name: str
    unit: str
    active: bool
    opening: int = Field(description="Units on the shelf when the period began")
    purchased: int
    donated: int
    adjusted: int = Field(description="Counts, breakage, losses: negative takes off")
    sold: int
    refunded: int
    closing: int = Field(description="opening + purchased + donated + adjusted − sold + refunded")
    points_sold: int
    points_refunded: int
    points_taken: int = Field(description="points_sold − points_refunded")


class GoodsReport(Schema):
    village_id: uuid.UUID
    period_start: date
    period_end: date
    goods: list[GoodsPeriodLine]
    points_taken: int


class MoverLine(Schema):
    rank: int
    goods_id: uuid.UUID
    number: int
    name: str
    unit: str
    units_sold: int = Field(description="Units sold in the period less units refunded in it")
    receipts: int = Field(description="Receipts of the period with the good on them")
    points_taken: int
    closing_stock: int
    idle: bool = Field(description="Stock on the shelf and nothing sold: the slowest")


class MoversReport(Schema):
    village_id: uuid.UUID
    period_start: date
    period_end: date
    ranking: list[MoverLine] = Field(
        description="Fastest first: by units sold, then receipts. Goods with stock and no "
        "sales come last, the most stock last; goods with neither are left out"
    )


class RedeemedLine(Schema):
    rank: int
    goods_id: uuid.UUID
    number: int
    name: str
    unit: str
    receipts: int
    units_sold: int
    points_taken: int
    points_share_permille: int = Field(
        description="Its share of the period's points taken at the supermarket, in ‰"
    )


class MostRedeemedReport(Schema):
    village_id: uuid.UUID
    period_start: date
    period_end: date
    goods: list[RedeemedLine] = Field(
        description="By receipts with the good on them, then points taken"
    )
    points_taken: int


class RedemptionLine(Schema):
    sale_id: uuid.UUID
    receipt_number: int
    created_at: datetime
    place: str = Field(description="积分超市, or the allied shop's name")
    shop_id: uuid.UUID | None
    holder_kind: Literal["member", "household"]
    items: str = Field(description="大米×2、肥皂×1 (none at an allied shop)")
    points: int
    refunded_points: int
    net_points: int
    amount_fen: int | None = Field(description="Allied shops: what the fund owes for it")


class MemberRedemptions(Schema):
    member_id: uuid.UUID
    member_name: str
    village_id: uuid.UUID
    period_start: date | None
    period_end: date | None
    receipts: list[RedemptionLine] = Field(description="Newest first")
    complete: bool = Field(description="False if there are more receipts than `limit`")
    points: int
    refunded_points: int
    net_points: int
