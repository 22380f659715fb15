"""The only code that writes entries and postings and changes balances.

Everything else — the API, charters, the supermarket, subsidies — builds an EntryDraft
and hands it here. A booking takes the village's books row first (FOR UPDATE on
PostgreSQL; SQLite's write lock is already held by BEGIN IMMEDIATE), then the balance
rows of its accounts in id order, so concurrent bookings never deadlock and never lose
an update.

Within one database transaction the books heads and balances read under those locks
stay in memory (the transaction's WriteBatch): a second booking in the same books reads
nothing again, and the heads and balances are written once, when the transaction
flushes its batch, however many entries it booked. Postings, entries and their events
are deferred there too and inserted together (one multi-row statement per table). So a
group of bookings costs about as many statements as one, and the books row is updated
once per group, not once per entry. Entries written in the transaction are indexed by
id, idempotency key, reversed entry and resolved pending entry, so that the checks see
them before they reach the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from jifen.db import (
    BATCH_AWARE,
    BatchParticipant,
    RunAgainLater,
    WriteBatch,
    current_batch,
    write_batch,
)
from jifen.kit.ids import new_id
from jifen.ledger import errors
from jifen.ledger.chain import EntryRecord, PostingRecord, entry_hash
from jifen.ledger.policy import (
    CODE_REVERSAL,
    AccountState,
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

# The booking path runs these statements for every entry or group: they are built once,
# on the tables (Core, not the ORM), with bound parameters, so SQLAlchemy's compiled
# cache serves them and no per-call statement construction happens.
_books = cast(Table, Book.__table__)
_accounts = cast(Table, Account.__table__)
_balances = cast(Table, AccountBalance.__table__)
_members = cast(Table, Member.__table__)
_villages = cast(Table, Village.__table__)

_LOCK_BOOKS = (
    select(_books.c.village_id, _books.c.township_id, _books.c.last_seq, _books.c.last_hash)
    .where(_books.c.village_id == bindparam("village_id"))
    .with_for_update()
    .execution_options(**BATCH_AWARE)
)
# In a group commit on PostgreSQL, the books of a second village are taken only if free:
# a group never waits for a lock while it holds another village's (no lock cycles between
# the committers of several processes); the booking runs first in the next group instead.
_TRY_LOCK_BOOKS = (
    select(_books.c.village_id, _books.c.township_id, _books.c.last_seq, _books.c.last_hash)
    .where(_books.c.village_id == bindparam("village_id"))
    .with_for_update(skip_locked=True)
    .execution_options(**BATCH_AWARE)
)
_BOOKS_EXIST = (
    select(_books.c.village_id)
    .where(_books.c.village_id == bindparam("village_id"))
    .execution_options(**BATCH_AWARE)
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
    .execution_options(**BATCH_AWARE)
)
# A group commit reads what its bookings announced, in one statement each: the books of
# its villages (locked in village order, so groups never wait for each other in a
# cycle), the balances of its accounts, and which idempotency keys are already taken.
_LOCK_BOOKS_OF = (
    select(_books.c.village_id, _books.c.township_id, _books.c.last_seq, _books.c.last_hash)
    .where(_books.c.village_id.in_(bindparam("village_ids", expanding=True)))
    .order_by(_books.c.village_id)
    .with_for_update()
    .execution_options(**BATCH_AWARE)
)
_entries = cast(Table, Entry.__table__)
_KEYS_TAKEN = select(
    _entries.c.village_id, _entries.c.actor, _entries.c.idempotency_key
).execution_options(**BATCH_AWARE)
_FLOOR_CODES = (
    select(_villages.c.allow_below_floor_codes)
    .where(_villages.c.id == bindparam("village_id"))
    .execution_options(**BATCH_AWARE)
)
_INSERT_POSTINGS = insert(cast(Table, Posting.__table__)).inline()
_INSERT_ENTRY = insert(cast(Table, Entry.__table__)).inline()
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


class _Books(BatchParticipant):
    """The ledger's part of a transaction's WriteBatch: locked heads and balances, and
    the entries written so far, indexed for the checks."""

    def __init__(self, batch: WriteBatch) -> None:
        self.batch = batch
        self.heads: dict[uuid.UUID, BooksHead] = {}
        self.balances: dict[uuid.UUID, AccountState] = {}
        self.balance_seq: dict[uuid.UUID, int] = {}
        self.dirty_heads: set[uuid.UUID] = set()
        self.dirty_balances: set[uuid.UUID] = set()
        self.floor_codes: dict[uuid.UUID, frozenset[str]] = {}
        self.by_id: dict[uuid.UUID, EntryRecord] = {}
        self.by_key: dict[tuple[uuid.UUID, str, str], EntryRecord] = {}
        self.reversal_of: dict[uuid.UUID, uuid.UUID] = {}
        self.resolution_of: dict[uuid.UUID, EntryRecord] = {}
        # What a group's bookings announced (expect_booking), and which keys the
        # database is known not to hold.
        self.expected_villages: set[uuid.UUID] = set()
        self.expected_accounts: set[uuid.UUID] = set()
        self.expected_keys: set[tuple[uuid.UUID, str, str]] = set()
        self.keys_free: set[tuple[uuid.UUID, str, str]] = set()

    @property
    def dirty(self) -> bool:
        return bool(self.dirty_heads or self.dirty_balances)

    def prefetch(self, connection: Connection) -> None:
        villages = sorted(self.expected_villages - self.heads.keys())
        if villages:
            found = connection.execute(_LOCK_BOOKS_OF, {"village_ids": villages}).all()
            for row in found:
                self.heads[row[0]] = BooksHead(*row)
        accounts = sorted(self.expected_accounts - self.balances.keys())
        if accounts:
            for state in _read_locked(connection, accounts):
                self.balances[state.id] = state
        keys = self.expected_keys - self.keys_free
        if keys:
            # The unique index (village_id, actor, idempotency_key) answers this: an OR of
            # equalities uses it on both databases, where SQLite plans a row-value IN over
            # the whole index.
            wanted = or_(
                *(
                    and_(
                        _entries.c.village_id == village_id,
                        _entries.c.actor == actor,
                        _entries.c.idempotency_key == key,
                    )
                    for village_id, actor, key in sorted(keys)
                )
            )
            taken = {
                (row[0], row[1], row[2]) for row in connection.execute(_KEYS_TAKEN.where(wanted))
            }
            self.keys_free |= keys - taken
        self.expected_villages.clear()
        self.expected_accounts.clear()
        self.expected_keys.clear()

    def flush(self, connection: Connection) -> None:
        if self.dirty_balances:
            connection.execute(
                _UPDATE_BALANCE,
                [
                    {
                        "b_account_id": account_id,
                        "b_posted": self.balances[account_id].posted,
                        "b_pending_debits": self.balances[account_id].pending_debits,
                        "b_pending_credits": self.balances[account_id].pending_credits,
                        "b_last_seq": self.balance_seq[account_id],
                    }
                    for account_id in sorted(self.dirty_balances)
                ],
            )
            self.dirty_balances.clear()
        if self.dirty_heads:
            connection.execute(
                _ADVANCE_BOOKS,
                [
                    {
                        "b_village_id": village_id,
                        "b_last_seq": self.heads[village_id].last_seq,
                        "b_last_hash": self.heads[village_id].last_hash,
                    }
                    for village_id in sorted(self.dirty_heads)
                ],
            )
            self.dirty_heads.clear()

    # Every change below is registered with the batch, so that a booking refused after
    # it began (or a unit of a group that failed) can be taken back.

    def set_head(self, head: BooksHead, *, dirty: bool) -> None:
        village_id = head.village_id
        old = self.heads.get(village_id)
        was_dirty = village_id in self.dirty_heads
        self.heads[village_id] = head
        if dirty:
            self.dirty_heads.add(village_id)

        def restore() -> None:
            if old is None:
                self.heads.pop(village_id, None)
            else:
                self.heads[village_id] = old
            if not was_dirty:
                self.dirty_heads.discard(village_id)

        self.batch.remember(restore)

    def set_balance(self, state: AccountState, seq: int | None) -> None:
        account_id = state.id
        old = self.balances.get(account_id)
        old_seq = self.balance_seq.get(account_id)
        was_dirty = account_id in self.dirty_balances
        self.balances[account_id] = state
        if seq is not None:
            self.balance_seq[account_id] = seq
            self.dirty_balances.add(account_id)

        def restore() -> None:
            if old is None:
                self.balances.pop(account_id, None)
            else:
                self.balances[account_id] = old
            if old_seq is None:
                self.balance_seq.pop(account_id, None)
            else:
                self.balance_seq[account_id] = old_seq
            if not was_dirty:
                self.dirty_balances.discard(account_id)

        self.batch.remember(restore)

    def index(self, entry: EntryRecord) -> None:
        key = (
            (entry.village_id, entry.actor, entry.idempotency_key)
            if entry.idempotency_key is not None
            else None
        )
        self.by_id[entry.id] = entry
        if key is not None:
            self.by_key[key] = entry
        if entry.reverses_entry_id is not None:
            self.reversal_of[entry.reverses_entry_id] = entry.id
        if entry.pending_entry_id is not None:
            self.resolution_of[entry.pending_entry_id] = entry

        def restore() -> None:
            self.by_id.pop(entry.id, None)
            if key is not None:
                self.by_key.pop(key, None)
            if entry.reverses_entry_id is not None:
                self.reversal_of.pop(entry.reverses_entry_id, None)
            if entry.pending_entry_id is not None:
                self.resolution_of.pop(entry.pending_entry_id, None)

        self.batch.remember(restore)


def _state(session: Session) -> _Books:
    batch = write_batch(session)
    books: _Books = batch.participant("ledger", lambda: _Books(batch))
    return books


# --- what this transaction wrote, for the service's checks ---------------------------------


def _written(session: Session) -> _Books | None:
    """The ledger's batch state if this transaction has written (no batch is made)."""
    batch = current_batch(session)
    if batch is None:
        return None
    books: _Books | None = batch.participant_if_any("ledger")
    return books


