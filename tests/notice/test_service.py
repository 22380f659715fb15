"""Notice lists end to end through the services: recording puts records on lists, `before`
entries are held until the tick closes the list, `after` entries count at once.

October 2026's lists are open 25 Nov - 1 Dec 2026 and close at the start of 2 Dec.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from jifen.cli import app
from jifen.config import Settings
from jifen.db import Database
from jifen.models import NoticeListItem
from jifen.notice import service as notice
from tests.notice.world import balance, entries, head, lists, volunteer
from tests.records.charters import VOLUNTEER_EVIDENCE, qingquan
from tests.records.world import World, at, make_world


def test_before_is_held_until_closing_and_after_counts_at_once(world: World) -> None:
    held = volunteer(world, date(2026, 10, 10), 3)  # 3 h x 2 = 6 points, held
    cleaning = world.record(
        "public_cleaning", world.a1, occurred_at=at(2026, 10, 12), now=at(2026, 10, 12)
    )  # 3 points, counted now

    assert world.entry(held.entry_id).status == "pending"
    assert world.entry(cleaning.entry_id).status == "posted"
    # posted 3 (cleaning); 6 pending; available = posted 3 (pending credits are not spendable)
    assert balance(world) == (3, 6, 3)
    before, after = lists(world)
    assert (before.list_index, before.mode, after.list_index, after.mode) == (
        0,
        "before",
        1,
        "after",
    )
    for row in (before, after):
        assert (row.period_start_on, row.period_end_on) == (date(2026, 10, 1), date(2026, 10, 31))
        assert (row.opens_on, row.closes_on, row.appeal_until) == (
            date(2026, 11, 25),
            date(2026, 12, 2),
            date(2027, 1, 1),
        )
        assert row.state == "scheduled"

    # 24 Nov: nothing due yet.
    report = notice.tick(world.db, now=at(2026, 11, 24, 23, 59))
    assert (report.opened, report.closed, report.posted) == (0, 0, 0)
    # 25 Nov: both open; the points are still held.
    report = notice.tick(world.db, now=at(2026, 11, 25, 0, 5))
    assert (report.opened, report.closed, report.posted) == (2, 0, 0)
    assert [row.state for row in lists(world)] == ["open", "open"]
    assert balance(world) == (3, 6, 3)
    # 1 Dec, late evening: still open (the 7th day).
    report = notice.tick(world.db, now=at(2026, 12, 1, 23, 0))
    assert (report.opened, report.closed, report.posted) == (0, 0, 0)
    # 2 Dec: both close; the 6 held points post: posted 3 + 6 = 9.
    entries_before = entries(world)
    report = notice.tick(world.db, now=at(2026, 12, 2, 0, 30))
    assert (report.opened, report.closed, report.posted) == (0, 2, 1)
    assert balance(world) == (9, 0, 9)
    assert entries(world) == entries_before + 1
    assert world.entry(held.entry_id).status == "posted"
    chain = head(world)
    assert [(row.state, row.head_seq, row.head_hash) for row in lists(world)] == [
        ("closed", chain[0], chain[1]),
        ("closed", chain[0], chain[1]),
    ]
    # Twice: nothing more.
    report = notice.tick(world.db, now=at(2026, 12, 2, 0, 31))
    assert (report.opened, report.closed, report.posted) == (0, 0, 0)
    assert entries(world) == entries_before + 1
    assert balance(world) == (9, 0, 9)


def test_a_gap_spanning_two_lists_catches_up_in_order(world: World) -> None:
    volunteer(world, date(2026, 10, 10), 1)  # 2 points, October's list
    volunteer(world, date(2026, 11, 10), 2)  # 4 points, November's list
    assert balance(world) == (0, 6, 0)

    # One tick on 5 Jan 2027: October's list (closes 2 Dec) and November's (open 25 Dec -
    # 31 Dec, closes 1 Jan) both open and close, October's first.
    report = notice.tick(world.db, now=at(2027, 1, 5))
    assert (report.opened, report.closed, report.posted) == (2, 2, 2)
    assert balance(world) == (6, 0, 6)
    october, november = lists(world)
    assert (october.closes_on, november.closes_on) == (date(2026, 12, 2), date(2027, 1, 1))
    assert november.head_seq == october.head_seq + 1  # one posting each, October's first
    assert (november.head_seq, november.head_hash) == head(world)


def test_a_revoked_record_is_voided_and_nothing_posts_at_closing(world: World) -> None:
    held = volunteer(world, date(2026, 10, 10), 3)
    assert balance(world) == (0, 6, 0)

    revoked = world.revoke(held.id, now=at(2026, 11, 26))

    assert revoked.status == "revoked"
    assert world.entry(held.entry_id).status == "voided"
    assert balance(world) == (0, 0, 0)
    count = entries(world)
    report = notice.tick(world.db, now=at(2026, 12, 2, 9))
    assert (report.opened, report.closed, report.posted) == (1, 1, 0)
    assert entries(world) == count
    assert balance(world) == (0, 0, 0)


def test_records_join_the_first_list_not_yet_closed(world: World) -> None:
    # Recorded on 27 Nov for 10 Oct: October's list is open: it joins it, created open.
    late = volunteer(world, date(2026, 10, 10), 1, now=at(2026, 11, 27))
    # Recorded on 5 Dec for 12 Oct: October's list closed on 2 Dec: it joins November's.
    later = world.record(
        "volunteer",
        world.a1,
        quantity=2,
        occurred_at=at(2026, 10, 12),
        occurrence="2026-10-12",
        evidence=VOLUNTEER_EVIDENCE,
        now=at(2026, 12, 5),
    )
    october, november = lists(world)
    assert (october.period_start_on, october.state) == (date(2026, 10, 1), "open")
    assert (november.period_start_on, november.state) == (date(2026, 11, 1), "scheduled")
    with world.db.unit_of_work(write=False) as session:
        rows = session.execute(select(NoticeListItem.record_id, NoticeListItem.list_id))
        on = {record_id: list_id for record_id, list_id in rows}
    assert on[late.id] == october.id
    assert on[later.id] == november.id
    # 2 + 4 points held; October's closes first (2 points), November's on 1 Jan (4 more).
    notice.tick(world.db, now=at(2026, 12, 5, 12))
    assert balance(world) == (2, 4, 2)
    notice.tick(world.db, now=at(2027, 1, 1, 8))
    assert balance(world) == (6, 0, 6)


def test_a_charter_without_lists_books_as_before(db: Database, settings: Settings) -> None:
    world = make_world(db, settings, qingquan())
    row = volunteer(world, date(2026, 10, 10), 3)
    assert world.entry(row.entry_id).status == "posted"
    assert balance(world) == (6, 0, 6)
    assert lists(world) == []


def test_jifen_tick_opens_and_closeslists(
    world: World, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # September 2026: the list is open 25 Oct - 31 Oct and closes at the start of 1 Nov.
    volunteer(world, date(2026, 9, 10), 4)  # 8 points, held
    assert balance(world) == (0, 8, 0)
    monkeypatch.setenv("JIFEN_DATABASE_URL", database_url)
    runner = CliRunner()

    opened = runner.invoke(app, ["tick", "--now", "2026-10-25T09:00:00"])
    assert opened.exit_code == 0, opened.output
    assert "notice lists 1 opened and 0 closed (0 held entries posted)" in opened.output
    assert balance(world) == (0, 8, 0)
    closed = runner.invoke(app, ["tick", "--now", "2026-11-01T09:00:00"])
    assert closed.exit_code == 0, closed.output
    assert "notice lists 0 opened and 1 closed (1 held entries posted)" in closed.output
    assert balance(world) == (8, 0, 8)
    again = runner.invoke(app, ["tick", "--now", "2026-11-01T10:00:00"])
    assert "notice lists 0 opened and 0 closed (0 held entries posted)" in again.output
    assert balance(world) == (8, 0, 8)
