"""Pure expiry rules: the charter's terms by date, the lots a holder's postings earn, and
what falls due when. No I/O and no clock: postings, the terms and the day come in.

Lots. Every credit to a holder's spendable account earns a *lot*, dated the day the
points reached the account (the day its entry was recorded, or its pending entry
posted); a credit first pays off a debt (a balance below zero). Spending takes the
oldest lots first (FIFO); a hold (a pending debit) takes them too, and gives them back if
it is voided. A refund (the reversal of a spending entry, or the supermarket's partial
refund naming it) puts the points back into the very lots they came from, with those
lots' expiry dates, the newest of them first; the reversal of an earning takes
its own lot first. The reversal of an expiry or a clearing gives the points back as a
new lot, dated that day: they are given again, not expired again.

Nothing about lots is stored: `Replay` derives them from the account's postings in seq
order, each time, so they cannot drift from the books.

Due. A lot earned under `after_months` (the terms in force on its date) can be spent
through the day before the same day `months` months later (`expires_on`), and what is
left of it expires at the end of that day. Under `yearly_clear`, at the end of each
`clear_on` day in force, what is left of the lots dated up to the last 31 December on or
before it is cleared; with `negative_balances: clear`, a balance below zero at that
moment is cleared to zero. Each expiry is one entry per account and day, booked dated at
the end of that day (23:59:59 in the villages' time zone).
"""

from __future__ import annotations

import bisect
import calendar
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from jifen.charters.document import Expiry, ExpiryPolicy, NegativeBalances
from jifen.ledger.policy import Effect

# Who books expiries; only this actor's entries of these codes are read as expiries
# (a client may book any code, but not as this actor).
EXPIRY_ACTOR = "system:expiry"
CODE_EXPIRED = "points_expired"
CODE_CLEARED = "points_cleared"
EXPIRY_CODES = frozenset({CODE_EXPIRED, CODE_CLEARED})
_ONE_SECOND = timedelta(seconds=1)
LOTS_LISTED_MAX = 100


class DueKind(StrEnum):
    EXPIRY = "expiry"  # lots past their expires_on (after_months)
    CLEARING = "clearing"  # lots earned up to the cutoff, at a yearly clearing
    DEBT = "debt"  # a balance below zero cleared to zero at a yearly clearing

    @property
    def code(self) -> str:
        return CODE_EXPIRED if self is DueKind.EXPIRY else CODE_CLEARED


def add_months(day: date, months: int) -> date:
    """The same day `months` months later, or the month's last day if it is shorter."""
    years, month_index = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month_index + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def clearing_cutoff(day: date) -> date:
    """The last 31 December on or before a clearing day: lots dated up to it clear."""
    return day if (day.month, day.day) == (12, 31) else date(day.year - 1, 12, 31)


def end_of(day: date, zone: ZoneInfo) -> datetime:
    """The instant a day ends (the next day's midnight there), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def local_day(instant: datetime, zone: ZoneInfo) -> date:
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(zone).date()


# --- the charter's terms, by date -------------------------------------------------------


@dataclass(frozen=True)
class Terms:
    """A published charter version's expiry settings, from its effective date."""

    effective_on: date
    expiry: Expiry


@dataclass(frozen=True)
class Clearing:
    on: date
    cutoff: date
    expiry: Expiry


