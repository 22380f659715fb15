"""Inspections of adopted spaces (认领区域巡查)

One row per inspection of a space in one period of the charter's cadence (unique: a
space is inspected once a week, or a month, as the charter says), with its outcome, an
optional score, the inspector, the evidence and the records it scored for the space's
claimants at the time.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 00:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "space_inspections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("space_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("cadence", sa.String(length=16), nullable=False),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        sa.Column("inspected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=True),
        sa.Column("rule_id", sa.String(length=64), nullable=True),
        sa.Column("record_ids", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.Column("inspector", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('passed', 'failed')", name=op.f("ck_space_inspections_outcome")
        ),
        sa.CheckConstraint(
            "score IS NULL OR (score >= 0 AND score <= 100)",
            name=op.f("ck_space_inspections_score"),
        ),
        sa.CheckConstraint(
            "period_start <= inspected_on AND inspected_on < period_end",
            name=op.f("ck_space_inspections_in_period"),
        ),
        sa.ForeignKeyConstraint(
            ["space_id", "village_id"],
            ["spaces.id", "spaces.village_id"],
            name=op.f("fk_space_inspections_space_id_village_id_spaces"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_space_inspections")),
        sa.UniqueConstraint(
            "space_id", "period_start", name=op.f("uq_space_inspections_space_id_period_start")
        ),
    )
    op.create_index(
        op.f("ix_space_inspections_village_id"), "space_inspections", ["village_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_space_inspections_village_id"), table_name="space_inspections")
    op.drop_table("space_inspections")
