"""Request and response bodies of the boards API (staff) and of the public display."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, model_validator

from jifen.boards.rule import Side
from jifen.kit.schemas import InputSchema, Schema, WholeNumber
from jifen.models import Board, BoardEntry, Record

Title = Annotated[str, Field(min_length=1, max_length=200, examples=["2026-11 环境卫生红黑榜"])]
Reason = Annotated[str, Field(min_length=1, max_length=500, examples=["门前屋后干净整洁"])]
RuleId = Annotated[str, Field(min_length=1, max_length=64, examples=["hygiene_red"])]


class BoardKind(StrEnum):
    RED_BLACK = "red_black"  # 红黑榜: red and black sides, ranked
    STARS = "stars"  # 星级评比 (五星级文明户): red entries with 1-5 stars


class BoardSource(StrEnum):
    EVALUATION = "evaluation"  # a committee's list, typed in or uploaded
    BOOKS = "books"  # generated from the month's booked points of a category


class HolderKind(StrEnum):
    MEMBER = "member"
    HOUSEHOLD = "household"
    ORGANISATION = "organisation"


class BookHolder(StrEnum):
    MEMBER = "member"
    HOUSEHOLD = "household"


class BoardCreate(InputSchema):
    village_id: uuid.UUID
    title: Title
    kind: BoardKind = BoardKind.RED_BLACK
    source: BoardSource = BoardSource.EVALUATION
    period_start_on: date = Field(description="first day the board evaluates")
    period_end_on: date = Field(description="last day (inclusive)")
    red_rule_id: RuleId | None = Field(
        default=None, description="the charter's `board` rule scoring the red side, if any"
    )
    black_rule_id: RuleId | None = Field(
        default=None, description="the charter's `board` rule scoring the black side, if any"
    )

    # The period's order and range, and a stars board's single side, are checked by the
    # service (board_invalid), after the village: a schema cannot say them.


class BoardEntryCreate(InputSchema):
    holder_kind: HolderKind
    holder_id: uuid.UUID
    side: Side
    reason: Reason
    rank: WholeNumber | None = Field(
        default=None, ge=1, le=10_000, description="1 = first of its side; omitted: next"
    )
    stars: WholeNumber | None = Field(default=None, ge=1, le=5, description="stars boards only")


class BoardEntriesCreate(InputSchema):
    entries: list[BoardEntryCreate] = Field(min_length=1, max_length=500)


class BoardGenerate(InputSchema):
    category: str = Field(min_length=1, max_length=64, examples=["sanitation"])
    holder: BookHolder = BookHolder.HOUSEHOLD
    red_count: WholeNumber = Field(ge=0, le=500, examples=[20])
    black_count: WholeNumber = Field(ge=0, le=500, examples=[5])

    @model_validator(mode="after")
    def _some(self) -> BoardGenerate:
        if self.red_count + self.black_count == 0:
            raise ValueError("ask for at least one red or black entry")
        return self


class BoardEntryRead(Schema):
    id: uuid.UUID
    holder_kind: str
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    organisation_id: uuid.UUID | None
    side: str
    rank: int
    stars: int | None
    reason: str
    points_in_period: int | None
    record_id: uuid.UUID | None
    record_status: str | None = Field(description="the record's status once published")
    points: int | None = Field(description="the points the record booked (signed)")

    @classmethod
    def of(cls, entry: BoardEntry, record: Record | None) -> BoardEntryRead:
        return cls(
            id=entry.id,
            holder_kind=entry.holder_kind,
            member_id=entry.member_id,
            household_id=entry.household_id,
            organisation_id=entry.organisation_id,
            side=entry.side,
            rank=entry.rank,
            stars=entry.stars,
            reason=entry.reason,
            points_in_period=entry.points_in_period,
            record_id=entry.record_id,
            record_status=record.status if record else None,
            points=record.points if record else None,
        )


class BoardRead(Schema):
    id: uuid.UUID
    village_id: uuid.UUID
    title: str
    kind: str
    source: str
    period_start_on: date
    period_end_on: date
    red_rule_id: str | None
    black_rule_id: str | None
    status: str
    created_by: str
    created_at: datetime
    published_by: str | None
    published_at: datetime | None

    @classmethod
    def of(cls, board: Board) -> BoardRead:
        return cls.model_validate(board)


class BoardDetailRead(BoardRead):
    entries: list[BoardEntryRead]


# --- the public display ----------------------------------------------------------------


class PublicVillageRead(Schema):
    township_name: str
    village_name: str


class PublicBoardEntryRead(Schema):
    name: str = Field(description="masked: 张*明, 王*国户; organisations whole")
    holder_kind: str
    side: str
    rank: int
    stars: int | None
    reason: str = Field(description="names masked, numbers starred out")
    points: int | None = Field(description="points booked for the entry, if its side is scored")
    points_state: str | None = Field(
        description="counted, pending (under notice or review), or none"
    )


class PublicBoardRead(Schema):
    id: uuid.UUID
    title: str
    kind: str
    period_start_on: date
    period_end_on: date
    published_at: datetime | None


class PublicBoardDetailRead(PublicBoardRead):
    village: PublicVillageRead
    entries: list[PublicBoardEntryRead]


class PublicBoardsRead(Schema):
    village: PublicVillageRead
    boards: list[PublicBoardRead]


class PublicObjectionRead(Schema):
    kind: str = Field(description="objection (异议) or late_appeal (逾期申诉)")
    state: str = Field(description="open, upheld or rejected")
    raised_on: date
    decided_on: date | None


class PublicNoticeItemRead(Schema):
    name: str = Field(description="masked")
    label: str = Field(description="what was recorded (the rule), names masked")
    occurred_on: date
    points: int
    state: str = Field(description="pending, posted, voided or counted")
    objections: list[PublicObjectionRead]


class PublicNoticeListRead(Schema):
    id: uuid.UUID
    mode: str
    period_start_on: date
    period_end_on: date
    opens_on: date
    closes_on: date
    appeal_until: date
    state: str
    item_count: int
    head_seq: int | None = Field(description="the village's chain head when the list closed")
    head_hash: str | None


class PublicNoticeListDetailRead(PublicNoticeListRead):
    village: PublicVillageRead
    items: list[PublicNoticeItemRead]


class PublicNoticeListsRead(Schema):
    village: PublicVillageRead
    lists: list[PublicNoticeListRead]
