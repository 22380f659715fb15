"""The pure rules, in tables: months, cutoffs, the terms over time, and replays of
postings written out by hand."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from jifen.charters.document import Expiry
from jifen.expiry.policy import (
    EXPIRY_ACTOR,
    DueKind,
    PostingFact,
    Replay,
    Schedule,
    Terms,
    add_months,
    clearing_cutoff,
)
from tests.expiry.world import ZONE, at


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        ("2025-03-10", 12, "2026-03-10"),
        ("2025-11-15", 3, "2026-02-15"),
        ("2025-01-31", 1, "2025-02-28"),
        ("2024-01-31", 1, "2024-02-29"),
        ("2024-02-29", 12, "2025-02-28"),
        ("2025-12-01", 120, "2035-12-01"),
    ],
)
def test_add_months(day: str, months: int, expected: str) -> None:
    assert add_months(date.fromisoformat(day), months) == date.fromisoformat(expected)


@pytest.mark.parametrize(
    ("day", "cutoff"),
    [
        ("2025-12-31", "2025-12-31"),  # clears the year just ended
        ("2026-01-10", "2025-12-31"),  # a grace of ten days: 2026's points stay
        ("2026-06-30", "2025-12-31"),
    ],
)
def test_clearing_cutoff(day: str, cutoff: str) -> None:
    assert clearing_cutoff(date.fromisoformat(day)) == date.fromisoformat(cutoff)


def _terms(on: str, **expiry: Any) -> Terms:
    return Terms(date.fromisoformat(on), Expiry.model_validate(expiry))


SCHEDULE = Schedule(
    [
        _terms("2024-01-01", policy="carry_over"),
        _terms("2025-06-01", policy="yearly_clear", clear_on="12-31"),
        _terms("2026-01-05", policy="yearly_clear", clear_on="01-10"),
        _terms("2027-03-01", policy="after_months", months=6),
    ]
)


def test_the_clearings_are_those_of_the_terms_in_force_on_each_day() -> None:
    found = SCHEDULE.clearings(first=date(2024, 1, 1), last=date(2028, 12, 31))
    assert [(c.on.isoformat(), c.cutoff.isoformat()) for c in found] == [
        ("2025-12-31", "2025-12-31"),
        ("2026-01-10", "2025-12-31"),  # the new version's day: nothing left to clear by then
        ("2027-01-10", "2026-12-31"),
    ]


def test_a_lot_keeps_the_terms_it_was_earned_under() -> None:
    assert SCHEDULE.lot_expires_on(date(2025, 7, 1)) is None  # cleared yearly instead
    assert SCHEDULE.lot_expires_on(date(2027, 3, 1)) == date(2027, 8, 31)
    assert Schedule([]).lot_expires_on(date(2027, 3, 1)) is None
    assert not Schedule([_terms("2024-01-01", policy="carry_over")]).expires


class Book:
    """Postings of one account, written by hand."""

    def __init__(self) -> None:
        self.seq = 0
        self.facts: list[PostingFact] = []
        self.ids: dict[int, uuid.UUID] = {}

    def add(self, amount: int, when: datetime, **kwargs: Any) -> int:
        self.seq += 1
        self.ids[self.seq] = uuid.uuid4()
        kwargs.setdefault("effect", "posted")
        kwargs.setdefault("code", "x")
        kwargs.setdefault("actor", "test")
        self.facts.append(
            PostingFact(
                seq=self.seq,
                entry_id=self.ids[self.seq],
                amount=amount,
                occurred_at=when,
                recorded_at=when,
                **kwargs,
            )
        )
        return self.seq

    def reverse(self, seq: int, amount: int, when: datetime) -> int:
        return self.add(amount, when, code="reversal", reverses_entry_id=self.ids[seq])

    def replay(self, schedule: Schedule) -> Replay:
        return Replay(schedule, ZONE).replay(self.facts)


MONTHLY = Schedule([_terms("2024-01-01", policy="after_months", months=12)])


def test_fifo_by_hand() -> None:
    book = Book()
    january = book.add(10, at("2025-01-15"))
    march = book.add(20, at("2025-03-10"))
    book.add(-15, at("2025-04-02"))
    replay = book.replay(MONTHLY)
    assert [(lot.seq, lot.free, lot.expires_on) for lot in replay.lots] == [
        (january, 0, date(2026, 1, 14)),
        (march, 15, date(2026, 3, 9)),
    ]
    [due] = replay.settle(until=date(2026, 12, 31))
    assert (due.kind, due.on, due.points, due.lots) == (
        DueKind.EXPIRY,
        date(2026, 3, 9),
        15,
        ((march, 15),),
    )


def test_a_debt_is_paid_first_and_a_late_refund_of_the_penalty_earns_anew() -> None:
    book = Book()
    book.add(10, at("2025-01-15"))
    penalty = book.add(-25, at("2025-02-01"))  # takes the 10, and 15 of debt
    book.add(20, at("2025-03-01"))  # pays the 15 first: a lot of 5
    book.reverse(penalty, 25, at("2025-04-01"))  # 10 back to January, 15 earned on 1 April
    replay = book.replay(MONTHLY)
    assert replay.debt == 0
    assert [(lot.dated_on.isoformat(), lot.free) for lot in replay.lots] == [
        ("2025-01-15", 10),
        ("2025-03-01", 5),
        ("2025-04-01", 15),
    ]


def test_an_expiry_given_back_is_not_expired_again() -> None:
    book = Book()
    lot = book.add(10, at("2025-01-15"))
    expired = book.add(
        -10,
        at("2026-01-14", 23, 59),
        code="points_expired",
        actor=EXPIRY_ACTOR,
        details={"kind": "expiry", "on": "2026-01-14", "lots": [[lot, 10]]},
    )
    book.reverse(expired, 10, at("2026-02-01"))  # the clerk gives them back
    replay = book.replay(MONTHLY)
    assert replay.settle(until=date(2026, 12, 31)) == []
    [due] = replay.settle(until=date(2027, 2, 1))
    assert (due.on, due.points, due.number) == (date(2027, 1, 31), 10, 1)


def test_a_second_expiry_of_one_day_is_numbered() -> None:
    book = Book()
    lot = book.add(10, at("2025-01-15"))
    spent = book.add(-4, at("2025-02-01"))
    book.add(
        -6,
        at("2026-01-14", 23, 59),
        code="points_expired",
        actor=EXPIRY_ACTOR,
        details={"kind": "expiry", "on": "2026-01-14", "lots": [[lot, 6]]},
    )
    book.reverse(spent, 4, at("2026-01-20"))
    [due] = book.replay(MONTHLY).settle(until=date(2026, 1, 31))
    assert (due.on, due.points, due.number, due.occurred_at) == (
        date(2026, 1, 14),
        4,
        2,
        at("2026-01-20"),
    )


def test_an_entry_not_booked_by_the_tick_is_not_read_as_an_expiry() -> None:
    """A client may book the code points_expired; only the tick's entries name lots."""
    book = Book()
    book.add(10, at("2025-01-15"))
    later = book.add(5, at("2025-06-01"))
    book.add(-5, at("2025-07-01"), code="points_expired", details={"lots": [[later, 5]]})
    replay = book.replay(MONTHLY)
    assert [lot.free for lot in replay.lots] == [5, 5]  # FIFO: January's lot paid


