"""Ledger services: open accounts, book, reverse, post and void, and read it all back.

Services flush, never commit: the caller's unit of work commits or rolls back.
Every booking goes through ledger.writer.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from jifen.config import Settings
from jifen.db import BATCH_AWARE
from jifen.kit.clock import local_date
from jifen.kit.ids import new_id
from jifen.kit.pagination import Page, page_of, seq_before, uuid_after
from jifen.ledger import errors, writer
from jifen.ledger.chain import EntryRecord, PostingRecord, entry_hash
from jifen.ledger.policy import (
    CODE_PENDING_POST,
    CODE_PENDING_VOID,
    CODE_REVERSAL,
    OWNER_KINDS,
    AccountKind,
    Asset,
    Delta,
    Effect,
    Line,
    check_code,
    default_floor,
    delta_of,
)
from jifen.models import GENESIS_HASH, Account, AccountBalance, Book, Entry, Posting, Record
from jifen.models.tenancy import Household, Member, Organisation, Village
from jifen.problems import IdempotencyKeyReused, NotFound
from jifen.webhooks import events

VERIFY_CHUNK = 2000


# --- accounts ---------------------------------------------------------------------------


def open_books(session: Session, *, village: Village, now: datetime) -> None:
    """Books for a new village, with the village's own standard accounts."""
    writer.open_books(session, village_id=village.id, township_id=village.township_id)
    session.flush()
    for kind, asset, category, name in (
        (AccountKind.ISSUANCE, Asset.POINTS, "general", "积分发放"),
        (AccountKind.SUPERMARKET, Asset.POINTS, "main", "积分超市"),
        (AccountKind.EXPIRY, Asset.POINTS, "main", "积分清零"),
        (AccountKind.FUND, Asset.CNY, "main", "积分兑换基金"),
        (AccountKind.FUNDING, Asset.CNY, "main", "资金来源"),
    ):
        open_account(
            session,
            village_id=village.id,
            kind=kind,
            asset=asset,
            category=category,
            name=name,
            now=now,
        )


def open_account(
    session: Session,
    *,
    village_id: uuid.UUID,
    kind: AccountKind,
    asset: str = Asset.POINTS,
    category: str = "main",
    member_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    organisation_id: uuid.UUID | None = None,
    name: str | None = None,
    balance_floor: int | None = None,
    use_default_floor: bool = True,
    now: datetime,
) -> Account:
    village = session.get(Village, village_id)
    if village is None:
        raise NotFound("village", village_id)
    owner_ids = {
        AccountKind.MEMBER: member_id,
        AccountKind.HOUSEHOLD: household_id,
        AccountKind.ORGANISATION: organisation_id,
    }
    given = {k for k, v in owner_ids.items() if v is not None}
    expected = {kind} if kind in OWNER_KINDS else set()
    if given != expected:
        raise errors.InvalidAccount(
            f"a {kind.value} account needs "
            + (f"exactly a {kind.value}_id" if expected else "no owner id"),
            detail_zh=f"{kind.value} 类账户"
            + (f"须且只须给出 {kind.value}_id" if expected else "不能给出所有者 id"),
            kind=kind.value,
        )
    owner_name, owner_ref = _owner(session, village, kind, owner_ids.get(kind))
    if use_default_floor:
        balance_floor = default_floor(kind)
    duplicate = session.execute(
        select(Account.id).where(
            Account.village_id == village_id,
            Account.kind == kind.value,
            Account.category == category,
            Account.asset == str(asset),
            Account.owner_ref == owner_ref,
        )
    ).scalar_one_or_none()
    if duplicate is not None:
        raise errors.AccountAlreadyExists(
            f"account {duplicate} already is the {kind.value} {category} {asset} account",
            detail_zh=f"账户 {duplicate} 已是 {kind.value} {category} {asset} 账户",
            account_id=str(duplicate),
        )
    account = Account(
        id=new_id(),
        township_id=village.township_id,
        village_id=village_id,
        kind=kind.value,
        category=category,
        asset=str(asset),
        balance_floor=balance_floor,
        member_id=member_id,
        household_id=household_id,
        organisation_id=organisation_id,
        owner_ref=owner_ref,
        name=name or owner_name or f"{kind.value}:{category}",
        created_at=now,
    )
    session.add(account)
    session.flush()
    writer.open_balance(session, account)
    session.flush()
    return account


