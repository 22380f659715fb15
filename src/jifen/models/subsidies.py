"""以奖代补: what residents put into projects, 共评 scores, 共谋 meetings, the township's
daily wage rate, subsidy scheme versions, and settlements.

Every row here is written once. A contribution's money is a ledger entry, which the row
names; a settlement's result is canonical JSON whose SHA-256 is kept beside it, and its
approval is a row of its own (one per settlement, one approved settlement per period).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base

CONTRIBUTION_KINDS = ("money", "in_kind")
PROJECT_STATUSES = ("planned", "underway", "completed", "accepted", "cancelled")


class WageRate(Base):
    """The township's daily wage rate (工日单价) for valuing labor, from a date on."""

    __tablename__ = "wage_rates"
    __table_args__ = (
        UniqueConstraint("township_id", "effective_on"),
        CheckConstraint("fen_per_person_day > 0", name="positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("townships.id"), index=True)
    effective_on: Mapped[date]
    fen_per_person_day: Mapped[int]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class Contribution(Base):
    """Money raised by residents (群众自筹) or a donation in kind (认捐), appraised in fen,
    booked as an entry into the project's account."""

    __tablename__ = "contributions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["village_id", "township_id"], ["villages.id", "villages.township_id"]
        ),
        ForeignKeyConstraint(["project_id", "village_id"], ["projects.id", "projects.village_id"]),
        ForeignKeyConstraint(
            ["household_id", "village_id"], ["households.id", "households.village_id"]
        ),
        ForeignKeyConstraint(["member_id", "village_id"], ["members.id", "members.village_id"]),
        CheckConstraint("kind IN ('money', 'in_kind')", name="kind"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint(
            "household_id IS NOT NULL OR organisation_id IS NOT NULL", name="names_giver"
        ),
        Index("ix_contributions_village_on", "village_id", "contributed_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID]
    project_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int]
    description: Mapped[str] = mapped_column(String(500))
    # The giver: a member (and their household that day), a household, or an organisation.
    member_id: Mapped[uuid.UUID | None]
    household_id: Mapped[uuid.UUID | None]
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    contributed_on: Mapped[date]
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entries.id"), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class ProjectScore(Base):
    """共评: one household's score of a project (1-100), with an optional comment."""

    __tablename__ = "project_scores"
    __table_args__ = (
        ForeignKeyConstraint(["project_id", "village_id"], ["projects.id", "projects.village_id"]),
        ForeignKeyConstraint(
            ["household_id", "village_id"], ["households.id", "households.village_id"]
        ),
        UniqueConstraint("project_id", "household_id"),
        CheckConstraint("score BETWEEN 1 AND 100", name="score_range"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    project_id: Mapped[uuid.UUID] = mapped_column(index=True)
    household_id: Mapped[uuid.UUID]
    score: Mapped[int]
    comment: Mapped[str] = mapped_column(String(500))
    scored_on: Mapped[date]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class Meeting(Base):
    """共谋: a meeting about a project, and the households present."""

    __tablename__ = "project_meetings"
    __table_args__ = (
        ForeignKeyConstraint(["project_id", "village_id"], ["projects.id", "projects.village_id"]),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    project_id: Mapped[uuid.UUID] = mapped_column(index=True)
    held_on: Mapped[date]
    topic: Mapped[str] = mapped_column(String(200))
    household_ids: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class SchemeVersion(Base):
    """A township's subsidy scheme (以奖代补方案), one version of it. Never changed."""

    __tablename__ = "subsidy_scheme_versions"
    __table_args__ = (
        UniqueConstraint("township_id", "version"),
        UniqueConstraint("township_id", "effective_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("townships.id"), index=True)
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    effective_on: Mapped[date]
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    document_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class Settlement(Base):
    """One computation of a township's awards for a period. Never changed: recomputing
    a draft writes a new row; approval is a SettlementApproval."""

    __tablename__ = "subsidy_settlements"
    __table_args__ = (
        UniqueConstraint("township_id", "period_start", "period_end", "inputs_sha256"),
        CheckConstraint("period_end >= period_start", name="period"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("townships.id"), index=True)
    scheme_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subsidy_scheme_versions.id"))
    period_start: Mapped[date]
    period_end: Mapped[date]
    inputs_sha256: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(Text)
    result_sha256: Mapped[str] = mapped_column(String(64))
    csv_sha256: Mapped[str] = mapped_column(String(64))
    xlsx_sha256: Mapped[str] = mapped_column(String(64))
    total_fen: Mapped[int]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class SettlementApproval(Base):
    """The approval that freezes a settlement and books its awards."""

    __tablename__ = "subsidy_settlement_approvals"
    __table_args__ = (UniqueConstraint("township_id", "period_start", "period_end"),)

    settlement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subsidy_settlements.id"), primary_key=True
    )
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    period_start: Mapped[date]
    period_end: Mapped[date]
    approved_at: Mapped[datetime]
    approved_by: Mapped[str] = mapped_column(String(200))
    # Village id (hex) -> the entry that booked its award.
    entry_ids: Mapped[dict[str, Any]] = mapped_column(JSON)
