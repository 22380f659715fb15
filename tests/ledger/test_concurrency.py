"""Many simultaneous bookings against one account: never an overdraft, never a lost update.

On PostgreSQL this exercises the row locks (books head, then balances in id order); on
SQLite, BEGIN IMMEDIATE makes writers queue on the database lock. Both must hold.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from jifen.config import Settings
from jifen.db import Database
from jifen.ledger import errors
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.models import Account, Village
from tests.factories import account_of, award, clock, make_member, make_village

THREADS = 24


def _setup(db: Database, settings: Settings, points: int) -> tuple[Village, Account, Account]:
    with db.unit_of_work() as session:
        village = make_village(session)
        member = make_member(session, village)
        account = account_of(session, village, AccountKind.MEMBER, member.id)
        shop = account_of(session, village, AccountKind.SUPERMARKET)
        if points:
            award(session, settings, village, account, points)
    return village, account, shop


def _run_at_once(job: Callable[[int], str], count: int) -> list[str]:
    barrier = threading.Barrier(count)

    def run(i: int) -> str:
        barrier.wait()
        return job(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_simultaneous_redemptions_never_overdraw(db: Database, settings: Settings) -> None:
    village, account, shop = _setup(db, settings, points=100)

    def redeem(_: int) -> str:
        try:
            with db.unit_of_work() as session:
                ledger.book(
                    session,
                    village_id=village.id,
                    code="redemption",
                    postings=[
                        ledger.PostingInput(account.id, -10),
                        ledger.PostingInput(shop.id, 10),
                    ],
                    actor="till",
                    clock=clock(settings),
                )
            return "booked"
        except errors.InsufficientPoints:
            return "refused"

    outcomes = Counter(_run_at_once(redeem, THREADS))
    assert outcomes == {"booked": 10, "refused": THREADS - 10}
    with db.unit_of_work(write=False) as session:
        balance = ledger.get_balance(session, account.id)
        assert balance.posted == 0
        assert ledger.get_balance(session, shop.id).posted == 100


def test_simultaneous_awards_lose_no_update(db: Database, settings: Settings) -> None:
    village, account, _ = _setup(db, settings, points=0)

    def earn(i: int) -> str:
        with db.unit_of_work() as session:
            award(session, settings, village, account, i + 1)
        return "booked"

    assert set(_run_at_once(earn, THREADS)) == {"booked"}
    with db.unit_of_work(write=False) as session:
        balance = ledger.get_balance(session, account.id)
        assert balance.posted == sum(range(1, THREADS + 1))
        assert balance.last_seq == THREADS


def test_simultaneous_retries_with_one_key_book_once(db: Database, settings: Settings) -> None:
    village, account, _ = _setup(db, settings, points=0)

    def retry(_: int) -> str:
        with db.unit_of_work() as session:
            view = award(
                session,
                settings,
                village,
                account,
                7,
                idempotency_key="till-42-receipt-1",
            )
        return str(view.entry.id)

    assert len(set(_run_at_once(retry, THREADS))) == 1
    with db.unit_of_work(write=False) as session:
        assert ledger.get_balance(session, account.id).posted == 7


def test_simultaneous_reversals_reverse_once(db: Database, settings: Settings) -> None:
    village, account, _ = _setup(db, settings, points=0)
    with db.unit_of_work() as session:
        entry_id = award(session, settings, village, account, 9).entry.id

    def reverse(_: int) -> str:
        try:
            with db.unit_of_work() as session:
                ledger.reverse(
                    session,
                    entry_id=entry_id,
                    actor="clerk",
                    clock=clock(settings),
                    reason="duplicate",
                )
            return "reversed"
        except errors.EntryAlreadyReversed:
            return "refused"

    assert Counter(_run_at_once(reverse, THREADS)) == {"reversed": 1, "refused": THREADS - 1}
    with db.unit_of_work(write=False) as session:
        assert ledger.get_balance(session, account.id).posted == 0
