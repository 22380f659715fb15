"""Adopted spaces (认领 / 认捐认管): a village's spaces and the dated claims on them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base


class Space(Base):
    """A green space, public space or facility of one village that residents may adopt."""

    __tablename__ = "spaces"
    __table_args__ = (
        ForeignKeyConstraint(
            ["village_id", "township_id"], ["villages.id", "villages.township_id"]
        ),
        UniqueConstraint("village_id", "name"),
        UniqueConstraint("id", "village_id"),
        CheckConstraint("kind IN ('green_space', 'public_space', 'facility')", name="kind"),
        CheckConstraint("area_hundredths_m2 >= 1", name="area_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    # Exact: hundredths of a square metre (12.5 m² is 1250).
    area_hundredths_m2: Mapped[int]
    location: Mapped[str] = mapped_column(String(500))
    photo_url: Mapped[str | None] = mapped_column(String(2000))
    allow_shared_care: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SpaceClaim(Base):
    """One claimant's care of a space from starts_on to ends_on (both inclusive; no
    ends_on: open-ended). Never deleted: ending or passing a claim dates it."""

    __tablename__ = "space_claims"
    __table_args__ = (
        ForeignKeyConstraint(["space_id", "village_id"], ["spaces.id", "spaces.village_id"]),
        CheckConstraint(
            "claimant_kind IN ('member', 'household', 'organisation')", name="claimant_kind"
        ),
        CheckConstraint(
            "(claimant_kind = 'member' AND member_id IS NOT NULL AND household_id IS NULL "
            "AND organisation_id IS NULL) OR (claimant_kind = 'household' AND member_id IS "
            "NULL AND household_id IS NOT NULL AND organisation_id IS NULL) OR "
            "(claimant_kind = 'organisation' AND member_id IS NULL AND household_id IS NULL "
            "AND organisation_id IS NOT NULL)",
            name="one_claimant",
        ),
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="ends_after_start"),
        CheckConstraint(
            "end_reason IS NULL OR end_reason IN ('ended', 'transferred')", name="end_reason"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("townships.id"), index=True)
    village_id: Mapped[uuid.UUID]
    space_id: Mapped[uuid.UUID] = mapped_column(index=True)
    claimant_kind: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"))
    household_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("households.id"))
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    note: Mapped[str] = mapped_column(String(500))
    # How the claim was cut short: ended early, or passed on to another claimant.
    end_reason: Mapped[str | None] = mapped_column(String(16))
    transferred_to_claim_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("space_claims.id"))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class SpaceInspection(Base):
    """One inspection of a space in one period of the charter's cadence (at most one per
    period), and the records it scored for the space's claimants that day."""

    __tablename__ = "space_inspections"
    __table_args__ = (
        ForeignKeyConstraint(["space_id", "village_id"], ["spaces.id", "spaces.village_id"]),
        UniqueConstraint("space_id", "period_start"),
        CheckConstraint("outcome IN ('passed', 'failed')", name="outcome"),
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= 100)", name="score"),
        CheckConstraint(
            "period_start <= inspected_on AND inspected_on < period_end", name="in_period"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID]
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    space_id: Mapped[uuid.UUID]
    # The cadence period [period_start, period_end) the inspection counts for.
    period_start: Mapped[date]
    period_end: Mapped[date]
    cadence: Mapped[str] = mapped_column(String(16))
    inspected_on: Mapped[date]
    inspected_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    score: Mapped[int | None]
    # The rule the outcome scored (None: a failed inspection the charter gives no points).
    rule_id: Mapped[str | None] = mapped_column(String(64))
    record_ids: Mapped[list[str]] = mapped_column(JSON)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(String(1000))
    inspector: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
