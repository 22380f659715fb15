"""Expiry and year-end clearing: what is due, booking it, announcing it, reading it.

Invariants:
- expiries are ordinary ledger entries (`points_expired`, `points_cleared`) between a
  holder's spendable account and the village's EXPIRY account, booked through the
  ledger service by the actor `system:expiry`; each has an idempotency key naming the
  account, the kind, the day and its number, so nothing is ever booked twice;
- what is due is derived from the account's postings under the village's books lock,
  so a till booking at the same moment cannot make it wrong;
- only available points expire: held points (pending debits) and points not yet usable
  (pending credits) are left alone; a balance below zero is a debt, kept or cleared as
  the charter says;
- `points.expiring` goes out once per holder account and day (the expiry_notices table).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from jifen.charters import service as charters
from jifen.charters.document import NOTICE_DAYS_DEFAULT
from jifen.db import Database
from jifen.expiry import errors
from jifen.expiry.policy import (
    EXPIRY_ACTOR,
    EXPIRY_CODES,
    Due,
    DueKind,
    PostingFact,
    Replay,
    Schedule,
    Terms,
)
from jifen.kit.ids import new_id
from jifen.kit.pagination import Page, page_of, uuid_after
from jifen.ledger import service as ledger
from jifen.ledger import writer
from jifen.ledger.policy import AccountKind, Asset
from jifen.models import (
    Account,
    AccountBalance,
    CharterVersion,
    Entry,
    ExpiryNotice,
    HouseholdMembership,
    Member,
    Posting,
    Village,
)
from jifen.problems import NotFound, Problem
from jifen.tenancy import service as tenancy
from jifen.webhooks import events
from jifen.webhooks.events import CODE_SUPERMARKET_REFUND

SPENDABLE = "main"  # the category of a holder's spendable account (merit never expires)
HOLDER_KINDS = (AccountKind.MEMBER.value, AccountKind.HOUSEHOLD.value)
ACCOUNTS_PER_READ = 500
WITHIN_DAYS_MAX = 366
# How far ahead the tick looks for points to announce: the longest notice allowed.
_NOTICE_HORIZON = timedelta(days=366)


# --- reading the terms and the postings -------------------------------------------------


def schedule_of(session: Session, village_id: uuid.UUID) -> Schedule:
    """The expiry terms of the village's published charter versions."""
    versions = session.execute(
        select(CharterVersion)
        .where(
            CharterVersion.village_id == village_id,
            CharterVersion.status == charters.PUBLISHED,
        )
        .order_by(CharterVersion.effective_on)
    ).scalars()
    return Schedule(
        Terms(v.effective_on, charters.compiled(v).document.settings.expiry) for v in versions
    )


_POSTINGS = (
    select(
        Posting.account_id,
        Posting.seq,
        Posting.entry_id,
        Entry.code,
        Entry.actor,
        Posting.amount,
        Posting.effect,
        Posting.occurred_at,
        Entry.recorded_at,
        Entry.pending_entry_id,
        Entry.reverses_entry_id,
    )
    .join(Entry, Entry.id == Posting.entry_id)
    .where(Posting.account_id.in_(bindparam("account_ids", expanding=True)))
    .order_by(Posting.account_id, Posting.seq)
)
_DETAILS = select(Entry.id, Entry.details).where(
    Entry.id.in_(bindparam("entry_ids", expanding=True))
)


def postings_of(
    session: Session, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[PostingFact]]:
    """Each account's postings in seq order, as the replay reads them."""
    rows = session.execute(_POSTINGS, {"account_ids": list(account_ids)}).all()
    with_details = [
        row.entry_id
        for row in rows
        if (row.actor == EXPIRY_ACTOR and row.code in EXPIRY_CODES)
        or row.code == CODE_SUPERMARKET_REFUND
    ]
    details: dict[uuid.UUID, dict[str, object]] = {}
    for start in range(0, len(with_details), ACCOUNTS_PER_READ):
        chunk = with_details[start : start + ACCOUNTS_PER_READ]
        for entry_id, entry_details in session.execute(_DETAILS, {"entry_ids": chunk}):
            details[entry_id] = entry_details
    facts: dict[uuid.UUID, list[PostingFact]] = {account_id: [] for account_id in account_ids}
    for row in rows:
        facts[row.account_id].append(
            PostingFact(
                seq=row.seq,
                entry_id=row.entry_id,
                code=row.code,
                actor=row.actor,
                amount=row.amount,
                effect=row.effect,
                occurred_at=row.occurred_at,
                recorded_at=row.recorded_at,
                pending_entry_id=row.pending_entry_id,
                reverses_entry_id=row.reverses_entry_id,
                refund_of=_refund_of(row.code, details.get(row.entry_id)),
                details=details.get(row.entry_id) or {},
            )
        )
    return facts


