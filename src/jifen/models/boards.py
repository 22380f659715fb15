"""Red/black boards (红黑榜): a cycle's public list of households, members or organisations
on the red or the black side, and the records its board rules booked."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base


class Board(Base):
    """One board of one village for one period (2026-11 环境卫生红黑榜, 五星级文明户 2026)."""

    __tablename__ = "boards"
    __table_args__ = (
        ForeignKeyConstraint(
            ["village_id", "township_id"], ["villages.id", "villages.township_id"]
        ),
        UniqueConstraint("village_id", "title"),
        CheckConstraint("kind IN ('red_black', 'stars')", name="kind"),
        CheckConstraint("source IN ('evaluation', 'books')", name="source"),
        CheckConstraint("status IN ('draft', 'published', 'closed')", name="status"),
        CheckConstraint(
            "status <> 'closed' OR (closed_at IS NOT NULL AND head_seq IS NOT NULL "
            "AND head_hash IS NOT NULL)",
            name="closed_has_head",
        ),
        CheckConstraint("period_end_on >= period_start_on", name="period_order"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # red_black | stars
    source: Mapped[str] = mapped_column(String(16))  # evaluation | books
    period_start_on: Mapped[date]
    period_end_on: Mapped[date]
    # The charter rules (type `board`) that score the red and the black side, if any.
    red_rule_id: Mapped[str | None] = mapped_column(String(64))
    black_rule_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # draft | published | closed
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    published_by: Mapped[str | None] = mapped_column(String(200))
    published_at: Mapped[datetime | None]
    # When every notice list its records joined had closed, and the village books' chain
    # head at that moment: what the board settled, provably (migration 0019).
    closed_at: Mapped[datetime | None]
    head_seq: Mapped[int | None]
    head_hash: Mapped[str | None] = mapped_column(String(64))


class BoardEntry(Base):
    """One holder on one side of a board, with the reason and, once published under a
    board rule, the record that carries its points."""

    __tablename__ = "board_entries"
    __table_args__ = (
        UniqueConstraint("board_id", "member_id"),
        UniqueConstraint("board_id", "household_id"),
        UniqueConstraint("board_id", "organisation_id"),
        CheckConstraint(
            "holder_kind IN ('member', 'household', 'organisation')", name="holder_kind"
        ),
        CheckConstraint(
            "(holder_kind = 'member' AND member_id IS NOT NULL AND household_id IS NULL "
            "AND organisation_id IS NULL) OR (holder_kind = 'household' AND member_id IS "
            "NULL AND household_id IS NOT NULL AND organisation_id IS NULL) OR "
            "(holder_kind = 'organisation' AND member_id IS NULL AND household_id IS NULL "
            "AND organisation_id IS NOT NULL)",
            name="one_holder",
        ),
        CheckConstraint("side IN ('red', 'black')", name="side"),
        CheckConstraint("rank >= 1", name="rank_positive"),
        CheckConstraint("stars IS NULL OR (stars >= 1 AND stars <= 5)", name="stars_range"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    board_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("boards.id"), index=True)
    holder_kind: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("members.id"))
    household_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("households.id"))
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    side: Mapped[str] = mapped_column(String(8))  # red | black
    rank: Mapped[int]  # 1 = first of its side
    stars: Mapped[int | None]
    reason: Mapped[str] = mapped_column(String(500))
    # The month's booked points when the entry came from the books.
    points_in_period: Mapped[int | None]
    record_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("records.id"), unique=True)
    created_at: Mapped[datetime]
