"""Record API shapes, with the examples the OpenAPI document shows."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from jifen.api.batches import BATCH_ITEMS_MAX, ITEM_KEY_PATTERN, BatchCreate, check_keys_once
from jifen.kit.schemas import InputSchema, Instant, Invalid, Schema
from jifen.problems import ProblemBody

_RECORD_EXAMPLE: dict[str, Any] = {
    "rule_id": "labor_hour",
    "member_id": "01936f0e-7b5a-7c2d-9f00-3a1b2c3d4e5f",
    "quantity": "3",
    "occurred_at": "2026-03-07T09:00:00+08:00",
    "project_id": "01936f0e-7b5a-7c2d-9f00-0000000000aa",
    "place": "村口水渠",
    "evidence": [{"kind": "photo", "ref": "https://files.example.cn/p/8812.jpg"}],
    "note": "清理水渠淤泥",
}


class EvidenceItem(InputSchema):
    kind: Literal["photo", "witness", "inspector", "document"]
    ref: str = Field(
        min_length=1, max_length=500, description="a photo's URL, a witness's or inspector's name"
    )
    note: str = Field(default="", max_length=200)


class _Recorded(InputSchema):
    rule_id: str = Field(min_length=1, max_length=64)
    quantity: Decimal = Field(
        default=Decimal(1),
        gt=0,
        le=100_000,
        max_digits=12,
        decimal_places=4,
        description="in the rule's unit: occurrences (5 clean-ups), hours, person-days, kg, m²",
    )
    occurred_at: Instant = Field(description="when it happened; decides the charter version")
    occurrence: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="what makes this occurrence distinct (default: its day); the same "
        "person, rule and occurrence is recorded once",
    )
    evidence: list[EvidenceItem] = Field(default_factory=list, max_length=10)
    note: str = Field(default="", max_length=1000)


class RecordCreate(_Recorded):
    model_config = ConfigDict(json_schema_extra={"examples": [_RECORD_EXAMPLE]})

    member_id: uuid.UUID | None = Field(default=None, description="who acted")
    household_id: uuid.UUID | None = Field(
        default=None, description="a finding against a whole household (household charters)"
    )
    project_id: uuid.UUID | None = None
    place: str = Field(default="", max_length=200)


class RecordBatchItem(RecordCreate):
    """A record of a batch (an inspection round's sheet), with the idempotency key that
    makes its retry safe."""

    idempotency_key: str = Field(pattern=ITEM_KEY_PATTERN, examples=["round-2026-11-26-row-17"])


class RecordBatchCreate(BatchCreate):
    items: list[RecordBatchItem] = Field(min_length=1, max_length=BATCH_ITEMS_MAX)

    @model_validator(mode="after")
    def _keys_once(self) -> RecordBatchCreate:
        check_keys_once(item.idempotency_key for item in self.items)
        return self


class ClaimCreate(_Recorded):
    """A resident's own report (个人申报), sent by a client for its bound member."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rule_id": "labor_hour",
                    "quantity": "2",
                    "occurred_at": "2026-03-08T15:00:00+08:00",
                    "evidence": [{"kind": "photo", "ref": "https://files.example.cn/p/9001.jpg"}],
                    "note": "帮五保户王奶奶打扫院子",
                }
            ]
        }
    )


class ReviewCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"decision": "reject", "reason": "照片与申报地点不符"}]}
    )

    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=500)


class RevocationCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "经村务监督委员会核实为代签，予以撤回"}]}
    )

    reason: str = Field(min_length=1, max_length=500)


