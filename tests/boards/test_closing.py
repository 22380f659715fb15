"""A board's closing (issue #12, "The clock and the chain"), SQLite and PostgreSQL: a
published board closes when every notice list its records joined has closed — in
`jifen tick`, right after the lists — or at publishing when none of them is under a
list. It then carries the village books' chain head and emits board.finalized once.
Anyone holding the printed head checks it at the public chain endpoint.

The world (tests.boards.world): the charter's `board` category under a `before` list
opening on the 25th for 7 days, so October's list is open 25 Nov - 1 Dec and closes at
the start of 2 Dec; November's is open 25 Dec - 31 Dec and closes at the start of 1 Jan.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jifen.boards import service as boards
from jifen.config import Settings
from jifen.db import Database
from jifen.ledger import service as ledger
from jifen.main import create_app
from jifen.models import Board, Entry, NoticeList, OutboxEvent
from jifen.notice import service as notice
from tests.boards.world import (
    NOW,
    PERSONAL_NAMES,
    BoardWorld,
    board_world,
    draft_board,
    evaluation_entries,
    publish,
)
from tests.records.world import CLERK2, at


@pytest.fixture
def public_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """No credentials at all."""
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as client:
        yield client


def _board(bw: BoardWorld, board_id: uuid.UUID) -> Board:
    with bw.db.unit_of_work(write=False) as session:
        board = session.get(Board, board_id)
        assert board is not None
        return board


def _newest_entry(bw: BoardWorld) -> tuple[int, str]:
    """The village's newest entry as the ledger holds it: (seq, hash)."""
    with bw.db.unit_of_work(write=False) as session:
        seq = session.execute(
            select(func.max(Entry.seq)).where(Entry.village_id == bw.world.village_id)
        ).scalar_one()
        found = session.execute(
            select(Entry.hash).where(Entry.village_id == bw.world.village_id, Entry.seq == seq)
        ).scalar_one()
        return int(seq), str(found)


def _finalized(bw: BoardWorld) -> list[dict[str, Any]]:
    with bw.db.unit_of_work(write=False) as session:
        return [
            dict(e.payload)
            for e in session.execute(
                select(OutboxEvent)
                .where(OutboxEvent.type == "board.finalized")
                .order_by(OutboxEvent.seq)
            ).scalars()
        ]


def _with_entries(bw: BoardWorld, **overrides: Any) -> uuid.UUID:
    board_id = draft_board(bw, **overrides)
    with bw.db.unit_of_work() as session:
        boards.add_entries(session, board_id=board_id, entries=evaluation_entries(bw), now=NOW)
    return board_id


