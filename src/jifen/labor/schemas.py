"""Request and response bodies of the projects, activities and check-in API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import ConfigDict, Field

from jifen.kit.schemas import Code, InputSchema, Instant, Name, Schema
from jifen.labor.service import (
    CHECK_IN_CODE_LENGTH_MAX,
    ActivityState,
    Contributor,
    ProjectLabor,
    Quantity,
)

_ID = "0190d0c2-9f3a-7c1e-8a55-1f2e3d4c5b6a"
_MEMBER_ID = "0190d0c2-9f3a-7c1e-8a55-000000000011"
_PROJECT_ID = "0190d0c2-9f3a-7c1e-8a55-000000000021"
_ACTIVITY_ID = "0190d0c2-9f3a-7c1e-8a55-000000000031"
_VILLAGE_ID = "0190d0c2-9f3a-7c1e-8a55-000000000041"
_TOWNSHIP_ID = "0190d0c2-9f3a-7c1e-8a55-000000000051"
_CODE = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJpc3MiOiJqaWZlbiIsImF1ZCI6ImppZmVuOmNoZWNrLWluIn0"
    ".c2lnbmF0dXJl"
)


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(
        from_attributes=True, extra="forbid", json_schema_extra={"examples": list(examples)}
    )


# --- projects ---------------------------------------------------------------------------


class ProjectCreate(InputSchema):
    code: Code = Field(description="Unique within the village", examples=["road-2025"])
    name: Name = Field(examples=["村道硬化"])
    description: str = Field(default="", max_length=2000, examples=["三组至五组村道硬化 1.2 公里"])
    starts_on: date | None = Field(default=None, examples=["2025-03-01"])
    ends_on: date | None = Field(default=None, examples=["2025-06-30"])
    category: str = Field(
        default="other", pattern=r"^[a-z][a-z0-9_]{0,39}$", examples=["road", "ditch", "park"]
    )
    planned_investment_fen: int = Field(
        default=0, ge=0, le=10**13, description="计划投资, in fen (以奖代补 caps read it)"
    )
    status: Literal["planned", "underway", "completed", "accepted", "cancelled"] = "planned"

    model_config = _examples(
        {
            "code": "road-2025",
            "name": "村道硬化",
            "description": "三组至五组村道硬化 1.2 公里，群众投工投劳",
            "starts_on": "2025-03-01",
            "ends_on": "2025-06-30",
        }
    )


class ProjectRead(Schema):
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    code: str
    name: str
    description: str
    starts_on: date | None
    ends_on: date | None
    category: str
    planned_investment_fen: int
    status: str
    created_at: datetime
    created_by: str

    model_config = _examples(
        {
            "id": _PROJECT_ID,
            "township_id": _TOWNSHIP_ID,
            "village_id": _VILLAGE_ID,
            "code": "road-2025",
            "name": "村道硬化",
            "description": "三组至五组村道硬化 1.2 公里，群众投工投劳",
            "starts_on": "2025-03-01",
            "ends_on": "2025-06-30",
            "category": "road",
            "planned_investment_fen": 60_000_000,
            "status": "underway",
            "created_at": "2025-02-20T02:00:00Z",
            "created_by": "user:0190d0c2-9f3a-7c1e-8a55-000000000061",
        }
    )


class QuantityRead(Schema):
    unit: str = Field(description="The rule's unit (hour, person_day, time, ...)")
    unit_label: str = Field(examples=["小时"])
    quantity: str = Field(description="A decimal number, as a string", examples=["14"])

    @classmethod
    def of(cls, quantity: Quantity) -> QuantityRead:
        return cls(unit=quantity.unit, unit_label=quantity.unit_label, quantity=quantity.text)


class ContributorRead(Schema):
    member_id: uuid.UUID | None = Field(description="Null for a record naming only a household")
    household_id: uuid.UUID | None = Field(description="Set only when member_id is null")
    name: str
    quantities: list[QuantityRead]
    records: int = Field(description="Counted records (人次)")
    awarded_points: int = Field(description="Points awarded, after caps")

    @classmethod
    def of(cls, contributor: Contributor) -> ContributorRead:
        return cls(
            member_id=contributor.member_id,
            household_id=contributor.household_id,
            name=contributor.name,
            quantities=[QuantityRead.of(q) for q in contributor.quantities],
            records=contributor.records,
            awarded_points=contributor.awarded_points,
        )


class ProjectLaborRead(Schema):
    """A project's labor (投工投劳), from its approved and capped records only."""

    project_id: uuid.UUID
    code: str
    name: str
    totals: list[QuantityRead] = Field(description="Total quantity, per unit")
    records: int = Field(description="Counted records: approved, or capped (人次)")
    members: int = Field(description="Distinct members who gave labor")
    households: int = Field(description="Distinct households they belonged to on the day")
    awarded_points: int = Field(description="Points awarded for it, after caps")
    pending_records: int = Field(description="Records still waiting for review (not counted)")
    contributors: list[ContributorRead] = Field(description="Most points first")

    model_config = _examples(
        {
            "project_id": _PROJECT_ID,
            "code": "road-2025",
            "name": "村道硬化",
            "totals": [{"unit": "hour", "unit_label": "小时", "quantity": "14"}],
            "records": 5,
            "members": 3,
            "households": 2,
            "awarded_points": 28,
            "pending_records": 1,
            "contributors": [
                {
                    "member_id": _MEMBER_ID,
                    "household_id": None,
                    "name": "王建国",
                    "quantities": [{"unit": "hour", "unit_label": "小时", "quantity": "8"}],
                    "records": 3,
                    "awarded_points": 16,
                }
            ],
        }
    )

    @classmethod
    def of(cls, labor: ProjectLabor) -> ProjectLaborRead:
        return cls(
            project_id=labor.project.id,
            code=labor.project.code,
            name=labor.project.name,
            totals=[QuantityRead.of(q) for q in labor.totals],
            records=labor.records,
            members=labor.members,
            households=labor.households,
            awarded_points=labor.awarded_points,
            pending_records=labor.pending_records,
            contributors=[ContributorRead.of(c) for c in labor.contributors],
        )