def _owner(
    session: Session, village: Village, kind: AccountKind, owner_id: uuid.UUID | None
) -> tuple[str | None, str]:
    """The owner's display name and owner_ref; checks the owner is in the village."""
    if owner_id is None:
        return None, "village"
    owner: Member | Household | Organisation | None
    if kind is AccountKind.MEMBER:
        owner = session.get(Member, owner_id)
    elif kind is AccountKind.HOUSEHOLD:
        owner = session.get(Household, owner_id)
    else:
        owner = session.get(Organisation, owner_id)
    if owner is None or owner.township_id != village.township_id:
        raise NotFound(kind.value, owner_id)
    if isinstance(owner, Member | Household) and owner.village_id != village.id:
        raise errors.AccountInOtherBooks(
            f"{kind.value} {owner_id} belongs to another village",
            detail_zh=f"{kind.value} {owner_id} 属于另一个村",
            owner_id=str(owner_id),
        )
    return owner.name, owner_id.hex


def get_account(session: Session, account_id: uuid.UUID) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("account", account_id)
    return account


def find_account(
    session: Session,
    *,
    village_id: uuid.UUID,
    kind: AccountKind,
    owner_id: uuid.UUID | None = None,
    asset: str = Asset.POINTS,
    category: str = "main",
) -> Account | None:
    return session.execute(
        select(Account).where(
            Account.village_id == village_id,
            Account.kind == kind.value,
            Account.category == category,
            Account.asset == str(asset),
            Account.owner_ref == (owner_id.hex if owner_id else "village"),
        )
    ).scalar_one_or_none()


_FIND_ACCOUNT_ID = select(Account.id).where(
    Account.village_id == bindparam("village_id"),
    Account.kind == bindparam("kind"),
    Account.category == bindparam("category"),
    Account.asset == bindparam("asset"),
    Account.owner_ref == bindparam("owner_ref"),
)


def find_account_id(
    session: Session,
    *,
    village_id: uuid.UUID,
    kind: AccountKind,
    owner_id: uuid.UUID | None = None,
    asset: str = Asset.POINTS,
    category: str = "main",
) -> uuid.UUID | None:
    """The id of the account `find_account` finds, in one prepared statement (the
    booking paths ask it several times per entry)."""
    found: uuid.UUID | None = (
        session.connection()
        .execute(
            _FIND_ACCOUNT_ID,
            {
                "village_id": village_id,
                "kind": kind.value,
                "category": category,
                "asset": str(asset),
                "owner_ref": owner_id.hex if owner_id else "village",
            },
        )
        .scalar_one_or_none()
    )
    return found


def list_accounts(
    session: Session,
    *,
    village_id: uuid.UUID | None = None,
    member_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    organisation_id: uuid.UUID | None = None,
    kind: AccountKind | None = None,
    limit: int,
    cursor: str | None = None,
) -> Page[Account]:
    query = select(Account).order_by(Account.id).limit(limit + 1)
    for column, value in (
        (Account.village_id, village_id),
        (Account.member_id, member_id),
        (Account.household_id, household_id),
        (Account.organisation_id, organisation_id),
        (Account.kind, kind.value if kind else None),
    ):
        if value is not None:
            query = query.where(column == value)
    after = uuid_after(cursor)
    if after is not None:
        query = query.where(Account.id > after)
    return page_of(list(session.execute(query).scalars()), limit, lambda a: {"id": a.id.hex})


# --- balances ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    account_id: uuid.UUID
    asset: str
    balance_floor: int | None
    posted: int
    pending_debits: int
    pending_credits: int
    last_seq: int

    @property
    def available(self) -> int:
        return self.posted - self.pending_debits


