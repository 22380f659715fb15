"""The ledger service: booking, holds, reversals, floors, dates and reading it back."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.kit.pagination import CursorError
from jifen.ledger import errors
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind, Asset
from jifen.models import GENESIS_HASH, Account, Member, Township, Village
from jifen.problems import IdempotencyKeyReused, NotFound
from jifen.tenancy import service as tenancy
from tests.factories import account_of, clock, make_member, make_organisation, make_village

Books = tuple[Village, dict[str, Member], dict[str, Account]]
Lines = list[tuple[Account, int]]


@pytest.fixture
def books(db: Database) -> Books:
    """A village with two members, and the accounts the tests use."""
    with db.unit_of_work() as session:
        village = make_village(session, allow_below_floor_codes=["conduct_penalty"])
        alice, bob = make_member(session, village), make_member(session, village)
        accounts = {
            "alice": account_of(session, village, AccountKind.MEMBER, alice.id),
            "bob": account_of(session, village, AccountKind.MEMBER, bob.id),
            "issuance": account_of(session, village, AccountKind.ISSUANCE),
            "shop": account_of(session, village, AccountKind.SUPERMARKET),
        }
    return village, {"alice": alice, "bob": bob}, accounts


def _balance(db: Database, account: Account) -> ledger.Balance:
    with db.unit_of_work(write=False) as session:
        return ledger.get_balance(session, account.id)


def _book(
    db: Database,
    settings: Settings,
    village: Village,
    lines: Lines,
    code: str = "redemption",
    **kwargs: Any,
) -> ledger.EntryView:
    with db.unit_of_work() as session:
        return ledger.book(
            session,
            village_id=village.id,
            code=code,
            postings=[ledger.PostingInput(a.id, n) for a, n in lines],
            actor="clerk",
            clock=clock(settings),
            **kwargs,
        )


def test_entries_chain_and_balances_follow(db: Database, settings: Settings, books: Books) -> None:
    village, _, acc = books
    first = _book(db, settings, village, [(acc["issuance"], -6), (acc["alice"], 6)], "labor_award")
    second = _book(db, settings, village, [(acc["alice"], -5), (acc["shop"], 5)])
    assert (first.entry.seq, second.entry.seq) == (1, 2)
    assert first.entry.prev_hash == GENESIS_HASH
    assert second.entry.prev_hash == first.entry.hash
    assert [p.balance_after for p in second.entry.postings] == [1, 5]
    assert _balance(db, acc["alice"]).posted == 1
    assert _balance(db, acc["issuance"]).posted == -6
    with db.unit_of_work(write=False) as session:
        read = ledger.get_entry(session, second.entry.id)
    assert read.entry == second.entry
    assert read.status == "posted"


def test_pending_holds_then_posts_or_voids(db: Database, settings: Settings, books: Books) -> None:
    village, _, acc = books
    _book(db, settings, village, [(acc["issuance"], -10), (acc["alice"], 10)], "labor_award")
    hold = _book(db, settings, village, [(acc["alice"], -8), (acc["shop"], 8)], is_pending=True)
    alice = _balance(db, acc["alice"])
    assert (alice.posted, alice.pending_debits, alice.available) == (10, 8, 2)
    assert _balance(db, acc["shop"]).pending_credits == 8
    # The hold counts against what may be spent.
    with pytest.raises(errors.InsufficientPoints):
        _book(db, settings, village, [(acc["alice"], -3), (acc["shop"], 3)])

    with db.unit_of_work() as session:
        posted = ledger.post_pending(
            session, entry_id=hold.entry.id, actor="till", clock=clock(settings)
        )
    assert posted.entry.pending_entry_id == hold.entry.id
    alice = _balance(db, acc["alice"])
    assert (alice.posted, alice.pending_debits, alice.available) == (2, 0, 2)
    shop = _balance(db, acc["shop"])
    assert (shop.posted, shop.pending_credits) == (8, 0)
    with db.unit_of_work(write=False) as session:
        assert ledger.get_entry(session, hold.entry.id).status == "posted"
    with pytest.raises(errors.PendingEntryAlreadyPosted), db.unit_of_work() as session:
        ledger.void_pending(session, entry_id=hold.entry.id, actor="till", clock=clock(settings))

    second = _book(db, settings, village, [(acc["alice"], -2), (acc["shop"], 2)], is_pending=True)
    with db.unit_of_work() as session:
        ledger.void_pending(
            session,
            entry_id=second.entry.id,
            actor="till",
            clock=clock(settings),
            reason="顾客取消",
        )
    assert _balance(db, acc["alice"]).available == 2
    with db.unit_of_work(write=False) as session:
        assert ledger.get_entry(session, second.entry.id).status == "voided"
    with pytest.raises(errors.PendingEntryAlreadyVoided), db.unit_of_work() as session:
        ledger.post_pending(session, entry_id=second.entry.id, actor="till", clock=clock(settings))


def test_reversal_mirrors_and_may_pass_the_floor(
    db: Database, settings: Settings, books: Books
) -> None:
    village, _, acc = books
    earned = _book(
        db, settings, village, [(acc["issuance"], -10), (acc["alice"], 10)], "labor_award"
    )
    _book(db, settings, village, [(acc["alice"], -8), (acc["shop"], 8)])
    with db.unit_of_work() as session:
        reversal = ledger.reverse(
            session,
            entry_id=earned.entry.id,
            actor="clerk",
            clock=clock(settings),
            reason="代签, 撤回",
        )
    # The points were spent: goods are not clawed back, the member owes them.
    assert reversal.entry.allow_below_floor
    assert reversal.entry.reverses_entry_id == earned.entry.id
    assert _balance(db, acc["alice"]).posted == -8
    with pytest.raises(errors.InsufficientPoints):
        _book(db, settings, village, [(acc["alice"], -1), (acc["shop"], 1)])
    with pytest.raises(errors.EntryAlreadyReversed), db.unit_of_work() as session:
        ledger.reverse(session, entry_id=earned.entry.id, actor="clerk", clock=clock(settings))
    with pytest.raises(errors.EntryNotReversible), db.unit_of_work() as session:
        ledger.reverse(session, entry_id=reversal.entry.id, actor="clerk", clock=clock(settings))
    with db.unit_of_work(write=False) as session:
        view = ledger.get_entry(session, earned.entry.id)
    assert (view.status, view.reversed_by_entry_id) == ("reversed", reversal.entry.id)


def test_a_posted_hold_is_reversed_through_its_posting(
    db: Database, settings: Settings, books: Books
) -> None:
    village, _, acc = books
    hold = _book(
        db,
        settings,
        village,
        [(acc["issuance"], -5), (acc["alice"], 5)],
        "red_board_award",
        is_pending=True,
    )
    with pytest.raises(errors.EntryNotReversible), db.unit_of_work() as session:
        ledger.reverse(session, entry_id=hold.entry.id, actor="clerk", clock=clock(settings))
    with db.unit_of_work() as session:
        posting = ledger.post_pending(
            session, entry_id=hold.entry.id, actor="clerk", clock=clock(settings)
        )
        reversal = ledger.reverse(
            session, entry_id=hold.entry.id, actor="clerk", clock=clock(settings), reason="申诉成立"
        )
    assert reversal.entry.reverses_entry_id == posting.entry.id
    assert _balance(db, acc["alice"]).posted == 0
    with db.unit_of_work(write=False) as session:
        assert ledger.get_entry(session, hold.entry.id).status == "reversed"


def test_penalty_debt_needs_a_permitted_code(
    db: Database, settings: Settings, books: Books
) -> None:
    village, _, acc = books
    _book(db, settings, village, [(acc["issuance"], -3), (acc["alice"], 3)], "labor_award")
    penalty = [(acc["alice"], -5), (acc["issuance"], 5)]
    with pytest.raises(errors.InsufficientPoints):
        _book(db, settings, village, penalty, "conduct_penalty")
    with pytest.raises(errors.FloorOverrideNotAllowed):
        _book(db, settings, village, penalty, "litter_penalty", allow_below_floor=True)
    debt = _book(db, settings, village, penalty, "conduct_penalty", allow_below_floor=True)
    assert debt.entry.allow_below_floor
    assert _balance(db, acc["alice"]).available == -2
    # Spending is blocked until the debt is earned back.
    with pytest.raises(errors.InsufficientPoints):
        _book(db, settings, village, [(acc["alice"], -1), (acc["shop"], 1)])
    _book(db, settings, village, [(acc["issuance"], -3), (acc["alice"], 3)], "labor_award")
    _book(db, settings, village, [(acc["alice"], -1), (acc["shop"], 1)])
    assert _balance(db, acc["alice"]).available == 0


def test_idempotency_key_returns_the_first_entry(
    db: Database, settings: Settings, books: Books
) -> None:
    village, _, acc = books
    lines = [(acc["issuance"], -4), (acc["alice"], 4)]
    first = _book(db, settings, village, lines, "labor_award", idempotency_key="k-1")
    again = _book(db, settings, village, lines, "labor_award", idempotency_key="k-1")
    assert again.replayed and again.entry == first.entry
    assert _balance(db, acc["alice"]).posted == 4
    with pytest.raises(IdempotencyKeyReused):
        _book(
            db,
            settings,
            village,
            [(acc["issuance"], -5), (acc["alice"], 5)],
            "labor_award",
            idempotency_key="k-1",
        )


def test_deactivated_member_takes_nothing_dated_after(
    db: Database, settings: Settings, books: Books
) -> None:
    village, members, acc = books
    now = utc_now()
    died_on = (now - timedelta(days=3)).astimezone(settings.zone).date()
    earned = _book(
        db,
        settings,
        village,
        [(acc["issuance"], -5), (acc["bob"], 5)],
        "labor_award",
        occurred_at=now - timedelta(days=5),
    )
    hold = _book(
        db,
        settings,
        village,
        [(acc["issuance"], -2), (acc["bob"], 2)],
        "red_board_award",
        occurred_at=now - timedelta(days=4),
        is_pending=True,
    )
    with db.unit_of_work() as session:
        tenancy.deactivate_member(session, members["bob"].id, on=died_on, reason="deceased")
    with pytest.raises(errors.MemberInactive):
        _book(db, settings, village, [(acc["issuance"], -1), (acc["bob"], 1)], "labor_award")
    # Dated on the deactivation day itself: still accepted (back-dated record).
    _book(
        db,
        settings,
        village,
        [(acc["issuance"], -1), (acc["bob"], 1)],
        "labor_award",
        occurred_at=now - timedelta(days=3),
    )
    # Approving the held award now would date it after: refused. Corrections are not.
    with pytest.raises(errors.MemberInactive), db.unit_of_work() as session:
        ledger.post_pending(session, entry_id=hold.entry.id, actor="clerk", clock=clock(settings))
    with db.unit_of_work() as session:
        ledger.void_pending(session, entry_id=hold.entry.id, actor="clerk", clock=clock(settings))
        ledger.reverse(session, entry_id=earned.entry.id, actor="clerk", clock=clock(settings))
    assert _balance(db, acc["bob"]).posted == 1


def test_balance_as_of_counts_back_dated_entries(
    db: Database, settings: Settings, books: Books
) -> None:
    village, _, acc = books
    now = utc_now()
    _book(
        db,
        settings,
        village,
        [(acc["issuance"], -10), (acc["alice"], 10)],
        "labor_award",
        occurred_at=now - timedelta(days=10),
    )
    _book(db, settings, village, [(acc["issuance"], -3), (acc["alice"], 3)], "labor_award")
    # Recorded later, but it happened 20 days ago (补录).
    _book(
        db,
        settings,
        village,
        [(acc["issuance"], -7), (acc["alice"], 7)],
        "labor_award",
        occurred_at=now - timedelta(days=20),
    )
    hold = _book(
        db,
        settings,
        village,
        [(acc["alice"], -4), (acc["shop"], 4)],
        is_pending=True,
        occurred_at=now - timedelta(days=15),
    )
    with db.unit_of_work(write=False) as session:
        as_of = lambda days: ledger.posted_balance_as_of(  # noqa: E731
            session, acc["alice"].id, now - timedelta(days=days)
        )
        assert [as_of(25), as_of(15), as_of(5)] == [0, 7, 17]
        assert ledger.posted_balance_as_of(session, acc["alice"].id, utc_now()) == 20
    with db.unit_of_work() as session:
        ledger.post_pending(session, entry_id=hold.entry.id, actor="till", clock=clock(settings))
    with db.unit_of_work(write=False) as session:
        # A hold counts from the moment it was posted, not from when it was taken.
        assert ledger.posted_balance_as_of(session, acc["alice"].id, now - timedelta(days=5)) == 17
        assert ledger.posted_balance_as_of(session, acc["alice"].id, utc_now()) == 16


def test_statement_and_entry_list_paginate_newest_first(
    db: Database, settings: Settings, books: Books
) -> None:
    village, _, acc = books
    for points in range(1, 8):
        _book(
            db,
            settings,
            village,
            [(acc["issuance"], -points), (acc["alice"], points)],
            "labor_award",
        )
    seen, cursor = [], None
    with db.unit_of_work(write=False) as session:
        while True:
            page = ledger.statement(session, acc["alice"].id, limit=3, cursor=cursor)
            seen += [(line.amount, line.balance_after) for line in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        entries = ledger.list_entries(session, village_id=village.id, limit=5)
        rest = ledger.list_entries(
            session, village_id=village.id, limit=5, cursor=entries.next_cursor
        )
        with pytest.raises(CursorError):
            ledger.statement(session, acc["alice"].id, limit=3, cursor="not-a-cursor")
    assert seen == [(7, 28), (6, 21), (5, 15), (4, 10), (3, 6), (2, 3), (1, 1)]
    assert [v.entry.seq for v in entries.items + rest.items] == [7, 6, 5, 4, 3, 2, 1]
    assert rest.next_cursor is None


def test_refusals_before_anything_is_written(
    db: Database, settings: Settings, books: Books
) -> None:
    village, _, acc = books
    with db.unit_of_work() as session:
        other = make_village(session)
        stranger = account_of(session, other, AccountKind.ISSUANCE)
    cases = [
        ([(acc["issuance"], -5), (stranger, 5)], {}, errors.AccountInOtherBooks),
        ([(acc["issuance"], -5), (acc["alice"], 4)], {}, errors.UnbalancedEntry),
        (
            [(acc["issuance"], -5), (acc["alice"], 5)],
            {"occurred_at": utc_now() + timedelta(hours=1)},
            errors.OccurredInFuture,
        ),
        ([(acc["issuance"], -5), (acc["alice"], 5)], {"code": "reversal"}, errors.InvalidEntryCode),
    ]
    for lines, kwargs, problem in cases:
        with pytest.raises(problem):
            _book(db, settings, village, lines, **{"code": "labor_award", **kwargs})
    with db.unit_of_work(write=False) as session:
        assert ledger.list_entries(session, village_id=village.id, limit=10).items == []


def test_money_and_points_do_not_mix(db: Database, settings: Settings, books: Books) -> None:
    village, _, acc = books
    with db.unit_of_work() as session:
        fund = account_of(session, village, AccountKind.FUND, asset=Asset.CNY)
        funding = account_of(session, village, AccountKind.FUNDING, asset=Asset.CNY)
    with pytest.raises(errors.UnbalancedEntry):
        _book(db, settings, village, [(acc["issuance"], -100), (fund, 100)], "fund_deposit")
    with pytest.raises(errors.InsufficientFunds):
        _book(db, settings, village, [(fund, -100), (funding, 100)], "fund_refund")
    _book(db, settings, village, [(funding, -100_000), (fund, 100_000)], "fund_deposit")
    assert _balance(db, fund).posted == 100_000


def test_opening_accounts(db: Database, settings: Settings, books: Books) -> None:
    village, members, _ = books
    now = utc_now()
    with db.unit_of_work() as session:
        shop = make_organisation(session, village.township_id)
        account = ledger.open_account(
            session,
            village_id=village.id,
            kind=AccountKind.ORGANISATION,
            organisation_id=shop.id,
            now=now,
        )
        assert (account.balance_floor, account.name) == (0, shop.name)
        merit = ledger.open_account(
            session,
            village_id=village.id,
            kind=AccountKind.MEMBER,
            member_id=members["alice"].id,
            category="merit",
            now=now,
        )
        assert merit.owner_ref == members["alice"].id.hex
        credit = ledger.open_account(
            session,
            village_id=village.id,
            kind=AccountKind.ISSUANCE,
            category="labor",
            balance_floor=-1000,
            use_default_floor=False,
            now=now,
        )
        assert credit.balance_floor == -1000
    for kwargs, problem in [
        ({"kind": AccountKind.MEMBER}, errors.InvalidAccount),
        ({"kind": AccountKind.ISSUANCE, "member_id": members["alice"].id}, errors.InvalidAccount),
        (
            {"kind": AccountKind.MEMBER, "member_id": members["alice"].id},
            errors.AccountAlreadyExists,
        ),
        ({"kind": AccountKind.HOUSEHOLD, "household_id": members["alice"].id}, NotFound),
    ]:
        with pytest.raises(problem), db.unit_of_work() as session:
            ledger.open_account(session, village_id=village.id, now=now, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(errors.AccountInOtherBooks), db.unit_of_work() as session:
        other = make_village(session, session.get(Township, village.township_id))
        ledger.open_account(
            session,
            village_id=other.id,
            kind=AccountKind.MEMBER,
            member_id=members["alice"].id,
            now=now,
        )


def test_trial_balance_sums_to_zero_per_asset(
    db: Database, settings: Settings, books: Books
) -> None:
    village, _, acc = books
    _book(db, settings, village, [(acc["issuance"], -9), (acc["alice"], 9)], "labor_award")
    _book(db, settings, village, [(acc["alice"], -4), (acc["shop"], 4)], is_pending=True)
    with db.unit_of_work(write=False) as session:
        tb = ledger.trial_balance(session, village.id)
    lines = {(line.kind, line.asset): line for line in tb.lines}
    assert lines[("member", "POINTS")].posted == 9
    assert lines[("member", "POINTS")].pending_debits == 4
    assert lines[("supermarket", "POINTS")].pending_credits == 4
    assert tb.is_balanced
    assert tb.totals["POINTS"].posted == 0


def test_unknown_things_are_not_found(db: Database, settings: Settings) -> None:
    unknown = uuid.uuid4()
    with db.unit_of_work() as session:
        for call in (
            lambda: ledger.get_entry(session, unknown),
            lambda: ledger.get_balance(session, unknown),
            lambda: ledger.verify_books(session, unknown),
            lambda: ledger.trial_balance(session, unknown),
            lambda: ledger.reverse(session, entry_id=unknown, actor="x", clock=clock(settings)),
            lambda: ledger.book(
                session,
                village_id=unknown,
                code="labor_award",
                postings=[],
                actor="x",
                clock=clock(settings),
            ),
        ):
            with pytest.raises(NotFound):
                call()