def _refund_of(code: str, details: dict[str, object] | None) -> uuid.UUID | None:
    """The sale a supermarket refund gives (some of) the points of back."""
    if code != CODE_SUPERMARKET_REFUND or not details:
        return None
    try:
        return uuid.UUID(str(details.get("refund_of")))
    except ValueError:
        return None


@dataclass(frozen=True)
class HolderAccount:
    """A member's or household's spendable account, with what expiry needs of its owner."""

    account_id: uuid.UUID
    village_id: uuid.UUID
    township_id: uuid.UUID
    kind: str  # member | household
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    name: str
    deactivated_on: date | None  # the member's, if they moved away or died


_HOLDERS = (
    select(
        Account.id,
        Account.village_id,
        Account.township_id,
        Account.kind,
        Account.member_id,
        Account.household_id,
        Account.name,
        Member.deactivated_on,
    )
    .join(AccountBalance, AccountBalance.account_id == Account.id)
    .outerjoin(Member, Member.id == Account.member_id)
    .where(
        Account.kind.in_(HOLDER_KINDS),
        Account.category == SPENDABLE,
        Account.asset == Asset.POINTS.value,
    )
    .order_by(Account.id)
)


def _holders(
    session: Session,
    *,
    village_id: uuid.UUID | None = None,
    account_ids: Sequence[uuid.UUID] | None = None,
    with_points: bool = False,
    after: uuid.UUID | None = None,
    limit: int | None = None,
) -> list[HolderAccount]:
    query = _HOLDERS
    if village_id is not None:
        query = query.where(Account.village_id == village_id)
    if account_ids is not None:
        query = query.where(Account.id.in_(account_ids))
    # Only points available can expire; an account never booked has nothing at all.
    if with_points:
        query = query.where(AccountBalance.posted - AccountBalance.pending_debits > 0)
    else:
        query = query.where(AccountBalance.last_seq > 0)
    if after is not None:
        query = query.where(Account.id > after)
    if limit is not None:
        query = query.limit(limit)
    return [HolderAccount(*row) for row in session.execute(query)]


def get_holder_account(session: Session, account_id: uuid.UUID) -> HolderAccount:
    account = ledger.get_account(session, account_id)
    if (
        account.kind not in HOLDER_KINDS
        or account.category != SPENDABLE
        or account.asset != Asset.POINTS.value
    ):
        raise errors.NotHolderAccount(
            f"account {account_id} is a {account.kind} {account.category} account",
            detail_zh=f"账户 {account_id} 是 {account.kind} {account.category} 账户",
            account_id=str(account_id),
        )
    member = session.get(Member, account.member_id) if account.member_id else None
    return HolderAccount(
        account.id,
        account.village_id,
        account.township_id,
        account.kind,
        account.member_id,
        account.household_id,
        account.name,
        member.deactivated_on if member else None,
    )


def _last_day(holder: HolderAccount, until: date) -> date:
    """No expiry is dated after a member was deactivated: their account is frozen."""
    if holder.deactivated_on is not None:
        return min(until, holder.deactivated_on)
    return until


# --- booking what is due ----------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """What apply_due did to one account."""

    account: HolderAccount
    booked: list[tuple[Due, uuid.UUID]]  # each due, and the entry that booked it
    announced: list[Due]