def key_is_free(session: Session, village_id: uuid.UUID, actor: str, key: str) -> bool:
    """Whether a group commit's prefetch found no entry of the database with this key
    (an entry of this transaction's own is found with written_by_key)."""
    books = _written(session)
    return books is not None and (village_id, actor, key) in books.keys_free


def expect_booking(
    session: Session,
    *,
    village_id: uuid.UUID,
    account_ids: Sequence[uuid.UUID],
    actor: str,
    idempotency_key: str | None,
) -> None:
    """Announce a booking that a group commit is about to run, so that its books,
    balances and idempotency key are read with the group's others, at once."""
    books = _state(session)
    books.expected_villages.add(village_id)
    books.expected_accounts.update(account_ids)
    if idempotency_key is not None:
        books.expected_keys.add((village_id, actor, idempotency_key))


def written_entry(session: Session, entry_id: uuid.UUID) -> EntryRecord | None:
    books = _written(session)
    return books.by_id.get(entry_id) if books else None


def written_by_key(
    session: Session, village_id: uuid.UUID, actor: str, key: str
) -> EntryRecord | None:
    books = _written(session)
    return books.by_key.get((village_id, actor, key)) if books else None


def written_reversal_of(session: Session, entry_id: uuid.UUID) -> uuid.UUID | None:
    books = _written(session)
    return books.reversal_of.get(entry_id) if books else None


