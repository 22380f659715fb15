"""Request and response bodies of the supermarket API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import Field, model_validator

from jifen.kit.schemas import InputSchema, Invalid, Schema
from jifen.market.service import BASKET_LINES_MAX, QUANTITY_MAX

Name = Field(min_length=1, max_length=100, examples=["大米（5斤装）"])
Quantity = Field(ge=1, le=QUANTITY_MAX)


class GoodsCreate(InputSchema):
    name: str = Name
    unit: str = Field(min_length=1, max_length=20, examples=["袋", "瓶", "块"])
    category: str = Field(default="日用品", min_length=1, max_length=50, examples=["粮油"])
    price_points: int = Field(ge=1, le=1_000_000, description="Price in points (积分)")
    barcode: str | None = Field(
        default=None, pattern=r"^[0-9A-Za-z-]{4,64}$", examples=["6901234567892"]
    )
    image_url: str | None = Field(default=None, max_length=500, pattern=r"^(https?://|/)")
    active: bool = True


class GoodsUpdate(InputSchema):
    """Only the fields given change. A new price applies from now; receipts keep theirs."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    unit: str | None = Field(default=None, min_length=1, max_length=20)
    category: str | None = Field(default=None, min_length=1, max_length=50)
    price_points: int | None = Field(default=None, ge=1, le=1_000_000)
    barcode: str | None = Field(default=None, pattern=r"^[0-9A-Za-z-]{4,64}$")
    image_url: str | None = Field(default=None, max_length=500, pattern=r"^(https?://|/)")
    active: bool | None = None

    @model_validator(mode="after")
    def _not_null(self) -> GoodsUpdate:
        for name in ("name", "unit", "category", "price_points", "active"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise Invalid(f"{name} cannot be null", f"{name} 不能为空（null）")
        return self


class GoodsRead(Schema):
    id: uuid.UUID
    village_id: uuid.UUID
    number: int = Field(description="The good's number in the village's catalog")
    asset: str = Field(description="Its asset in the village's books (G<number>)")
    name: str
    unit: str
    category: str
    price_points: int
    barcode: str | None
    image_url: str | None
    active: bool
    stock: int = Field(description="Units on the shelf now")
    created_at: datetime
    updated_at: datetime


class PriceRead(Schema):
    price_points: int
    valid_from: datetime
    actor: str


class DonorInput(InputSchema):
    kind: Literal["member", "household", "organisation", "other"]
    id: uuid.UUID | None = Field(
        default=None, description="For a member, household or organisation"
    )
    name: str | None = Field(
        default=None, max_length=200, description="For another donor (kind other)"
    )


class StockMovementCreate(InputSchema):
    goods_id: uuid.UUID
    kind: Literal["purchase", "donation", "adjustment"] = Field(
        description="purchase: bought with the fund (进货); donation: donated goods "
        "(捐赠物资); adjustment: a count, breakage or loss (盘点、损耗)"
    )
    quantity: int = Field(
        ge=-QUANTITY_MAX,
        le=QUANTITY_MAX,
        description="Units onto the shelf; an adjustment may be negative",
    )
    cost_fen: int | None = Field(
        default=None, ge=1, le=10**10, description="purchase: what the fund paid, in fen"
    )
    value_fen: int | None = Field(
        default=None, ge=0, le=10**10, description="donation: what the goods are worth, in fen"
    )
    donor: DonorInput | None = None
    reason: Literal["count", "breakage", "expired", "lost", "other"] | None = Field(
        default=None, description="adjustment: why"
    )
    note: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _fits_kind(self) -> StockMovementCreate:
        allowed = {
            "purchase": {"cost_fen"},
            "donation": {"value_fen", "donor"},
            "adjustment": {"reason"},
        }[self.kind]
        given = {
            name
            for name in ("cost_fen", "value_fen", "donor", "reason")
            if getattr(self, name) is not None
        }
        if given - allowed:
            raise Invalid(
                f"a {self.kind} takes none of {sorted(given - allowed)}",
                f"{self.kind} 不接受这些字段：{sorted(given - allowed)}",
            )
        if allowed - given:
            raise Invalid(
                f"a {self.kind} needs {sorted(allowed - given)}",
                f"{self.kind} 缺少这些字段：{sorted(allowed - given)}",
            )
        if self.quantity == 0 or (self.kind != "adjustment" and self.quantity < 0):
            raise Invalid(
                "quantity must be positive (an adjustment: non-zero)",
                "数量必须为正数（盘点调整：不能为 0）",
            )
        return self


class StockMovementRead(Schema):
    id: uuid.UUID
    goods_id: uuid.UUID
    kind: str
    quantity: int
    amount_fen: int | None
    donor_kind: str | None
    donor_id: uuid.UUID | None
    donor_name: str | None
    reason: str | None
    note: str
    entry_id: uuid.UUID
    actor: str
    created_at: datetime


class SaleLineInput(InputSchema):
    goods_id: uuid.UUID
    quantity: int = Quantity


class SaleCreate(InputSchema):
    member_id: uuid.UUID | None = Field(
        default=None, description="The member redeeming (or give card_token)"
    )
    card_token: str | None = Field(
        default=None, max_length=300, description="What the member's card QR code holds"
    )
    lines: list[SaleLineInput] = Field(min_length=1, max_length=BASKET_LINES_MAX)
    expected_total_points: int | None = Field(
        default=None,
        ge=1,
        description="The total the till showed. If prices changed since, the sale is "
        "refused (price_changed) rather than charged at prices nobody saw.",
    )

    @model_validator(mode="after")
    def _one_member(self) -> SaleCreate:
        if (self.member_id is None) == (self.card_token is None):
            raise Invalid(
                "give exactly one of member_id and card_token",
                "member_id 与 card_token 须且只须给出一个",
            )
        return self


class SaleLineRead(Schema):
    position: int
    goods_id: uuid.UUID
    goods_name: str
    unit: str
    quantity: int
    unit_points: int = Field(description="The price it was sold at")
    points: int
    refunded_quantity: int


class RefundLineRead(Schema):
    position: int
    goods_id: uuid.UUID
    quantity: int
    points: int


class RefundRead(Schema):
    id: uuid.UUID
    sale_id: uuid.UUID
    entry_id: uuid.UUID
    seq: int
    entry_hash: str
    points: int
    reason: str
    actor: str
    created_at: datetime
    lines: list[RefundLineRead]


class SaleRead(Schema):
    id: uuid.UUID
    village_id: uuid.UUID
    receipt_number: int = Field(
        description="The sale's entry sequence number in the village's books (小票号)"
    )
    entry_id: uuid.UUID
    entry_hash: str = Field(description="Check it against the village's public verification")
    member_id: uuid.UUID
    member_name: str
    household_id: uuid.UUID | None
    holder_kind: Literal["member", "household"]
    holder_account_id: uuid.UUID
    total_points: int
    refunded_points: int
    balance_after: int = Field(description="The holder's points after this sale, when sold")
    cashier: str
    created_at: datetime
    lines: list[SaleLineRead]
    refunds: list[RefundRead]


class RefundLineInput(InputSchema):
    position: int = Field(ge=0, le=BASKET_LINES_MAX)
    quantity: int = Quantity


class RefundCreate(InputSchema):
    lines: list[RefundLineInput] | None = Field(
        default=None,
        max_length=BASKET_LINES_MAX,
        description="Lines of the receipt and quantities to refund; omit to refund "
        "everything not refunded yet",
    )
    reason: str = Field(default="", max_length=500, examples=["包装破损，退货"])


class MemberAtTill(Schema):
    """Who stands at the till, as the cashier's screen shows them."""

    member_id: uuid.UUID
    name: str
    masked_name: str = Field(description="For a screen the queue can see: 张*明")
    household_id: uuid.UUID | None
    household_name: str | None
    holder_kind: Literal["member", "household"]
    available_points: int = Field(
        description="What the holder (member, or household where the charter pools points) "
        "may spend now: pending and held points do not count"
    )
    in_debt: bool


class DayGoods(Schema):
    goods_id: uuid.UUID
    name: str
    unit: str
    sold: int
    refunded: int
    stock: int


class DaySummary(Schema):
    village_id: uuid.UUID
    day: date
    sales: int
    points: int
    refunds: int
    refunded_points: int
    goods: list[DayGoods]