def apply_due(
    session: Session,
    *,
    account_id: uuid.UUID,
    clock: ledger.Clock,
    schedule: Schedule | None = None,
) -> Applied:
    """Book every expiry and clearing of the account that fell due on a day ended by
    `clock.now`, in order, and announce (once) the points expiring within the notice the
    charter gives. Takes the village's books lock; flushes, never commits."""
    holder = get_holder_account(session, account_id)
    writer.lock_books(session, holder.village_id)
    schedule = schedule or schedule_of(session, holder.village_id)
    zone = clock.settings.zone
    replay = Replay(schedule, zone).replay(postings_of(session, [account_id])[account_id])
    today = clock.local_date(clock.now)
    dues = replay.settle(until=_last_day(holder, today - timedelta(days=1)))
    booked: list[tuple[Due, uuid.UUID]] = []
    if dues:
        sink = ledger.find_account_id(
            session, village_id=holder.village_id, kind=AccountKind.EXPIRY
        )
        if sink is None:
            raise NotFound("expiry account of village", holder.village_id)
        available = ledger.get_balance(session, account_id).available
        for due in dues:
            if holder.deactivated_on and clock.local_date(due.occurred_at) > holder.deactivated_on:
                continue  # points given back after the member left stay frozen
            if due.kind is not DueKind.DEBT:
                cut = _within(due, available)
                if cut is None:
                    continue
                due = cut
            signed = due.points if due.kind is DueKind.DEBT else -due.points
            view = ledger.book(
                session,
                village_id=holder.village_id,
                code=due.kind.code,
                postings=[
                    ledger.PostingInput(account_id, signed),
                    ledger.PostingInput(sink, -signed),
                ],
                actor=EXPIRY_ACTOR,
                clock=clock,
                memo=due.memo,
                details=due.details,
                occurred_at=due.occurred_at,
                idempotency_key=due.idempotency_key(account_id),
            )
            available += signed
            booked.append((due, view.entry.id))
    announced = [] if holder.deactivated_on else _announce(session, holder, replay, clock)
    return Applied(holder, booked, announced)


def _within(due: Due, available: int) -> Due | None:
    """The due, cut to what the account has available (the replay and the balance agree
    unless the books were altered; the ledger would refuse more)."""
    if due.points <= available:
        return due
    if available <= 0:
        return None
    lots, left = [], available
    for seq, points in due.lots:
        taken = min(points, left)
        if taken > 0:
            lots.append((seq, taken))
            left -= taken
    return Due(
        kind=due.kind,
        on=due.on,
        points=available,
        lots=tuple(lots),
        occurred_at=due.occurred_at,
        number=due.number,
        policy=due.policy,
        cutoff=due.cutoff,
        notice_days=due.notice_days,
    )


def _to_announce(replay: Replay, today: date) -> list[Due]:
    """What will expire from today on, within each expiry's notice (after settle up to
    yesterday: this continues the replay)."""
    return [
        due
        for due in replay.settle(until=today + _NOTICE_HORIZON)
        if due.kind is not DueKind.DEBT
        and due.notice_days > 0
        and today <= due.on <= today + timedelta(days=due.notice_days)
    ]


def _announce(
    session: Session, holder: HolderAccount, replay: Replay, clock: ledger.Clock
) -> list[Due]:
    today = clock.local_date(clock.now)
    upcoming = _to_announce(replay, today)
    if not upcoming:
        return []
    told = set(
        session.execute(
            select(ExpiryNotice.expires_on).where(
                ExpiryNotice.account_id == holder.account_id,
                ExpiryNotice.expires_on >= today,
            )
        ).scalars()
    )
    announced = []
    for due in upcoming:
        if due.on in told:
            continue
        told.add(due.on)
        session.add(
            ExpiryNotice(
                id=new_id(),
                township_id=holder.township_id,
                village_id=holder.village_id,
                account_id=holder.account_id,
                expires_on=due.on,
                policy=due.policy.value,
                points=due.points,
                announced_at=clock.now,
            )
        )
        events.emit(
            session,
            event_type=events.EventType.POINTS_EXPIRING,
            township_id=holder.township_id,
            village_id=holder.village_id,
            member_id=holder.member_id,
            household_id=holder.household_id,
            data={
                "account_id": str(holder.account_id),
                "category": SPENDABLE,
                "member_id": _str(holder.member_id),
                "household_id": _str(holder.household_id),
                "expires_on": due.on.isoformat(),
                "points": due.points,
                "kind": due.kind.value,
                "policy": due.policy.value,
            },
            now=clock.now,
        )
        announced.append(due)
    session.flush()
    return announced


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


# --- the tick ---------------------------------------------------------------------------


