"""board closing: a published board closes, carrying the village books' chain head

boards gain `closed_at`, `head_seq` and `head_hash`; status grows `closed` (draft →
published → closed). A board closes when every notice list its records joined has closed
(or at publishing, when none of them is under a notice list); it then stores the village
books' chain head at that moment, as a closed notice list does. A closed board always
carries its head (a CHECK says so).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27 03:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUS_BEFORE = "status IN ('draft', 'published')"
_STATUS_AFTER = "status IN ('draft', 'published', 'closed')"
_CLOSED_HAS_HEAD = (
    "status <> 'closed' OR (closed_at IS NOT NULL AND head_seq IS NOT NULL "
    "AND head_hash IS NOT NULL)"
)


def upgrade() -> None:
    # SQLite changes a check by rebuilding the table (batch mode); PostgreSQL in place.
    with op.batch_alter_table("boards") as batch:
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("head_seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("head_hash", sa.String(length=64), nullable=True))
        batch.drop_constraint(op.f("ck_boards_status"), type_="check")
        batch.create_check_constraint(op.f("ck_boards_status"), _STATUS_AFTER)
        batch.create_check_constraint(op.f("ck_boards_closed_has_head"), _CLOSED_HAS_HEAD)


def downgrade() -> None:
    boards = sa.table("boards", sa.column("status", sa.String()))
    op.get_bind().execute(
        boards.update().where(boards.c.status == "closed").values(status="published")
    )
    with op.batch_alter_table("boards") as batch:
        batch.drop_constraint(op.f("ck_boards_closed_has_head"), type_="check")
        batch.drop_constraint(op.f("ck_boards_status"), type_="check")
        batch.create_check_constraint(op.f("ck_boards_status"), _STATUS_BEFORE)
        batch.drop_column("head_hash")
        batch.drop_column("head_seq")
        batch.drop_column("closed_at")