_GET_BALANCE = (
    select(
        AccountBalance.account_id,
        AccountBalance.asset,
        Account.balance_floor,
        AccountBalance.posted,
        AccountBalance.pending_debits,
        AccountBalance.pending_credits,
        AccountBalance.last_seq,
    )
    .join(Account, Account.id == AccountBalance.account_id)
    .where(AccountBalance.account_id == bindparam("account_id"))
)


def get_balance(session: Session, account_id: uuid.UUID) -> Balance:
    """The current balance: one primary-key read, whatever the size of the books."""
    row = session.connection().execute(_GET_BALANCE, {"account_id": account_id}).one_or_none()
    if row is None:
        raise NotFound("account", account_id)
    return Balance(*row)


def posted_balance_as_of(session: Session, account_id: uuid.UUID, as_of: datetime) -> int:
    """The posted balance counting every posted amount effective at or before `as_of`.

    Back-dated entries count at their effective time; pending amounts count from the
    moment they were posted.
    """
    get_account(session, account_id)
    total = session.execute(
        select(func.coalesce(func.sum(Posting.amount), 0)).where(
            Posting.account_id == account_id,
            Posting.occurred_at <= as_of,
            Posting.effect.in_((Effect.POSTED.value, Effect.PENDING_POSTED.value)),
        )
    ).scalar_one()
    return int(total)


@dataclass(frozen=True)
class StatementLine:
    entry_id: uuid.UUID
    seq: int
    code: str
    memo: str
    amount: int
    effect: str
    balance_after: int
    occurred_at: datetime
    recorded_at: datetime


def statement(
    session: Session, account_id: uuid.UUID, *, limit: int, cursor: str | None = None
) -> Page[StatementLine]:
    """The account's postings, newest first, each with the posted balance after it."""
    get_account(session, account_id)
    query = (
        select(
            Posting.entry_id,
            Posting.seq,
            Entry.code,
            Entry.memo,
            Posting.amount,
            Posting.effect,
            Posting.balance_after,
            Posting.occurred_at,
            Entry.recorded_at,
        )
        .join(Entry, Entry.id == Posting.entry_id)
        .where(Posting.account_id == account_id)
        .order_by(Posting.seq.desc())
        .limit(limit + 1)
    )
    before = seq_before(cursor)
    if before is not None:
        query = query.where(Posting.seq < before)
    lines = [StatementLine(*row) for row in session.execute(query)]
    return page_of(lines, limit, lambda line: {"seq": line.seq})


# --- entries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryView:
    entry: EntryRecord
    status: str  # posted, pending, voided, reversed
    reversed_by_entry_id: uuid.UUID | None = None
    resolved_by_entry_id: uuid.UUID | None = None
    replayed: bool = False


@dataclass(frozen=True)
class Clock:
    """What a booking needs to know about time and limits, from the settings."""

    now: datetime
    settings: Settings

    def local_date(self, instant: datetime) -> date:
        return local_date(instant, self.settings.zone)

    @property
    def limits(self) -> writer.Limits:
        return writer.Limits(
            postings_max=self.settings.postings_per_entry_max,
            amount_abs_max=self.settings.amount_abs_max,
        )


def _write(session: Session, draft: writer.EntryDraft, clock: Clock) -> EntryRecord:
    return writer.write(
        session, draft, now=clock.now, limits=clock.limits, local_date_of=clock.local_date
    )


@dataclass(frozen=True)
class PostingInput:
    account_id: uuid.UUID
    amount: int


def expect_booking(
    session: Session,
    *,
    village_id: uuid.UUID,
    account_ids: Sequence[uuid.UUID],
    actor: str,
    idempotency_key: str | None = None,
) -> None:
    """Announce a booking a group commit is about to run: its books, balances and key
    are then read with the group's other bookings', in a statement for them all."""
    writer.expect_booking(
        session,
        village_id=village_id,
        account_ids=account_ids,
        actor=actor,
        idempotency_key=idempotency_key,
    )