@dataclass
class VillageTick:
    village_id: uuid.UUID
    code: str
    name: str
    accounts_read: int = 0
    # (kind, day) -> [accounts, points]
    booked: dict[tuple[DueKind, date], list[int]] = field(default_factory=dict)
    entries: int = 0
    notices: int = 0
    skipped: str | None = None  # why nothing was looked at
    failure: str | None = None

    def lines(self) -> list[str]:
        head = f"{self.code} {self.name}"
        if self.failure:
            return [f"{head}: FAILED: {self.failure}"]
        if self.skipped:
            return [f"{head}: {self.skipped}"]
        lines = [
            f"{head}: {self.accounts_read} accounts read, {self.entries} entries booked, "
            f"{self.notices} holders told of points expiring"
        ]
        labels = {DueKind.EXPIRY: "到期", DueKind.CLEARING: "清零", DueKind.DEBT: "欠分清零"}
        for (kind, day), (accounts, points) in sorted(self.booked.items(), key=lambda i: i[0][1]):
            lines.append(f"  {day} {labels[kind]} ({kind.value}): {accounts} accounts, {points}")
        return lines


@dataclass
class TickReport:
    villages: list[VillageTick] = field(default_factory=list)

    @property
    def entries(self) -> int:
        return sum(v.entries for v in self.villages)

    @property
    def notices(self) -> int:
        return sum(v.notices for v in self.villages)

    @property
    def failed(self) -> bool:
        return any(v.failure for v in self.villages)


def tick(
    database: Database,
    *,
    now: datetime,
    village: str | None = None,
    progress: Callable[[str], None] = lambda _line: None,
) -> TickReport:
    """Apply everything due up to `now` in every village (or the one named by id or
    code), account by account, each in a transaction of its own holding the books lock
    only as long as that account takes. Safe to run twice, and at any time: what was
    booked is never booked again, and after a gap it catches up, day by day, in order."""
    clock = ledger.Clock(now=now, settings=database.settings)
    with database.unit_of_work(write=False) as session:
        villages = [
            (v.id, v.code, v.name)
            for v in session.execute(select(Village).order_by(Village.code)).scalars()
            if village in (None, v.code, str(v.id))
        ]
    if village is not None and not villages:
        raise NotFound("village", village)
    report = TickReport()
    for village_id, code, name in villages:
        result = VillageTick(village_id, code, name)
        report.villages.append(result)
        try:
            _tick_village(database, result, clock, progress)
        except Problem as problem:  # e.g. a charter version that cannot be loaded
            result.failure = f"{problem.code}: {problem.detail}"
        for line in result.lines():
            progress(line)
    return report


def _tick_village(
    database: Database,
    result: VillageTick,
    clock: ledger.Clock,
    progress: Callable[[str], None],
) -> None:
    with database.unit_of_work(write=False) as session:
        schedule = schedule_of(session, result.village_id)
        if not schedule.expires:
            result.skipped = "points never expire (carry_over)"
            return
        work = list(_accounts_with_work(session, result, schedule, clock, progress))
    for done, account_id in enumerate(work, start=1):
        with database.unit_of_work() as session:
            applied = apply_due(session, account_id=account_id, clock=clock, schedule=schedule)
        for due, _entry_id in applied.booked:
            tally = result.booked.setdefault((due.kind, due.on), [0, 0])
            tally[0] += 1
            tally[1] += due.points
        result.entries += len(applied.booked)
        result.notices += len(applied.announced)
        if done % 100 == 0:
            progress(f"{result.code} {result.name}: {done}/{len(work)} accounts applied")


def _accounts_with_work(
    session: Session,
    result: VillageTick,
    schedule: Schedule,
    clock: ledger.Clock,
    progress: Callable[[str], None],
) -> Iterable[uuid.UUID]:
    """The accounts with something due or to announce, read without locking anything
    (apply_due reads them again under the lock)."""
    today = clock.local_date(clock.now)
    told: dict[uuid.UUID, set[date]] = defaultdict(set)
    for account_id, day in session.execute(
        select(ExpiryNotice.account_id, ExpiryNotice.expires_on).where(
            ExpiryNotice.village_id == result.village_id, ExpiryNotice.expires_on >= today
        )
    ):
        told[account_id].add(day)
    after = None
    while True:
        holders = _holders(
            session, village_id=result.village_id, after=after, limit=ACCOUNTS_PER_READ
        )
        if not holders:
            return
        after = holders[-1].account_id
        facts = postings_of(session, [h.account_id for h in holders])
        for holder in holders:
            result.accounts_read += 1
            replay = Replay(schedule, clock.settings.zone).replay(facts[holder.account_id])
            due = replay.settle(until=_last_day(holder, today - timedelta(days=1)))
            untold = not holder.deactivated_on and any(
                d.on not in told[holder.account_id] for d in _to_announce(replay, today)
            )
            if due or untold:
                yield holder.account_id
        progress(f"{result.code} {result.name}: {result.accounts_read} accounts read")


