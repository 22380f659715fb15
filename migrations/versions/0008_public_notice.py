"""Public notice (公示): notice lists, the records on them, objections and late appeals

notice_lists: one list per charter version, notice setting (list_index) and period, with
its calendar, state (scheduled | open | closed) and the chain head stored at closing.
notice_list_items: the record and ledger entry on a list (one list per record).
notice_objections: an objection or late appeal to one item, and its decision.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notice_lists",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("charter_version_id", sa.Uuid(), nullable=False),
        sa.Column("list_index", sa.BigInteger(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("deciding_role", sa.String(length=64), nullable=False),
        sa.Column("period_start_on", sa.Date(), nullable=False),
        sa.Column("period_end_on", sa.Date(), nullable=False),
        sa.Column("opens_on", sa.Date(), nullable=False),
        sa.Column("closes_on", sa.Date(), nullable=False),
        sa.Column("appeal_until", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("head_seq", sa.BigInteger(), nullable=True),
        sa.Column("head_hash", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["charter_version_id"],
            ["charter_versions.id"],
            name=op.f("fk_notice_lists_charter_version_id_charter_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_notice_lists_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_lists")),
        sa.UniqueConstraint(
            "charter_version_id",
            "list_index",
            "period_start_on",
            name=op.f("uq_notice_lists_charter_version_id_list_index_period_start_on"),
        ),
    )
    op.create_index(
        op.f("ix_notice_lists_township_id"), "notice_lists", ["township_id"], unique=False
    )
    op.create_index(
        op.f("ix_notice_lists_village_id"), "notice_lists", ["village_id"], unique=False
    )
    op.create_table(
        "notice_list_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("list_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("posted_entry_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name=op.f("fk_notice_list_items_entry_id_entries")
        ),
        sa.ForeignKeyConstraint(
            ["list_id"], ["notice_lists.id"], name=op.f("fk_notice_list_items_list_id_notice_lists")
        ),
        sa.ForeignKeyConstraint(
            ["posted_entry_id"],
            ["entries.id"],
            name=op.f("fk_notice_list_items_posted_entry_id_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"], ["records.id"], name=op.f("fk_notice_list_items_record_id_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_list_items")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_notice_list_items_entry_id")),
        sa.UniqueConstraint("record_id", name=op.f("uq_notice_list_items_record_id")),
    )
    op.create_index(
        op.f("ix_notice_list_items_list_id"), "notice_list_items", ["list_id"], unique=False
    )
    op.create_table(
        "notice_objections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("list_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("raised_by", sa.String(length=200), nullable=False),
        sa.Column("raised_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_by_role", sa.String(length=64), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decision_reason", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name=op.f("fk_notice_objections_entry_id_entries")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["notice_list_items.id"],
            name=op.f("fk_notice_objections_item_id_notice_list_items"),
        ),
        sa.ForeignKeyConstraint(
            ["list_id"], ["notice_lists.id"], name=op.f("fk_notice_objections_list_id_notice_lists")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_objections")),
    )
    op.create_index(
        op.f("ix_notice_objections_item_id"), "notice_objections", ["item_id"], unique=False
    )
    op.create_index(
        op.f("ix_notice_objections_list_id"), "notice_objections", ["list_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_notice_objections_list_id"), table_name="notice_objections")
    op.drop_index(op.f("ix_notice_objections_item_id"), table_name="notice_objections")
    op.drop_table("notice_objections")
    op.drop_index(op.f("ix_notice_list_items_list_id"), table_name="notice_list_items")
    op.drop_table("notice_list_items")
    op.drop_index(op.f("ix_notice_lists_village_id"), table_name="notice_lists")
    op.drop_index(op.f("ix_notice_lists_township_id"), table_name="notice_lists")
    op.drop_table("notice_lists")