def book(
    session: Session,
    *,
    village_id: uuid.UUID,
    code: str,
    postings: Sequence[PostingInput],
    actor: str,
    clock: Clock,
    memo: str = "",
    details: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None,
    is_pending: bool = False,
    allow_below_floor: bool = False,
    idempotency_key: str | None = None,
) -> EntryView:
    """Book one entry. With an idempotency key, a retry returns the first entry."""
    check_code(code)
    if occurred_at is not None and occurred_at > clock.now + timedelta(
        seconds=clock.settings.occurred_at_future_skew_seconds
    ):
        raise errors.OccurredInFuture(
            f"occurred_at {occurred_at.isoformat()} is after now",
            detail_zh=f"发生时间 occurred_at {occurred_at.isoformat()} 晚于当前时间",
            occurred_at=occurred_at.isoformat(),
        )
    effect = Effect.PENDING if is_pending else Effect.POSTED
    draft = writer.EntryDraft(
        village_id=village_id,
        code=code,
        lines=tuple(Line(p.account_id, p.amount, effect) for p in postings),
        actor=actor,
        memo=memo,
        details=dict(details or {}),
        occurred_at=occurred_at,
        is_pending=is_pending,
        allow_below_floor=allow_below_floor,
        idempotency_key=idempotency_key,
    )
    writer.lock_books(session, village_id)
    if idempotency_key is not None:
        existing = _find_by_key(session, village_id, actor, idempotency_key)
        if existing is not None:
            if not _same_request(existing, draft):
                raise IdempotencyKeyReused(
                    f"key {idempotency_key!r} booked entry {existing.id} with other content",
                    detail_zh=f"幂等键 {idempotency_key!r} 已用于记入内容不同的分录 {existing.id}",
                    entry_id=str(existing.id),
                )
            [view] = _views(session, [existing])
            return EntryView(
                view.entry,
                view.status,
                view.reversed_by_entry_id,
                view.resolved_by_entry_id,
                replayed=True,
            )
    entry = _write(session, draft, clock)
    events.emit_for_entry(session, entry)
    return EntryView(entry, "pending" if is_pending else "posted")


def _same_request(entry: EntryRecord, draft: writer.EntryDraft) -> bool:
    return (
        entry.code == draft.code
        and entry.memo == draft.memo
        and entry.details == dict(draft.details)
        and entry.is_pending == draft.is_pending
        and entry.allow_below_floor == draft.allow_below_floor
        and [(p.account_id, p.amount) for p in entry.postings]
        == [(line.account_id, line.amount) for line in draft.lines]
        and (draft.occurred_at is None or entry.occurred_at == draft.occurred_at)
    )


def reverse(
    session: Session,
    *,
    entry_id: uuid.UUID,
    actor: str,
    clock: Clock,
    reason: str = "",
    details: Mapping[str, Any] | None = None,
    for_record: bool = False,
) -> EntryView:
    """Book the entry's mirror image, dated now. A posted pending entry is reversed
    through the entry that posted it. An entry booked for a charter record is reversed
    only by revoking the record (`for_record`), so the record never outlives its points."""
    original = _load_entry(session, entry_id)
    writer.lock_books(session, original.village_id)
    target = original
    if original.is_pending:
        resolution = _resolution_of(session, original.id)
        if resolution is None:
            raise errors.EntryNotReversible(
                f"entry {entry_id} is still pending: void it instead",
                detail_zh=f"分录 {entry_id} 仍待定：请改为作废它",
                entry_id=str(entry_id),
            )
        if resolution.code == CODE_PENDING_VOID:
            raise errors.EntryNotReversible(
                f"entry {entry_id} was voided",
                detail_zh=f"分录 {entry_id} 已作废",
                entry_id=str(entry_id),
            )
        target = resolution
    if target.code in (CODE_REVERSAL, CODE_PENDING_VOID):
        raise errors.EntryNotReversible(
            f"entry {target.id} is a {target.code} and cannot itself be reversed",
            detail_zh=f"分录 {target.id} 是 {target.code}，本身不能被冲正",
            entry_id=str(target.id),
        )
    record_id = None
    if not for_record:
        # A record that names an entry of this transaction's batch made the batch flush
        # when it was inserted: the database has everything this asks about.
        record_id = session.execute(
            select(Record.id).where(Record.entry_id == target.id).execution_options(**BATCH_AWARE)
        ).scalar_one_or_none()
    if record_id is not None:
        raise errors.EntryBelongsToRecord(
            f"entry {target.id} was booked for record {record_id}; revoke the record",
            detail_zh=f"分录 {target.id} 是为记录 {record_id} 记入的；请撤回该记录",
            entry_id=str(target.id),
            record_id=str(record_id),
        )
    existing = _reversal_of(session, target.id)
    if existing is not None:
        raise errors.EntryAlreadyReversed(
            f"entry {target.id} was reversed by entry {existing}",
            detail_zh=f"分录 {target.id} 已被分录 {existing} 冲正",
            entry_id=str(target.id),
            reversed_by_entry_id=str(existing),
        )
    draft = writer.EntryDraft(
        village_id=target.village_id,
        code=CODE_REVERSAL,
        lines=tuple(Line(p.account_id, -p.amount, Effect.POSTED) for p in target.postings),
        actor=actor,
        memo=reason or f"冲正 #{target.seq}",
        details={**(details or {}), "reverses_seq": target.seq, "reason": reason},
        reverses_entry_id=target.id,
        allow_below_floor=True,
        check_members_active=False,
    )
    entry = _write(session, draft, clock)
    events.emit_for_entry(session, entry)
    return EntryView(entry, "posted")


