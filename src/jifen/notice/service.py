"""Public notice service: the stored lists, putting records on them, and the clock.

Invariants:
- a record booked under a charter whose notice settings list its category joins exactly
  one list (notice_list_items.record_id is unique): the list of its charter version,
  setting and period, created on demand. If that period's list has already closed when
  the record is booked (a late recording), it joins the next list of the same setting
  that has not closed yet, so nothing is ever added to a published list;
- `before`: the record's entry is booked pending (held, not spendable); `after`: posted;
- the tick opens lists on their day and closes them when due, in order of closing; at
  closing every `before` entry that is still pending and not under an open objection is
  posted through the ledger service, and the village's chain head is stored on the list.
  Closing twice does nothing: a closed list is skipped, a resolved entry is left alone.
  Then, in the same transaction, the village's boards whose lists have all closed close
  (boards.close_settled).
- every list opened or closed and every objection raised or decided adds one outbox
  event (notice_list.opened/closed, objection.raised/decided) in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from jifen.charters.document import Charter, NoticeScope
from jifen.db import Database
from jifen.kit.canonical import format_instant
from jifen.kit.ids import new_id
from jifen.kit.pagination import Page, page_by_id
from jifen.ledger import service as ledger
from jifen.ledger import writer
from jifen.models import (
    Entry,
    Member,
    NoticeList,
    NoticeListItem,
    NoticeObjection,
    Posting,
    Record,
    Village,
)
from jifen.notice import policy
from jifen.notice.errors import (
    AppealWindowClosed,
    EntryNotObjectable,
    EntryNotOnList,
    NoticeListNotOpen,
    ObjectionAlreadyDecided,
    ObjectionAlreadyOpen,
    ObjectionDeciderNotAllowed,
)
from jifen.problems import NotFound, Problem
from jifen.webhooks import events

NOTICE_ACTOR = "system:notice"
SCHEDULED, OPEN, CLOSED = "scheduled", "open", "closed"
OBJECTION_OPEN = "open"
_OUTCOME_ZH = {"upheld": "异议成立", "rejected": "异议不成立"}


def scope_for(charter: Charter, category: str) -> tuple[int, NoticeScope] | None:
    """The charter's notice setting (and its index) that lists a rule category, if any."""
    for index, scope in enumerate(charter.document.settings.public_notice.lists):
        if scope.categories == "all" or category in scope.categories:
            return index, scope
    return None


def is_pending_under(charter: Charter, category: str) -> bool:
    """Whether a record of the category is booked pending (a `before` list names it)."""
    found = scope_for(charter, category)
    return found is not None and found[1].mode.value == policy.Mode.BEFORE.value


def _calendar(scope: NoticeScope, occurred_on: date) -> policy.ListCalendar:
    return policy.monthly_calendar(
        occurred_on,
        opens_on_day=scope.opens_on_day,
        days=scope.days,
        appeal_days=scope.appeal_days,
    )


def calendar_for(scope: NoticeScope, *, occurred_on: date, today: date) -> policy.ListCalendar:
    """The calendar of the list a record joins: its period's, or the first one after it
    that has not closed by `today`."""
    calendar = _calendar(scope, occurred_on)
    while calendar.closes_on <= today:
        calendar = _calendar(scope, calendar.period_end_on + timedelta(days=1))
    return calendar


