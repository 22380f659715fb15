"""The group committer: writes queued together commit together, each refusal refuses only
its own write, and the statements of a group do not grow with its size."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jifen.committer import Committer
from jifen.config import Settings
from jifen.db import Database, DatabaseUnavailable, write_batch
from jifen.kit.clock import utc_now
from jifen.ledger import errors
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.models import Entry, IdempotencyRecord, Township
from tests.factories import account_of, award, clock, make_member, make_village


@dataclass
class Books:
    village_id: uuid.UUID
    issuance: uuid.UUID
    shop: uuid.UUID
    members: list[uuid.UUID]


def _books(db: Database, settings: Settings, members: int = 4, points: int = 0) -> Books:
    with db.unit_of_work() as session:
        village = make_village(session)
        issuance = account_of(session, village, AccountKind.ISSUANCE, category="general")
        shop = account_of(session, village, AccountKind.SUPERMARKET)
        accounts = [
            account_of(session, village, AccountKind.MEMBER, make_member(session, village).id)
            for _ in range(members)
        ]
        for account in accounts:
            if points:
                award(session, settings, village, account, points)
    return Books(village.id, issuance.id, shop.id, [a.id for a in accounts])


def _move(
    settings: Settings, books: Books, source: uuid.UUID, target: uuid.UUID, points: int, key: str
) -> tuple[Callable[[Session], ledger.EntryView], Callable[[Session], None]]:
    """A booking as a unit of work, and what it announces for the group's prefetch."""

    def work(session: Session) -> ledger.EntryView:
        return ledger.book(
            session,
            village_id=books.village_id,
            code="transfer",
            postings=[ledger.PostingInput(source, -points), ledger.PostingInput(target, points)],
            actor="committer-test",
            clock=clock(settings),
            idempotency_key=key,
        )

    def prepare(session: Session) -> None:
        ledger.expect_booking(
            session,
            village_id=books.village_id,
            account_ids=[source, target],
            actor="committer-test",
            idempotency_key=key,
        )

    return work, prepare


def _posted(db: Database, account_id: uuid.UUID) -> int:
    with db.unit_of_work(write=False) as session:
        return ledger.get_balance(session, account_id).posted


@contextmanager
def _statements(db: Database) -> Iterator[Counter[str]]:
    seen: Counter[str] = Counter()

    def count(_c: object, _cur: object, statement: str, *_args: object) -> None:
        seen[" ".join(statement.split()[:3])] += 1

    event.listen(db.write_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.write_engine, "before_cursor_execute", count)


def test_a_refused_write_refuses_only_itself(db: Database, settings: Settings) -> None:
    books = _books(db, settings, members=3, points=5)
    alice, bob, carol = books.members
    units = [
        _move(settings, books, alice, books.shop, 4, "r1"),
        _move(settings, books, bob, books.shop, 9, "r2"),  # bob has 5: refused
        _move(settings, books, carol, alice, 5, "r3"),
    ]
    groups = db.committer.stats.groups
    outcomes = db.committer.run_all_sync([w for w, _ in units], [p for _, p in units])
    assert db.committer.stats.groups == groups + 1
    assert isinstance(outcomes[1], errors.InsufficientPoints)
    booked = [o for o in outcomes if isinstance(o, ledger.EntryView)]
    assert [view.entry.idempotency_key for view in booked] == ["r1", "r3"]
    assert booked[1].entry.seq == booked[0].entry.seq + 1
    assert (_posted(db, alice), _posted(db, bob), _posted(db, carol)) == (6, 5, 0)


def test_the_statements_of_a_group_do_not_grow_with_it(db: Database, settings: Settings) -> None:
    books = _books(db, settings, members=40)

    def group(first: int, size: int) -> Counter[str]:
        units = [
            _move(settings, books, books.issuance, books.members[i % 40], 1, f"s{first + i}")
            for i in range(size)
        ]
        with _statements(db) as seen:
            outcomes = db.committer.run_all_sync([w for w, _ in units], [p for _, p in units])
        assert all(isinstance(o, ledger.EntryView) for o in outcomes), outcomes
        return seen

    group(0, 40)  # every account's facts are cached from now on, as in a running server
    one, forty = group(100, 1), group(200, 40)
    # Locks and reads for the whole group, then one statement per table written.
    assert sum(forty.values()) == sum(one.values()), (one, forty)
    assert sum(forty.values()) <= 12, forty


