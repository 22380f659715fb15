"""Red/black boards (红黑榜): boards, their entries, and boards:write on the built-in roles

boards: one village's public list for one period (kind red_black or stars, source
evaluation or books, status draft → published) and the charter rules that score it.
board_entries: one member, household or organisation on the red or black side, with its
rank, stars, reason and (once published under a board rule) the record carrying its points.
The clerk and the administrators get boards:write.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 00:30:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ONE_HOLDER = (
    "(holder_kind = 'member' AND member_id IS NOT NULL AND household_id IS NULL "
    "AND organisation_id IS NULL) OR (holder_kind = 'household' AND member_id IS "
    "NULL AND household_id IS NOT NULL AND organisation_id IS NULL) OR "
    "(holder_kind = 'organisation' AND member_id IS NULL AND household_id IS NULL "
    "AND organisation_id IS NOT NULL)"
)
_WRITERS = ("platform_admin", "township_admin", "village_clerk")


def _change_builtin_permissions(add: bool) -> None:
    roles = sa.table(
        "roles",
        sa.column("code", sa.String()),
        sa.column("township_id", sa.Uuid()),
        sa.column("permissions", sa.JSON()),
    )
    conn = op.get_bind()
    for code in _WRITERS:
        where = sa.and_(roles.c.code == code, roles.c.township_id.is_(None))
        current = conn.execute(sa.select(roles.c.permissions).where(where)).scalar_one_or_none()
        if current is None:
            continue
        if isinstance(current, str):
            current = json.loads(current)
        changed = set(current) | {"boards:write"} if add else set(current) - {"boards:write"}
        conn.execute(roles.update().where(where).values(permissions=sorted(changed)))


def upgrade() -> None:
    op.create_table(
        "boards",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("period_start_on", sa.Date(), nullable=False),
        sa.Column("period_end_on", sa.Date(), nullable=False),
        sa.Column("red_rule_id", sa.String(length=64), nullable=True),
        sa.Column("black_rule_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.String(length=200), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('red_black', 'stars')", name=op.f("ck_boards_kind")),
        sa.CheckConstraint("source IN ('evaluation', 'books')", name=op.f("ck_boards_source")),
        sa.CheckConstraint("status IN ('draft', 'published')", name=op.f("ck_boards_status")),
        sa.CheckConstraint("period_end_on >= period_start_on", name=op.f("ck_boards_period_order")),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_boards_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_boards")),
        sa.UniqueConstraint("village_id", "title", name=op.f("uq_boards_village_id_title")),
    )
    op.create_index(op.f("ix_boards_township_id"), "boards", ["township_id"])
    op.create_index(op.f("ix_boards_village_id"), "boards", ["village_id"])
    op.create_table(
        "board_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("board_id", sa.Uuid(), nullable=False),
        sa.Column("holder_kind", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("household_id", sa.Uuid(), nullable=True),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("rank", sa.BigInteger(), nullable=False),
        sa.Column("stars", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("points_in_period", sa.BigInteger(), nullable=True),
        sa.Column("record_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "holder_kind IN ('member', 'household', 'organisation')",
            name=op.f("ck_board_entries_holder_kind"),
        ),
        sa.CheckConstraint(_ONE_HOLDER, name=op.f("ck_board_entries_one_holder")),
        sa.CheckConstraint("side IN ('red', 'black')", name=op.f("ck_board_entries_side")),
        sa.CheckConstraint("rank >= 1", name=op.f("ck_board_entries_rank_positive")),
        sa.CheckConstraint(
            "stars IS NULL OR (stars >= 1 AND stars <= 5)",
            name=op.f("ck_board_entries_stars_range"),
        ),
        sa.ForeignKeyConstraint(
            ["board_id"], ["boards.id"], name=op.f("fk_board_entries_board_id_boards")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_board_entries_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
            name=op.f("fk_board_entries_household_id_households"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_board_entries_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_board_entries_record_id_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_entries")),
        sa.UniqueConstraint(
            "board_id", "member_id", name=op.f("uq_board_entries_board_id_member_id")
        ),
        sa.UniqueConstraint(
            "board_id", "household_id", name=op.f("uq_board_entries_board_id_household_id")
        ),
        sa.UniqueConstraint(
            "board_id",
            "organisation_id",
            name=op.f("uq_board_entries_board_id_organisation_id"),
        ),
        sa.UniqueConstraint("record_id", name=op.f("uq_board_entries_record_id")),
    )
    op.create_index(op.f("ix_board_entries_board_id"), "board_entries", ["board_id"])
    _change_builtin_permissions(add=True)


def downgrade() -> None:
    _change_builtin_permissions(add=False)
    op.drop_index(op.f("ix_board_entries_board_id"), table_name="board_entries")
    op.drop_table("board_entries")
    op.drop_index(op.f("ix_boards_village_id"), table_name="boards")
    op.drop_index(op.f("ix_boards_township_id"), table_name="boards")
    op.drop_table("boards")