def open_list_for(
    session: Session,
    *,
    village_id: uuid.UUID,
    township_id: uuid.UUID,
    charter_version_id: uuid.UUID,
    list_index: int,
    scope: NoticeScope,
    occurred_on: date,
    now: datetime,
    today: date,
) -> NoticeList:
    """The list a record of `occurred_on` joins, created on demand (the caller holds the
    village's books lock, so two recordings cannot create it twice)."""
    calendar = calendar_for(scope, occurred_on=occurred_on, today=today)
    found = session.execute(
        select(NoticeList).where(
            NoticeList.charter_version_id == charter_version_id,
            NoticeList.list_index == list_index,
            NoticeList.period_start_on == calendar.period_start_on,
        )
    ).scalar_one_or_none()
    if found is not None:
        return found
    row = NoticeList(
        id=new_id(),
        township_id=township_id,
        village_id=village_id,
        charter_version_id=charter_version_id,
        list_index=list_index,
        categories=scope.categories,
        mode=scope.mode.value,
        deciding_role=scope.deciding_role,
        period_start_on=calendar.period_start_on,
        period_end_on=calendar.period_end_on,
        opens_on=calendar.opens_on,
        closes_on=calendar.closes_on,
        appeal_until=calendar.appeal_ends_on,
        state=OPEN if calendar.is_open_on(today) else SCHEDULED,
        created_at=now,
        opened_at=now if calendar.is_open_on(today) else None,
        closed_at=None,
        head_seq=None,
        head_hash=None,
    )
    session.add(row)
    session.flush()
    if row.state == OPEN:
        _emit_list(session, events.EventType.NOTICE_LIST_OPENED, row, now=now)
    return row


def join(
    session: Session, *, record: Record, charter: Charter, entry_id: uuid.UUID, clock: ledger.Clock
) -> NoticeListItem | None:
    """Put a booked record on its notice list, if the charter lists its category."""
    found = scope_for(charter, record.category)
    if found is None:
        return None
    index, scope = found
    notice_list = open_list_for(
        session,
        village_id=record.village_id,
        township_id=record.township_id,
        charter_version_id=record.charter_version_id,
        list_index=index,
        scope=scope,
        occurred_on=record.occurred_on,
        now=clock.now,
        today=clock.local_date(clock.now),
    )
    item = NoticeListItem(
        id=new_id(),
        list_id=notice_list.id,
        record_id=record.id,
        entry_id=entry_id,
        mode=scope.mode.value,
        posted_entry_id=None,
        created_at=clock.now,
    )
    session.add(item)
    session.flush()
    return item


# --- the clock ------------------------------------------------------------------------


@dataclass
class VillageNoticeTick:
    village_id: uuid.UUID
    code: str
    opened: int = 0
    closed: int = 0
    posted: int = 0
    boards_closed: int = 0
    failure: str | None = None


@dataclass
class NoticeTickReport:
    villages: list[VillageNoticeTick] = field(default_factory=list)

    @property
    def opened(self) -> int:
        return sum(v.opened for v in self.villages)

    @property
    def closed(self) -> int:
        return sum(v.closed for v in self.villages)

    @property
    def posted(self) -> int:
        return sum(v.posted for v in self.villages)

    @property
    def boards_closed(self) -> int:
        return sum(v.boards_closed for v in self.villages)

    @property
    def failed(self) -> bool:
        return any(v.failure for v in self.villages)


def apply_due(session: Session, *, village_id: uuid.UUID, clock: ledger.Clock) -> VillageNoticeTick:
    """Open and close the village's lists that fell due by `clock.now`, oldest first;
    then close the boards whose lists have all closed."""
    from jifen.boards import service as boards  # boards imports records, which imports this

    writer.lock_books(session, village_id)
    village = session.get(Village, village_id)
    if village is None:
        raise NotFound("village", village_id)
    result = VillageNoticeTick(village_id, village.code)
    today = clock.local_date(clock.now)
    due = (
        session.execute(
            select(NoticeList)
            .where(
                NoticeList.village_id == village_id,
                NoticeList.state != CLOSED,
                NoticeList.opens_on <= today,
            )
            .order_by(NoticeList.closes_on, NoticeList.opens_on, NoticeList.id)
        )
        .scalars()
        .all()
    )
    for notice_list in due:
        if notice_list.state == SCHEDULED:
            notice_list.state = OPEN
            notice_list.opened_at = clock.now
            result.opened += 1
            _emit_list(session, events.EventType.NOTICE_LIST_OPENED, notice_list, now=clock.now)
        if notice_list.closes_on <= today:
            posted = _close(session, notice_list, clock)
            result.posted += posted
            result.closed += 1
            _emit_list(
                session,
                events.EventType.NOTICE_LIST_CLOSED,
                notice_list,
                now=clock.now,
                extra={"posted_entries": posted},
            )
    result.boards_closed = boards.close_settled(session, village_id=village_id, clock=clock)
    session.flush()
    return result


