"""Townships, villages, households, members, organisations and dated household membership."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base


class Township(Base):
    __tablename__ = "townships"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Village(Base):
    """A village. Each village keeps one set of books (see ledger.Book)."""

    __tablename__ = "villages"
    __table_args__ = (
        UniqueConstraint("township_id", "code"),
        UniqueConstraint("id", "township_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("townships.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    # Entry codes whose entries may carry a recorded permission to pass a balance floor
    # (e.g. a charter's penalty that lets a balance go into debt).
    allow_below_floor_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The township's region (片区) the village belongs to, if any: 以奖代补 schemes may gate
    # on a region's average and give places or prizes per region.
    region: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[datetime]


def _in_village() -> ForeignKeyConstraint:
    # Ties the row's township to its village's township, so tenant data never straddles two.
    return ForeignKeyConstraint(
        ["village_id", "township_id"], ["villages.id", "villages.township_id"]
    )


class Household(Base):
    """A household (户): the unit many charters credit points to."""

    __tablename__ = "households"
    __table_args__ = (
        _in_village(),
        UniqueConstraint("village_id", "number"),
        UniqueConstraint("id", "village_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    number: Mapped[str] = mapped_column(String(64))  # 户号 / 门牌号
    name: Mapped[str] = mapped_column(String(200))  # 户名, usually the head's name
    split_from_household_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("households.id"))
    created_at: Mapped[datetime]


class Member(Base):
    """A resident. Deactivation (moved away, deceased) is dated; history stays."""

    __tablename__ = "members"
    __table_args__ = (_in_village(), UniqueConstraint("id", "village_id"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    id_number_tail: Mapped[str | None] = mapped_column(String(8))  # last digits of the ID card
    deactivated_on: Mapped[date | None]
    deactivation_reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]


class HouseholdMembership(Base):
    """A member belongs to a household from joined_on until left_on (exclusive)."""

    __tablename__ = "household_memberships"
    __table_args__ = (
        ForeignKeyConstraint(
            ["household_id", "village_id"], ["households.id", "households.village_id"]
        ),
        ForeignKeyConstraint(["member_id", "village_id"], ["members.id", "members.village_id"]),
        # At most one open membership per member.
        Index(
            "uq_household_memberships_open_member",
            "member_id",
            unique=True,
            sqlite_where=text("left_on IS NULL"),
            postgresql_where=text("left_on IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("townships.id"), index=True)
    village_id: Mapped[uuid.UUID]
    household_id: Mapped[uuid.UUID] = mapped_column(index=True)
    member_id: Mapped[uuid.UUID] = mapped_column(index=True)
    joined_on: Mapped[date]
    left_on: Mapped[date | None]
    is_head: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class Organisation(Base):
    """A shop, company or social group that can hold accounts in a village's books."""

    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("township_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("townships.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))  # shop, company, social_group
    created_at: Mapped[datetime]
