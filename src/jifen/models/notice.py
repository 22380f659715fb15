"""Public notice (公示): the stored notice lists, the entries on them, and objections.

A list gathers the records of one period under one notice setting of one charter version;
its items name the record and its ledger entry. The points themselves stay in the ledger:
a `before` item's entry is pending until the list closes (or an objection is decided).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, ForeignKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base


class NoticeList(Base):
    """One notice list: the records of a period, shown from opens_on to closes_on - 1."""

    __tablename__ = "notice_lists"
    __table_args__ = (
        ForeignKeyConstraint(
            ["village_id", "township_id"], ["villages.id", "villages.township_id"]
        ),
        UniqueConstraint("charter_version_id", "list_index", "period_start_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    charter_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("charter_versions.id"))
    # The index of the setting in settings.public_notice.lists, and what it said.
    list_index: Mapped[int]
    categories: Mapped[Any] = mapped_column(JSON)  # a list of categories, or "all"
    mode: Mapped[str] = mapped_column(String(8))  # before | after
    deciding_role: Mapped[str] = mapped_column(String(64))
    period_start_on: Mapped[date]
    period_end_on: Mapped[date]
    opens_on: Mapped[date]
    closes_on: Mapped[date]
    appeal_until: Mapped[date]  # late appeals are heard before this day
    state: Mapped[str] = mapped_column(String(16))  # scheduled | open | closed
    created_at: Mapped[datetime]
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # The village's chain head when the list closed: what was published, provably.
    head_seq: Mapped[int | None]
    head_hash: Mapped[str | None] = mapped_column(String(64))


class NoticeListItem(Base):
    """One record on a notice list, with the ledger entry that carries its points."""

    __tablename__ = "notice_list_items"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    list_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notice_lists.id"), index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"), unique=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entries.id"), unique=True)
    mode: Mapped[str] = mapped_column(String(8))  # before | after
    # The entry that posted a `before` item (at closing or on a rejected objection).
    posted_entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("entries.id"))
    created_at: Mapped[datetime]


class NoticeObjection(Base):
    """An objection (异议) or late appeal (逾期申诉) to one item of a list."""

    __tablename__ = "notice_objections"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    list_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notice_lists.id"), index=True)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notice_list_items.id"), index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entries.id"))
    kind: Mapped[str] = mapped_column(String(16))  # objection | late_appeal
    raised_by: Mapped[str] = mapped_column(String(200))
    raised_on: Mapped[date]
    reason: Mapped[str] = mapped_column(String(1000))
    recorded_by: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))  # open | upheld | rejected
    decided_by_role: Mapped[str | None] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_on: Mapped[date | None]
    decision_reason: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime]
