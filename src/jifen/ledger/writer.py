"""The only code that writes entries and postings and changes balances.

Everything else — the API, charters, the supermarket, subsidies — builds an EntryDraft
and hands it here. A booking takes the village's books row first (FOR UPDATE on
PostgreSQL; SQLite's write lock is already held by BEGIN IMMEDIATE), then the balance
rows of its accounts in id order, so concurrent bookings never deadlock and never lose
an update.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from jifen.kit.ids import new_id
from jifen.ledger import errors
from jifen.ledger.chain import EntryRecord, PostingRecord, entry_hash
from jifen.ledger.policy import (
    CODE_REVERSAL,
    AccountState,
    Asset,
    Line,
    check_balanced,
    check_shape,
    delta_of,
    floor_breaches,
    insufficient,
)
from jifen.models import (
    GENESIS_HASH,
    Account,
    AccountBalance,
    Book,
    Entry,
    Member,
    Posting,
    Village,
)
from jifen.problems import NotFound


@dataclass(frozen=True)
class EntryDraft:
    village_id: uuid.UUID
    code: str
    lines: tuple[Line, ...]
    actor: str
    memo: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    occurred_at: datetime | None = None
    is_pending: bool = False
    allow_below_floor: bool = False
    idempotency_key: str | None = None
    pending_entry_id: uuid.UUID | None = None
    reverses_entry_id: uuid.UUID | None = None
    # Corrections (reversals, voids) only take away what was given; they may touch the
    # accounts of members deactivated since.
    check_members_active: bool = True


@dataclass(frozen=True)
class BooksHead:
    village_id: uuid.UUID
    township_id: uuid.UUID
    last_seq: int
    last_hash: str


@dataclass(frozen=True)
class Limits:
    postings_max: int
    amount_abs_max: int


def lock_books(session: Session, village_id: uuid.UUID) -> BooksHead:
    row = session.execute(
        select(Book.village_id, Book.township_id, Book.last_seq, Book.last_hash)
        .where(Book.village_id == village_id)
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound("village", village_id)
    return BooksHead(*row)


def _lock_accounts(
    session: Session, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AccountState]:
    rows = session.execute(
        select(
            Account.id,
            Account.village_id,
            Account.asset,
            Account.balance_floor,
            AccountBalance.posted,
            AccountBalance.pending_debits,
            AccountBalance.pending_credits,
            Member.deactivated_on,
        )
        .join(AccountBalance, AccountBalance.account_id == Account.id)
        .outerjoin(Member, Member.id == Account.member_id)
        .where(Account.id.in_(sorted(account_ids)))
        .order_by(Account.id)
        .with_for_update(of=AccountBalance)
    ).all()
    return {
        row[0]: AccountState(
            id=row[0],
            village_id=row[1],
            asset=Asset(row[2]),
            balance_floor=row[3],
            posted=row[4],
            pending_debits=row[5],
            pending_credits=row[6],
            member_deactivated_on=row[7],
        )
        for row in rows
    }


def _floor_override_allowed(session: Session, draft: EntryDraft) -> bool:
    if draft.code == CODE_REVERSAL:
        return True
    codes = session.execute(
        select(Village.allow_below_floor_codes).where(Village.id == draft.village_id)
    ).scalar_one()
    return draft.code in (codes or [])


def write(
    session: Session,
    head: BooksHead,
    draft: EntryDraft,
    *,
    now: datetime,
    limits: Limits,
    local_date_of: Callable[[datetime], date],
) -> EntryRecord:
    """Check the draft against the locked balances and book it.

    `head` must come from lock_books() in this same database transaction, and is used
    up: a second booking in the transaction locks the books again for the new head.
    `local_date_of` turns an instant into the village's calendar date.
    """
    check_shape(draft.lines, postings_max=limits.postings_max, amount_abs_max=limits.amount_abs_max)
    states = _lock_accounts(session, [line.account_id for line in draft.lines])
    for line in draft.lines:
        state = states.get(line.account_id)
        if state is None:
            raise NotFound("account", line.account_id)
        if state.village_id != draft.village_id:
            raise errors.AccountInOtherBooks(
                f"account {line.account_id} is in the books of another village",
                account_id=str(line.account_id),
            )
    check_balanced(draft.lines, {account_id: s.asset for account_id, s in states.items()})

    occurred_at = draft.occurred_at or now
    if draft.check_members_active:
        occurred_on = local_date_of(occurred_at)
        for state in states.values():
            if (
                state.member_deactivated_on is not None
                and occurred_on > state.member_deactivated_on
            ):
                raise errors.MemberInactive(
                    f"account {state.id} belongs to a member deactivated on "
                    f"{state.member_deactivated_on}; the entry is dated {occurred_on}",
                    account_id=str(state.id),
                    deactivated_on=state.member_deactivated_on.isoformat(),
                )

    if draft.allow_below_floor and not _floor_override_allowed(session, draft):
        raise errors.FloorOverrideNotAllowed(
            f"entries with code {draft.code!r} may not pass a balance floor in this village",
            entry_code=draft.code,
        )
    breaches = floor_breaches(draft.lines, states)
    if breaches and not draft.allow_below_floor:
        raise insufficient(breaches[0])

    seq = head.last_seq + 1
    postings = []
    balance_rows = []
    for position, line in enumerate(draft.lines):
        state = states[line.account_id]
        delta = delta_of(line)
        posted_after = state.posted + delta.posted
        postings.append(
            PostingRecord(
                position=position,
                account_id=line.account_id,
                asset=state.asset.value,
                amount=line.amount,
                effect=line.effect.value,
                balance_after=posted_after,
            )
        )
        balance_rows.append(
            {
                "account_id": line.account_id,
                "posted": posted_after,
                "pending_debits": state.pending_debits + delta.pending_debits,
                "pending_credits": state.pending_credits + delta.pending_credits,
                "last_seq": seq,
            }
        )
    unhashed = EntryRecord(
        id=new_id(),
        township_id=head.township_id,
        village_id=head.village_id,
        seq=seq,
        code=draft.code,
        memo=draft.memo,
        details=dict(draft.details),
        actor=draft.actor,
        occurred_at=occurred_at,
        recorded_at=now,
        is_pending=draft.is_pending,
        allow_below_floor=draft.allow_below_floor,
        pending_entry_id=draft.pending_entry_id,
        reverses_entry_id=draft.reverses_entry_id,
        idempotency_key=draft.idempotency_key,
        prev_hash=head.last_hash,
        hash="",
        postings=tuple(postings),
    )
    entry = replace(unhashed, hash=entry_hash(unhashed))

    # Postings first: the entry's insert trigger checks that they are complete and balanced.
    session.execute(
        insert(Posting),
        [
            {
                "entry_id": entry.id,
                "position": p.position,
                "township_id": entry.township_id,
                "village_id": entry.village_id,
                "seq": seq,
                "account_id": p.account_id,
                "asset": p.asset,
                "amount": p.amount,
                "effect": p.effect,
                "occurred_at": occurred_at,
                "balance_after": p.balance_after,
            }
            for p in entry.postings
        ],
    )
    session.execute(
        insert(Entry).values(
            id=entry.id,
            township_id=entry.township_id,
            village_id=entry.village_id,
            seq=seq,
            code=entry.code,
            memo=entry.memo,
            details=entry.details,
            actor=entry.actor,
            occurred_at=occurred_at,
            recorded_at=now,
            is_pending=entry.is_pending,
            allow_below_floor=entry.allow_below_floor,
            pending_entry_id=entry.pending_entry_id,
            reverses_entry_id=entry.reverses_entry_id,
            idempotency_key=entry.idempotency_key,
            posting_count=len(entry.postings),
            prev_hash=entry.prev_hash,
            hash=entry.hash,
        )
    )
    session.execute(update(AccountBalance), balance_rows)
    session.execute(
        update(Book)
        .where(Book.village_id == head.village_id)
        .values(last_seq=seq, last_hash=entry.hash)
    )
    return entry


def open_books(session: Session, *, village_id: uuid.UUID, township_id: uuid.UUID) -> None:
    session.add(
        Book(village_id=village_id, township_id=township_id, last_seq=0, last_hash=GENESIS_HASH)
    )


def open_balance(session: Session, account: Account) -> None:
    """The zero balance row every account starts with."""
    session.add(
        AccountBalance(
            account_id=account.id,
            township_id=account.township_id,
            village_id=account.village_id,
            asset=account.asset,
            posted=0,
            pending_debits=0,
            pending_credits=0,
            last_seq=0,
        )
    )