def _close(session: Session, notice_list: NoticeList, clock: ledger.Clock) -> int:
    objected = set(
        session.execute(
            select(NoticeObjection.item_id).where(
                NoticeObjection.list_id == notice_list.id,
                NoticeObjection.state == OBJECTION_OPEN,
            )
        ).scalars()
    )
    items = (
        session.execute(
            select(NoticeListItem)
            .where(NoticeListItem.list_id == notice_list.id)
            .order_by(NoticeListItem.created_at, NoticeListItem.id)
        )
        .scalars()
        .all()
    )
    # Dated at the start of the closing day, even when the tick runs days later.
    closing = datetime.combine(notice_list.closes_on, time.min, tzinfo=clock.settings.zone)
    occurred_at = closing if closing < clock.now else None
    posted = 0
    for item in items:
        action = policy.settles_at_closing(
            mode=policy.Mode(item.mode), is_under_objection=item.id in objected
        )
        if action is not policy.Action.POST:
            continue
        if ledger.get_entry(session, item.entry_id).status != "pending":
            continue  # voided with its revoked record, or already resolved
        view = ledger.post_pending(
            session,
            entry_id=item.entry_id,
            actor=NOTICE_ACTOR,
            clock=clock,
            occurred_at=occurred_at,
        )
        item.posted_entry_id = view.entry.id
        posted += 1
    head = ledger.chain_head(session, notice_list.village_id)
    notice_list.state = CLOSED
    notice_list.closed_at = clock.now
    notice_list.head_seq = head.seq
    notice_list.head_hash = head.hash
    return posted


def tick(
    database: Database,
    *,
    now: datetime,
    village: str | None = None,
    progress: Callable[[str], None] = lambda _line: None,
) -> NoticeTickReport:
    """Open and close the notice lists due by `now`, and close the boards they settle,
    village by village, each village in a transaction of its own. Safe to run twice and
    after a gap (it catches up in order)."""
    clock = ledger.Clock(now=now, settings=database.settings)
    with database.unit_of_work(write=False) as session:
        villages = [
            v.id
            for v in session.execute(select(Village).order_by(Village.code)).scalars()
            if village in (None, v.code, str(v.id))
        ]
    if village is not None and not villages:
        raise NotFound("village", village)
    report = NoticeTickReport()
    for village_id in villages:
        try:
            with database.unit_of_work() as session:
                result = apply_due(session, village_id=village_id, clock=clock)
        except Problem as problem:
            result = VillageNoticeTick(village_id, str(village_id))
            result.failure = f"{problem.code}: {problem.detail}"
        report.villages.append(result)
        if result.opened or result.closed or result.boards_closed or result.failure:
            progress(
                f"{result.code}: notice lists {result.opened} opened, {result.closed} closed, "
                f"{result.posted} entries posted, {result.boards_closed} boards closed"
                + (f" ({result.failure})" if result.failure else "")
            )
    return report


# --- objections (异议) and late appeals (逾期申诉) ----------------------------------------


def _calendar_of(notice_list: NoticeList) -> policy.ListCalendar:
    return policy.ListCalendar(
        period_start_on=notice_list.period_start_on,
        period_end_on=notice_list.period_end_on,
        opens_on=notice_list.opens_on,
        closes_on=notice_list.closes_on,
        appeal_ends_on=notice_list.appeal_until,
    )


def get_list(session: Session, list_id: uuid.UUID) -> NoticeList:
    row = session.get(NoticeList, list_id)
    if row is None:
        raise NotFound("notice list", list_id)
    return row