# --- activities -------------------------------------------------------------------------


class ActivityCreate(InputSchema):
    rule_id: str = Field(
        min_length=1,
        max_length=64,
        description="A rule of the charter in force on the start date, recorded by check_in",
        examples=["labor_hours"],
    )
    title: Name = Field(examples=["周六村道大扫除"])
    place: str = Field(min_length=1, max_length=200, examples=["村委会门口"])
    starts_at: Instant
    ends_at: Instant = Field(description="After starts_at, at most 7 days later")
    quantity: Decimal = Field(
        gt=0,
        le=100_000,
        max_digits=12,
        decimal_places=4,
        description="What one check-in counts for, in the rule's unit (3 hours, 1 time)",
        examples=["3"],
    )
    project_id: uuid.UUID | None = Field(
        default=None, description="The village project the labor goes to"
    )

    model_config = _examples(
        {
            "rule_id": "labor_hours",
            "title": "周六村道大扫除",
            "place": "村委会门口",
            "starts_at": "2025-03-15T08:00:00+08:00",
            "ends_at": "2025-03-15T11:00:00+08:00",
            "quantity": "3",
            "project_id": _PROJECT_ID,
        }
    )


class ActivityRead(Schema):
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    rule_id: str
    title: str
    place: str
    starts_at: datetime
    ends_at: datetime
    quantity: str = Field(description="What one check-in counts for, in the rule's unit")
    project_id: uuid.UUID | None
    created_at: datetime
    created_by: str
    closed_at: datetime | None
    state: ActivityState = Field(
        description="scheduled (check-in not open yet; it opens 30 minutes before the "
        "start), open, ended, or closed early"
    )

    model_config = _examples(
        {
            "id": _ACTIVITY_ID,
            "township_id": _TOWNSHIP_ID,
            "village_id": _VILLAGE_ID,
            "rule_id": "labor_hours",
            "title": "周六村道大扫除",
            "place": "村委会门口",
            "starts_at": "2025-03-15T00:00:00Z",
            "ends_at": "2025-03-15T03:00:00Z",
            "quantity": "3",
            "project_id": _PROJECT_ID,
            "created_at": "2025-03-10T02:00:00Z",
            "created_by": "user:0190d0c2-9f3a-7c1e-8a55-000000000061",
            "closed_at": None,
            "state": "open",
        }
    )


class CheckInCodeRead(Schema):
    activity_id: uuid.UUID
    token: str = Field(
        description="The signed code the QR code carries; the client posts it back as is"
    )
    expires_at: datetime = Field(description="The activity's end, and a short grace")
    svg_url: str = Field(description="The same code as a QR code (image/svg+xml)")

    model_config = _examples(
        {
            "activity_id": _ACTIVITY_ID,
            "token": _CODE,
            "expires_at": "2025-03-15T03:10:00Z",
            "svg_url": f"/v1/activities/{_ACTIVITY_ID}/qr-code",
        }
    )


# --- check-ins --------------------------------------------------------------------------


class CodeCheckInCreate(InputSchema):
    code: str = Field(
        min_length=1,
        max_length=CHECK_IN_CODE_LENGTH_MAX,
        description="What the member's phone read from the activity's QR code",
        examples=[_CODE],
    )

    model_config = _examples({"code": _CODE})


class MemberCheckInCreate(InputSchema):
    member_id: uuid.UUID = Field(description="A member of the activity's village")

    model_config = _examples({"member_id": _MEMBER_ID})


class CheckInRead(Schema):
    """The record a check-in became."""

    id: uuid.UUID = Field(description="The record's id")
    activity_id: uuid.UUID
    activity_title: str
    member_id: uuid.UUID
    household_id: uuid.UUID | None
    status: str = Field(description="approved, capped, or pending (the charter wants review)")
    stages_pending: list[str]
    charter_version: int
    rule_id: str
    quantity: str
    points: int = Field(description="Booked on the spendable balance (0 while pending)")
    merit_points: int = Field(description="Booked on the merit score (0 while pending)")
    explanation: str
    occurred_at: datetime

    model_config = _examples(
        {
            "id": _ID,
            "activity_id": _ACTIVITY_ID,
            "activity_title": "周六村道大扫除",
            "member_id": _MEMBER_ID,
            "household_id": None,
            "status": "approved",
            "stages_pending": [],
            "charter_version": 2,
            "rule_id": "labor_hours",
            "quantity": "3",
            "points": 6,
            "merit_points": 0,
            "explanation": "义务劳动 3 小时 × 2 分/小时 = 6 分",
            "occurred_at": "2025-03-15T00:05:00Z",
        }
    )