def written_resolution_of(session: Session, pending_id: uuid.UUID) -> EntryRecord | None:
    books = _written(session)
    return books.resolution_of.get(pending_id) if books else None


# --- booking ------------------------------------------------------------------------------


def lock_books(session: Session, village_id: uuid.UUID) -> BooksHead:
    """Lock the village's books for the rest of the transaction; its head as of now.

    Locking again in the same transaction reads nothing: the head is the one this
    transaction keeps in memory.
    """
    books = _state(session)
    head = books.heads.get(village_id)
    if head is not None:
        return head
    connection = session.connection()
    params = {"village_id": village_id}
    if books.heads and books.batch.grouped and connection.dialect.name == "postgresql":
        row = connection.execute(_TRY_LOCK_BOOKS, params).one_or_none()
        if row is None and connection.execute(_BOOKS_EXIST, params).first() is not None:
            raise RunAgainLater(f"the books of village {village_id} are busy")
    else:
        row = connection.execute(_LOCK_BOOKS, params).one_or_none()
    if row is None:
        raise NotFound("village", village_id)
    head = BooksHead(*row)
    books.set_head(head, dirty=False)
    return head


def _lock_accounts(
    session: Session, books: _Books, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, AccountState]:
    found = {i: books.balances[i] for i in account_ids if i in books.balances}
    missing = sorted(set(account_ids) - found.keys())
    if missing:
        for state in _read_locked(session.connection(), missing):
            books.set_balance(state, None)
            found[state.id] = state
    return found


def _read_locked(connection: Connection, account_ids: list[uuid.UUID]) -> list[AccountState]:
    return [
        AccountState(
            id=row[0],
            village_id=row[1],
            asset=row[2],
            balance_floor=row[3],
            posted=row[4],
            pending_debits=row[5],
            pending_credits=row[6],
            member_deactivated_on=row[7],
        )
        for row in connection.execute(_LOCK_ACCOUNTS, {"account_ids": account_ids})
    ]


def _floor_override_allowed(session: Session, books: _Books, draft: EntryDraft) -> bool:
    if draft.code == CODE_REVERSAL:
        return True
    codes = books.floor_codes.get(draft.village_id)
    if codes is None:
        value = (
            session.connection()
            .execute(_FLOOR_CODES, {"village_id": draft.village_id})
            .scalar_one()
        )
        codes = books.floor_codes[draft.village_id] = frozenset(value or ())
    return draft.code in codes


