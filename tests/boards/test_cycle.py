"""A whole board cycle (issue #12, done-means): the committee's evaluation comes in as a
CSV sheet, the board rules score it, the board is published under the charter's `before`
notice list, a resident objects to one entry, the list closes and the board with it, the
objection is decided, and each household ends with the points the charter says.

The world (tests.boards.world): October's sanitation left 王建国户 (3-07) 6 points, 张家
(3-01) 9 and 李家 (3-02) 4. The board rules: red, the top 2 gain 10 each; black loses 5,
and the charter's floor is zero (a deduction takes only what is there). October's list is
open 25 Nov - 1 Dec and closes at the start of 2 Dec.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from jifen.boards import service as boards
from jifen.config import Settings
from jifen.db import Database
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.models import Board, BoardEntry, NoticeList, Record
from jifen.notice import service as notice
from tests.boards.world import NOW, BoardWorld, board_world, draft_board, publish
from tests.records.world import at

SHEET = (
    "户号,姓名,红黑,理由,名次\n"
    "3-07,王建国,红,门前屋后干净整洁,1\n"
    "3-01,张三,红,庭院绿化好,2\n"
    "3-02,李四,黑,门前堆放柴草,\n"
)


def _balance(bw: BoardWorld, household_id: uuid.UUID) -> tuple[int, int, int]:
    """(posted, pending credits, pending debits) of a household's points account."""
    account_id = bw.world.account_id(AccountKind.HOUSEHOLD, household_id)
    assert account_id is not None
    with bw.db.unit_of_work(write=False) as session:
        found = ledger.get_balance(session, account_id)
    return found.posted, found.pending_credits, found.pending_debits


def test_evaluation_scored_published_objected_to_closed_and_decided(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    bw = board_world(db, settings, monkeypatch, notice_before=True)
    w = bw.world
    households = (bw.household_w, w.household_a, w.household_b)
    assert [_balance(bw, h) for h in households] == [(6, 0, 0), (9, 0, 0), (4, 0, 0)]

    # The committee's list comes in as a sheet (GB18030, as Excel saves it).
    board_id = draft_board(bw)
    with db.unit_of_work() as session:
        entries = boards.entries_from_csv(session, board_id=board_id, data=SHEET.encode("gb18030"))
        boards.add_entries(session, board_id=board_id, entries=entries, now=NOW)
    booked = publish(bw, board_id)
    assert len(booked) == 3

    # Published under notice: +10, +10 wait as pending credits; the black entry's
    # deduction waits as a pending debit of what 李家 has (4 of the 5, floor zero).
    assert [_balance(bw, h) for h in households] == [(6, 10, 0), (9, 10, 0), (4, 0, 4)]
    with db.unit_of_work(write=False) as session:
        black = session.execute(
            select(Record)
            .join(BoardEntry, BoardEntry.record_id == Record.id)
            .where(BoardEntry.board_id == board_id, BoardEntry.side == "black")
        ).scalar_one()
        october = session.execute(
            select(NoticeList).where(NoticeList.village_id == w.village_id)
        ).scalar_one()
        assert october.state == "open"
    assert black.entry_id is not None

    # 28 Nov: 李四 objects (through the clerk) that the firewood was cleared that day.
    with db.unit_of_work() as session:
        objection = notice.raise_objection(
            session,
            list_id=october.id,
            entry_id=black.entry_id,
            raised_by="村民 李四",
            reason="柴草当天已清理",
            recorded_by="村会计 张建国",
            clock=w.clock(at(2026, 11, 28, 9)),
        )
    assert (objection.kind, objection.state) == ("objection", "open")

    # 2 Dec: the list closes. The red points post; the objected deduction stays held;
    # the board closes with the list and carries the books' head.
    report = notice.tick(db, now=at(2026, 12, 2, 1))
    assert (report.closed, report.posted, report.boards_closed) == (1, 2, 1)
    assert [_balance(bw, h) for h in households] == [(16, 0, 0), (19, 0, 0), (4, 0, 4)]
    with db.unit_of_work(write=False) as session:
        board = session.get(Board, board_id)
        assert board is not None
        assert board.status == "closed"
        assert board.head_seq is not None and board.head_hash is not None

    # 3 Dec: the clerk (the deciding role) upholds it: the deduction is voided, 李家
    # keeps its 4 points; the others keep theirs.
    with db.unit_of_work() as session:
        decided = notice.decide_objection(
            session,
            objection_id=objection.id,
            upheld=True,
            reason="经核实柴草已清理",
            decider="村主任 李卫东",
            roles=frozenset({"village_clerk"}),
            clock=w.clock(at(2026, 12, 3, 10)),
        )
    assert decided.state == "upheld"
    assert [_balance(bw, h) for h in households] == [(16, 0, 0), (19, 0, 0), (4, 0, 0)]
    assert w.entry(black.entry_id).status == "voided"
    # A second tick changes nothing.
    again = notice.tick(db, now=at(2026, 12, 3, 11))
    assert (again.closed, again.posted, again.boards_closed) == (0, 0, 0)