def post_pending(
    session: Session,
    *,
    entry_id: uuid.UUID,
    actor: str,
    clock: Clock,
    occurred_at: datetime | None = None,
) -> EntryView:
    """Make a pending entry's amounts count, as of now (or effective at `occurred_at`,
    e.g. a notice list's closing day when the clock ran late)."""
    view = _resolve(
        session, entry_id=entry_id, actor=actor, clock=clock, post=True, occurred_at=occurred_at
    )
    events.emit_for_entry(session, view.entry)
    return view


def void_pending(
    session: Session, *, entry_id: uuid.UUID, actor: str, clock: Clock, reason: str = ""
) -> EntryView:
    """Release a pending entry's holds; nothing is booked to the balances."""
    return _resolve(session, entry_id=entry_id, actor=actor, clock=clock, post=False, reason=reason)


def _resolve(
    session: Session,
    *,
    entry_id: uuid.UUID,
    actor: str,
    clock: Clock,
    post: bool,
    reason: str = "",
    occurred_at: datetime | None = None,
) -> EntryView:
    pending = _load_entry(session, entry_id)
    if not pending.is_pending:
        raise errors.EntryNotPending(
            f"entry {entry_id} is not pending",
            detail_zh=f"分录 {entry_id} 不是待定分录",
            entry_id=str(entry_id),
        )
    writer.lock_books(session, pending.village_id)
    resolution = _resolution_of(session, pending.id)
    if resolution is not None:
        problem = (
            errors.PendingEntryAlreadyPosted
            if resolution.code == CODE_PENDING_POST
            else errors.PendingEntryAlreadyVoided
        )
        raise problem(
            f"entry {entry_id} was resolved by entry {resolution.id}",
            detail_zh=f"分录 {entry_id} 已由分录 {resolution.id} 处理",
            entry_id=str(entry_id),
            resolved_by_entry_id=str(resolution.id),
        )
    effect = Effect.PENDING_POSTED if post else Effect.PENDING_VOIDED
    draft = writer.EntryDraft(
        village_id=pending.village_id,
        code=CODE_PENDING_POST if post else CODE_PENDING_VOID,
        lines=tuple(Line(p.account_id, p.amount, effect) for p in pending.postings),
        actor=actor,
        memo=reason or pending.memo,
        details={"pending_seq": pending.seq, **({"reason": reason} if reason else {})},
        pending_entry_id=pending.id,
        check_members_active=post,
        occurred_at=occurred_at,
    )
    return EntryView(_write(session, draft, clock), "posted")


# --- reading entries --------------------------------------------------------------------


