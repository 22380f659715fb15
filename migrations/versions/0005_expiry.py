"""expiry: notices of points about to expire (one webhook per holder and date)

Expiries and year-end clearings are ordinary ledger entries to the village's EXPIRY
account, derived from the postings; this table only remembers which holder account was
already told about which expiry date, so that `points.expiring` goes out once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "expiry_notices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("policy", sa.String(length=16), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id", "village_id"],
            ["accounts.id", "accounts.village_id"],
            name=op.f("fk_expiry_notices_account_id_village_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_expiry_notices_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expiry_notices")),
        sa.UniqueConstraint(
            "account_id", "expires_on", name=op.f("uq_expiry_notices_account_id_expires_on")
        ),
    )
    op.create_index(
        op.f("ix_expiry_notices_township_id"), "expiry_notices", ["township_id"], unique=False
    )
    op.create_index(
        op.f("ix_expiry_notices_village_id"), "expiry_notices", ["village_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_expiry_notices_village_id"), table_name="expiry_notices")
    op.drop_index(op.f("ix_expiry_notices_township_id"), table_name="expiry_notices")
    op.drop_table("expiry_notices")