def test_a_write_that_failed_after_writing_is_taken_out_and_the_group_runs_again(
    db: Database, settings: Settings
) -> None:
    books = _books(db, settings, members=2)

    def half_done(session: Session) -> None:
        session.add(Township(id=uuid.uuid4(), code="half-done", name="半途", created_at=utc_now()))
        session.flush()
        raise RuntimeError("failed after writing")

    before, after = (
        _move(settings, books, books.issuance, books.members[0], 3, "before"),
        _move(settings, books, books.issuance, books.members[1], 4, "after"),
    )
    redos = db.committer.stats.redos
    outcomes = db.committer.run_all_sync([before[0], half_done, after[0]])
    assert isinstance(outcomes[1], RuntimeError)
    assert db.committer.stats.redos == redos + 1
    assert (_posted(db, books.members[0]), _posted(db, books.members[1])) == (3, 4)
    with db.unit_of_work(write=False) as session:
        assert session.execute(select(Township).where(Township.code == "half-done")).first() is None


def test_a_write_refused_by_the_database_at_commit_is_found_one_by_one(
    db: Database, settings: Settings
) -> None:
    books = _books(db, settings, members=2)
    taken = {
        "principal": "committer-test",
        "key": "taken",
        "method": "POST",
        "path": "/",
        "request_hash": "0" * 64,
        "status_code": 201,
        "response_body": b"{}",
        "created_at": utc_now(),
    }
    with db.unit_of_work() as session:
        session.execute(insert(IdempotencyRecord), taken)

    def clash(session: Session) -> str:
        # Deferred to the group's flush, where the database refuses it.
        write_batch(session).defer(insert(IdempotencyRecord), dict(taken))
        return "deferred"

    first = _move(settings, books, books.issuance, books.members[0], 2, "first")
    last = _move(settings, books, books.issuance, books.members[1], 5, "last")
    solo = db.committer.stats.solo_runs
    outcomes = db.committer.run_all_sync([first[0], clash, last[0]])
    assert isinstance(outcomes[1], IntegrityError)
    assert db.committer.stats.solo_runs == solo + 3
    assert (_posted(db, books.members[0]), _posted(db, books.members[1])) == (2, 5)


def test_a_write_that_waited_too_long_never_runs(db: Database, settings: Settings) -> None:
    committer = Committer(db, group_max=100, window_seconds_max=0, wait_timeout_seconds=0.3)
    release = threading.Event()
    ran: list[str] = []

    def slow(_session: Session) -> str:
        release.wait(5)
        return "slow"

    def late(_session: Session) -> str:
        ran.append("late")
        return "late"

    first = threading.Thread(target=lambda: committer.run_sync(slow))
    first.start()
    deadline = time.monotonic() + 5
    while committer.stats.groups == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(DatabaseUnavailable) as refused:
        committer.run_sync(late)
    assert refused.value.outcome == "not_written"
    release.set()
    first.join(5)
    committer.run_sync(lambda _s: "after")  # the committer goes on
    committer.stop()
    assert ran == [] and committer.stats.expired == 1


@pytest.mark.postgres_only
def test_a_write_whose_books_are_busy_waits_for_the_next_group(
    db: Database, settings: Settings
) -> None:
    """A group holding one village's books does not wait for another's: the write that
    needs them runs first in the next group (no lock cycles between processes)."""
    here, there = _books(db, settings, members=1), _books(db, settings, members=1)
    holder = db.session(write=True)
    try:
        holder.execute(
            select(Entry.id).where(Entry.village_id == there.village_id).with_for_update()
        )
        ledger.book(  # another process, booking in `there`, holds its books
            holder,
            village_id=there.village_id,
            code="transfer",
            postings=[
                ledger.PostingInput(there.issuance, -1),
                ledger.PostingInput(there.members[0], 1),
            ],
            actor="elsewhere",
            clock=clock(settings),
        )
        holder.flush()
        first = _move(settings, here, here.issuance, here.members[0], 2, "here")
        second = _move(settings, there, there.issuance, there.members[0], 3, "there")
        done: list[object] = []
        runner = threading.Thread(
            target=lambda: done.extend(db.committer.run_all_sync([first[0], second[0]]))
        )
        requeued = db.committer.stats.requeued
        runner.start()
        deadline = time.monotonic() + 10
        while db.committer.stats.requeued == requeued and time.monotonic() < deadline:
            time.sleep(0.01)
        assert db.committer.stats.requeued == requeued + 1
        assert _posted(db, here.members[0]) == 2  # its group committed without the other
    finally:
        holder.commit()
        holder.close()
    runner.join(10)
    assert [type(o) for o in done] == [ledger.EntryView, ledger.EntryView]
    assert _posted(db, there.members[0]) == 1 + 3
