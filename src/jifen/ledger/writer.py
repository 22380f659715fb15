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
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
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

# The booking path runs these statements for every entry: they are built once, on the
# tables (Core, not the ORM), with bound parameters, so SQLAlchemy's compiled cache serves
# them and no per-call statement construction happens.
_books = cast(Table, Book.__table__)
_accounts = cast(Table, Account.__table__)
_balances = cast(Table, AccountBalance.__table__)
_members = cast(Table, Member.__table__)

_LOCK_BOOKS = (
    select(_books.c.village_id, _books.c.township_id, _books.c.last_seq, _books.c.last_hash)
    .where(_books.c.village_id == bindparam("village_id"))
    .with_for_update()
)
_LOCK_ACCOUNTS = (
    select(
        _accounts.c.id,
        _accounts.c.village_id,
        _accounts.c.asset,
        _accounts.c.balance_floor,
        _balances.c.posted,
        _balances.c.pending_debits,
        _balances.c.pending_credits,
        _members.c.deactivated_on,
    )
    .join(_balances, _balances.c.account_id == _accounts.c.id)
    .outerjoin(_members, _members.c.id == _accounts.c.member_id)
    .where(_accounts.c.id.in_(bindparam("account_ids", expanding=True)))
    .order_by(_accounts.c.id)
    .with_for_update(of=_balances)
)
_INSERT_POSTINGS = insert(cast(Table, Posting.__table__))
_INSERT_ENTRY = insert(cast(Table, Entry.__table__))
_UPDATE_BALANCE = (
    update(_balances)
    .where(_balances.c.account_id == bindparam("b_account_id"))
    .values(
        posted=bindparam("b_posted"),
        pending_debits=bindparam("b_pending_debits"),
        pending_credits=bindparam("b_pending_credits"),
        last_seq=bindparam("b_last_seq"),
    )
)
_ADVANCE_BOOKS = (
    update(_books)
    .where(_books.c.village_id == bindparam("b_village_id"))
    .values(last_seq=bindparam("b_last_seq"), last_hash=bindparam("b_last_hash"))
)


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
    row = session.connection().execute(_LOCK_BOOKS, {"village_id": village_id}).one_or_none()
    if row is None:
        raise NotFound("village", village_id)
    return BooksHead(*row)


def _lock_accounts(
    session: Session, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AccountState]:
    rows = session.connection().execute(_LOCK_ACCOUNTS, {"account_ids": sorted(account_ids)}).all()
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
                "b_account_id": line.account_id,
                "b_posted": posted_after,
                "b_pending_debits": state.pending_debits + delta.pending_debits,
                "b_pending_credits": state.pending_credits + delta.pending_credits,
                "b_last_seq": seq,
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
    connection = session.connection()
    connection.execute(
        _INSERT_POSTINGS,
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
    connection.execute(
        _INSERT_ENTRY,
        {
            "id": entry.id,
            "township_id": entry.township_id,
            "village_id": entry.village_id,
            "seq": seq,
            "code": entry.code,
            "memo": entry.memo,
            "metadata": entry.details,
            "actor": entry.actor,
            "occurred_at": occurred_at,
            "recorded_at": now,
            "is_pending": entry.is_pending,
            "allow_below_floor": entry.allow_below_floor,
            "pending_entry_id": entry.pending_entry_id,
            "reverses_entry_id": entry.reverses_entry_id,
            "idempotency_key": entry.idempotency_key,
            "posting_count": len(entry.postings),
            "prev_hash": entry.prev_hash,
            "hash": entry.hash,
        },
    )
    connection.execute(_UPDATE_BALANCE, balance_rows)
    connection.execute(
        _ADVANCE_BOOKS,
        {"b_village_id": head.village_id, "b_last_seq": seq, "b_last_hash": entry.hash},
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
