"""The demo village's published 环境卫生红黑榜 of last month, under public notice (公示).

The charter's board rules score it (红榜 +5, 黑榜 −2, category `board`), and its notice
setting holds `board` points for a month's list that opens on the 1st of the next month
and runs 31 days: so on any day the seed runs, last month's list is open and the board's
points are pending under it. One household on the black side has objected to its entry
(recorded by the clerk, undecided). The board and the list show on the public page
/p/{township code}/{village code}.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.boards import service as boards
from jifen.ledger import service as ledger
from jifen.models import NoticeListItem, Record, Village
from jifen.notice import service as notice
from jifen.records import service as records

CLERK = records.Recorder("seed-demo:评比小组", frozenset({"village_clerk"}))
RED_RULE, BLACK_RULE = "hygiene_red", "hygiene_black"


@dataclass(frozen=True)
class Objection:
    """Who objects to which household's entry, and why."""

    member_id: uuid.UUID
    household_id: uuid.UUID
    reason: str


def seed_board(
    session: Session,
    *,
    village: Village,
    households: list[tuple[uuid.UUID, str, str]],
    objection: Objection,
    clock: ledger.Clock,
    today: date,
) -> str:
    """Publish last month's board of `households` (id, side, reason) and record the
    objection to the entry of `objection.household_id`; a line for the echo."""
    last_day = today.replace(day=1) - timedelta(days=1)
    board = boards.create_board(
        session,
        village_id=village.id,
        title=f"{last_day:%Y-%m} 环境卫生红黑榜",
        kind=boards.RED_BLACK,
        source=boards.EVALUATION,
        period_start_on=last_day.replace(day=1),
        period_end_on=last_day,
        red_rule_id=RED_RULE,
        black_rule_id=BLACK_RULE,
        actor=CLERK.actor,
        now=clock.now,
    )
    boards.add_entries(
        session,
        board_id=board.id,
        entries=[
            boards.EntryInput("household", household_id, side, reason)
            for household_id, side, reason in households
        ],
        now=clock.now,
    )
    _board, booked = boards.publish(session, board_id=board.id, recorder=CLERK, clock=clock)
    objected = _item_of(session, booked, objection.household_id)
    notice.object_for_member(
        session,
        list_id=objected.list_id,
        entry_id=objected.entry_id,
        member_id=objection.member_id,
        reason=objection.reason,
        recorded_by=CLERK.actor,
        clock=clock,
    )
    return (
        f"a published board ({board.title}, {len(households)} households, "
        f"{len(booked)} records pending under notice, 1 objection)"
    )


def _item_of(session: Session, booked: list[Record], household_id: uuid.UUID) -> NoticeListItem:
    """The notice-list item of the board's record for the household."""
    record = next(r for r in booked if r.household_id == household_id)
    item = session.execute(
        select(NoticeListItem).where(NoticeListItem.record_id == record.id)
    ).scalar_one_or_none()
    assert item is not None, "the charter lists `board` records for public notice"
    return item