def _records(session: Session, rows: Sequence[Entry]) -> list[EntryRecord]:
    if not rows:
        return []
    by_entry: dict[uuid.UUID, list[PostingRecord]] = defaultdict(list)
    # Postings never change, and those of entries still in this transaction's write batch
    # are not asked for: no need to flush the batch first.
    postings = session.execute(
        select(Posting)
        .where(Posting.entry_id.in_([row.id for row in rows]))
        .execution_options(**BATCH_AWARE)
    ).scalars()
    for p in postings:
        by_entry[p.entry_id].append(
            PostingRecord(p.position, p.account_id, p.asset, p.amount, p.effect, p.balance_after)
        )
    return [_record(row, by_entry[row.id]) for row in rows]


def _record(row: Entry, postings: list[PostingRecord]) -> EntryRecord:
    return EntryRecord(
        id=row.id,
        township_id=row.township_id,
        village_id=row.village_id,
        seq=row.seq,
        code=row.code,
        memo=row.memo,
        details=row.details,
        actor=row.actor,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        is_pending=row.is_pending,
        allow_below_floor=row.allow_below_floor,
        pending_entry_id=row.pending_entry_id,
        reverses_entry_id=row.reverses_entry_id,
        idempotency_key=row.idempotency_key,
        prev_hash=row.prev_hash,
        hash=row.hash,
        postings=tuple(sorted(postings, key=lambda p: p.position)),
    )


# The booking paths look entries up by these. An entry written by this very transaction
# is found in its write batch first; one in the database is read as it is (entries never
# change), so these lookups need no flush of the batch.


def _stored_entry(session: Session, *criteria: Any) -> EntryRecord | None:
    row = session.execute(
        select(Entry).where(*criteria).execution_options(**BATCH_AWARE)
    ).scalar_one_or_none()
    return _records(session, [row])[0] if row is not None else None


def _load_entry(session: Session, entry_id: uuid.UUID) -> EntryRecord:
    found = writer.written_entry(session, entry_id) or _stored_entry(session, Entry.id == entry_id)
    if found is None:
        raise NotFound("entry", entry_id)
    return found


def _find_by_key(
    session: Session, village_id: uuid.UUID, actor: str, key: str
) -> EntryRecord | None:
    written = writer.written_by_key(session, village_id, actor, key)
    if written is not None or writer.key_is_free(session, village_id, actor, key):
        return written
    return _stored_entry(
        session,
        Entry.village_id == village_id,
        Entry.actor == actor,
        Entry.idempotency_key == key,
    )


def _resolution_of(session: Session, pending_id: uuid.UUID) -> EntryRecord | None:
    return writer.written_resolution_of(session, pending_id) or _stored_entry(
        session, Entry.pending_entry_id == pending_id
    )


def _reversal_of(session: Session, entry_id: uuid.UUID) -> uuid.UUID | None:
    written = writer.written_reversal_of(session, entry_id)
    if written is not None:
        return written
    found: uuid.UUID | None = session.execute(
        select(Entry.id).where(Entry.reverses_entry_id == entry_id).execution_options(**BATCH_AWARE)
    ).scalar_one_or_none()
    return found


def _views(session: Session, entries: Sequence[EntryRecord]) -> list[EntryView]:
    """Each entry with its status, in two queries whatever the number of entries."""
    pending_ids = [e.id for e in entries if e.is_pending]
    resolutions: dict[uuid.UUID, tuple[uuid.UUID, str]] = {}
    if pending_ids:
        for resolution_id, pending_id, code in session.execute(
            select(Entry.id, Entry.pending_entry_id, Entry.code).where(
                Entry.pending_entry_id.in_(pending_ids)
            )
        ):
            if pending_id is not None:  # always, by the WHERE clause
                resolutions[pending_id] = (resolution_id, code)
    # A posted pending entry is reversed through the entry that posted it.
    effective = {e.id: resolutions[e.id][0] if e.id in resolutions else e.id for e in entries}
    reversals = {
        target: reversal_id
        for target, reversal_id in session.execute(
            select(Entry.reverses_entry_id, Entry.id).where(
                Entry.reverses_entry_id.in_(list(effective.values()))
            )
        )
    }
    views = []
    for entry in entries:
        resolution = resolutions.get(entry.id)
        if entry.is_pending and resolution is None:
            views.append(EntryView(entry, "pending"))
        elif resolution is not None and resolution[1] == CODE_PENDING_VOID:
            views.append(EntryView(entry, "voided", resolved_by_entry_id=resolution[0]))
        else:
            reversal = reversals.get(effective[entry.id])
            views.append(
                EntryView(
                    entry,
                    "reversed" if reversal else "posted",
                    reversed_by_entry_id=reversal,
                    resolved_by_entry_id=resolution[0] if resolution else None,
                )
            )
    return views


