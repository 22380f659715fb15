"""以奖代补: project category, planned investment and status; contributions (群众自筹, 认捐),
共评 scores, 共谋 meetings, the township's daily wage rate, subsidy scheme versions,
settlements and their approvals

Scheme versions, settlements and approvals are written once: on PostgreSQL a trigger
refuses UPDATE and DELETE (the ledger's own refusal function), on SQLite a trigger each.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 19:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WRITTEN_ONCE = (
    "wage_rates",
    "contributions",
    "subsidy_scheme_versions",
    "subsidy_settlements",
    "subsidy_settlement_approvals",
)


def _village_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["village_id", "township_id"], ["villages.id", "villages.township_id"]
    )


def _project_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project_id", "village_id"], ["projects.id", "projects.village_id"]
    )


def upgrade() -> None:
    op.add_column(
        "projects", sa.Column("category", sa.String(40), nullable=False, server_default="other")
    )
    op.add_column(
        "projects",
        sa.Column("planned_investment_fen", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.add_column(
        "projects", sa.Column("status", sa.String(16), nullable=False, server_default="planned")
    )
    if op.get_bind().dialect.name == "postgresql":
        # SQLite cannot add a constraint to a table; the service checks both there.
        op.create_check_constraint(
            "ck_projects_status",
            "projects",
            "status IN ('planned', 'underway', 'completed', 'accepted', 'cancelled')",
        )
        op.create_check_constraint(
            "ck_projects_investment", "projects", "planned_investment_fen >= 0"
        )

    op.create_table(
        "wage_rates",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("township_id", sa.Uuid(), sa.ForeignKey("townships.id"), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("fen_per_person_day", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("township_id", "effective_on"),
        sa.CheckConstraint("fen_per_person_day > 0", name="positive"),
    )
    op.create_index("ix_wage_rates_township_id", "wage_rates", ["township_id"])

    op.create_table(
        "contributions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=True),
        sa.Column("household_id", sa.Uuid(), nullable=True),
        sa.Column("organisation_id", sa.Uuid(), sa.ForeignKey("organisations.id"), nullable=True),
        sa.Column("contributed_on", sa.Date(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), sa.ForeignKey("entries.id"), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        _village_fk(),
        _project_fk(),
        sa.ForeignKeyConstraint(
            ["household_id", "village_id"], ["households.id", "households.village_id"]
        ),
        sa.ForeignKeyConstraint(["member_id", "village_id"], ["members.id", "members.village_id"]),
        sa.CheckConstraint("kind IN ('money', 'in_kind')", name="kind"),
        sa.CheckConstraint("amount_fen > 0", name="amount_positive"),
        sa.CheckConstraint(
            "household_id IS NOT NULL OR organisation_id IS NOT NULL", name="names_giver"
        ),
    )
    op.create_index("ix_contributions_township_id", "contributions", ["township_id"])
    op.create_index("ix_contributions_project_id", "contributions", ["project_id"])
    op.create_index(
        "ix_contributions_village_on", "contributions", ["village_id", "contributed_on"]
    )

    op.create_table(
        "project_scores",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("comment", sa.String(500), nullable=False),
        sa.Column("scored_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        _project_fk(),
        sa.ForeignKeyConstraint(
            ["household_id", "village_id"], ["households.id", "households.village_id"]
        ),
        sa.UniqueConstraint("project_id", "household_id"),
        sa.CheckConstraint("score BETWEEN 1 AND 100", name="score_range"),
    )
    for column in ("township_id", "village_id", "project_id"):
        op.create_index(f"ix_project_scores_{column}", "project_scores", [column])

    op.create_table(
        "project_meetings",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("village_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("household_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        _project_fk(),
    )
    for column in ("township_id", "village_id", "project_id"):
        op.create_index(f"ix_project_meetings_{column}", "project_meetings", [column])

    op.create_table(
        "subsidy_scheme_versions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("township_id", sa.Uuid(), sa.ForeignKey("townships.id"), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("document_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("township_id", "version"),
        sa.UniqueConstraint("township_id", "effective_on"),
    )
    op.create_index(
        "ix_subsidy_scheme_versions_township_id", "subsidy_scheme_versions", ["township_id"]
    )

    op.create_table(
        "subsidy_settlements",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("township_id", sa.Uuid(), sa.ForeignKey("townships.id"), nullable=False),
        sa.Column(
            "scheme_version_id",
            sa.Uuid(),
            sa.ForeignKey("subsidy_scheme_versions.id"),
            nullable=False,
        ),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("inputs_sha256", sa.String(64), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("result_sha256", sa.String(64), nullable=False),
        sa.Column("csv_sha256", sa.String(64), nullable=False),
        sa.Column("xlsx_sha256", sa.String(64), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.UniqueConstraint("township_id", "period_start", "period_end", "inputs_sha256"),
        sa.CheckConstraint("period_end >= period_start", name="period"),
    )
    op.create_index("ix_subsidy_settlements_township_id", "subsidy_settlements", ["township_id"])

    op.create_table(
        "subsidy_settlement_approvals",
        sa.Column(
            "settlement_id",
            sa.Uuid(),
            sa.ForeignKey("subsidy_settlements.id"),
            primary_key=True,
        ),
        sa.Column("township_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(200), nullable=False),
        sa.Column("entry_ids", sa.JSON(), nullable=False),
        sa.UniqueConstraint("township_id", "period_start", "period_end"),
    )
    op.create_index(
        "ix_subsidy_settlement_approvals_township_id",
        "subsidy_settlement_approvals",
        ["township_id"],
    )
    _guard_written_once()


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
    for table in reversed(
        (
            "wage_rates",
            "contributions",
            "project_scores",
            "project_meetings",
            "subsidy_scheme_versions",
            "subsidy_settlements",
            "subsidy_settlement_approvals",
        )
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("ck_projects_investment", "projects", type_="check")
        op.drop_constraint("ck_projects_status", "projects", type_="check")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("status")
        batch.drop_column("planned_investment_fen")
        batch.drop_column("category")