def raise_objection(
    session: Session,
    *,
    list_id: uuid.UUID,
    entry_id: uuid.UUID,
    raised_by: str,
    reason: str,
    recorded_by: str,
    clock: ledger.Clock,
) -> NoticeObjection:
    """Record an objection to one entry of a list (the clerk records what a villager
    raised): while the list is open an objection, after closing a late appeal, within
    the appeal window. It holds back that entry only."""
    notice_list = get_list(session, list_id)
    writer.lock_books(session, notice_list.village_id)
    item = session.execute(
        select(NoticeListItem).where(
            NoticeListItem.list_id == list_id, NoticeListItem.entry_id == entry_id
        )
    ).scalar_one_or_none()
    if item is None:
        raise EntryNotOnList(
            f"entry {entry_id} is not on notice list {list_id}",
            detail_zh=f"分录 {entry_id} 不在公示名单 {list_id} 上",
            entry_id=str(entry_id),
            list_id=str(list_id),
        )
    today = clock.local_date(clock.now)
    kind = policy.objection_kind(_calendar_of(notice_list), raised_on=today)
    if kind is policy.ObjectionRefusal.LIST_NOT_OPEN_YET:
        raise NoticeListNotOpen(
            f"notice list {list_id} opens on {notice_list.opens_on}",
            detail_zh=f"公示名单 {list_id} 于 {notice_list.opens_on} 开始公示，尚不能提出异议",
            opens_on=notice_list.opens_on.isoformat(),
        )
    if kind is policy.ObjectionRefusal.APPEAL_WINDOW_CLOSED:
        raise AppealWindowClosed(
            f"late appeals to notice list {list_id} were heard until the start of "
            f"{notice_list.appeal_until}",
            detail_zh=f"公示名单 {list_id} 的逾期申诉只受理到 {notice_list.appeal_until} 之前",
            appeal_until=notice_list.appeal_until.isoformat(),
        )
    assert isinstance(kind, policy.ObjectionKind)
    if ledger.get_entry(session, entry_id).status not in ("pending", "posted"):
        raise EntryNotObjectable(
            f"entry {entry_id} no longer counts",
            detail_zh=f"分录 {entry_id} 已不再计分（已撤销或冲正），不能提出异议",
            entry_id=str(entry_id),
        )
    waiting = session.execute(
        select(NoticeObjection.id).where(
            NoticeObjection.item_id == item.id, NoticeObjection.state == OBJECTION_OPEN
        )
    ).scalar_one_or_none()
    if waiting is not None:
        raise ObjectionAlreadyOpen(
            f"objection {waiting} to entry {entry_id} waits for a decision",
            detail_zh=f"对分录 {entry_id} 的异议 {waiting} 尚待处理",
            objection_id=str(waiting),
        )
    row = NoticeObjection(
        id=new_id(),
        list_id=list_id,
        item_id=item.id,
        entry_id=entry_id,
        kind=kind.value,
        raised_by=raised_by,
        raised_on=today,
        reason=reason,
        recorded_by=recorded_by,
        state=OBJECTION_OPEN,
        decided_by_role=None,
        decided_by=None,
        decided_on=None,
        decision_reason=None,
        created_at=clock.now,
    )
    session.add(row)
    session.flush()
    _emit_objection(session, events.EventType.OBJECTION_RAISED, notice_list, row, now=clock.now)
    return row