def get_entry(session: Session, entry_id: uuid.UUID) -> EntryView:
    return _views(session, [_load_entry(session, entry_id)])[0]


def list_entries(
    session: Session, *, village_id: uuid.UUID, limit: int, cursor: str | None = None
) -> Page[EntryView]:
    """A village's entries, newest first."""
    if session.get(Book, village_id) is None:
        raise NotFound("village", village_id)
    query = (
        select(Entry)
        .where(Entry.village_id == village_id)
        .order_by(Entry.seq.desc())
        .limit(limit + 1)
    )
    before = seq_before(cursor)
    if before is not None:
        query = query.where(Entry.seq < before)
    rows = page_of(list(session.execute(query).scalars()), limit, lambda e: {"seq": e.seq})
    views = _views(session, _records(session, rows.items))
    return Page(views, rows.next_cursor)


# --- verification and trial balance -----------------------------------------------------


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    entry_id: uuid.UUID | None
    reason: str


@dataclass(frozen=True)
class BalanceMismatch:
    account_id: uuid.UUID
    stored: Delta
    replayed: Delta


@dataclass(frozen=True)
class Verification:
    village_id: uuid.UUID
    entries_checked: int
    last_seq: int
    first_break: ChainBreak | None
    balance_mismatches: list[BalanceMismatch] = field(default_factory=list)
    # The hash of the last entry checked (last_seq): GENESIS_HASH when none was.
    last_hash: str = GENESIS_HASH

    @property
    def is_intact(self) -> bool:
        return self.first_break is None and not self.balance_mismatches


def verify_books(
    session: Session, village_id: uuid.UUID, *, up_to_seq: int | None = None
) -> Verification:
    """Walk the village's chain from the first entry: recompute every hash, check the
    links, the sequence and that each entry balances; replay the postings and compare
    them with the stored balances. Names the first broken entry.

    With `up_to_seq` the walk ends at that entry: it proves the chain from the first
    entry through it (what a head printed on a closed list stands on); the books' head
    and the balances, which are today's, are not compared."""
    book_row = session.get(Book, village_id)
    if book_row is None:
        raise NotFound("village", village_id)
    expected_seq, prev_hash = 1, GENESIS_HASH
    replayed: dict[uuid.UUID, Delta] = defaultdict(Delta)
    first_break: ChainBreak | None = None
    checked = 0
    bound = () if up_to_seq is None else (Entry.seq <= up_to_seq,)
    while first_break is None:
        rows = list(
            session.execute(
                select(Entry)
                .where(Entry.village_id == village_id, Entry.seq >= expected_seq, *bound)
                .order_by(Entry.seq)
                .limit(VERIFY_CHUNK)
            ).scalars()
        )
        if not rows:
            break
        for record, row in zip(_records(session, rows), rows, strict=True):
            first_break = _check_link(record, row, expected_seq, prev_hash)
            if first_break is not None:
                break
            for p in record.postings:
                replayed[p.account_id] += delta_of(Line(p.account_id, p.amount, Effect(p.effect)))
            expected_seq, prev_hash = record.seq + 1, record.hash
            checked += 1
        session.expunge_all()
    if up_to_seq is not None:
        if first_break is None and expected_seq <= up_to_seq:
            first_break = ChainBreak(expected_seq, None, f"entry seq {expected_seq} is missing")
        return Verification(village_id, checked, expected_seq - 1, first_break, [], prev_hash)
    if first_break is None and (
        book_row.last_seq != expected_seq - 1 or book_row.last_hash != prev_hash
    ):
        first_break = ChainBreak(
            book_row.last_seq,
            None,
            f"the books' head says seq {book_row.last_seq}, but the chain ends at "
            f"seq {expected_seq - 1}: entries are missing or the head was altered",
        )
    mismatches = [] if first_break else _balance_mismatches(session, village_id, replayed)
    return Verification(village_id, checked, expected_seq - 1, first_break, mismatches, prev_hash)


