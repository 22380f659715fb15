"""Charter API shapes, with the examples the OpenAPI document shows."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict, Field

from jifen.charters import whatif
from jifen.charters.document import Holder, Track
from jifen.kit.schemas import InputSchema, Schema

EXAMPLE_CHARTER: dict[str, Any] = {
    "title": "清泉村村规民约积分制（2026 年修订）",
    "effective_on": "2026-01-01",
    "settings": {
        "points_holder": "household",
        "deduction_floor": "zero",
        "merit": {"enabled": True, "label": "文明积分", "deductions_lower": True},
        "review": {
            "stages": [
                {"id": "first_review", "label": "初审", "roles": ["group_leader", "village_clerk"]},
                {"id": "final_review", "label": "复核", "roles": ["village_clerk"]},
            ],
            "required": {
                "group_leader": ["final_review"],
                "resident": ["first_review", "final_review"],
            },
        },
        "expiry": {"policy": "carry_over"},
    },
    "rules": [
        {
            "id": "labor_hour",
            "category": "labor",
            "label": "义务劳动",
            "type": "per_unit",
            "params": {"unit": "hour", "points_per_unit": "2", "rounding": "half_up"},
            "moves": ["points", "merit"],
            "caps": [{"per": "member", "period": "day", "max_points": 16}],
            "recorders": ["village_clerk", "group_leader", "resident", "check_in"],
            "evidence": ["photo"],
        },
        {
            "id": "lane_rubbish",
            "category": "sanitation",
            "label": "房前屋后乱堆乱放",
            "type": "deduction",
            "params": {"points": 5, "max_points": 25},
            "moves": ["points"],
            "recorders": ["village_clerk"],
            "evidence": ["photo", "inspector"],
        },
    ],
    "category_caps": [],
}

EXAMPLE_CHARTER_YAML = """\
title: 清泉村村规民约积分制（2026 年修订）
effective_on: 2026-01-01
settings:
  points_holder: household
rules:
  - id: meeting
    category: participation
    label: 参加村民大会
    type: fixed
    params: {points: 2}
