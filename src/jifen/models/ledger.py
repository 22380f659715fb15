"""Books, accounts, balances, entries and postings.

Entries and postings are append-only: database triggers (see the migrations) refuse
UPDATE and DELETE, refuse an entry whose postings do not sum to zero per asset, and
refuse a posting added to an entry that already exists.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from jifen.models.base import Base

GENESIS_HASH = "0" * 64


class Book(Base):
    """A village's books: the head of its hash chain. Locked by every booking."""

    __tablename__ = "books"
    __table_args__ = (
        ForeignKeyConstraint(
            ["village_id", "township_id"], ["villages.id", "villages.township_id"]
        ),
    )

    village_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["village_id", "township_id"], ["villages.id", "villages.township_id"]
        ),
        ForeignKeyConstraint(["member_id", "village_id"], ["members.id", "members.village_id"]),
        ForeignKeyConstraint(
            ["household_id", "village_id"], ["households.id", "households.village_id"]
        ),
        UniqueConstraint("village_id", "kind", "category", "asset", "owner_ref"),
        UniqueConstraint("id", "village_id"),
        # Points and fen, or (on the shelf and its counterpart accounts) one good: G<n>.
        CheckConstraint(
            "asset IN ('POINTS', 'CNY') OR (kind IN ('shelf', 'goods') AND asset LIKE 'G%')",
            name="asset",
        ),
        CheckConstraint("(kind = 'member') = (member_id IS NOT NULL)", name="member_owner"),
        CheckConstraint(
            "(kind = 'household') = (household_id IS NOT NULL)", name="household_owner"
        ),
        CheckConstraint(
            "(kind = 'organisation') = (organisation_id IS NOT NULL)", name="organisation_owner"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(64))
    asset: Mapped[str] = mapped_column(String(8))
    # Lowest available balance that spending may leave; None means no floor (issuance, sinks).
    balance_floor: Mapped[int | None]
    member_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    household_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organisations.id"), index=True
    )
    # The owner's id, or "village": makes (kind, category, asset, owner) unique per village.
    owner_ref: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class AccountBalance(Base):
    """Running balances, updated in the same database transaction as the postings."""

    __tablename__ = "account_balances"
    __table_args__ = (
        ForeignKeyConstraint(
            ["village_id", "township_id"], ["villages.id", "villages.township_id"]
        ),
        ForeignKeyConstraint(["account_id", "village_id"], ["accounts.id", "accounts.village_id"]),
        CheckConstraint(
            "pending_debits >= 0 AND pending_credits >= 0", name="pending_non_negative"
        ),
    )

    account_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID] = mapped_column(index=True)
    asset: Mapped[str] = mapped_column(String(8))
    posted: Mapped[int] = mapped_column(default=0)
    pending_debits: Mapped[int] = mapped_column(default=0)  # held out by pending entries
    pending_credits: Mapped[int] = mapped_column(default=0)  # on its way in, not yet usable
    last_seq: Mapped[int] = mapped_column(default=0)


class Entry(Base):
    """One balanced booking in a village's books."""

    __tablename__ = "entries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["village_id", "township_id"], ["villages.id", "villages.township_id"]
        ),
        UniqueConstraint("village_id", "seq"),
        # An idempotency key belongs to whoever acts: two actors never share one.
        UniqueConstraint("village_id", "actor", "idempotency_key"),
        UniqueConstraint("id", "village_id"),
        CheckConstraint("seq >= 1", name="seq_positive"),
        CheckConstraint("posting_count >= 2", name="two_postings"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID]
    seq: Mapped[int]
    code: Mapped[str] = mapped_column(String(64))
    memo: Mapped[str] = mapped_column(String(500))
    details: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    actor: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    is_pending: Mapped[bool]
    allow_below_floor: Mapped[bool]
    # A post or void names the pending entry it resolves; at most one may (unique).
    pending_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("entries.id"), unique=True
    )
    # A reversal names the entry it reverses; a second reversal is refused (unique).
    reverses_entry_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("entries.id"), unique=True
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    posting_count: Mapped[int] = mapped_column(SmallInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


POSTING_EFFECTS = ("posted", "pending", "pending_posted", "pending_voided")


class Posting(Base):
    """One line of an entry.

    effect says what the line does to the balance: `posted` moves the posted balance;
    `pending` holds the amount (debits count against the available balance, credits
    are not yet usable); `pending_posted` turns a hold into a posted amount;
    `pending_voided` releases a hold.
    """

    __tablename__ = "postings"
    __table_args__ = (
        ForeignKeyConstraint(
            ["entry_id", "village_id"],
            ["entries.id", "entries.village_id"],
            # Postings are written before their entry; the entry's insert trigger checks them.
            deferrable=True,
            initially="DEFERRED",
        ),
        ForeignKeyConstraint(["account_id", "village_id"], ["accounts.id", "accounts.village_id"]),
        ForeignKeyConstraint(
            ["village_id", "township_id"], ["villages.id", "villages.township_id"]
        ),
        CheckConstraint("amount <> 0", name="amount_non_zero"),
        CheckConstraint(
            "effect IN ('posted', 'pending', 'pending_posted', 'pending_voided')", name="effect"
        ),
        Index("ix_postings_account_seq", "account_id", "seq"),
        Index("ix_postings_account_occurred", "account_id", "occurred_at"),
    )

    entry_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    township_id: Mapped[uuid.UUID] = mapped_column(index=True)
    village_id: Mapped[uuid.UUID]
    seq: Mapped[int]
    account_id: Mapped[uuid.UUID]
    asset: Mapped[str] = mapped_column(String(8))
    amount: Mapped[int]
    effect: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime]
    # The account's posted balance after this line: statements read it without summing.
    balance_after: Mapped[int]
