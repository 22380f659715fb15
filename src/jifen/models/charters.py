"""Charter versions, village projects, activities, and the records scored under charters.

A charter version's document never changes once published. A record is the workflow
around one scored event (pending review, approved, rejected, revoked); the points
themselves are ledger entries, which the record names.
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
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base


def _in_village() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["village_id", "township_id"], ["villages.id", "villages.township_id"]
    )


class CharterVersion(Base):
    __tablename__ = "charter_versions"
    __table_args__ = (
        _in_village(),
        UniqueConstraint("village_id", "version"),
        # Two published versions never take effect on the same day.
        Index(
            "uq_charter_versions_published_effective",
            "village_id",
            "effective_on",
            unique=True,
            sqlite_where=text("status = 'published'"),
            postgresql_where=text("status = 'published'"),
        ),
        CheckConstraint("status IN ('draft', 'published')", name="status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    effective_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(16))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    document_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[datetime | None]
    published_by: Mapped[str | None] = mapped_column(String(200))


class Project(Base):
    """A village project residents give labor to (投工投劳); subsidies sum its labor."""

    __tablename__ = "projects"
    __table_args__ = (
        _in_village(),
        UniqueConstraint("village_id", "code"),
        UniqueConstraint("id", "village_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    starts_on: Mapped[date | None]
    ends_on: Mapped[date | None]
    # 以奖代补 (migration 0007): what kind of project, what it is planned to cost, where it is.
    category: Mapped[str] = mapped_column(String(40), default="other", server_default="other")
    planned_investment_fen: Mapped[int] = mapped_column(default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16), default="planned", server_default="planned")
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))


class Activity(Base):
    """An activity residents check in to (a Saturday clean-up, a tree planting)."""

    __tablename__ = "activities"
    __table_args__ = (
        _in_village(),
        ForeignKeyConstraint(["project_id", "village_id"], ["projects.id", "projects.village_id"]),
        UniqueConstraint("id", "village_id"),
        CheckConstraint("ends_at > starts_at", name="window"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    place: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # What one check-in counts for, in the rule's unit (3 hours of labor, 1 occurrence).
    quantity: Mapped[str] = mapped_column(String(32))
    project_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    closed_at: Mapped[datetime | None]


RECORD_STATUSES = ("pending", "approved", "capped", "rejected", "revoked")


class Record(Base):
    """One event scored under a charter rule, and what became of it."""

    __tablename__ = "records"
    __table_args__ = (
        _in_village(),
        ForeignKeyConstraint(["member_id", "village_id"], ["members.id", "members.village_id"]),
        ForeignKeyConstraint(
            ["household_id", "village_id"], ["households.id", "households.village_id"]
        ),
        ForeignKeyConstraint(["project_id", "village_id"], ["projects.id", "projects.village_id"]),
        ForeignKeyConstraint(
            ["activity_id", "village_id"], ["activities.id", "activities.village_id"]
        ),
        ForeignKeyConstraint(
            ["charter_version_id"], ["charter_versions.id"], name="fk_records_charter_version"
        ),
        UniqueConstraint("id", "village_id"),
        # The same fact recorded twice is refused; a rejected or revoked record frees it.
        Index(
            "uq_records_dedupe_key",
            "village_id",
            "dedupe_key",
            unique=True,
            sqlite_where=text("dedupe_key IS NOT NULL"),
            postgresql_where=text("dedupe_key IS NOT NULL"),
        ),
        Index("ix_records_village_occurred", "village_id", "occurred_on"),
        Index("ix_records_member_occurred", "member_id", "occurred_on"),
        Index("ix_records_household_occurred", "household_id", "occurred_on"),
        CheckConstraint(
            "status IN ('pending', 'approved', 'capped', 'rejected', 'revoked', 'amended')",
            name="status",
        ),
        CheckConstraint("member_id IS NOT NULL OR household_id IS NOT NULL", name="names_someone"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID]
    charter_version_id: Mapped[uuid.UUID] = mapped_column(index=True)
    charter_version: Mapped[int]
    rule_id: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(40))
    # Who acted (None for a finding against a whole household) and whose points move.
    member_id: Mapped[uuid.UUID | None]
    household_id: Mapped[uuid.UUID | None]
    holder: Mapped[str] = mapped_column(String(16))  # member | household
    quantity: Mapped[str] = mapped_column(String(32))
    occurred_on: Mapped[date]
    occurred_at: Mapped[datetime]
    occurrence: Mapped[str] = mapped_column(String(100))
    dedupe_key: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))
    # Review stages still to pass, in order (the first is the next one).
    stages_pending: Mapped[list[str]] = mapped_column(JSON)
    # The rule's score before caps and floors (signed), the award after caps, and what
    # was booked on each track (signed).
    scored_points: Mapped[int]
    awarded_points: Mapped[int] = mapped_column(default=0)
    points: Mapped[int] = mapped_column(default=0)
    merit_points: Mapped[int] = mapped_column(default=0)
    explanation: Mapped[str] = mapped_column(String(1000))
    cap: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    recorder: Mapped[str] = mapped_column(String(200))
    recorder_role: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    activity_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    place: Mapped[str] = mapped_column(String(200), default="")
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(String(1000), default="")
    entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("entries.id"))
    reversal_entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("entries.id"))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    revoke_reason: Mapped[str | None] = mapped_column(String(500))
    # An amendment (更正) links the corrected record and its correction both ways; the
    # amended record keeps who amended it, when and why (migration 0016).
    amends_record_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("records.id", name="fk_records_amends_record"), unique=True
    )
    amended_by_record_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("records.id", name="fk_records_amended_by_record"), unique=True
    )
    amended_at: Mapped[datetime | None]
    amended_by: Mapped[str | None] = mapped_column(String(200))
    amend_reason: Mapped[str | None] = mapped_column(String(500))


class RecordReview(Base):
    """One review decision (初审 / 复核) on a record. Never changed."""

    __tablename__ = "record_reviews"
    __table_args__ = (
        UniqueConstraint("record_id", "stage"),
        CheckConstraint("decision IN ('approve', 'reject')", name="decision"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"), index=True)
    stage: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500), default="")
    reviewer: Mapped[str] = mapped_column(String(200))
    reviewer_role: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