"""


_VERSION_EXAMPLE: dict[str, Any] = {
    "id": "01936f0e-7b5a-7c2d-9f00-3a1b2c3d4e5f",
    "village_id": "01936f0e-7b5a-7c2d-9f00-000000000001",
    "version": 2,
    "title": EXAMPLE_CHARTER["title"],
    "effective_on": "2026-01-01",
    "status": "published",
    "document_sha256": "9f2c…",
    "created_at": "2025-12-20T02:00:00Z",
    "created_by": "user:01936f0e-…",
    "published_at": "2025-12-28T02:00:00Z",
    "published_by": "user:01936f0e-…",
    "document": EXAMPLE_CHARTER,
}


class RuleTypeRead(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "per_unit",
                    "label": "按数量计分",
                    "params_schema": {"type": "object"},
                    "distribution": "jifen",
                }
            ]
        }
    )

    name: str = Field(description="what charters write as a rule's `type`")
    label: str
    params_schema: dict[str, Any] = Field(description="JSON Schema of the rule's `params`")
    distribution: str | None = Field(description="the Python package that registered it")


class CharterVersionRead(Schema):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [_VERSION_EXAMPLE]},
    )

    id: uuid.UUID
    village_id: uuid.UUID
    version: int
    title: str
    effective_on: date
    status: str = Field(description="draft or published")
    document_sha256: str
    created_at: datetime
    created_by: str
    published_at: datetime | None
    published_by: str | None
    document: dict[str, Any]


class CharterVersionSummary(Schema):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    key: value
                    for key, value in _VERSION_EXAMPLE.items()
                    if key not in ("created_by", "published_by", "document")
                }
            ]
        },
    )

    id: uuid.UUID
    village_id: uuid.UUID
    version: int
    title: str
    effective_on: date
    status: str
    document_sha256: str
    created_at: datetime
    published_at: datetime | None


# --- what-if ----------------------------------------------------------------------------

_VERSION = "01936f0e-7b5a-7c2d-9f00-3a1b2c3d4e5f"
_MEMBER = "01936f0e-7b5a-7c2d-9f00-00000000a001"
_MEMBER_2 = "01936f0e-7b5a-7c2d-9f00-00000000a002"
_RECORD = "01937a11-0c00-7d00-8000-00000000c001"
_RECORD_2 = "01937a11-0c00-7d00-8000-00000000c002"


# --- scoring one event ------------------------------------------------------------------


class WhatIfScoreCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"rule_id": "labor", "quantity": "3", "occurred_on": "2026-03-14"}]
        }
    )

    rule_id: str = Field(min_length=1, max_length=64, examples=["labor"])
    quantity: Decimal = Field(
        gt=0,
        le=100_000,
        max_digits=12,
        decimal_places=4,
        description="In the rule's unit: occurrences, hours, person-days, kg, m²",
        examples=["3"],
    )
    occurred_on: date | None = Field(
        default=None,
        description="The event's day (default: today, in the villages' time zone)",
        examples=["2026-03-14"],
    )


class WhatIfScoreRead(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version_id": _VERSION,
                    "version": 3,
                    "version_status": "draft",
                    "rule_id": "labor",
                    "rule_label": "义务劳动",
                    "category": "labor",
                    "moves": ["points"],
                    "quantity": "3",
                    "occurred_on": "2026-03-14",
                    "points": 12,
                    "spendable_points": 12,
                    "merit_points": 0,
                    "explanation": "义务劳动 3 小时 × 4 分/小时 = 12 分",
                    "caps": [{"per": "member", "period": "month", "max_points": 20}],
                    "notes": list(whatif.SCORE_NOTES),
                }
            ]
        }
    )

    version_id: uuid.UUID
    version: int
    version_status: str = Field(description="draft or published")
    rule_id: str
    rule_label: str
    category: str
    moves: list[Track] = Field(description="The balances the rule moves")
    quantity: Decimal
    occurred_on: date
    points: int = Field(description="The rule's score, signed, before caps and floors")
    spendable_points: int = Field(description="What it would move on the spendable track")
    merit_points: int = Field(description="What it would move on the merit track")
    explanation: str
    caps: list[dict[str, Any]] = Field(description="The rule's own caps (not applied here)")
    notes: list[str]

    @classmethod
    def of(cls, score: whatif.WhatIfScore) -> WhatIfScoreRead:
        document = score.rule.document
        return cls(
            version_id=score.version.id,
            version=score.version.version,
            version_status=score.version.status,
            rule_id=score.rule.id,
            rule_label=document.label,
            category=document.category,
            moves=list(document.moves),
            quantity=score.quantity,
            occurred_on=score.occurred_on,
            points=score.points,
            spendable_points=score.points_track,
            merit_points=score.merit_track,
            explanation=score.explanation,
            caps=[cap.model_dump(mode="json") for cap in document.caps],
            notes=list(whatif.SCORE_NOTES),
        )


# --- replaying a period -----------------------------------------------------------------


class WhatIfReplayCreate(InputSchema):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"from": "2025-01-01", "to": "2025-12-31"},
                {"from": "2025-03-01", "to": "2025-03-31", "member_id": _MEMBER},
            ]
        },
    )

    from_on: date = Field(alias="from", description="First event day (inclusive)")
    to_on: date = Field(alias="to", description="Last event day (inclusive)")
    member_id: uuid.UUID | None = Field(default=None, description="Replay only this member")
    household_id: uuid.UUID | None = Field(
        default=None, description="Replay only this household (not with member_id)"
    )


_LINE_EXAMPLE: dict[str, Any] = {
    "record_id": _RECORD,
    "occurred_on": "2025-03-08",
    "member_id": _MEMBER,
    "household_id": None,
    "holder": "member",
    "rule_id": "labor",
    "booked_charter_version": 2,
    "quantity": "3",
    "booked_points": 6,
    "booked_merit_points": 0,
    "booked_explanation": "义务劳动 3 小时 × 2 分/小时 = 6 分",
    "in_version": True,
    "would_be_points": 12,
    "would_be_merit_points": 0,
    "difference_points": 6,
    "difference_merit_points": 0,
    "explanation": "义务劳动 3 小时 × 4 分/小时 = 12 分",
}


class ReplayLineRead(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [_LINE_EXAMPLE]})

    record_id: uuid.UUID
    occurred_on: date
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    holder: Holder
    rule_id: str
    booked_charter_version: int
    quantity: Decimal
    booked_points: int
    booked_merit_points: int
    booked_explanation: str
    in_version: bool = Field(description="Whether the replayed version has the record's rule")
    would_be_points: int
    would_be_merit_points: int
    difference_points: int = Field(description="would_be_points − booked_points")
    difference_merit_points: int = Field(description="would_be_merit_points − booked_merit_points")
    explanation: str = Field(description="Why, under the replayed version")

    @classmethod
    def of(cls, line: whatif.ReplayLine) -> ReplayLineRead:
        booked = line.booked
        return cls(
            record_id=booked.record_id,
            occurred_on=booked.occurred_on,
            member_id=booked.member_id,
            household_id=booked.household_id,
            holder=booked.holder,
            rule_id=booked.rule_id,
            booked_charter_version=booked.charter_version,
            quantity=booked.quantity,
            booked_points=booked.points,
            booked_merit_points=booked.merit_points,
            booked_explanation=booked.explanation,
            in_version=line.in_version,
            would_be_points=line.would_be_points,
            would_be_merit_points=line.would_be_merit_points,
            difference_points=line.difference_points,
            difference_merit_points=line.difference_merit_points,
            explanation=line.explanation,
        )


_TOTALS_EXAMPLE: dict[str, Any] = {
    "record_count": 2,
    "booked_points": 16,
    "booked_merit_points": 0,
    "would_be_points": 22,
    "would_be_merit_points": 0,
    "difference_points": 6,
    "difference_merit_points": 0,
}


class ReplayTotalsRead(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [_TOTALS_EXAMPLE]})

    record_count: int
    booked_points: int
    booked_merit_points: int
    would_be_points: int
    would_be_merit_points: int
    difference_points: int
    difference_merit_points: int

    @classmethod
    def of(cls, totals: whatif.ReplayTotals) -> ReplayTotalsRead:
        return cls(
            record_count=totals.record_count,
            booked_points=totals.booked_points,
            booked_merit_points=totals.booked_merit_points,
            would_be_points=totals.would_be_points,
            would_be_merit_points=totals.would_be_merit_points,
            difference_points=totals.difference_points,
            difference_merit_points=totals.difference_merit_points,
        )


class HolderTotalsRead(ReplayTotalsRead):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "holder": "member",
                    "member_id": _MEMBER,
                    "household_id": None,
                    "name": "王建国",
                    **_TOTALS_EXAMPLE,
                }
            ]
        }
    )

    holder: Holder
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    name: str

    @classmethod
    def of_holder(cls, totals: whatif.HolderTotals) -> HolderTotalsRead:
        is_member = totals.holder is Holder.MEMBER
        return cls(
            holder=totals.holder,
            member_id=totals.holder_id if is_member else None,
            household_id=None if is_member else totals.holder_id,
            name=totals.name,
            **ReplayTotalsRead.of(totals).model_dump(),
        )


class WhatIfReplayRead(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version_id": _VERSION,
                    "version": 3,
                    "version_status": "draft",
                    "from_on": "2025-03-01",
                    "to_on": "2025-03-31",
                    "member_id": None,
                    "household_id": None,
                    "items": [
                        _LINE_EXAMPLE,
                        {
                            **_LINE_EXAMPLE,
                            "record_id": _RECORD_2,
                            "member_id": _MEMBER_2,
                            "quantity": "5",
                            "booked_points": 10,
                            "booked_explanation": "义务劳动 5 小时 × 2 分/小时 = 10 分",
                            "would_be_points": 10,
                            "difference_points": 0,
                            "explanation": "义务劳动 5 小时 × 4 分/小时 = 20 分；"
                            "本项本月每人上限 10 分，已得 0 分，本次计 10 分",
                        },
                    ],
                    "totals": _TOTALS_EXAMPLE,
                    "by_holder": [],
                    "notes": list(whatif.REPLAY_NOTES),
                }
            ]
        }
    )

    version_id: uuid.UUID
    version: int
    version_status: str
    from_on: date
    to_on: date
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    items: list[ReplayLineRead] = Field(description="Every replayed record, in occurrence order")
    totals: ReplayTotalsRead
    by_holder: list[HolderTotalsRead] = Field(
        description="Totals per member (or household) whose account the points went to"
    )
    notes: list[str] = Field(description="What the replay counts and what it leaves out")

    @classmethod
    def of(cls, replay: whatif.Replay) -> WhatIfReplayRead:
        return cls(
            version_id=replay.version.id,
            version=replay.version.version,
            version_status=replay.version.status,
            from_on=replay.from_on,
            to_on=replay.to_on,
            member_id=replay.member_id,
            household_id=replay.household_id,
            items=[ReplayLineRead.of(line) for line in replay.lines],
            totals=ReplayTotalsRead.of(replay.totals),
            by_holder=[HolderTotalsRead.of_holder(t) for t in replay.by_holder],
            notes=list(replay.notes),
        )