def test_a_board_under_a_before_list_closes_when_its_list_closes(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    bw = board_world(db, settings, monkeypatch, notice_before=True)
    board_id = _with_entries(bw)
    publish(bw, board_id)
    board = _board(bw, board_id)
    assert (board.status, board.closed_at, board.head_seq, board.head_hash) == (
        "published",
        None,
        None,
        None,
    )
    assert _finalized(bw) == []

    # 1 Dec, late: October's list is still open; the board waits with it.
    lines: list[str] = []
    report = notice.tick(db, now=at(2026, 12, 1, 23), progress=lines.append)
    assert (report.closed, report.boards_closed) == (0, 0)
    assert _board(bw, board_id).status == "published"

    # 2 Dec: the list closes, its held points post, and the board closes with them.
    closing = at(2026, 12, 2, 1)
    report = notice.tick(db, now=closing, progress=lines.append)
    assert (report.closed, report.posted, report.boards_closed) == (1, 3, 1)
    assert lines[-1].endswith("1 closed, 3 entries posted, 1 boards closed")
    board = _board(bw, board_id)
    assert board.status == "closed"
    assert board.closed_at == closing
    # The head is the books' newest entry after the postings (the last of the three),
    # the same head the list stored in the same transaction.
    assert (board.head_seq, board.head_hash) == _newest_entry(bw)
    with db.unit_of_work(write=False) as session:
        [october] = session.execute(select(NoticeList)).scalars().all()
        assert (october.head_seq, october.head_hash) == (board.head_seq, board.head_hash)
        posting = session.execute(
            select(Entry.code).where(
                Entry.village_id == bw.world.village_id, Entry.seq == board.head_seq
            )
        ).scalar_one()
        assert posting == "pending_post"
    [event] = _finalized(bw)
    assert event["board"]["id"] == str(board_id)
    assert event["board"]["status"] == "closed"
    assert (event["board"]["head_seq"], event["board"]["head_hash"]) == (
        board.head_seq,
        board.head_hash,
    )
    assert (event["entry_count"], event["red_count"], event["black_count"]) == (3, 2, 1)
    text = json.dumps(event, ensure_ascii=False)
    assert not [name for name in PERSONAL_NAMES if name in text]

    # Again: nothing new closes, nothing new is emitted, the head stays.
    report = notice.tick(db, now=at(2026, 12, 2, 2))
    assert report.boards_closed == 0
    assert len(_finalized(bw)) == 1
    assert (_board(bw, board_id).head_seq, _board(bw, board_id).closed_at) == (
        board.head_seq,
        closing,
    )


def test_after_a_gap_one_tick_closes_every_board_due(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    bw = board_world(db, settings, monkeypatch, notice_before=True)
    october = _with_entries(bw)
    publish(bw, october)
    november = _with_entries(
        bw,
        title="2026-11 环境卫生红黑榜",
        period_start_on=date(2026, 11, 1),
        period_end_on=date(2026, 11, 30),
        black_rule_id=None,
        now=at(2026, 12, 1),
    )
    publish(bw, november, now=at(2026, 12, 1))
    with db.unit_of_work(write=False) as session:
        periods = sorted(x.period_start_on for x in session.execute(select(NoticeList)).scalars())
    assert periods == [date(2026, 10, 1), date(2026, 11, 1)]
    # No tick ran for a month: the first one after both lists closed closes both boards.
    report = notice.tick(db, now=at(2027, 1, 2, 9))
    assert (report.opened, report.closed, report.boards_closed) == (1, 2, 2)
    first, second = _board(bw, october), _board(bw, november)
    assert first.status == second.status == "closed"
    # Closed in the same transaction, after both lists: the same head, the newest entry.
    assert first.head_seq == second.head_seq == _newest_entry(bw)[0]
    assert {e["board"]["id"] for e in _finalized(bw)} == {str(october), str(november)}
    assert notice.tick(db, now=at(2027, 1, 2, 10)).boards_closed == 0
    assert len(_finalized(bw)) == 2


def test_a_board_without_notice_closes_as_it_publishes(
    client: TestClient, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    bw = board_world(db, settings, monkeypatch, notice_before=False)
    board_id = _with_entries(bw)
    publish(bw, board_id)
    board = _board(bw, board_id)
    assert board.status == "closed"
    assert board.closed_at == NOW
    assert (board.head_seq, board.head_hash) == _newest_entry(bw)
    with db.unit_of_work(write=False) as session:
        kinds = list(
            session.execute(
                select(OutboxEvent.type)
                .where(OutboxEvent.type.in_(("board.published", "board.finalized")))
                .order_by(OutboxEvent.seq)
            ).scalars()
        )
    assert kinds == ["board.published", "board.finalized"]
    read = client.get(f"/v1/boards/{board_id}").json()
    assert (read["status"], read["head_seq"], read["head_hash"]) == (
        "closed",
        board.head_seq,
        board.head_hash,
    )
    assert read["closed_at"] is not None
    # A board that scores nothing closes at publishing too, on the head of that moment.
    shown_only = _with_entries(bw, title="最美庭院", red_rule_id=None, black_rule_id=None)
    publish(bw, shown_only)
    assert _board(bw, shown_only).status == "closed"
    assert _board(bw, shown_only).head_seq == board.head_seq  # nothing booked since
    assert notice.tick(db, now=at(2026, 12, 2, 1)).boards_closed == 0
    assert len(_finalized(bw)) == 2


def test_a_board_waits_for_its_records_under_review(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No public notice, but a clerk's records wait for a second clerk's 复核: their
    points are not booked, so the board is not settled until they are decided."""
    bw = board_world(db, settings, monkeypatch, notice_before=False, clerk_reviewed=True)
    board_id = _with_entries(bw, black_rule_id=None)
    booked = publish(bw, board_id)
    assert len(booked) == 2
    assert _board(bw, board_id).status == "published"
    assert notice.tick(db, now=at(2026, 11, 28)).boards_closed == 0
    bw.world.review(booked[0], reviewer=CLERK2, now=at(2026, 11, 28, 9))
    assert notice.tick(db, now=at(2026, 11, 28, 10)).boards_closed == 0  # one still waits
    bw.world.review(
        booked[1], approve=False, reason="名单有误", reviewer=CLERK2, now=at(2026, 11, 28, 11)
    )
    assert notice.tick(db, now=at(2026, 11, 29)).boards_closed == 1
    board = _board(bw, board_id)
    assert board.status == "closed"
    assert (board.head_seq, board.head_hash) == _newest_entry(bw)
    assert len(_finalized(bw)) == 1


def test_a_printed_head_is_checked_against_the_public_chain(
    db: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    public_client: TestClient,
) -> None:
    bw = board_world(db, settings, monkeypatch, notice_before=True)
    board_id = _with_entries(bw)
    publish(bw, board_id)
    notice.tick(db, now=at(2026, 12, 2, 1))
    root = bw.public_root
    shown = public_client.get(f"{root}/boards/{board_id}").json()
    seq, printed = shown["head_seq"], shown["head_hash"]
    assert (seq, printed) == _newest_entry(bw)
    assert shown["closed_at"] is not None
    page = public_client.get(f"/p/{bw.township_code}/{bw.village_code}").text
    assert f"第 {seq} 笔" in page and printed in page

    right = public_client.get(f"{root}/chain/{seq}", params={"hash": printed.upper()})
    assert right.status_code == 200, right.text
    assert right.json() == {
        "seq": seq,
        "hash": printed,
        "intact": True,
        "current_seq": seq,
        "matches": True,
    }
    wrong = public_client.get(f"{root}/chain/{seq - 1}", params={"hash": printed}).json()
    assert (wrong["seq"], wrong["intact"], wrong["matches"]) == (seq - 1, True, False)
    with db.unit_of_work(write=False) as session:
        through = ledger.verify_books(session, bw.world.village_id, up_to_seq=seq - 1)
    assert (through.last_seq, through.last_hash) == (seq - 1, wrong["hash"])
    assert through.entries_checked == seq - 1
    plain = public_client.get(f"{root}/chain/1").json()
    assert (plain["seq"], plain["matches"], plain["current_seq"]) == (1, None, seq)
    for beyond in (0, -1, seq + 1, 10**30):
        answer = public_client.get(f"{root}/chain/{beyond}")
        assert answer.status_code == 404, beyond
        assert answer.json()["code"] == "not_found"
    malformed = public_client.get(f"{root}/chain/{seq}", params={"hash": "abc"})
    assert malformed.status_code == 422
    other = public_client.get(f"/public/townships/{bw.township_code}/villages/nope/chain/1")
    assert other.status_code == 404
    assert other.json()["code"] == "public_village_not_found"
