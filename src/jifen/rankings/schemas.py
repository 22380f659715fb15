"""Ranking and history API shapes, with the examples the OpenAPI document shows."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from jifen.charters.document import Holder
from jifen.kit.schemas import Schema
from jifen.ledger.schemas import StatementNoticeRead
from jifen.rankings.service import (
    History,
    HistoryItem,
    RankBy,
    Ranking,
    RankingRow,
    RankPeriod,
)

_MEMBER = "01936f0e-7b5a-7c2d-9f00-00000000a001"
_MEMBER_2 = "01936f0e-7b5a-7c2d-9f00-00000000a002"
_MEMBER_3 = "01936f0e-7b5a-7c2d-9f00-00000000a003"
_HOUSEHOLD = "01936f0e-7b5a-7c2d-9f00-00000000b001"
_VILLAGE = "01936f0e-7b5a-7c2d-9f00-000000000001"
_VERSION = "01936f0e-7b5a-7c2d-9f00-3a1b2c3d4e5f"
_RECORD = "01937a11-0c00-7d00-8000-00000000c001"
_ENTRY = "01937a11-0c00-7d00-8000-00000000e001"


# --- rankings ---------------------------------------------------------------------------

_ROW_EXAMPLE: dict[str, Any] = {
    "rank": 1,
    "member_id": _MEMBER,
    "household_id": None,
    "name": "王建国",
    "household_number": None,
    "points": 36,
    "record_count": 5,
}


class RankingRowRead(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [_ROW_EXAMPLE]})

    rank: int = Field(description="Standard competition rank: equal totals share a rank (1, 1, 3)")
    member_id: uuid.UUID | None = Field(description="Set in a member ranking")
    household_id: uuid.UUID | None = Field(description="Set in a household ranking")
    name: str = Field(description="The member's name, or the household's name (户名)")
    household_number: str | None = Field(description="户号, in a household ranking")
    points: int = Field(
        description="Sum of what the window's counted records booked on the ranked track "
        "(spendable points, signed, or merit)"
    )
    record_count: int = Field(description="Counted records in the window")

    @classmethod
    def of(cls, row: RankingRow) -> RankingRowRead:
        return cls(
            rank=row.rank,
            member_id=row.member_id,
            household_id=row.household_id,
            name=row.name,
            household_number=row.household_number,
            points=row.points,
            record_count=row.record_count,
        )


class RankingRead(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "village_id": _VILLAGE,
                    "by": "points",
                    "period": "month",
                    "holder": "member",
                    "on": "2025-03-14",
                    "from_on": "2025-03-01",
                    "to_on": "2025-03-31",
                    "ranked_count": 3,
                    "items": [
                        _ROW_EXAMPLE,
                        {**_ROW_EXAMPLE, "member_id": _MEMBER_2, "name": "李秀英"},
                        {
                            **_ROW_EXAMPLE,
                            "rank": 3,
                            "member_id": _MEMBER_3,
                            "name": "张伟",
                            "points": 12,
                            "record_count": 2,
                        },
                    ],
                }
            ]
        }
    )

    village_id: uuid.UUID
    by: RankBy
    period: RankPeriod
    holder: Holder
    on: date = Field(description="The day whose period is ranked")
    from_on: date | None = Field(description="First day of the window; null for all time")
    to_on: date | None = Field(description="Last day of the window (inclusive); null for all time")
    ranked_count: int = Field(description="How many members or households have a rank")
    items: list[RankingRowRead]

    @classmethod
    def of(cls, ranking: Ranking) -> RankingRead:
        return cls(
            village_id=ranking.village_id,
            by=ranking.by,
            period=ranking.period,
            holder=ranking.holder,
            on=ranking.on,
            from_on=ranking.from_on,
            to_on=ranking.to_on,
            ranked_count=ranking.ranked_count,
            items=[RankingRowRead.of(row) for row in ranking.rows],
        )


# --- histories --------------------------------------------------------------------------


class HistoryReviewRead(Schema):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "stage": "second_review",
                    "decision": "approve",
                    "reason": "",
                    "reviewer": "user:01936f0e-7b5a-7c2d-9f00-00000000d001",
                    "reviewer_role": "village_clerk",
                    "created_at": "2025-03-15T01:30:00Z",
                }
            ]
        },
    )

    stage: str = Field(description="The charter's review stage id (初审, 复核, ...)")
    decision: str = Field(description="approve or reject")
    reason: str
    reviewer: str
    reviewer_role: str
    created_at: datetime


_ITEM_EXAMPLE: dict[str, Any] = {
    "record_id": _RECORD,
    "occurred_on": "2025-03-08",
    "occurred_at": "2025-03-08T02:00:00Z",
    "status": "approved",
    "is_counted": True,
    "charter_version_id": _VERSION,
    "charter_version": 2,
    "rule_id": "labor",
    "rule_label": "义务劳动",
    "category": "labor",
    "member_id": _MEMBER,
    "member_name": "王建国",
    "household_id": _HOUSEHOLD,
    "holder": "member",
    "quantity": "3",
    "scored_points": 6,
    "awarded_points": 6,
    "points": 6,
    "merit_points": 0,
    "explanation": "义务劳动 3 小时 × 2 分/小时 = 6 分",
    "cap": None,
    "reviews": [],
    "entry_id": _ENTRY,
    "reversal_entry_id": None,
    "revoked_at": None,
    "revoke_reason": None,
}


class HistoryItemRead(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [_ITEM_EXAMPLE]})

    record_id: uuid.UUID
    occurred_on: date
    occurred_at: datetime
    status: str = Field(description="pending, approved, capped, rejected or revoked")
    is_counted: bool = Field(description="Whether it counts towards totals (approved or capped)")
    charter_version_id: uuid.UUID
    charter_version: int = Field(description="The version that scored it")
    rule_id: str
    rule_label: str = Field(description="The rule's label in that version", examples=["义务劳动"])
    category: str
    member_id: uuid.UUID | None = Field(description="Who acted; null for a household finding")
    member_name: str | None
    household_id: uuid.UUID | None
    holder: str = Field(description="Whose account the points went to: member or household")
    quantity: str
    scored_points: int = Field(description="The rule's score before caps and floors (signed)")
    awarded_points: int = Field(description="After caps")
    points: int = Field(description="Booked on the spendable track (signed)")
    merit_points: int = Field(description="Booked on the merit track (signed)")
    explanation: str = Field(examples=["义务劳动 3 小时 × 2 分/小时 = 6 分"])
    cap: dict[str, Any] | None = Field(description="The cap that cut the award, if one did")
    reviews: list[HistoryReviewRead] = Field(description="The review trail, oldest first")
    entry_id: uuid.UUID | None = Field(description="The ledger entry that booked it")
    reversal_entry_id: uuid.UUID | None = Field(description="The entry that reversed it")
    revoked_at: datetime | None
    revoke_reason: str | None
    notice: StatementNoticeRead | None = Field(
        default=None,
        description="The notice list (公示) its points are on, and where they stand: "
        "pending, posted, voided, reversed or under_objection",
    )

    @classmethod
    def of(cls, item: HistoryItem) -> HistoryItemRead:
        row = item.record
        return cls(
            record_id=row.id,
            occurred_on=row.occurred_on,
            occurred_at=row.occurred_at,
            status=row.status,
            is_counted=item.is_counted,
            charter_version_id=row.charter_version_id,
            charter_version=row.charter_version,
            rule_id=row.rule_id,
            rule_label=item.rule_label,
            category=row.category,
            member_id=row.member_id,
            member_name=item.member_name,
            household_id=row.household_id,
            holder=row.holder,
            quantity=row.quantity,
            scored_points=row.scored_points,
            awarded_points=row.awarded_points,
            points=row.points,
            merit_points=row.merit_points,
            explanation=row.explanation,
            cap=row.cap,
            reviews=[HistoryReviewRead.model_validate(review) for review in item.reviews],
            entry_id=row.entry_id,
            reversal_entry_id=row.reversal_entry_id,
            revoked_at=row.revoked_at,
            revoke_reason=row.revoke_reason,
        )


class HistoryTotalsRead(Schema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"points": 36, "merit_points": 10, "record_count": 5}]}
    )

    points: int = Field(description="Spendable points the window's counted records booked")
    merit_points: int = Field(description="Merit the window's counted records booked")
    record_count: int = Field(description="Counted records (approved or capped) in the window")


class HistoryRead(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "member_id": _MEMBER,
                    "household_id": None,
                    "from_on": "2025-03-01",
                    "to_on": "2025-03-31",
                    "totals": {"points": 6, "merit_points": 0, "record_count": 1},
                    "items": [_ITEM_EXAMPLE],
                    "next_cursor": None,
                }
            ]
        }
    )

    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    from_on: date | None = Field(description="First event day shown; null for no bound")
    to_on: date | None = Field(description="Last event day shown (inclusive); null for no bound")
    totals: HistoryTotalsRead = Field(
        description="Over the whole window (every page), counted records only"
    )
    items: list[HistoryItemRead] = Field(description="Every status, newest event first")
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )

    @classmethod
    def of(cls, history: History) -> HistoryRead:
        return cls(
            member_id=history.member_id,
            household_id=history.household_id,
            from_on=history.from_on,
            to_on=history.to_on,
            totals=HistoryTotalsRead(
                points=history.totals.points,
                merit_points=history.totals.merit_points,
                record_count=history.totals.record_count,
            ),
            items=[HistoryItemRead.of(item) for item in history.items],
            next_cursor=history.next_cursor,
        )


class TrackBalanceRead(Schema):
    track: Literal["points", "merit"] = Field(
        description="points: the spendable track; merit: the honour score (荣誉/文明积分)"
    )
    account_id: uuid.UUID
    posted: int = Field(description="booked and effective")
    available: int = Field(description="what spending may use now")
    pending_under_notice: int = Field(
        description="on a notice list (公示): posts when the list closes; not spendable yet"
    )
    held_by_objection: int = Field(
        description="on a notice list, held back by an objection waiting for its decision"
    )
    pending_other: int = Field(description="other pending credits (entries booked pending)")


class AwaitingRecordRead(Schema):
    id: uuid.UUID
    rule_id: str
    occurred_on: date
    scored_points: int = Field(description="what the rule scored, before caps and floors")
    stages_pending: list[str] = Field(description="the review stages still to pass, in order")
    recorder: str


_STANDING_EXAMPLE: dict[str, Any] = {
    "holder_kind": "household",
    "holder_id": "01a21a7f-b74c-743b-a050-a0b0ab24c91a",
    "village_id": "01a21a7f-b73e-7f4f-8943-b2c65ac3b56c",
    "tracks": [
        {
            "track": "points",
            "account_id": "01a21a7f-b792-7011-864c-1346faeb69d8",
            "posted": 32,
            "available": 32,
            "pending_under_notice": 10,
            "held_by_objection": 6,
            "pending_other": 0,
        },
        {
            "track": "merit",
            "account_id": "01a21a7f-b793-7c2e-9a4e-5d0c1e2f3a4b",
            "posted": 18,
            "available": 18,
            "pending_under_notice": 10,
            "held_by_objection": 6,
            "pending_other": 0,
        },
    ],
    "awaiting_review_count": 1,
    "awaiting_review_points": 3,
    "awaiting_review": [
        {
            "id": "01a21a80-0c1d-7e2f-8a3b-4c5d6e7f8091",
            "rule_id": "public_cleaning",
            "occurred_on": "2026-11-25",
            "scored_points": 3,
            "stages_pending": ["final_review"],
            "recorder": "二组组长 王德明",
        }
    ],
}


class StandingRead(Schema):
    """A holder's points in one read: every track, and what is on its way."""

    model_config = ConfigDict(json_schema_extra={"examples": [_STANDING_EXAMPLE]})

    holder_kind: Literal["member", "household"]
    holder_id: uuid.UUID
    village_id: uuid.UUID
    tracks: list[TrackBalanceRead] = Field(
        description="the spendable track first; merit once the holder has a merit account"
    )
    awaiting_review_count: int = Field(description="records awaiting review for this holder")
    awaiting_review_points: int = Field(
        description="what those records scored, before caps (signed: deductions lower it)"
    )
    awaiting_review: list[AwaitingRecordRead] = Field(description="the newest of them (at most 20)")

    @classmethod
    def of(cls, standing: Any) -> StandingRead:
        return cls(
            holder_kind=standing.holder_kind,
            holder_id=standing.holder_id,
            village_id=standing.village_id,
            tracks=[TrackBalanceRead.model_validate(t) for t in standing.tracks],
            awaiting_review_count=standing.awaiting_count,
            awaiting_review_points=standing.awaiting_points,
            awaiting_review=[AwaitingRecordRead.model_validate(r) for r in standing.awaiting],
        )