# --- what is expiring -------------------------------------------------------------------


@dataclass(frozen=True)
class Expiring:
    on: date  # the last day the points count; they are gone at its end
    points: int
    kind: DueKind
    policy: str


@dataclass(frozen=True)
class HolderExpiring:
    holder: HolderAccount
    expiring: list[Expiring]

    @property
    def points(self) -> int:
        return sum(e.points for e in self.expiring)


def _window(schedule: Schedule, today: date, within_days: int | None) -> date:
    if within_days is None:
        terms = schedule.terms_on(today)
        within_days = (
            terms.notice_days_in_effect if terms and terms.expires else NOTICE_DAYS_DEFAULT
        )
    return today + timedelta(days=within_days)


def _expiring(
    schedule: Schedule,
    holder: HolderAccount,
    postings: list[PostingFact],
    clock: ledger.Clock,
    last: date,
) -> list[Expiring]:
    replay = Replay(schedule, clock.settings.zone).replay(postings)
    return [
        Expiring(due.on, due.points, due.kind, due.policy.value)
        for due in replay.settle(until=_last_day(holder, last))
        if due.kind is not DueKind.DEBT
    ]


def expiring_points(
    session: Session, *, account_id: uuid.UUID, clock: ledger.Clock, within_days: int | None
) -> list[Expiring]:
    """A holder account's points that expire (or clear) by day, from what is overdue
    (the next tick takes it) to `within_days` days from today (default: the notice the
    charter in force gives), as things stand now."""
    holder = get_holder_account(session, account_id)
    schedule = schedule_of(session, holder.village_id)
    if not schedule.expires:
        return []
    last = _window(schedule, clock.local_date(clock.now), within_days)
    return _expiring(schedule, holder, postings_of(session, [account_id])[account_id], clock, last)


def list_expiring(
    session: Session,
    *,
    village_id: uuid.UUID,
    clock: ledger.Clock,
    within_days: int | None,
    limit: int,
    cursor: str | None = None,
) -> Page[HolderExpiring]:
    """The village's holders with points expiring within the window, by account id."""
    tenancy.get_village(session, village_id)
    schedule = schedule_of(session, village_id)
    if not schedule.expires:
        return Page([], None)
    last = _window(schedule, clock.local_date(clock.now), within_days)
    found: list[HolderExpiring] = []
    after = uuid_after(cursor)
    while len(found) <= limit:
        holders = _holders(
            session, village_id=village_id, with_points=True, after=after, limit=ACCOUNTS_PER_READ
        )
        if not holders:
            break
        after = holders[-1].account_id
        facts = postings_of(session, [h.account_id for h in holders])
        for holder in holders:
            expiring = _expiring(schedule, holder, facts[holder.account_id], clock, last)
            if expiring:
                found.append(HolderExpiring(holder, expiring))
                if len(found) > limit:
                    break
    return page_of(found, limit, lambda h: {"id": h.holder.account_id.hex})


def member_expiring(
    session: Session, *, member_id: uuid.UUID, clock: ledger.Clock, within_days: int | None
) -> list[HolderExpiring]:
    """A member's own points expiring, and their household's (whichever the charter has
    them held by), within the window."""
    member = tenancy.get_member(session, member_id)
    schedule = schedule_of(session, member.village_id)
    if not schedule.expires:
        return []
    today = clock.local_date(clock.now)
    last = _window(schedule, today, within_days)
    household_id = session.execute(
        select(HouseholdMembership.household_id).where(
            HouseholdMembership.member_id == member_id,
            HouseholdMembership.joined_on <= today,
            (HouseholdMembership.left_on.is_(None)) | (HouseholdMembership.left_on > today),
        )
    ).scalar_one_or_none()
    account_ids = [
        account_id
        for account_id in (
            ledger.find_account_id(
                session, village_id=member.village_id, kind=AccountKind.MEMBER, owner_id=member_id
            ),
            household_id
            and ledger.find_account_id(
                session,
                village_id=member.village_id,
                kind=AccountKind.HOUSEHOLD,
                owner_id=household_id,
            ),
        )
        if account_id
    ]
    holders = _holders(session, account_ids=account_ids, with_points=True)
    facts = postings_of(session, [h.account_id for h in holders])
    answer = []
    for holder in holders:
        expiring = _expiring(schedule, holder, facts[holder.account_id], clock, last)
        if expiring:
            answer.append(HolderExpiring(holder, expiring))
    return answer
