"""Request and response bodies of the adopted-spaces API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema, model_validator

from jifen.kit.schemas import InputSchema, Instant, Invalid, Name, Schema
from jifen.models import Space, SpaceClaim, SpaceInspection
from jifen.records.schemas import EvidenceItem
from jifen.spaces.service import Claimant


class SpaceKind(StrEnum):
    GREEN_SPACE = "green_space"  # 绿地
    PUBLIC_SPACE = "public_space"  # 公共空间
    FACILITY = "facility"  # 设施


AreaM2 = Annotated[
    Decimal,
    Field(
        gt=0,
        le=100_000_000,
        decimal_places=2,
        description="Area in m²: an integer or an exact decimal with at most 2 places "
        '(send it as a string, e.g. "12.5", to keep it exact).',
        examples=["320", "12.5"],
    ),
    # What the validation above takes, said so that a client (and a fuzzer) can know it:
    # a whole number, or a string with at most 2 decimal places, above 0 and below 10^8.
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": 100_000_000},
                {
                    "type": "string",
                    "pattern": r"^(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,7}(\.[0-9]{1,2})?)$",
                },
            ],
            "description": "Area in m²: an integer or an exact decimal with at most 2 places "
            '(send it as a string, e.g. "12.5", to keep it exact).',
            "examples": ["320", "12.5"],
        }
    ),
]
PhotoUrl = Annotated[
    str,
    Field(
        max_length=2000, pattern=r"^https://[^\s\x00]+$", examples=["https://img.example.cn/a.jpg"]
    ),
]
Location = Annotated[str, Field(min_length=1, max_length=500, examples=["村委会东侧"])]
Note = Annotated[str, Field(max_length=500)]


def hundredths(area: Decimal) -> int:
    return int(area * 100)


class SpaceCreate(InputSchema):
    village_id: uuid.UUID
    name: Name = Field(examples=["村口小游园"])
    kind: SpaceKind = Field(description="绿地 green_space / 公共空间 public_space / 设施 facility")
    area_m2: AreaM2
    location: Location
    photo_url: PhotoUrl | None = None
    allow_shared_care: bool = Field(
        default=False, description="Whether several claimants may care for it at once (共同认管)"
    )


class SpaceUpdate(InputSchema):
    """Only the fields given change; photo_url may be set to null to remove it."""

    name: Name | None = None
    kind: SpaceKind | None = None
    area_m2: AreaM2 | None = None
    location: Location | None = None
    photo_url: PhotoUrl | None = None
    allow_shared_care: bool | None = None

    @model_validator(mode="after")
    def _not_null(self) -> SpaceUpdate:
        for name in ("name", "kind", "area_m2", "location", "allow_shared_care"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise Invalid(f"{name} cannot be null", f"{name} 不能为 null")
        return self


class SpaceRead(Schema):
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    name: str
    kind: SpaceKind
    area_m2: Decimal = Field(description="Exact, with 2 decimal places")
    location: str
    photo_url: str | None
    allow_shared_care: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, space: Space) -> SpaceRead:
        return cls(
            id=space.id,
            township_id=space.township_id,
            village_id=space.village_id,
            name=space.name,
            kind=SpaceKind(space.kind),
            area_m2=Decimal(space.area_hundredths_m2).scaleb(-2),
            location=space.location,
            photo_url=space.photo_url,
            allow_shared_care=space.allow_shared_care,
            created_at=space.created_at,
            updated_at=space.updated_at,
        )


class ClaimCreate(InputSchema):
    """Name exactly one claimant: a member, a household or an organisation."""

    member_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = None
    starts_on: date
    ends_on: date | None = Field(default=None, description="Last day of care; none: open-ended")
    note: Note = ""

    @model_validator(mode="after")
    def _one_claimant(self) -> ClaimCreate:
        given = [x for x in (self.member_id, self.household_id, self.organisation_id) if x]
        if len(given) != 1:
            raise Invalid(
                "name exactly one of member_id, household_id, organisation_id",
                "member_id、household_id、organisation_id 须且只须填写一项",
            )
        return self

    def claimant(self) -> Claimant:
        return Claimant(
            member_id=self.member_id,
            household_id=self.household_id,
            organisation_id=self.organisation_id,
        )


class ClaimEnding(InputSchema):
    ends_on: date = Field(description="The claim's new last day of care")


class ClaimRead(Schema):
    id: uuid.UUID
    space_id: uuid.UUID
    village_id: uuid.UUID
    claimant_kind: str = Field(description="member, household or organisation")
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    organisation_id: uuid.UUID | None
    starts_on: date
    ends_on: date | None
    note: str
    end_reason: str | None = Field(description="ended (early) or transferred; null if neither")
    transferred_to_claim_id: uuid.UUID | None
    created_by: str
    created_at: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, row: SpaceClaim) -> ClaimRead:
        return cls.model_validate(row)


class ClaimTransferRead(Schema):
    ended: ClaimRead = Field(description="The claim passed on, now ending the day before")
    claim: ClaimRead = Field(description="The new claimant's claim")


class InspectionCreate(InputSchema):
    """One inspection of a space (巡查): its outcome scores the space's claimants under the
    rule the charter names for that outcome."""

    outcome: Literal["passed", "failed"] = Field(description="passed (合格) or failed (不合格)")
    score: int | None = Field(default=None, ge=0, le=100, description="the inspector's score")
    inspected_at: Instant = Field(description="when the space was inspected")
    evidence: list[EvidenceItem] = Field(default_factory=list, max_length=10)
    note: str = Field(default="", max_length=1000)


class InspectionRead(Schema):
    id: uuid.UUID
    space_id: uuid.UUID
    village_id: uuid.UUID
    period_start: date = Field(description="the cadence period it counts for, from...")
    period_end: date = Field(description="...to this day (exclusive)")
    cadence: str = Field(description="week, month or quarter, as the charter says")
    inspected_on: date
    inspected_at: datetime
    outcome: str
    score: int | None
    rule_id: str | None = Field(description="the rule the outcome scored; null: no points")
    record_ids: list[uuid.UUID] = Field(description="one record per scored claimant")
    evidence: list[dict[str, str]]
    note: str
    inspector: str
    created_at: datetime

    @classmethod
    def of(cls, row: SpaceInspection) -> InspectionRead:
        return cls.model_validate(row)


class InspectionDueRead(Schema):
    space_id: uuid.UUID
    space_name: str
    space_kind: str
    period_start: date
    period_end: date = Field(description="exclusive")
    status: Literal["due", "missed"] = Field(
        description="due: the current period, not yet inspected; missed: a past period "
        "that ended uninspected while the space was claimed"
    )
    claim_ids: list[uuid.UUID]