class Schedule:
    """The expiry terms of a village's published charter versions, over time."""

    def __init__(self, terms: Iterable[Terms]) -> None:
        self.terms = sorted(terms, key=lambda t: t.effective_on)
        self._starts = [t.effective_on for t in self.terms]

    @property
    def expires(self) -> bool:
        """Whether any version ever lets points expire (else there is nothing to do)."""
        return any(t.expiry.expires for t in self.terms)

    def terms_on(self, day: date) -> Expiry | None:
        index = bisect.bisect_right(self._starts, day) - 1
        return self.terms[index].expiry if index >= 0 else None

    def lot_expires_on(self, dated_on: date) -> date | None:
        """The last day a lot earned on `dated_on` can be spent, by the terms then."""
        expiry = self.terms_on(dated_on)
        if expiry is None or expiry.policy is not ExpiryPolicy.AFTER_MONTHS:
            return None
        assert expiry.months is not None  # the charter's validation sees to it
        return add_months(dated_on, expiry.months) - timedelta(days=1)

    def clearings(self, *, first: date, last: date) -> list[Clearing]:
        """The yearly clearings whose day is in [first, last], by the terms in force on
        each day, in order."""
        found = []
        for index, terms in enumerate(self.terms):
            expiry = terms.expiry
            if expiry.policy is not ExpiryPolicy.YEARLY_CLEAR or expiry.clear_on is None:
                continue
            start = max(terms.effective_on, first)
            end = last
            if index + 1 < len(self.terms):
                end = min(end, self.terms[index + 1].effective_on - timedelta(days=1))
            month, day = int(expiry.clear_on[:2]), int(expiry.clear_on[3:])
            for year in range(start.year, end.year + 1):
                on = date(year, month, day)
                if start <= on <= end:
                    found.append(Clearing(on, clearing_cutoff(on), expiry))
        return sorted(found, key=lambda c: c.on)


# --- postings and lots ------------------------------------------------------------------


@dataclass(frozen=True)
class PostingFact:
    """One posting of the account, with what the replay needs of its entry."""

    seq: int
    entry_id: uuid.UUID
    code: str
    actor: str
    amount: int
    effect: str
    occurred_at: datetime
    recorded_at: datetime
    pending_entry_id: uuid.UUID | None = None
    reverses_entry_id: uuid.UUID | None = None
    # A partial refund names the spending entry it gives (some of) the points of back.
    refund_of: uuid.UUID | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_expiry(self) -> bool:
        return self.actor == EXPIRY_ACTOR and self.code in EXPIRY_CODES


@dataclass(eq=False)
class Lot:
    """Points earned by one entry, what is left of them, and until when they count."""

    seq: int  # the earning entry's
    index: int  # position in the replay's list
    dated_on: date
    expires_on: date | None
    free: int  # left to spend
    held: int = 0  # taken by holds that may still be voided
    refilled_at: datetime | None = None  # when a refund or a void last gave points back


@dataclass
class _Take:
    """What one debit took: from which lots, and how much of it went into debt."""

    parts: list[tuple[Lot, int]] = field(default_factory=list)
    debt: int = 0


@dataclass(frozen=True)
class Due:
    """An expiry or clearing that falls due on a day, with what it takes."""

    kind: DueKind
    on: date  # the last day the points count (or the clearing day)
    points: int
    lots: tuple[tuple[int, int], ...]  # (lot seq, points) taken; empty for a debt
    occurred_at: datetime  # what the entry is dated
    number: int  # 1 for the first entry of this account, kind and day; 2 after a refund...
    policy: ExpiryPolicy
    cutoff: date | None = None  # a clearing's: lots dated up to this day
    notice_days: int = 0

    def idempotency_key(self, account_id: uuid.UUID) -> str:
        return f"{self.kind.value}:{account_id.hex}:{self.on.isoformat()}:{self.number}"

    @property
    def details(self) -> dict[str, Any]:
        details: dict[str, Any] = {
            "kind": self.kind.value,
            "on": self.on.isoformat(),
            "policy": self.policy.value,
        }
        # A clearing takes the oldest points, exactly what spending would take: its lots
        # are listed for the reader, but only so many (the replay needs none of them).
        if self.kind is DueKind.EXPIRY or len(self.lots) <= LOTS_LISTED_MAX:
            details["lots"] = [list(lot) for lot in self.lots]
        else:
            details["lots_count"] = len(self.lots)
        if self.cutoff is not None:
            details["cutoff"] = self.cutoff.isoformat()
        return details

    @property
    def memo(self) -> str:
        if self.kind is DueKind.EXPIRY:
            return f"积分到期：有效期至 {self.on}，未使用的 {self.points} 分过期"
        if self.kind is DueKind.CLEARING:
            return f"年度清零：{self.cutoff} 前所得积分未使用的 {self.points} 分于 {self.on} 清零"
        return f"年度清零：欠分 {self.points} 分于 {self.on} 清零"


