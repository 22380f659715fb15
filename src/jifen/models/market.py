"""The points supermarket (积分超市): goods, their prices, stock movements, sales (receipts)
and refunds, allied shops and their settlements.

Quantities and money live in the ledger: a good is an asset (G<number>), the shelf is an
account with floor zero, and every sale, refund and stock movement is one entry. These
tables say what the entries mean (which good, at which price, for whom) and answer the
till's and the reports' questions without parsing entries. Receipts, refunds and stock
movements are written once; what changes is a good's description and price (its history
kept in goods_prices), a shop's rate and active flag, a sale line's refunded quantity and
a sale's settlement (each of the last two by a guarded UPDATE), and a settlement's totals
and payment.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base


def _in_village() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["village_id", "township_id"], ["villages.id", "villages.township_id"]
    )


class Goods(Base):
    """A good in a village's catalog. Its number names its ledger asset (G<number>)."""

    __tablename__ = "goods"
    __table_args__ = (
        _in_village(),
        UniqueConstraint("village_id", "number"),
        UniqueConstraint("village_id", "barcode"),
        CheckConstraint("number >= 1", name="number_positive"),
        CheckConstraint("price_points >= 1", name="price_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    number: Mapped[int]
    asset: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(50))
    price_points: Mapped[int]
    barcode: Mapped[str | None] = mapped_column(String(64))
    image_url: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool]
    shelf_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class GoodsPrice(Base):
    """Price history: one row per price a good has had, from when."""

    __tablename__ = "goods_prices"
    __table_args__ = (
        _in_village(),
        Index("ix_goods_prices_goods_valid_from", "goods_id", "valid_from"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID]
    goods_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("goods.id"))
    price_points: Mapped[int]
    valid_from: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))


STOCK_MOVEMENT_KINDS = ("purchase", "donation", "adjustment")


class StockMovement(Base):
    """Goods coming onto or leaving the shelf other than by a sale: one ledger entry each."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        _in_village(),
        CheckConstraint("kind IN ('purchase', 'donation', 'adjustment')", name="kind"),
        CheckConstraint("quantity <> 0", name="quantity_non_zero"),
        Index("ix_stock_movements_village_created", "village_id", "created_at"),
        Index("ix_stock_movements_goods", "goods_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID]
    goods_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("goods.id"))
    kind: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int]
    # purchase: what the fund paid; donation: the goods' value; adjustment: none.
    amount_fen: Mapped[int | None]
    donor_kind: Mapped[str | None] = mapped_column(String(16))
    donor_id: Mapped[uuid.UUID | None]
    donor_name: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(500))
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entries.id"), unique=True)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class AlliedShop(Base):
    """A shop (联盟商家) that takes a village's points at a rate; the fund pays it in fen."""

    __tablename__ = "allied_shops"
    __table_args__ = (
        _in_village(),
        UniqueConstraint("village_id", "organisation_id"),
        CheckConstraint("points_per_yuan >= 1", name="rate_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    # How many points make one yuan off (e.g. 10 points = 1 yuan).
    points_per_yuan: Mapped[int]
    # The shop's points account in this village's books: where its customers' points go.
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    active: Mapped[bool]
    created_at: Mapped[datetime]


class AlliedSettlement(Base):
    """What the fund owes a shop for a period, and its payment (one entry when paid)."""

    __tablename__ = "allied_settlements"
    __table_args__ = (
        _in_village(),
        UniqueConstraint("shop_id", "period_start"),
        CheckConstraint("period_end >= period_start", name="period"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID]
    shop_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("allied_shops.id"))
    period_start: Mapped[date]
    period_end: Mapped[date]
    sales: Mapped[int]
    points: Mapped[int]
    amount_fen: Mapped[int]
    created_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    paid_entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("entries.id"), unique=True)
    paid_at: Mapped[datetime | None]


class Sale(Base):
    """A receipt: one basket redeemed at the supermarket or at an allied shop, one entry."""

    __tablename__ = "sales"
    __table_args__ = (
        _in_village(),
        CheckConstraint("holder_kind IN ('member', 'household')", name="holder_kind"),
        CheckConstraint("total_points >= 1", name="total_positive"),
        Index("ix_sales_village_created", "village_id", "created_at"),
        Index("ix_sales_member_created", "member_id", "created_at"),
        Index("ix_sales_shop_created", "shop_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID]
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entries.id"), unique=True)
    # The entry's sequence number in the village's books is the receipt number.
    seq: Mapped[int]
    entry_hash: Mapped[str] = mapped_column(String(64))
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"))
    household_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("households.id"))
    holder_kind: Mapped[str] = mapped_column(String(16))
    holder_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"))
    shop_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("allied_shops.id"))
    total_points: Mapped[int]
    # Allied shops: what the fund owes the shop for this sale, at the rate of the day.
    amount_fen: Mapped[int | None]
    settlement_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("allied_settlements.id"))
    cashier: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class SaleLine(Base):
    __tablename__ = "sale_lines"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint(
            "refunded_quantity >= 0 AND refunded_quantity <= quantity", name="refunded_range"
        ),
        Index("ix_sale_lines_goods", "goods_id"),
    )

    sale_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    goods_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("goods.id"))
    quantity: Mapped[int]
    unit_points: Mapped[int]
    points: Mapped[int]
    refunded_quantity: Mapped[int] = mapped_column(default=0)


class Refund(Base):
    """Goods back on the shelf and points back to whom they came from: one entry."""

    __tablename__ = "refunds"
    __table_args__ = (
        _in_village(),
        Index("ix_refunds_village_created", "village_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID]
    sale_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sales.id"), index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entries.id"), unique=True)
    seq: Mapped[int]
    entry_hash: Mapped[str] = mapped_column(String(64))
    points: Mapped[int]
    reason: Mapped[str] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class RefundLine(Base):
    __tablename__ = "refund_lines"
    __table_args__ = (CheckConstraint("quantity >= 1", name="quantity_positive"),)

    refund_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("refunds.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    goods_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("goods.id"))
    quantity: Mapped[int]
    points: Mapped[int]