class AmendmentCreate(InputSchema):
    """A correction of a record (更正): what changes, and why. What it does not name stays
    as the record has it (the day, occurrence, place, evidence, note)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"quantity": "2", "reason": "误录为 3 小时，实为 2 小时"}]}
    )

    quantity: Decimal | None = Field(
        default=None, gt=0, le=100_000, max_digits=12, decimal_places=4
    )
    member_id: uuid.UUID | None = Field(
        default=None, description="the member who acted, if the record named the wrong one"
    )
    household_id: uuid.UUID | None = Field(
        default=None, description="the household, for a finding against a whole household"
    )
    rule_id: str | None = Field(default=None, min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _changes_something(self) -> AmendmentCreate:
        if (self.quantity, self.rule_id, self.member_id, self.household_id) == (None,) * 4:
            raise Invalid(
                "name what changes: quantity, member_id, household_id or rule_id",
                "请指明要更正的内容：quantity、member_id、household_id 或 rule_id",
            )
        return self


class ReviewRead(Schema):
    model_config = ConfigDict(from_attributes=True)

    stage: str
    decision: str
    reason: str
    reviewer: str
    reviewer_role: str
    created_at: datetime


class RecordRead(Schema):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "01936f10-0000-7000-8000-000000000001",
                    "village_id": "01936f0e-7b5a-7c2d-9f00-000000000001",
                    "charter_version_id": "01936f0e-7b5a-7c2d-9f00-3a1b2c3d4e5f",
                    "charter_version": 2,
                    "rule_id": "labor_hour",
                    "category": "labor",
                    "member_id": "01936f0e-7b5a-7c2d-9f00-3a1b2c3d4e5f",
                    "household_id": "01936f0e-7b5a-7c2d-9f00-0000000000bb",
                    "holder": "household",
                    "quantity": "3",
                    "occurred_on": "2026-03-07",
                    "occurred_at": "2026-03-07T01:00:00Z",
                    "occurrence": "2026-03-07",
                    "status": "approved",
                    "stages_pending": [],
                    "scored_points": 6,
                    "awarded_points": 6,
                    "points": 6,
                    "merit_points": 6,
                    "explanation": "义务劳动 3 小时 × 2 分/小时 = 6 分",
                    "cap": None,
                    "recorder": "user:01936f0e-…",
                    "recorder_role": "village_clerk",
                    "project_id": None,
                    "activity_id": None,
                    "place": "村口水渠",
                    "evidence": [{"kind": "photo", "ref": "https://files.example.cn/p/8812.jpg"}],
                    "note": "",
                    "entry_id": "01936f10-0000-7000-8000-0000000000e1",
                    "reversal_entry_id": None,
                    "created_at": "2026-03-07T02:00:00Z",
                    "decided_at": "2026-03-07T02:00:00Z",
                    "revoked_at": None,
                    "revoke_reason": None,
                    "amends_record_id": None,
                    "amended_by_record_id": None,
                    "amended_at": None,
                    "amended_by": None,
                    "amend_reason": None,
                    "reviews": [],
                }
            ]
        },
    )

    id: uuid.UUID
    village_id: uuid.UUID
    charter_version_id: uuid.UUID
    charter_version: int
    rule_id: str
    category: str
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    holder: str
    quantity: str
    occurred_on: date
    occurred_at: datetime
    occurrence: str
    status: str = Field(
        description="pending, approved, capped (cut to zero), rejected, revoked, amended "
        "(corrected by the record `amended_by_record_id`)"
    )
    stages_pending: list[str] = Field(description="review stages still to pass, next first")
    scored_points: int = Field(description="the rule's score, before caps and floors")
    awarded_points: int = Field(description="after caps")
    points: int = Field(description="booked on the spendable balance (signed)")
    merit_points: int = Field(description="booked on the merit score (signed)")
    explanation: str
    cap: dict[str, Any] | None = Field(description="the cap that cut the award, if one did")
    recorder: str
    recorder_role: str
    project_id: uuid.UUID | None
    activity_id: uuid.UUID | None
    place: str
    evidence: list[dict[str, Any]]
    note: str
    entry_id: uuid.UUID | None
    reversal_entry_id: uuid.UUID | None
    created_at: datetime
    decided_at: datetime | None
    revoked_at: datetime | None
    revoke_reason: str | None
    amends_record_id: uuid.UUID | None = Field(
        default=None, description="the record this one corrects"
    )
    amended_by_record_id: uuid.UUID | None = Field(
        default=None, description="the record that corrects this one"
    )
    amended_at: datetime | None = None
    amended_by: str | None = None
    amend_reason: str | None = None
    reviews: list[ReviewRead] = Field(default_factory=list)


class SheetRowRead(Schema):
    """A sheet row done: recorded (booked, capped or pending review), or found to be a
    duplicate of a record made before (nothing recorded)."""

    line: int = Field(description="The row's line in the sheet")
    outcome: Literal["booked", "capped", "pending", "duplicate"]
    duplicate_of: uuid.UUID | None = Field(
        description="For a duplicate: the record that already records this occurrence"
    )
    record: RecordRead | None


class RecordPreviewRowRead(Schema):
    index: int
    idempotency_key: str | None
    line: int | None = Field(description="The row's line in the sheet (sheets only)")
    outcome: Literal["booked", "capped", "pending", "duplicate", "refused", "replayed"] = Field(
        description="What recording it would do: booked, capped (cut by a cap, perhaps to "
        "zero), pending (waits for review), duplicate (recorded before: nothing), refused "
        "(`problem` says why), replayed (this key was done by an earlier request)"
    )
    duplicate_of: uuid.UUID | None
    record: RecordRead | None = Field(description="The record as it would be (not written)")
    problem: ProblemBody | None


class RecordPreviewRead(Schema):
    dry_run: Literal[True] = True
    counts: dict[str, int] = Field(description="Rows by outcome")
    rows: list[RecordPreviewRowRead]
