"""Request and response bodies of the public notice (公示) endpoints."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import Field

from jifen.kit.schemas import InputSchema, Schema
from jifen.models import NoticeList, NoticeObjection
from jifen.notice import service

Reason = Field(min_length=1, max_length=1000)


class NoticeListRead(Schema):
    id: uuid.UUID
    village_id: uuid.UUID
    charter_version_id: uuid.UUID
    list_index: int = Field(description="the setting's index in settings.public_notice.lists")
    categories: list[str] | Literal["all"]
    mode: Literal["before", "after"] = Field(
        description="before: points pending until the list closes (先公示后生效); after: "
        "points count at once, open to challenge (先生效后公示)"
    )
    deciding_role: str = Field(description="the role that decides objections")
    period_start_on: date
    period_end_on: date
    opens_on: date
    closes_on: date = Field(description="the list closes at the start of this day")
    appeal_until: date = Field(description="late appeals are heard before this day")
    state: Literal["scheduled", "open", "closed"]
    opened_at: datetime | None
    closed_at: datetime | None
    head_seq: int | None = Field(description="the village books' chain head when it closed")
    head_hash: str | None

    @classmethod
    def of(cls, row: NoticeList) -> NoticeListRead:
        return cls.model_validate(row)


class NoticeItemRead(Schema):
    id: uuid.UUID
    record_id: uuid.UUID
    entry_id: uuid.UUID
    rule_id: str
    category: str
    holder: str = Field(description="member | household: whose points the entry moves")
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    points: int
    merit_points: int
    entry_status: Literal["pending", "posted", "voided", "reversed"] = Field(
        description="the entry as the ledger has it"
    )
    status: Literal["pending", "posted", "voided", "reversed", "under_objection"] = Field(
        description="under_objection while an objection to the entry waits for a decision "
        "(a `before` entry is held: not spendable; an `after` entry still counts)"
    )
    posted_entry_id: uuid.UUID | None = Field(description="the entry that posted it, if so")
    open_objection_id: uuid.UUID | None

    @classmethod
    def of(cls, view: service.ItemView) -> NoticeItemRead:
        record = view.record
        return cls(
            id=view.item.id,
            record_id=record.id,
            entry_id=view.item.entry_id,
            rule_id=record.rule_id,
            category=record.category,
            holder=record.holder,
            member_id=record.member_id,
            household_id=record.household_id,
            points=record.points,
            merit_points=record.merit_points,
            entry_status=view.entry_status,  # type: ignore[arg-type]
            status=view.status,  # type: ignore[arg-type]
            posted_entry_id=view.item.posted_entry_id,
            open_objection_id=view.open_objection_id,
        )


class ObjectionRead(Schema):
    id: uuid.UUID
    list_id: uuid.UUID
    item_id: uuid.UUID
    entry_id: uuid.UUID
    kind: Literal["objection", "late_appeal"] = Field(
        description="objection: while the list is open (公示期内异议); late_appeal: after "
        "closing, inside the appeal window (逾期申诉)"
    )
    raised_by: str
    raised_on: date
    reason: str
    recorded_by: str
    state: Literal["open", "upheld", "rejected"]
    decided_by_role: str | None
    decided_by: str | None
    decided_on: date | None
    decision_reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: NoticeObjection) -> ObjectionRead:
        return cls.model_validate(row)


class NoticeListDetailRead(NoticeListRead):
    items: list[NoticeItemRead]
    objections: list[ObjectionRead]

    @classmethod
    def of_view(cls, view: service.ListView) -> NoticeListDetailRead:
        base = NoticeListRead.of(view.notice_list).model_dump()
        return cls(
            **base,
            items=[NoticeItemRead.of(item) for item in view.items],
            objections=[ObjectionRead.of(o) for o in view.objections],
        )


class ObjectionCreate(InputSchema):
    """An objection a clerk records for a resident (代为登记)."""

    entry_id: uuid.UUID = Field(description="the one entry of this list objected to")
    raised_by_member_id: uuid.UUID = Field(description="the resident who objects")
    reason: str = Reason


class BoundObjectionCreate(InputSchema):
    """A resident's own objection, through a mini-program binding."""

    notice_list_id: uuid.UUID
    entry_id: uuid.UUID = Field(description="the one entry of the list objected to")
    reason: str = Reason


class ObjectionDecisionCreate(InputSchema):
    upheld: bool = Field(
        description="true: the objection stands (a held entry is voided, a counted one "
        "reversed); false: rejected (a held entry posts)"
    )
    reason: str = Reason