def decide_objection(
    session: Session,
    *,
    objection_id: uuid.UUID,
    upheld: bool,
    reason: str,
    decider: str,
    roles: frozenset[str],
    clock: ledger.Clock,
) -> NoticeObjection:
    """Decide an objection as the list's deciding role (policy.decide says what it does):
    upheld voids a held entry, or reverses a counted one dated now (through revoking the
    record, so the record never outlives its points); rejected posts a held entry on the
    later of today and the closing day (the closing tick posts it if that is later)."""
    from jifen.records import service as records  # records imports this module

    row = session.get(NoticeObjection, objection_id)
    if row is None:
        raise NotFound("objection", objection_id)
    notice_list = get_list(session, row.list_id)
    writer.lock_books(session, notice_list.village_id)
    session.refresh(row)
    if row.state != OBJECTION_OPEN:
        raise ObjectionAlreadyDecided(
            f"objection {objection_id} was {row.state}",
            detail_zh=f"异议 {objection_id} 已处理（{_OUTCOME_ZH.get(row.state, row.state)}）",
            objection_state=row.state,
        )
    if notice_list.deciding_role not in roles:
        raise ObjectionDeciderNotAllowed(
            f"objections to this list are decided by {notice_list.deciding_role}",
            detail_zh=f"该公示名单的异议由 {notice_list.deciding_role} 角色处理",
            deciding_role=notice_list.deciding_role,
        )
    item = session.get(NoticeListItem, row.item_id)
    assert item is not None  # a foreign key
    today = clock.local_date(clock.now)
    decision = policy.decide(
        mode=policy.Mode(item.mode),
        kind=policy.ObjectionKind(row.kind),
        outcome=policy.Outcome.UPHELD if upheld else policy.Outcome.REJECTED,
        decided_on=today,
        closes_on=notice_list.closes_on,
    )
    if decision.action in (policy.Action.VOID, policy.Action.REVERSE):
        records.revoke(
            session,
            record_id=item.record_id,
            reason=f"公示异议成立：{reason}",
            actor=decider,
            clock=clock,
        )
    elif (
        decision.action is policy.Action.POST
        and decision.effective_on is not None
        and decision.effective_on <= today
    ):
        view = ledger.post_pending(session, entry_id=item.entry_id, actor=decider, clock=clock)
        item.posted_entry_id = view.entry.id
    # A rejected objection decided while the list is open: its closing posts the entry.
    row.state = policy.Outcome.UPHELD.value if upheld else policy.Outcome.REJECTED.value
    row.decided_by_role = notice_list.deciding_role
    row.decided_by = decider
    row.decided_on = today
    row.decision_reason = reason
    session.flush()
    _emit_objection(session, events.EventType.OBJECTION_DECIDED, notice_list, row, now=clock.now)
    return row


# --- events ----------------------------------------------------------------------------


def list_data(row: NoticeList) -> dict[str, Any]:
    """The list as plain JSON, for events."""
    return {
        "notice_list_id": str(row.id),
        "charter_version_id": str(row.charter_version_id),
        "list_index": row.list_index,
        "categories": row.categories,
        "mode": row.mode,
        "deciding_role": row.deciding_role,
        "period_start_on": row.period_start_on.isoformat(),
        "period_end_on": row.period_end_on.isoformat(),
        "opens_on": row.opens_on.isoformat(),
        "closes_on": row.closes_on.isoformat(),
        "appeal_until": row.appeal_until.isoformat(),
        "state": row.state,
        "head_seq": row.head_seq,
        "head_hash": row.head_hash,
    }


def objection_data(row: NoticeObjection) -> dict[str, Any]:
    """The objection as plain JSON, for events."""
    return {
        "objection_id": str(row.id),
        "notice_list_id": str(row.list_id),
        "entry_id": str(row.entry_id),
        "kind": row.kind,
        "raised_by": row.raised_by,
        "raised_on": row.raised_on.isoformat(),
        "recorded_by": row.recorded_by,
        "state": row.state,
        "decided_by_role": row.decided_by_role,
        "decided_by": row.decided_by,
        "decided_on": row.decided_on.isoformat() if row.decided_on else None,
        "created_at": format_instant(row.created_at),
    }