class Replay:
    """A holder account's lots, derived from its postings replayed in seq order."""

    def __init__(self, schedule: Schedule, zone: ZoneInfo) -> None:
        self.schedule = schedule
        self.zone = zone
        self.lots: list[Lot] = []
        self.debt = 0
        self._head = 0  # no lot before this one has free points
        self._by_seq: dict[int, Lot] = {}
        self._holds: dict[uuid.UUID, _Take] = {}
        self._spent: dict[uuid.UUID, _Take] = {}
        self._earned: dict[uuid.UUID, Lot] = {}
        self._expiries: set[uuid.UUID] = set()
        self._booked: Counter[tuple[str, date]] = Counter()
        # Posted amounts, each at the moment it counts: when recorded, or for an
        # expiry, when it fell due. A clearing reads the balance at its day's end.
        self._moves: list[tuple[datetime, int]] = []
        self._last_dated: date | None = None
        self._settled_until: date | None = None

    # -- reading the postings ------------------------------------------------------------

    def replay(self, postings: Iterable[PostingFact]) -> Replay:
        for posting in postings:
            self.apply(posting)
        return self

    def apply(self, p: PostingFact) -> None:
        expiry = p.is_expiry
        effect = p.effect  # compared as text: no enum to build for each posting
        if effect == Effect.POSTED or effect == Effect.PENDING_POSTED:
            self._moves.append((p.occurred_at if expiry else p.recorded_at, p.amount))
        if expiry:
            self._count_booked(p.details)
        if effect == Effect.POSTED:
            if p.amount > 0:
                given_back = p.reverses_entry_id or p.refund_of
                take = self._spent.get(given_back) if given_back is not None else None
                if given_back is None or take is None or given_back in self._expiries:
                    self._earn(p.amount, p)
                    return
                self._give_back(take, p)
                if not take.parts and not take.debt:
                    del self._spent[given_back]
                return
            amount = -p.amount
            if expiry:
                take = self._take_listed(amount, p.details.get("lots"))
                self._expiries.add(p.entry_id)
            elif p.reverses_entry_id is not None and p.reverses_entry_id in self._earned:
                take = self._take_own(self._earned.pop(p.reverses_entry_id), amount)
            else:
                take = self._take(amount)
            self._spent[p.entry_id] = take
        elif effect == Effect.PENDING:
            if p.amount < 0:
                self._holds[p.entry_id] = self._take(-p.amount, hold=True)
        elif effect == Effect.PENDING_POSTED:
            if p.amount > 0:
                self._earn(p.amount, p)
                return
            hold = self._holds.pop(p.pending_entry_id, None) if p.pending_entry_id else None
            if hold is None:
                self._spent[p.entry_id] = self._take(-p.amount)
                return
            for lot, taken in hold.parts:
                lot.held -= taken
            self.debt += hold.debt
            self._spent[p.entry_id] = hold
        elif effect == Effect.PENDING_VOIDED and p.amount < 0 and p.pending_entry_id:
            hold = self._holds.pop(p.pending_entry_id, None)
            if hold is not None:
                for lot, taken in hold.parts:
                    lot.held -= taken
                    self._refill(lot, taken, p.occurred_at)

    def _count_booked(self, details: Mapping[str, Any]) -> None:
        kind, on = details.get("kind"), details.get("on")
        if isinstance(kind, str) and isinstance(on, str):
            self._booked[(kind, date.fromisoformat(on))] += 1

    def _earn(self, amount: int, p: PostingFact) -> None:
        repaid = min(self.debt, amount)
        self.debt -= repaid
        rest = amount - repaid
        if rest <= 0:
            return
        dated_on = local_day(p.recorded_at, self.zone)
        if self._last_dated is not None and dated_on < self._last_dated:
            dated_on = self._last_dated  # lots stay in date order, oldest first
        self._last_dated = dated_on
        lot = Lot(
            seq=p.seq,
            index=len(self.lots),
            dated_on=dated_on,
            expires_on=self.schedule.lot_expires_on(dated_on),
            free=rest,
        )
        self.lots.append(lot)
        self._by_seq[p.seq] = lot
        self._earned[p.entry_id] = lot

    def _refill(self, lot: Lot, points: int, at: datetime) -> None:
        lot.free += points
        lot.refilled_at = at if lot.refilled_at is None else max(lot.refilled_at, at)
        self._head = min(self._head, lot.index)

    def _give_back(self, take: _Take, p: PostingFact) -> None:
        """A refund: the points go back to the lots they were taken from. A partial one
        gives back the newest of them first, as if less had been spent; `take` keeps
        what a later refund may still give back."""
        left = p.amount
        back = min(take.debt, left)  # what went into debt was taken last
        take.debt -= back
        left -= back
        repaid = min(self.debt, back)
        self.debt -= repaid
        anew = back - repaid  # the debt was paid off since: that much is earned anew
        for index in range(len(take.parts) - 1, -1, -1):
            if left == 0:
                break
            lot, taken = take.parts[index]
            back = min(taken, left)
            self._refill(lot, back, p.occurred_at)
            take.parts[index] = (lot, taken - back)
            left -= back
        take.parts = [(lot, taken) for lot, taken in take.parts if taken > 0]
        if anew + left > 0:
            self._earn(anew + left, p)

    def _take(self, amount: int, *, hold: bool = False) -> _Take:
        """Take from the oldest lots first; what they lack becomes debt."""
        take = _Take()
        index = self._head
        while amount > 0 and index < len(self.lots):
            lot = self.lots[index]
            taken = min(lot.free, amount)
            if taken > 0:
                lot.free -= taken
                if hold:
                    lot.held += taken
                take.parts.append((lot, taken))
                amount -= taken
            index += 1
        while self._head < len(self.lots) and self.lots[self._head].free == 0:
            self._head += 1
        take.debt = amount
        if not hold:
            self.debt += amount
        return take

    def _take_own(self, lot: Lot, amount: int) -> _Take:
        """The reversal of an earning: its own lot first, then the oldest."""
        taken = min(lot.free, amount)
        lot.free -= taken
        rest = self._take(amount - taken)
        if taken > 0:
            rest.parts.insert(0, (lot, taken))
        return rest

    def _take_listed(self, amount: int, listed: Any) -> _Take:
        """An expiry takes the lots it names (the oldest, if they no longer hold it)."""
        take = _Take()
        for item in listed if isinstance(listed, list) else []:
            try:
                seq, points = int(item[0]), int(item[1])
            except (TypeError, ValueError, IndexError):
                continue
            lot = self._by_seq.get(seq)
            if lot is None:
                continue
            taken = min(lot.free, points, amount)
            if taken > 0:
                lot.free -= taken
                take.parts.append((lot, taken))
                amount -= taken
        if amount > 0:
            rest = self._take(amount)
            take.parts += rest.parts
            take.debt = rest.debt
        return take

    # -- what falls due ------------------------------------------------------------------

    @property
    def free(self) -> int:
        """Points that may be spent (the available balance, when it is not below zero)."""
        return sum(lot.free for lot in self.lots[self._head :])

    def balance_at(self, instant: datetime) -> int:
        """The posted balance counting what was recorded (or fell due) before `instant`."""
        return sum(amount for at, amount in self._moves if at < instant)

    def settle(self, *, until: date) -> list[Due]:
        """Everything that falls due on a day up to `until` (inclusive), in order, taken
        from the lots as it goes. A second call continues after the first's `until`."""
        after = self._settled_until
        if after is not None and until <= after:
            return []
        self._settled_until = until
        expiring: dict[date, list[Lot]] = {}
        for lot in self.lots[self._head :]:
            if lot.free > 0 and lot.expires_on is not None and lot.expires_on <= until:
                expiring.setdefault(lot.expires_on, []).append(lot)
        first = self._first_day()
        if first is not None and after is not None:
            first = max(first, after + timedelta(days=1))
        clearings = [] if first is None else self.schedule.clearings(first=first, last=until)
        steps: list[tuple[date, int, Clearing | None]] = [(day, 0, None) for day in expiring]
        steps += [(clearing.on, 1, clearing) for clearing in clearings]
        dues: list[Due] = []
        for day, _order, clearing in sorted(steps, key=lambda s: (s[0], s[1])):
            if clearing is None:
                dues += self._expire(day, expiring[day])
            else:
                dues += self._clear(clearing)
        return dues

    def _first_day(self) -> date | None:
        if not self._moves and not self.lots:
            return None
        days = [local_day(at, self.zone) for at, _amount in self._moves]
        days += [lot.dated_on for lot in self.lots[:1]]
        return min(days)

    def _due(
        self,
        kind: DueKind,
        on: date,
        parts: Sequence[tuple[Lot, int]],
        points: int,
        expiry: Expiry,
        cutoff: date | None = None,
    ) -> Due:
        at = end_of(on, self.zone) - _ONE_SECOND
        for lot, _taken in parts:
            if lot.refilled_at is not None and lot.refilled_at > at:
                at = lot.refilled_at
        self._booked[(kind.value, on)] += 1
        self._moves.append((at, points if kind is DueKind.DEBT else -points))
        return Due(
            kind=kind,
            on=on,
            points=points,
            lots=tuple((lot.seq, taken) for lot, taken in parts),
            occurred_at=at,
            number=self._booked[(kind.value, on)],
            policy=expiry.policy,
            cutoff=cutoff,
            notice_days=expiry.notice_days_in_effect,
        )

    def _expire(self, day: date, lots: list[Lot]) -> list[Due]:
        parts = []
        for lot in lots:
            if lot.free > 0:  # a clearing earlier in the run may have taken it
                parts.append((lot, lot.free))
                lot.free = 0
        self._advance_head()
        # The terms the lots were earned under (the longest notice, if several).
        terms = [self.schedule.terms_on(lot.dated_on) for lot, _taken in parts]
        known = [t for t in terms if t is not None]
        if not known:
            return []
        longest = max(known, key=lambda t: t.notice_days_in_effect)
        return [self._due(DueKind.EXPIRY, day, parts, sum(t for _lot, t in parts), longest)]

    def _clear(self, clearing: Clearing) -> list[Due]:
        dues = []
        parts = []
        for lot in self.lots[self._head :]:
            if lot.dated_on > clearing.cutoff:
                break  # lots are in date order
            if lot.free > 0:
                parts.append((lot, lot.free))
                lot.free = 0
        self._advance_head()
        if parts:
            points = sum(t for _lot, t in parts)
            dues.append(
                self._due(
                    DueKind.CLEARING, clearing.on, parts, points, clearing.expiry, clearing.cutoff
                )
            )
        if clearing.expiry.negative_balances is NegativeBalances.CLEAR:
            owed = -self.balance_at(end_of(clearing.on, self.zone))
            if owed > 0:
                dues.append(self._due(DueKind.DEBT, clearing.on, [], owed, clearing.expiry))
                self.debt = max(0, self.debt - owed)
        return dues

    def _advance_head(self) -> None:
        while self._head < len(self.lots) and self.lots[self._head].free == 0:
            self._head += 1