def write(
    session: Session,
    draft: EntryDraft,
    *,
    now: datetime,
    limits: Limits,
    local_date_of: Callable[[datetime], date],
) -> EntryRecord:
    """Check the draft against the locked balances and book it.

    Locks the village's books (if this transaction has not yet) and the draft's accounts.
    `local_date_of` turns an instant into the village's calendar date.
    """
    check_shape(draft.lines, postings_max=limits.postings_max, amount_abs_max=limits.amount_abs_max)
    head = lock_books(session, draft.village_id)
    books = _state(session)
    states = _lock_accounts(session, books, [line.account_id for line in draft.lines])
    for line in draft.lines:
        state = states.get(line.account_id)
        if state is None:
            raise NotFound("account", line.account_id)
        if state.village_id != draft.village_id:
            raise errors.AccountInOtherBooks(
                f"account {line.account_id} is in the books of another village",
                detail_zh=f"账户 {line.account_id} 属于另一个村的账簿",
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
                    detail_zh=f"账户 {state.id} 所属成员已于 {state.member_deactivated_on} 停用；"
                    f"该分录日期为 {occurred_on}",
                    account_id=str(state.id),
                    deactivated_on=state.member_deactivated_on.isoformat(),
                )

    if draft.allow_below_floor and not _floor_override_allowed(session, books, draft):
        raise errors.FloorOverrideNotAllowed(
            f"entries with code {draft.code!r} may not pass a balance floor in this village",
            detail_zh=f"在本村，代码为 {draft.code!r} 的分录不得突破余额下限",
            entry_code=draft.code,
        )
    breaches = floor_breaches(draft.lines, states)
    if breaches and not draft.allow_below_floor:
        raise insufficient(breaches[0])

    seq = head.last_seq + 1
    postings = []
    after: list[AccountState] = []
    for position, line in enumerate(draft.lines):
        state = states[line.account_id]
        delta = delta_of(line)
        posted_after = state.posted + delta.posted
        postings.append(
            PostingRecord(
                position=position,
                account_id=line.account_id,
                asset=state.asset,
                amount=line.amount,
                effect=line.effect.value,
                balance_after=posted_after,
            )
        )
        after.append(
            replace(
                state,
                posted=posted_after,
                pending_debits=state.pending_debits + delta.pending_debits,
                pending_credits=state.pending_credits + delta.pending_credits,
            )
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

    # Postings go before their entry: the entry's insert trigger checks that they are
    # complete and balanced (the batch writes each statement's rows in this order).
    batch = books.batch
    for p in entry.postings:
        batch.defer(
            _INSERT_POSTINGS,
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
            },
        )
    batch.defer(
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
    for state in after:
        books.set_balance(state, seq)
    books.set_head(replace(head, last_seq=seq, last_hash=entry.hash), dirty=True)
    books.index(entry)
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


# --- restoring books from an export ---------------------------------------------------------


def restore_books(
    session: Session,
    *,
    heads: Sequence[BooksHead],
    balances: Sequence[Mapping[str, Any]],
    entries: Sequence[EntryRecord],
    chunk: int = 1000,
) -> None:
    """Insert books that were verified outside (jifen.backup): their heads, balances and
    entries as they are, into a database holding none of them. Each chunk's postings go
    before its entries, so that the entries' insert trigger still checks that every
    entry is complete and balanced; the append-only triggers stay on."""
    connection = session.connection()
    if heads:
        connection.execute(
            insert(_books),
            [
                {
                    "village_id": h.village_id,
                    "township_id": h.township_id,
                    "last_seq": h.last_seq,
                    "last_hash": h.last_hash,
                }
                for h in heads
            ],
        )
    for start in range(0, len(balances), chunk):
        connection.execute(insert(_balances), [dict(b) for b in balances[start : start + chunk]])
    for start in range(0, len(entries), chunk):
        part = entries[start : start + chunk]
        connection.execute(
            _INSERT_POSTINGS,
            [
                {
                    "entry_id": e.id,
                    "position": p.position,
                    "township_id": e.township_id,
                    "village_id": e.village_id,
                    "seq": e.seq,
                    "account_id": p.account_id,
                    "asset": p.asset,
                    "amount": p.amount,
                    "effect": p.effect,
                    "occurred_at": e.occurred_at,
                    "balance_after": p.balance_after,
                }
                for e in part
                for p in e.postings
            ],
        )
        # In seq order: an entry names only pending or reversed entries before it.
        connection.execute(
            _INSERT_ENTRY,
            [
                {
                    "id": e.id,
                    "township_id": e.township_id,
                    "village_id": e.village_id,
                    "seq": e.seq,
                    "code": e.code,
                    "memo": e.memo,
                    "metadata": e.details,
                    "actor": e.actor,
                    "occurred_at": e.occurred_at,
                    "recorded_at": e.recorded_at,
                    "is_pending": e.is_pending,
                    "allow_below_floor": e.allow_below_floor,
                    "pending_entry_id": e.pending_entry_id,
                    "reverses_entry_id": e.reverses_entry_id,
                    "idempotency_key": e.idempotency_key,
                    "posting_count": len(e.postings),
                    "prev_hash": e.prev_hash,
                    "hash": e.hash,
                }
                for e in part
            ],
        )