def _emit_list(
    session: Session,
    event_type: events.EventType,
    row: NoticeList,
    *,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> None:
    events.emit(
        session,
        event_type=event_type,
        township_id=row.township_id,
        village_id=row.village_id,
        data={**list_data(row), **(extra or {})},
        now=now,
    )


def _emit_objection(
    session: Session,
    event_type: events.EventType,
    notice_list: NoticeList,
    row: NoticeObjection,
    *,
    now: datetime,
) -> None:
    item = session.get(NoticeListItem, row.item_id)
    record = session.get(Record, item.record_id) if item is not None else None
    events.emit(
        session,
        event_type=event_type,
        township_id=notice_list.township_id,
        village_id=notice_list.village_id,
        member_id=record.member_id if record is not None else None,
        household_id=record.household_id if record is not None else None,
        data={
            **objection_data(row),
            "record_id": str(record.id) if record is not None else None,
        },
        now=now,
    )


# --- reading lists ---------------------------------------------------------------------

ENTRY_UNDER_OBJECTION = "under_objection"


def list_lists(
    session: Session,
    *,
    village_id: uuid.UUID,
    state: str | None,
    period_start_on: date | None,
    limit: int,
    cursor: str | None,
) -> Page[NoticeList]:
    """A village's notice lists, newest first, optionally of one state or one period."""
    query = select(NoticeList).where(NoticeList.village_id == village_id)
    if state is not None:
        query = query.where(NoticeList.state == state)
    if period_start_on is not None:
        query = query.where(NoticeList.period_start_on == period_start_on)
    return page_by_id(session, query, NoticeList, limit, cursor, newest_first=True)


@dataclass(frozen=True)
class ItemView:
    """One entry of a list and where its points are: pending, posted, voided, reversed,
    or held (pending) / challenged (counted) under an open objection."""

    item: NoticeListItem
    record: Record
    entry_status: str
    status: str
    open_objection_id: uuid.UUID | None


@dataclass(frozen=True)
class ListView:
    notice_list: NoticeList
    items: list[ItemView]
    objections: list[NoticeObjection]


ITEMS_PER_LIST_MAX = 2000


def get_list_view(session: Session, list_id: uuid.UUID) -> ListView:
    """A list with its items (oldest first, at most ITEMS_PER_LIST_MAX) and objections."""
    notice_list = get_list(session, list_id)
    rows = session.execute(
        select(NoticeListItem, Record)
        .join(Record, Record.id == NoticeListItem.record_id)
        .where(NoticeListItem.list_id == list_id)
        .order_by(NoticeListItem.created_at, NoticeListItem.id)
        .limit(ITEMS_PER_LIST_MAX)
    ).all()
    objections = list(
        session.execute(
            select(NoticeObjection)
            .where(NoticeObjection.list_id == list_id)
            .order_by(NoticeObjection.created_at, NoticeObjection.id)
        ).scalars()
    )
    waiting = {o.item_id: o.id for o in objections if o.state == OBJECTION_OPEN}
    items = []
    for item, record in rows:
        entry_status = ledger.get_entry(session, item.entry_id).status
        status = ENTRY_UNDER_OBJECTION if item.id in waiting else entry_status
        items.append(ItemView(item, record, entry_status, status, waiting.get(item.id)))
    return ListView(notice_list, items, objections)


def get_objection(session: Session, objection_id: uuid.UUID) -> NoticeObjection:
    row = session.get(NoticeObjection, objection_id)
    if row is None:
        raise NotFound("objection", objection_id)
    return row


# --- the balance split -----------------------------------------------------------------


@dataclass(frozen=True)
class Holdings:
    """What of an account's pending credits waits on a notice list, and what of that an
    open objection holds back (a subset: pending_under_notice excludes it)."""

    pending_under_notice: int
    held_by_objection: int


def holdings_of(session: Session, balance: ledger.Balance) -> Holdings:
    """The split of a balance just read: nothing to look up without pending credits (the
    balance read stays one primary-key read for almost every account)."""
    if balance.pending_credits <= 0:
        return Holdings(pending_under_notice=0, held_by_objection=0)
    return holdings(session, balance.account_id)


def holdings(session: Session, account_id: uuid.UUID) -> Holdings:
    """The account's points on `before` notice lists that have not posted or been voided,
    split by whether an open objection holds them."""
    resolved = exists().where(Entry.pending_entry_id == NoticeListItem.entry_id)
    objected = exists().where(
        NoticeObjection.item_id == NoticeListItem.id, NoticeObjection.state == OBJECTION_OPEN
    )
    rows = session.execute(
        select(Posting.amount, objected)
        .join(NoticeListItem, NoticeListItem.entry_id == Posting.entry_id)
        .where(
            Posting.account_id == account_id,
            Posting.effect == "pending",
            Posting.amount > 0,
            ~resolved,
        )
    ).all()
    held = sum(amount for amount, is_objected in rows if is_objected)
    waiting = sum(amount for amount, is_objected in rows if not is_objected)
    return Holdings(pending_under_notice=waiting, held_by_objection=held)


# --- objections through the API --------------------------------------------------------


def object_for_member(
    session: Session,
    *,
    list_id: uuid.UUID,
    entry_id: uuid.UUID,
    member_id: uuid.UUID,
    reason: str,
    recorded_by: str,
    clock: ledger.Clock,
) -> NoticeObjection:
    """An objection of a resident of the list's village: recorded by a clerk, or by the
    resident through a mini-program binding (then `recorded_by` is the client)."""
    notice_list = get_list(session, list_id)
    member = session.get(Member, member_id)
    if member is None or member.village_id != notice_list.village_id:
        raise NotFound("member", member_id)
    return raise_objection(
        session,
        list_id=list_id,
        entry_id=entry_id,
        raised_by=f"member:{member_id}",
        reason=reason,
        recorded_by=recorded_by,
        clock=clock,
    )


# --- why an amount is where it is (statements) -----------------------------------------


@dataclass(frozen=True)
class NoticeNote:
    """The notice list an entry's amount belongs to, and where that item stands now."""

    notice_list_id: uuid.UUID
    list_state: str
    closes_on: date
    mode: str
    status: str  # pending | posted | voided | reversed | under_objection
    objection_id: uuid.UUID | None


def notes_for_entries(session: Session, entry_ids: list[uuid.UUID]) -> dict[uuid.UUID, NoticeNote]:
    """For each entry that booked, posted, voided or reversed an item of a notice list:
    that list and the item's status (at most a statement page of ids)."""
    if not entry_ids:
        return {}
    origin: dict[uuid.UUID, uuid.UUID] = {}
    for entry_id, pending_id, reversed_id in session.execute(
        select(Entry.id, Entry.pending_entry_id, Entry.reverses_entry_id).where(
            Entry.id.in_(entry_ids)
        )
    ):
        origin[entry_id] = pending_id or reversed_id or entry_id
    rows = session.execute(
        select(NoticeListItem, NoticeList)
        .join(NoticeList, NoticeList.id == NoticeListItem.list_id)
        .where(NoticeListItem.entry_id.in_(set(origin.values())))
    ).all()
    if not rows:
        return {}
    waiting = dict(
        session.execute(
            select(NoticeObjection.item_id, NoticeObjection.id).where(
                NoticeObjection.item_id.in_([item.id for item, _ in rows]),
                NoticeObjection.state == OBJECTION_OPEN,
            )
        ).all()
    )
    by_entry: dict[uuid.UUID, NoticeNote] = {}
    for item, notice_list in rows:
        objection_id = waiting.get(item.id)
        status = (
            ENTRY_UNDER_OBJECTION
            if objection_id is not None
            else ledger.get_entry(session, item.entry_id).status
        )
        by_entry[item.entry_id] = NoticeNote(
            notice_list_id=notice_list.id,
            list_state=notice_list.state,
            closes_on=notice_list.closes_on,
            mode=notice_list.mode,
            status=status,
            objection_id=objection_id,
        )
    return {entry_id: by_entry[source] for entry_id, source in origin.items() if source in by_entry}
