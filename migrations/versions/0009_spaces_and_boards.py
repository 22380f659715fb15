"""Adopted spaces (认领 / 认捐认管): spaces and the dated claims on them

spaces: a village's green spaces, public spaces and facilities, with their exact area
(hundredths of a square metre) and whether shared care is allowed.
space_claims: one claimant's (member, household or organisation) care of a space from
starts_on to ends_on, never deleted; a transfer names the claim that took over.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ONE_CLAIMANT = (
    "(claimant_kind = 'member' AND member_id IS NOT NULL AND household_id IS NULL "
    "AND organisation_id IS NULL) OR (claimant_kind = 'household' AND member_id IS "
    "NULL AND household_id IS NOT NULL AND organisation_id IS NULL) OR "
    "(claimant_kind = 'organisation' AND member_id IS NULL AND household_id IS NULL "
    "AND organisation_id IS NOT NULL)"
)


def upgrade() -> None:
    op.create_table(
        "spaces",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("area_hundredths_m2", sa.BigInteger(), nullable=False),
        sa.Column("location", sa.String(length=500), nullable=False),
        sa.Column("photo_url", sa.String(length=2000), nullable=True),
        sa.Column("allow_shared_care", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('green_space', 'public_space', 'facility')", name=op.f("ck_spaces_kind")
        ),
        sa.CheckConstraint("area_hundredths_m2 >= 1", name=op.f("ck_spaces_area_positive")),
        sa.ForeignKeyConstraint(
            ["village_id", "township_id"],
            ["villages.id", "villages.township_id"],
            name=op.f("fk_spaces_village_id_township_id_villages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spaces")),
        sa.UniqueConstraint("id", "village_id", name=op.f("uq_spaces_id_village_id")),
        sa.UniqueConstraint("village_id", "name", name=op.f("uq_spaces_village_id_name")),
    )
    op.create_index(op.f("ix_spaces_township_id"), "spaces", ["township_id"])
    op.create_index(op.f("ix_spaces_village_id"), "spaces", ["village_id"])
    op.create_table(
        "space_claims",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("space_id", sa.Uuid(), nullable=False),
        sa.Column("claimant_kind", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("household_id", sa.Uuid(), nullable=True),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.Column("transferred_to_claim_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "claimant_kind IN ('member', 'household', 'organisation')",
            name=op.f("ck_space_claims_claimant_kind"),
        ),
        sa.CheckConstraint(_ONE_CLAIMANT, name=op.f("ck_space_claims_one_claimant")),
        sa.CheckConstraint(
            "ends_on IS NULL OR ends_on >= starts_on",
            name=op.f("ck_space_claims_ends_after_start"),
        ),
        sa.CheckConstraint(
            "end_reason IS NULL OR end_reason IN ('ended', 'transferred')",
            name=op.f("ck_space_claims_end_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["space_id", "village_id"],
            ["spaces.id", "spaces.village_id"],
            name=op.f("fk_space_claims_space_id_village_id_spaces"),
        ),
        sa.ForeignKeyConstraint(
            ["township_id"], ["townships.id"], name=op.f("fk_space_claims_township_id_townships")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_space_claims_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
            name=op.f("fk_space_claims_household_id_households"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_space_claims_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["transferred_to_claim_id"],
            ["space_claims.id"],
            name=op.f("fk_space_claims_transferred_to_claim_id_space_claims"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_space_claims")),
    )
    op.create_index(op.f("ix_space_claims_township_id"), "space_claims", ["township_id"])
    op.create_index(op.f("ix_space_claims_space_id"), "space_claims", ["space_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_space_claims_space_id"), table_name="space_claims")
    op.drop_index(op.f("ix_space_claims_township_id"), table_name="space_claims")
    op.drop_table("space_claims")
    op.drop_index(op.f("ix_spaces_village_id"), table_name="spaces")
    op.drop_index(op.f("ix_spaces_township_id"), table_name="spaces")
    op.drop_table("spaces")
