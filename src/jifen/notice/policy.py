"""Pure public-notice policy: list calendars, where an objection may go, what a decision does.

No I/O and no clock: callers pass the dates. Dates are village-local calendar days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


@dataclass(frozen=True)
class ListCalendar:
    """The days of one monthly notice list.

    The list shows the records that occurred in [period_start_on, period_end_on]; it is open
    on opens_on .. closes_on - 1 (`days` days), closes at the start of closes_on, and hears
    late appeals until the start of appeal_ends_on.
    """

    period_start_on: date
    period_end_on: date
    opens_on: date
    closes_on: date
    appeal_ends_on: date

    def is_open_on(self, day: date) -> bool:
        return self.opens_on <= day < self.closes_on

    def in_appeal_window_on(self, day: date) -> bool:
        return self.closes_on <= day < self.appeal_ends_on


def _first_of_next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def monthly_calendar(
    occurred_on: date, *, opens_on_day: int, days: int, appeal_days: int
) -> ListCalendar:
    """The calendar of the monthly list that shows a record which occurred on `occurred_on`."""
    if not 1 <= opens_on_day <= 28:
        raise ValueError("opens_on_day must be 1..28 (a day every month has)")
    if days < 1 or appeal_days < 0:
        raise ValueError("days must be at least 1 and appeal_days at least 0")
    start = occurred_on.replace(day=1)
    next_month = _first_of_next_month(start)
    opens_on = next_month.replace(day=opens_on_day)
    closes_on = opens_on + timedelta(days=days)
    return ListCalendar(
        period_start_on=start,
        period_end_on=next_month - timedelta(days=1),
        opens_on=opens_on,
        closes_on=closes_on,
        appeal_ends_on=closes_on + timedelta(days=appeal_days),
    )


class ObjectionKind(StrEnum):
    OBJECTION = "objection"  # while the list is open (公示期内异议)
    LATE_APPEAL = "late_appeal"  # after closing, inside the appeal window (逾期申诉)


class ObjectionRefusal(StrEnum):
    LIST_NOT_OPEN_YET = "notice_list_not_open"
    APPEAL_WINDOW_CLOSED = "appeal_window_closed"


def objection_kind(calendar: ListCalendar, *, raised_on: date) -> ObjectionKind | ObjectionRefusal:
    """Whether an objection raised on a day is an objection, a late appeal, or refused."""
    if raised_on < calendar.opens_on:
        return ObjectionRefusal.LIST_NOT_OPEN_YET
    if calendar.is_open_on(raised_on):
        return ObjectionKind.OBJECTION
    if calendar.in_appeal_window_on(raised_on):
        return ObjectionKind.LATE_APPEAL
    return ObjectionRefusal.APPEAL_WINDOW_CLOSED


class Mode(StrEnum):
    BEFORE = "before"
    AFTER = "after"


class Outcome(StrEnum):
    UPHELD = "upheld"
    REJECTED = "rejected"


class Action(StrEnum):
    POST = "post"  # post the pending entry
    VOID = "void"  # void the pending entry
    REVERSE = "reverse"  # book a reversal of a posted entry
    NOTHING = "nothing"  # the entry stays as it is


@dataclass(frozen=True)
class Decision:
    action: Action
    effective_on: date | None  # the day the ledger move is dated; None with NOTHING


def decide(
    *, mode: Mode, kind: ObjectionKind, outcome: Outcome, decided_on: date, closes_on: date
) -> Decision:
    """What deciding an objection does to the entry it names.

    A late appeal only ever meets a posted entry (the list has closed), so an upheld late
    appeal reverses it in either mode.
    """
    if kind is ObjectionKind.LATE_APPEAL or mode is Mode.AFTER:
        if outcome is Outcome.UPHELD:
            return Decision(Action.REVERSE, decided_on)
        return Decision(Action.NOTHING, None)
    if outcome is Outcome.UPHELD:
        return Decision(Action.VOID, decided_on)
    return Decision(Action.POST, max(decided_on, closes_on))


def settles_at_closing(*, mode: Mode, is_under_objection: bool) -> Action:
    """What closing a list does to one of its entries."""
    if mode is Mode.AFTER or is_under_objection:
        return Action.NOTHING
    return Action.POST
