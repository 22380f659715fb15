"""Public-notice policy in tables: calendars, objection windows, decisions (dates by hand)."""

from __future__ import annotations

from datetime import date

import pytest

from jifen.notice.policy import (
    Action,
    Decision,
    Mode,
    ObjectionKind,
    ObjectionRefusal,
    Outcome,
    decide,
    monthly_calendar,
    objection_kind,
    settles_at_closing,
)


@pytest.mark.parametrize(
    ("occurred_on", "day", "days", "appeal", "expected"),
    [
        # October's records: open 25 Nov (民主议政日), 7 days -> open 25..1 Dec, close 2 Dec;
        # 30 days of appeals -> until 1 Jan (exclusive).
        (date(2026, 10, 3), 25, 7, 30,
         (date(2026, 10, 1), date(2026, 10, 31), date(2026, 11, 25), date(2026, 12, 2),
          date(2027, 1, 1))),
        # December's records roll into January of the next year.
        (date(2026, 12, 31), 5, 10, 0,
         (date(2026, 12, 1), date(2026, 12, 31), date(2027, 1, 5), date(2027, 1, 15),
          date(2027, 1, 15))),
        # January 2028's records, listed in February of a leap year: 28 Feb + 3 days -> 2 Mar.
        (date(2028, 1, 15), 28, 3, 1,
         (date(2028, 1, 1), date(2028, 1, 31), date(2028, 2, 28), date(2028, 3, 2),
          date(2028, 3, 3))),
        # February 2027 has 28 days: the period ends on the 28th.
        (date(2027, 2, 1), 1, 1, 1,
         (date(2027, 2, 1), date(2027, 2, 28), date(2027, 3, 1), date(2027, 3, 2),
          date(2027, 3, 3))),
    ],
)  # fmt: skip
def test_monthly_calendar(
    occurred_on: date, day: int, days: int, appeal: int, expected: tuple[date, ...]
) -> None:
    calendar = monthly_calendar(occurred_on, opens_on_day=day, days=days, appeal_days=appeal)
    assert (
        calendar.period_start_on,
        calendar.period_end_on,
        calendar.opens_on,
        calendar.closes_on,
        calendar.appeal_ends_on,
    ) == expected


@pytest.mark.parametrize(
    ("day", "days", "appeal"), [(29, 7, 30), (0, 7, 30), (25, 0, 30), (25, 7, -1)]
)
def test_monthly_calendar_refuses_impossible_settings(day: int, days: int, appeal: int) -> None:
    with pytest.raises(ValueError):
        monthly_calendar(date(2026, 10, 3), opens_on_day=day, days=days, appeal_days=appeal)


# October 2026's list: open 25 Nov .. 1 Dec, closes 2 Dec, appeals until 1 Jan 2027.
OCTOBER = monthly_calendar(date(2026, 10, 3), opens_on_day=25, days=7, appeal_days=30)


@pytest.mark.parametrize(
    ("raised_on", "expected"),
    [
        (date(2026, 11, 24), ObjectionRefusal.LIST_NOT_OPEN_YET),
        (date(2026, 11, 25), ObjectionKind.OBJECTION),  # the opening day
        (date(2026, 12, 1), ObjectionKind.OBJECTION),  # the seventh and last day
        (date(2026, 12, 2), ObjectionKind.LATE_APPEAL),  # the closing day
        (date(2026, 12, 31), ObjectionKind.LATE_APPEAL),  # 30th day of the window
        (date(2027, 1, 1), ObjectionRefusal.APPEAL_WINDOW_CLOSED),
    ],
)
def test_objection_kind(raised_on: date, expected: ObjectionKind | ObjectionRefusal) -> None:
    assert objection_kind(OCTOBER, raised_on=raised_on) == expected


def test_no_appeal_window_means_closing_ends_objections() -> None:
    calendar = monthly_calendar(date(2026, 10, 3), opens_on_day=25, days=7, appeal_days=0)
    assert objection_kind(calendar, raised_on=date(2026, 12, 2)) == (
        ObjectionRefusal.APPEAL_WINDOW_CLOSED
    )


CLOSES = OCTOBER.closes_on  # 2 Dec 2026
OBJ, LATE = ObjectionKind.OBJECTION, ObjectionKind.LATE_APPEAL


@pytest.mark.parametrize(
    ("mode", "kind", "outcome", "decided_on", "expected"),
    [
        # before: upheld voids on the decision day; rejected posts on the later day.
        (Mode.BEFORE, OBJ, Outcome.UPHELD, date(2026, 11, 28),
         Decision(Action.VOID, date(2026, 11, 28))),
        (Mode.BEFORE, OBJ, Outcome.REJECTED, date(2026, 11, 28),
         Decision(Action.POST, date(2026, 12, 2))),  # decided before closing: the closing day
        (Mode.BEFORE, OBJ, Outcome.REJECTED, date(2026, 12, 9),
         Decision(Action.POST, date(2026, 12, 9))),  # decided after closing: the decision day
        # after: upheld reverses on the decision day; rejected leaves the entry as it is.
        (Mode.AFTER, OBJ, Outcome.UPHELD, date(2026, 11, 28),
         Decision(Action.REVERSE, date(2026, 11, 28))),
        (Mode.AFTER, OBJ, Outcome.REJECTED, date(2026, 11, 28), Decision(Action.NOTHING, None)),
        # late appeals meet posted entries in both modes.
        (Mode.BEFORE, LATE, Outcome.UPHELD, date(2026, 12, 20),
         Decision(Action.REVERSE, date(2026, 12, 20))),
        (Mode.BEFORE, LATE, Outcome.REJECTED, date(2026, 12, 20), Decision(Action.NOTHING, None)),
        (Mode.AFTER, LATE, Outcome.UPHELD, date(2026, 12, 20),
         Decision(Action.REVERSE, date(2026, 12, 20))),
    ],
)  # fmt: skip
def test_decide(
    mode: Mode, kind: ObjectionKind, outcome: Outcome, decided_on: date, expected: Decision
) -> None:
    assert (
        decide(mode=mode, kind=kind, outcome=outcome, decided_on=decided_on, closes_on=CLOSES)
        == expected
    )


@pytest.mark.parametrize(
    ("mode", "under_objection", "expected"),
    [
        (Mode.BEFORE, False, Action.POST),
        (Mode.BEFORE, True, Action.NOTHING),  # held until decided
        (Mode.AFTER, False, Action.NOTHING),  # already counted
        (Mode.AFTER, True, Action.NOTHING),
    ],
)
def test_settles_at_closing(mode: Mode, under_objection: bool, expected: Action) -> None:
    assert settles_at_closing(mode=mode, is_under_objection=under_objection) == expected