def _check_link(
    record: EntryRecord, row: Entry, expected_seq: int, prev_hash: str
) -> ChainBreak | None:
    if record.seq != expected_seq:
        return ChainBreak(expected_seq, None, f"entry seq {expected_seq} is missing")
    if record.prev_hash != prev_hash:
        return ChainBreak(
            record.seq, record.id, "prev_hash does not match the previous entry's hash"
        )
    if len(record.postings) != row.posting_count:
        return ChainBreak(record.seq, record.id, "postings were added or removed")
    sums: dict[str, int] = defaultdict(int)
    for p in record.postings:
        sums[p.asset] += p.amount
    if any(sums.values()):
        return ChainBreak(record.seq, record.id, "postings do not sum to zero")
    if entry_hash(record) != record.hash:
        return ChainBreak(record.seq, record.id, "content does not match its hash")
    return None


def _balance_mismatches(
    session: Session, village_id: uuid.UUID, replayed: dict[uuid.UUID, Delta]
) -> list[BalanceMismatch]:
    mismatches = []
    for row in session.execute(
        select(
            AccountBalance.account_id,
            AccountBalance.posted,
            AccountBalance.pending_debits,
            AccountBalance.pending_credits,
        ).where(AccountBalance.village_id == village_id)
    ):
        stored = Delta(row.posted, row.pending_debits, row.pending_credits)
        expected = replayed.get(row.account_id, Delta())
        if stored != expected:
            mismatches.append(BalanceMismatch(row.account_id, stored, expected))
    return mismatches


@dataclass(frozen=True)
class ChainHead:
    """The newest entry of a village's books: its sequence number and hash."""

    seq: int
    hash: str


def chain_head(session: Session, village_id: uuid.UUID) -> ChainHead:
    """The village's chain head, the entries this transaction booked included: what a
    closing notice list or board stores as proof of what it settled. It takes the books
    lock (if the transaction does not hold it yet), so the head cannot move until the
    transaction ends."""
    head = writer.lock_books(session, village_id)
    return ChainHead(head.last_seq, head.last_hash)


@dataclass(frozen=True)
class TrialBalanceLine:
    kind: str
    category: str
    asset: str
    accounts: int
    posted: int
    pending_debits: int
    pending_credits: int


@dataclass(frozen=True)
class TrialBalance:
    village_id: uuid.UUID
    lines: list[TrialBalanceLine]
    totals: dict[str, Delta]

    @property
    def is_balanced(self) -> bool:
        return all(
            t.posted == 0 and t.pending_debits == t.pending_credits for t in self.totals.values()
        )


def trial_balance(session: Session, village_id: uuid.UUID) -> TrialBalance:
    """Balances summed by account kind and category; per asset they must sum to zero."""
    if session.get(Book, village_id) is None:
        raise NotFound("village", village_id)
    rows = session.execute(
        select(
            Account.kind,
            Account.category,
            AccountBalance.asset,
            func.count(),
            func.sum(AccountBalance.posted),
            func.sum(AccountBalance.pending_debits),
            func.sum(AccountBalance.pending_credits),
        )
        .join(Account, Account.id == AccountBalance.account_id)
        .where(AccountBalance.village_id == village_id)
        .group_by(Account.kind, Account.category, AccountBalance.asset)
        .order_by(AccountBalance.asset, Account.kind, Account.category)
    )
    lines = [
        TrialBalanceLine(kind, category, asset, int(count), int(posted), int(debits), int(credits))
        for kind, category, asset, count, posted, debits, credits in rows
    ]
    totals: dict[str, Delta] = defaultdict(Delta)
    for line in lines:
        totals[line.asset] += Delta(line.posted, line.pending_debits, line.pending_credits)
    return TrialBalance(village_id, lines, totals)
