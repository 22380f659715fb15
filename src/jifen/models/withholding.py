"""以奖代补 withholding: a project's acceptance (验收), the part of a village's award held
back at approval until its projects are accepted, and that part's release.

Every row here is written once (database triggers refuse UPDATE and DELETE): a project is
accepted once, a village's award is withheld once per settlement, and released (or
returned to the township's pool after a failed acceptance) once.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, ForeignKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base

ACCEPTANCE_OUTCOMES = ("passed", "failed")
RELEASE_OUTCOMES = ("released", "returned")


class ProjectAcceptance(Base):
    """验收: the township's acceptance of a finished project, passed or failed."""

    __tablename__ = "project_acceptances"
    __table_args__ = (
        ForeignKeyConstraint(["project_id", "village_id"], ["projects.id", "projects.village_id"]),
        CheckConstraint("outcome IN ('passed', 'failed')", name="outcome"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    project_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    accepted_on: Mapped[date]
    # Who inspected and signed (a person or a committee), as written on the 验收 form.
    accepted_by: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class SubsidyWithholding(Base):
    """The part of a village's approved award booked to its withheld account, and the
    projects whose acceptance releases it."""

    __tablename__ = "subsidy_withholdings"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    settlement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subsidy_settlement_approvals.settlement_id"), primary_key=True
    )
    village_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("villages.id"), primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    amount_fen: Mapped[int]
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entries.id"), unique=True)
    # Project ids (hex) of the village in the settled period, in order: each must pass.
    project_ids: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class SubsidyRelease(Base):
    """What became of a withheld part: released to the village (every project passed) or
    returned to the township's pool (one failed), and the acceptances that decided it."""

    __tablename__ = "subsidy_releases"
    __table_args__ = (
        ForeignKeyConstraint(
            ["settlement_id", "village_id"],
            ["subsidy_withholdings.settlement_id", "subsidy_withholdings.village_id"],
        ),
        CheckConstraint("outcome IN ('released', 'returned')", name="outcome"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
    )

    settlement_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    village_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int]
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entries.id"), unique=True)
    # Acceptance ids (hex) that decided it, one per project.
    acceptance_ids: Mapped[list[str]] = mapped_column(JSON)
    released_at: Mapped[datetime]
    released_by: Mapped[str] = mapped_column(String(200))
