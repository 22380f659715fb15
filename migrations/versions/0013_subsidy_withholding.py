"""以奖代补 withholding and release: project acceptances (验收), withheld parts of awards
and their release; the projects:accept permission on the built-in roles

The three tables are written once: on PostgreSQL a trigger refuses UPDATE and DELETE (the
ledger's own refusal function), on SQLite a trigger each.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 00:30:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WRITTEN_ONCE = ("project_acceptances", "subsidy_withholdings", "subsidy_releases")
_ADDED = {
    "platform_admin": ["projects:accept"],
    "township_admin": ["projects:accept"],
    "township_finance": ["projects:accept"],
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


def upgrade() -> None:
    op.create_table(
        "project_acceptances",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("accepted_on", sa.Date(), nullable=False),
        sa.Column("accepted_by", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("note", sa.String(2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id", "village_id"], ["projects.id", "projects.village_id"]
        ),
        sa.CheckConstraint("outcome IN ('passed', 'failed')", name="outcome"),
        sa.UniqueConstraint("project_id"),
    )
    op.create_index("ix_project_acceptances_township_id", "project_acceptances", ["township_id"])
    op.create_index("ix_project_acceptances_village_id", "project_acceptances", ["village_id"])
    op.create_table(
        "subsidy_withholdings",
        sa.Column(
            "settlement_id",
            sa.Uuid(),
            sa.ForeignKey("subsidy_settlement_approvals.settlement_id"),
            primary_key=True,
        ),
        sa.Column("village_id", sa.Uuid(), sa.ForeignKey("villages.id"), primary_key=True),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), sa.ForeignKey("entries.id"), nullable=False),
        sa.Column("project_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
        sa.UniqueConstraint("entry_id"),
    )
    op.create_index("ix_subsidy_withholdings_township_id", "subsidy_withholdings", ["township_id"])
    op.create_table(
        "subsidy_releases",
        sa.Column("settlement_id", sa.Uuid(), primary_key=True),
        sa.Column("village_id", sa.Uuid(), primary_key=True),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), sa.ForeignKey("entries.id"), nullable=False),
        sa.Column("acceptance_ids", sa.JSON(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["settlement_id", "village_id"],
            ["subsidy_withholdings.settlement_id", "subsidy_withholdings.village_id"],
        ),
        sa.CheckConstraint("outcome IN ('released', 'returned')", name="outcome"),
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
        sa.UniqueConstraint("entry_id"),
    )
    op.create_index("ix_subsidy_releases_township_id", "subsidy_releases", ["township_id"])
    _guard_written_once()
    _change_builtin_permissions(add=True)


def _guard_written_once() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _WRITTEN_ONCE:
            op.execute(
                f"""CREATE TRIGGER {table}_refuse_change BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION jifen_refuse_change()"""
            )
        return
    for table in _WRITTEN_ONCE:
        for op_name in ("update", "delete"):
            op.execute(
                f"""CREATE TRIGGER {table}_refuse_{op_name} BEFORE {op_name.upper()} ON {table}
                BEGIN SELECT RAISE(ABORT, 'jifen: {table} are written once; {op_name} refused');
                END"""
            )


def downgrade() -> None:
    _change_builtin_permissions(add=False)
    for table in reversed(_WRITTEN_ONCE):
        op.drop_table(table)
