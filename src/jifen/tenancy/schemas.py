"""Request and response bodies of the tenancy API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from jifen.kit.schemas import Code, InputSchema, Name, Schema
from jifen.ledger.schemas import EntryRead

# A region (片区) of a township, e.g. 东片: a name, unique within the township.
Region = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class TownshipCreate(InputSchema):
    code: Code = Field(examples=["zhongzi"])
    name: Name = Field(examples=["中子镇"])


class TownshipUpdate(InputSchema):
    name: Name | None = None


class TownshipRead(Schema):
    id: uuid.UUID
    code: str
    name: str
    created_at: datetime


class VillageCreate(InputSchema):
    township_id: uuid.UUID
    code: Code = Field(examples=["qingquan"])
    name: Name = Field(examples=["清泉村"])
    allow_below_floor_codes: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Entry codes that may carry a permission to pass a balance floor "
        "(a charter's penalty that may put a balance into debt).",
        examples=[["conduct_penalty"]],
    )


class VillageUpdate(InputSchema):
    name: Name | None = None
    allow_below_floor_codes: list[str] | None = Field(default=None, max_length=50)
    region: Region | None = Field(
        default=None,
        description="The township's region (片区) the village belongs to; null takes it out "
        "of its region, leaving the field out keeps it. 以奖代补 schemes read it.",
        examples=["东片"],
    )


class VillageRead(Schema):
    id: uuid.UUID
    township_id: uuid.UUID
    code: str
    name: str
    allow_below_floor_codes: list[str]
    region: str | None
    created_at: datetime


class HouseholdCreate(InputSchema):
    village_id: uuid.UUID
    number: Code = Field(description="户号 or 门牌号", examples=["3-12"])
    name: Name = Field(description="户名", examples=["王建国户"])


class HouseholdRead(Schema):
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    number: str
    name: str
    split_from_household_id: uuid.UUID | None
    created_at: datetime


class MemberCreate(InputSchema):
    village_id: uuid.UUID
    name: Name = Field(examples=["王建国"])
    phone: str | None = Field(default=None, max_length=32)
    id_number_tail: str | None = Field(
        default=None, pattern=r"^[0-9Xx]{4,8}$", description="Last digits of the ID card"
    )
    household_id: uuid.UUID | None = None
    joined_on: date | None = Field(default=None, description="Defaults to today")
    is_head: bool = False


class MemberUpdate(InputSchema):
    name: Name | None = None
    phone: str | None = Field(default=None, max_length=32)


class MemberRead(Schema):
    id: uuid.UUID
    township_id: uuid.UUID
    village_id: uuid.UUID
    name: str
    phone: str | None
    id_number_tail: str | None
    deactivated_on: date | None
    deactivation_reason: str | None
    created_at: datetime


class DeactivationReason(StrEnum):
    MOVED_AWAY = "moved_away"
    DECEASED = "deceased"
    OTHER = "other"


class MemberDeactivation(InputSchema):
    on: date = Field(description="Last day entries may be dated on")
    reason: DeactivationReason


class MemberMove(InputSchema):
    household_id: uuid.UUID
    on: date
    is_head: bool = False


class MemberDeparture(InputSchema):
    on: date = Field(description="First day the member no longer belongs to the household")


class MembershipRead(Schema):
    id: uuid.UUID
    household_id: uuid.UUID
    member_id: uuid.UUID
    joined_on: date
    left_on: date | None
    is_head: bool


class HouseholdSplitCreate(InputSchema):
    number: Code
    name: Name
    member_ids: list[uuid.UUID] = Field(min_length=1, max_length=50)
    head_member_id: uuid.UUID | None = None
    on: date
    transfer_points: int = Field(
        default=0,
        ge=0,
        strict=True,
        description="Points the old household gives the new one (分户协议); 0 moves none.",
    )


class HouseholdSplitRead(Schema):
    household: HouseholdRead
    moved: list[MembershipRead]
    transfer: EntryRead | None


class OrganisationKind(StrEnum):
    SHOP = "shop"
    COMPANY = "company"
    SOCIAL_GROUP = "social_group"


class OrganisationCreate(InputSchema):
    township_id: uuid.UUID
    name: Name = Field(examples=["中子镇惠民超市"])
    kind: OrganisationKind


class OrganisationRead(Schema):
    id: uuid.UUID
    township_id: uuid.UUID
    name: str
    kind: OrganisationKind
    created_at: datetime


class MemberMatchRead(Schema):
    """A member found by search (户号 and how the query matched, for the clerk's list)."""

    id: uuid.UUID
    village_id: uuid.UUID
    name: str
    phone: str | None = Field(
        description="In full for those who may edit members here; masked (138****5678) "
        "for everyone else"
    )
    is_phone_masked: bool
    household_id: uuid.UUID | None
    household_number: str | None
    deactivated_on: date | None
    matched_by: str = Field(examples=["name", "phone", "household_number", "pinyin"])