def test_partial_refunds_give_back_the_newest_points_first() -> None:
    """A sale of 15 took January's 10 and 5 of March's. Refunding 4 leaves it as if 11
    had been sold: March's lot gets its 4 back; a second refund of 6 gives March's last
    1, then 5 to January's."""
    book = Book()
    january = book.add(10, at("2025-01-15"))
    march = book.add(20, at("2025-03-10"))
    sale = book.add(-15, at("2025-04-02"), code="supermarket_sale")
    book.add(4, at("2025-04-03"), code="supermarket_refund", refund_of=book.ids[sale])
    replay = book.replay(MONTHLY)
    assert [(lot.seq, lot.free) for lot in replay.lots] == [(january, 0), (march, 19)]
    book.add(6, at("2025-04-04"), code="supermarket_refund", refund_of=book.ids[sale])
    replay = book.replay(MONTHLY)
    assert [(lot.seq, lot.free) for lot in replay.lots] == [(january, 5), (march, 20)]


def test_a_clearing_of_many_lots_does_not_list_them_and_replays_the_same() -> None:
    yearly = Schedule([_terms("2024-01-01", policy="yearly_clear", clear_on="12-31")])
    book = Book()
    for day in range(150):
        book.add(1, at("2025-01-01") + timedelta(days=day))
    book.add(5, at("2026-01-02"))
    [due] = book.replay(yearly).settle(until=date(2026, 1, 5))
    assert (due.points, len(due.lots), due.details["lots_count"]) == (150, 150, 150)
    assert "lots" not in due.details
    book.add(-150, due.occurred_at, code="points_cleared", actor=EXPIRY_ACTOR, details=due.details)
    replay = book.replay(yearly)
    assert replay.settle(until=date(2026, 1, 5)) == []
    assert replay.free == 5
