"""The outbox: which events an entry gives rise to, written in the booking's transaction."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.ledger import errors
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.models import Account, Household, Member, OutboxEvent, Village
from jifen.webhooks import events
from jifen.webhooks.events import EventType
from tests.factories import account_of, award, clock, make_household, make_member, make_village

Books = tuple[Village, Member, Household, dict[str, Account]]


@pytest.fixture
def books(db: Database) -> Books:
    with db.unit_of_work() as session:
        village = make_village(session)
        household = make_household(session, village)
        alice = make_member(session, village, household_id=household.id)
        accounts = {
            "alice": account_of(session, village, AccountKind.MEMBER, alice.id),
            "household": account_of(session, village, AccountKind.HOUSEHOLD, household.id),
            "issuance": account_of(session, village, AccountKind.ISSUANCE),
            "shop": account_of(session, village, AccountKind.SUPERMARKET),
            "expiry": account_of(session, village, AccountKind.EXPIRY),
        }
    return village, alice, household, accounts


def _events(db: Database) -> list[OutboxEvent]:
    with db.unit_of_work(write=False) as session:
        return list(session.execute(select(OutboxEvent).order_by(OutboxEvent.seq)).scalars())


def _book(
    db: Database, settings: Settings, village: Village, lines: list[tuple[Account, int]], **kw: Any
) -> ledger.EntryView:
    with db.unit_of_work() as session:
        return ledger.book(
            session,
            village_id=village.id,
            code=kw.pop("code", "redemption"),
            postings=[ledger.PostingInput(a.id, n) for a, n in lines],
            actor="till",
            clock=clock(settings),
            **kw,
        )


def test_the_catalog() -> None:
    assert [t.value for t in EventType] == [
        "points.earned",
        "points.redeemed",
        "points.reversed",
        "points.refunded",
        "points.expiring",
        "board.published",
        "board.finalized",
        "settlement.approved",
        "project.accepted",
        "subsidy.released",
        "record.pending",
        "record.approved",
        "record.rejected",
        "record.revoked",
        "record.amended",
        "space.claimed",
        "space.claim_ended",
        "space.claim_transferred",
        "space.inspected",
        "notice_list.opened",
        "notice_list.closed",
        "objection.raised",
        "objection.decided",
        "checkpoint.written",
    ]


def test_an_award_emits_points_earned(db: Database, settings: Settings, books: Books) -> None:
    village, alice, _, acc = books
    with db.unit_of_work() as session:
        view = award(session, settings, village, acc["alice"], 12, memo="打扫卫生")
    [event] = _events(db)
    assert (event.type, event.member_id, event.household_id) == ("points.earned", alice.id, None)
    assert (event.township_id, event.village_id, event.dispatched_at) == (
        village.township_id,
        village.id,
        None,
    )
    assert event.payload == {
        "id": str(event.id),
        "type": "points.earned",
        "occurred_at": event.payload["occurred_at"],
        "village_id": str(village.id),
        "account_id": str(acc["alice"].id),
        "category": "main",
        "member_id": str(alice.id),
        "household_id": None,
        "entry_id": str(view.entry.id),
        "entry_code": "labor_award",
        "memo": "打扫卫生",
        "amount": 12,
        "balance_after": 12,
    }
    assert event.payload["occurred_at"].endswith("Z")


def test_redemption_and_reversal(db: Database, settings: Settings, books: Books) -> None:
    village, alice, _, acc = books
    with db.unit_of_work() as session:
        award(session, settings, village, acc["alice"], 10)
    redemption = _book(db, settings, village, [(acc["alice"], -4), (acc["shop"], 4)])
    with db.unit_of_work() as session:
        reversal = ledger.reverse(
            session, entry_id=redemption.entry.id, actor="clerk", clock=clock(settings)
        )
    earned, redeemed, reversed_ = _events(db)
    assert earned.type == "points.earned"
    assert (redeemed.type, redeemed.payload["amount"], redeemed.payload["balance_after"]) == (
        "points.redeemed",
        -4,
        6,
    )
    assert (reversed_.type, reversed_.member_id) == ("points.reversed", alice.id)
    assert reversed_.payload["amount"] == 4
    assert reversed_.payload["balance_after"] == 10
    assert reversed_.payload["entry_id"] == str(reversal.entry.id)
    assert reversed_.payload["reverses_entry_id"] == str(redemption.entry.id)
    assert [e.seq for e in (earned, redeemed, reversed_)] == sorted(
        e.seq for e in (earned, redeemed, reversed_)
    )


def test_pending_entries_emit_when_posted_only(
    db: Database, settings: Settings, books: Books
) -> None:
    village, _, _, acc = books
    held = _book(db, settings, village, [(acc["issuance"], -7), (acc["alice"], 7)], is_pending=True)
    voided = _book(
        db, settings, village, [(acc["issuance"], -3), (acc["alice"], 3)], is_pending=True
    )
    assert _events(db) == []
    with db.unit_of_work() as session:
        ledger.void_pending(session, entry_id=voided.entry.id, actor="c", clock=clock(settings))
    assert _events(db) == []
    with db.unit_of_work() as session:
        posted = ledger.post_pending(
            session, entry_id=held.entry.id, actor="c", clock=clock(settings)
        )
    [event] = _events(db)
    assert (event.type, event.payload["amount"], event.payload["balance_after"]) == (
        "points.earned",
        7,
        7,
    )
    assert event.payload["entry_id"] == str(posted.entry.id)
    assert event.payload["entry_code"] == "pending_post"


def test_a_posted_hold_at_the_supermarket_is_a_redemption(
    db: Database, settings: Settings, books: Books
) -> None:
    village, _, _, acc = books
    with db.unit_of_work() as session:
        award(session, settings, village, acc["alice"], 10)
    hold = _book(db, settings, village, [(acc["alice"], -6), (acc["shop"], 6)], is_pending=True)
    with db.unit_of_work() as session:
        ledger.post_pending(session, entry_id=hold.entry.id, actor="c", clock=clock(settings))
    assert [(e.type, e.payload["amount"]) for e in _events(db)] == [
        ("points.earned", 10),
        ("points.redeemed", -6),
    ]


def test_household_accounts_and_other_debits(
    db: Database, settings: Settings, books: Books
) -> None:
    village, alice, household, acc = books
    with db.unit_of_work() as session:
        award(session, settings, village, acc["household"], 20)
    # Points moved to the expiry account: no event in the catalog describes it yet.
    _book(db, settings, village, [(acc["household"], -5), (acc["expiry"], 5)], code="expiry")
    # From a household to a member: the member earns; the household's debit is silent.
    _book(db, settings, village, [(acc["household"], -5), (acc["alice"], 5)], code="transfer")
    events_ = _events(db)
    assert [(e.type, e.member_id, e.household_id) for e in events_] == [
        ("points.earned", None, household.id),
        ("points.earned", alice.id, None),
    ]
    assert events_[0].payload["household_id"] == str(household.id)


def test_a_refused_or_rolled_back_booking_leaves_no_event(
    db: Database, settings: Settings, books: Books
) -> None:
    village, _, _, acc = books
    with pytest.raises(errors.InsufficientPoints):
        _book(db, settings, village, [(acc["alice"], -1), (acc["shop"], 1)])

    class Abort(Exception):
        pass

    with pytest.raises(Abort), db.unit_of_work() as session:
        award(session, settings, village, acc["alice"], 5)
        assert len(list(session.execute(select(OutboxEvent)).scalars())) == 1
        raise Abort
    assert _events(db) == []


def test_an_idempotent_replay_emits_nothing_new(
    db: Database, settings: Settings, books: Books
) -> None:
    village, _, _, acc = books
    for _ in range(2):
        with db.unit_of_work() as session:
            award(session, settings, village, acc["alice"], 5, idempotency_key="k1")
    assert len(_events(db)) == 1


def test_emit_writes_any_event(db: Database, books: Books) -> None:
    village, alice, _, _ = books
    with db.unit_of_work() as session:
        event_id = events.emit(
            session,
            event_type=EventType.BOARD_PUBLISHED,
            township_id=village.township_id,
            village_id=village.id,
            member_id=alice.id,
            data={"board_id": "b1"},
            now=utc_now(),
        )
    [event] = _events(db)
    assert event.id == event_id
    assert event.payload == {
        "id": str(event_id),
        "type": "board.published",
        "village_id": str(village.id),
        "board_id": "b1",
    }
