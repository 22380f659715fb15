"""amendments: records link their correction (更正) both ways; points:adjust

A record corrected by an amendment gets status `amended`, the id of its correction, and
who amended it, when and why; the correction names the record it amends. The township
and platform administrators get `points:adjust`, the permission a raw points entry to a
member or household needs in a village whose charter is in force (a manual adjustment,
手工调整).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 00:30:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ADDED = {"platform_admin": ["points:adjust"], "township_admin": ["points:adjust"]}
_STATUS_BEFORE = "status IN ('pending', 'approved', 'capped', 'rejected', 'revoked')"
_STATUS_AFTER = "status IN ('pending', 'approved', 'capped', 'rejected', 'revoked', 'amended')"


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


def upgrade() -> None:
    # SQLite changes a check by rebuilding the table (batch mode); PostgreSQL in place.
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("amends_record_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("amended_by_record_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("amended_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("amended_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("amend_reason", sa.String(length=500), nullable=True))
        batch.create_foreign_key(
            "fk_records_amends_record", "records", ["amends_record_id"], ["id"]
        )
        batch.create_foreign_key(
            "fk_records_amended_by_record", "records", ["amended_by_record_id"], ["id"]
        )
        batch.create_unique_constraint(op.f("uq_records_amends_record_id"), ["amends_record_id"])
        batch.create_unique_constraint(
            op.f("uq_records_amended_by_record_id"), ["amended_by_record_id"]
        )
        batch.drop_constraint(op.f("ck_records_status"), type_="check")
        batch.create_check_constraint(op.f("ck_records_status"), _STATUS_AFTER)
    _change_builtin_permissions(add=True)


def downgrade() -> None:
    _change_builtin_permissions(add=False)
    with op.batch_alter_table("records") as batch:
        batch.drop_constraint(op.f("ck_records_status"), type_="check")
        batch.create_check_constraint(op.f("ck_records_status"), _STATUS_BEFORE)
        batch.drop_constraint(op.f("uq_records_amended_by_record_id"), type_="unique")
        batch.drop_constraint(op.f("uq_records_amends_record_id"), type_="unique")
        batch.drop_constraint("fk_records_amended_by_record", type_="foreignkey")
        batch.drop_constraint("fk_records_amends_record", type_="foreignkey")
        batch.drop_column("amend_reason")
        batch.drop_column("amended_by")
        batch.drop_column("amended_at")
        batch.drop_column("amended_by_record_id")
        batch.drop_column("amends_record_id")
