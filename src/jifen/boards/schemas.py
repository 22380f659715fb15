"""Request and response bodies of the boards API (staff) and of the public display."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from jifen.boards.rule import Side
from jifen.kit.schemas import InputSchema, Invalid, Schema, WholeNumber
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
            raise Invalid("ask for at least one red or black entry", "红榜或黑榜至少要列出一户")
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
    status: str = Field(description="draft → published → closed")
    created_by: str
    created_at: datetime
    published_by: str | None
    published_at: datetime | None
    closed_at: datetime | None = Field(
        description="when every notice list its records joined had closed (at publishing "
        "if none did); null until then"
    )
    head_seq: int | None = Field(
        description="the village books' chain head at closing: sequence number of the "
        "newest entry (check it at GET /public/townships/{township_code}/villages/"
        "{village_code}/chain/{seq})"
    )
    head_hash: str | None = Field(description="the hash of that entry (hex SHA-256)")

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
    closed_at: datetime | None = Field(
        description="when the board's points were settled (its notice lists closed)"
    )
    head_seq: int | None = Field(description="the village's chain head when the board closed")
    head_hash: str | None


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


# --- a mini-program's reads through a binding ------------------------------------------


class BoundBoardEntryRead(PublicBoardEntryRead):
    mine: bool = Field(description="the bound member's own entry, or their household's")


class BoundBoardDetailRead(PublicBoardRead):
    """A published board as the public display shows it, the bound resident's own
    entries marked."""

    village: PublicVillageRead
    entries: list[BoundBoardEntryRead]


class BoundNoticeItemRead(PublicNoticeItemRead):
    entry_id: uuid.UUID = Field(
        description="the entry to name in POST /v1/bindings/{binding_id}/objections"
    )
    mine: bool = Field(
        description="points of the bound member (or of their household, where the charter "
        "holds points per household)"
    )


class BoundNoticeListDetailRead(PublicNoticeListRead):
    """A notice list as the public display shows it, each item with the entry a resident
    may object to, the bound resident's own items marked."""

    village: PublicVillageRead
    items: list[BoundNoticeItemRead]


# --- checking a printed list against the chain ------------------------------------------

_HASH_EXAMPLE = "9f2c4e1a7b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6"


class PublicChainCheckRead(Schema):
    """One entry of the village's books as anyone may check it: a closed notice list or
    board prints its chain head (第 N 笔 and a hash); this says whether the chain from the
    first entry through N is intact and what entry N's hash is."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "seq": 128,
                    "hash": _HASH_EXAMPLE,
                    "intact": True,
                    "current_seq": 131,
                    "matches": True,
                }
            ]
        }
    )

    seq: int = Field(description="the entry's sequence number in the village's books")
    hash: str | None = Field(
        description="the entry's hash as stored (hex SHA-256); null if the entry is missing"
    )
    intact: bool = Field(
        description="every entry from the first through `seq` links to the one before and "
        "matches its hash, recomputed now"
    )
    current_seq: int = Field(description="the sequence number of the books' newest entry")
    matches: bool | None = Field(
        default=None,
        description="whether the `hash` asked about is this entry's (null when none was given)",
    )
