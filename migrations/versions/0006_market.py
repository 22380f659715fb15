"""supermarket: goods as ledger assets, catalog and price history, stock movements, sales
and refunds, allied shops and their settlements; catalog and stock permissions

A good is an asset of its village's books (G<number>); the shelf is an account of kind
`shelf` with floor zero and its counterparts are accounts of kind `goods` (one per
category: purchase, donation, adjustment, redemption). The accounts' asset check widens
to admit them, and only them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 18:20:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ASSET_BEFORE = "asset IN ('POINTS', 'CNY')"
_ASSET_AFTER = "asset IN ('POINTS', 'CNY') OR (kind IN ('shelf', 'goods') AND asset LIKE 'G%')"

_STAFF = ["catalog:read", "catalog:write", "stock:write"]
_ADDED = {
    "platform_admin": _STAFF,
    "township_admin": _STAFF,
    "village_clerk": _STAFF,
    "supermarket_cashier": ["catalog:read", "stock:write"],
    "township_finance": ["catalog:read"],
    "auditor": ["catalog:read"],
    "resident": ["catalog:read"],
}


def _change_builtin_permissions(add: bool) -> None:
    roles = sa.table(
        "roles",
        sa.column("code", sa.String()),
        sa.column("township_id", sa.Uuid()),
        sa.column("permissions", sa.JSON()),
    )
    conn = op.get_bind()
    for code, added in _ADDED.items():
        where = sa.and_(roles.c.code == code, roles.c.township_id.is_(None))
        current = conn.execute(sa.select(roles.c.permissions).where(where)).scalar_one_or_none()
        if current is None:
            continue
        if isinstance(current, str):
            current = json.loads(current)
        changed = set(current) | set(added) if add else set(current) - set(added)
        conn.execute(roles.update().where(where).values(permissions=sorted(changed)))


def _asset_check(condition: str) -> None:
    # SQLite changes a check by rebuilding the table (batch mode); PostgreSQL in place.
    with op.batch_alter_table("accounts") as batch:
        batch.drop_constraint(op.f("ck_accounts_asset"), type_="check")
        batch.create_check_constraint(op.f("ck_accounts_asset"), condition)


def upgrade() -> None:
    _asset_check(_ASSET_AFTER)
    op.create_table(
        "allied_shops",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("points_per_yuan", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("points_per_yuan >= 1", name=op.f("ck_allied_shops_rate_positive")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_allied_shops_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_allied_shops_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_allied_shops_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allied_shops")),
        sa.UniqueConstraint(
            "village_id", "organisation_id", name=op.f("uq_allied_shops_village_id_organisation_id")
        ),
    )
    op.create_index(
        op.f("ix_allied_shops_township_id"), "allied_shops", ["township_id"], unique=False
    )
    op.create_index(
        op.f("ix_allied_shops_village_id"), "allied_shops", ["village_id"], unique=False
    )
    op.create_table(
        "goods",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("price_points", sa.BigInteger(), nullable=False),
        sa.Column("barcode", sa.String(length=64), nullable=True),
        sa.Column("image_url", sa.String(length=500), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("shelf_account_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("number >= 1", name=op.f("ck_goods_number_positive")),
        sa.CheckConstraint("price_points >= 1", name=op.f("ck_goods_price_positive")),
        sa.ForeignKeyConstraint(
            ["shelf_account_id"], ["accounts.id"], name=op.f("fk_goods_shelf_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_goods_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goods")),
        sa.UniqueConstraint("village_id", "barcode", name=op.f("uq_goods_village_id_barcode")),
        sa.UniqueConstraint("village_id", "number", name=op.f("uq_goods_village_id_number")),
    )
    op.create_index(op.f("ix_goods_township_id"), "goods", ["township_id"], unique=False)
    op.create_index(op.f("ix_goods_village_id"), "goods", ["village_id"], unique=False)
    op.create_table(
        "allied_settlements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("shop_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("sales", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("paid_entry_id", sa.Uuid(), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_allied_settlements_period")),
        sa.ForeignKeyConstraint(
            ["paid_entry_id"],
            ["entries.id"],
            name=op.f("fk_allied_settlements_paid_entry_id_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["allied_shops.id"],
            name=op.f("fk_allied_settlements_shop_id_allied_shops"),
        ),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_allied_settlements_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allied_settlements")),
        sa.UniqueConstraint("paid_entry_id", name=op.f("uq_allied_settlements_paid_entry_id")),
        sa.UniqueConstraint(
            "shop_id", "period_start", name=op.f("uq_allied_settlements_shop_id_period_start")
        ),
    )
    op.create_index(
        op.f("ix_allied_settlements_township_id"),
        "allied_settlements",
        ["township_id"],
        unique=False,
    )
    op.create_table(
        "goods_prices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("goods_id", sa.Uuid(), nullable=False),
        sa.Column("price_points", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["goods_id"], ["goods.id"], name=op.f("fk_goods_prices_goods_id_goods")
        ),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_goods_prices_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goods_prices")),
    )
    op.create_index(
        "ix_goods_prices_goods_valid_from", "goods_prices", ["goods_id", "valid_from"], unique=False
    )
    op.create_index(
        op.f("ix_goods_prices_township_id"), "goods_prices", ["township_id"], unique=False
    )
    op.create_table(
        "stock_movements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("goods_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("donor_kind", sa.String(length=16), nullable=True),
        sa.Column("donor_id", sa.Uuid(), nullable=True),
        sa.Column("donor_name", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('purchase', 'donation', 'adjustment')", name=op.f("ck_stock_movements_kind")
        ),
        sa.CheckConstraint("quantity <> 0", name=op.f("ck_stock_movements_quantity_non_zero")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name=op.f("fk_stock_movements_entry_id_entries")
        ),
        sa.ForeignKeyConstraint(
            ["goods_id"], ["goods.id"], name=op.f("fk_stock_movements_goods_id_goods")
        ),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_stock_movements_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_movements")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_stock_movements_entry_id")),
    )
    op.create_index(
        "ix_stock_movements_goods", "stock_movements", ["goods_id", "created_at"], unique=False
    )
    op.create_index(
        op.f("ix_stock_movements_township_id"), "stock_movements", ["township_id"], unique=False
    )
    op.create_index(
        "ix_stock_movements_village_created",
        "stock_movements",
        ["village_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "sales",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=True),
        sa.Column("holder_kind", sa.String(length=16), nullable=False),
        sa.Column("holder_account_id", sa.Uuid(), nullable=False),
        sa.Column("shop_id", sa.Uuid(), nullable=True),
        sa.Column("total_points", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("settlement_id", sa.Uuid(), nullable=True),
        sa.Column("cashier", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "holder_kind IN ('member', 'household')", name=op.f("ck_sales_holder_kind")
        ),
        sa.CheckConstraint("total_points >= 1", name=op.f("ck_sales_total_positive")),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name=op.f("fk_sales_entry_id_entries")
        ),
        sa.ForeignKeyConstraint(
            ["holder_account_id"], ["accounts.id"], name=op.f("fk_sales_holder_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_sales_household_id_households")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_sales_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["allied_settlements.id"],
            name=op.f("fk_sales_settlement_id_allied_settlements"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["allied_shops.id"], name=op.f("fk_sales_shop_id_allied_shops")
        ),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_sales_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_sales_entry_id")),
    )
    op.create_index("ix_sales_member_created", "sales", ["member_id", "created_at"], unique=False)
    op.create_index("ix_sales_shop_created", "sales", ["shop_id", "created_at"], unique=False)
    op.create_index(op.f("ix_sales_township_id"), "sales", ["township_id"], unique=False)
    op.create_index("ix_sales_village_created", "sales", ["village_id", "created_at"], unique=False)
    op.create_table(
        "refunds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("sale_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name=op.f("fk_refunds_entry_id_entries")
        ),
        sa.ForeignKeyConstraint(["sale_id"], ["sales.id"], name=op.f("fk_refunds_sale_id_sales")),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_refunds_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_refunds_entry_id")),
    )
    op.create_index(op.f("ix_refunds_sale_id"), "refunds", ["sale_id"], unique=False)
    op.create_index(op.f("ix_refunds_township_id"), "refunds", ["township_id"], unique=False)
    op.create_index(
        "ix_refunds_village_created", "refunds", ["village_id", "created_at"], unique=False
    )
    op.create_table(
        "sale_lines",
        sa.Column("sale_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("goods_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_points", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("refunded_quantity", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_sale_lines_quantity_positive")),
        sa.CheckConstraint(
            "refunded_quantity >= 0 AND refunded_quantity <= quantity",
            name=op.f("ck_sale_lines_refunded_range"),
        ),
        sa.ForeignKeyConstraint(
            ["goods_id"], ["goods.id"], name=op.f("fk_sale_lines_goods_id_goods")
        ),
        sa.ForeignKeyConstraint(
            ["sale_id"], ["sales.id"], name=op.f("fk_sale_lines_sale_id_sales")
        ),
        sa.PrimaryKeyConstraint("sale_id", "position", name=op.f("pk_sale_lines")),
    )
    op.create_index("ix_sale_lines_goods", "sale_lines", ["goods_id"], unique=False)
    op.create_table(
        "refund_lines",
        sa.Column("refund_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("goods_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_refund_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["goods_id"], ["goods.id"], name=op.f("fk_refund_lines_goods_id_goods")
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["refunds.id"], name=op.f("fk_refund_lines_refund_id_refunds")
        ),
        sa.PrimaryKeyConstraint("refund_id", "position", name=op.f("pk_refund_lines")),
    )
    _change_builtin_permissions(add=True)


def downgrade() -> None:
    _change_builtin_permissions(add=False)
    for table in (
        "refund_lines",
        "sale_lines",
        "refunds",
        "sales",
        "stock_movements",
        "goods_prices",
        "allied_settlements",
        "goods",
        "allied_shops",
    ):
        op.drop_table(table)
    # Books are append-only: a database that has booked goods cannot go back past here.
    _asset_check(_ASSET_BEFORE)
