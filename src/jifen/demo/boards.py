"""The demo village's published 环境卫生红黑榜 of last month: two households red, one black.

Display only: the demo charter has no `board` rule, so publishing books no points (see
docs/boards.md for a board whose rules score it). It shows on the public page
/p/{township code}/{village code}.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy.orm import Session

from jifen.boards import service as boards
from jifen.ledger import service as ledger
from jifen.models import Village
from jifen.records import service as records

CLERK = records.Recorder("seed-demo:评比小组", frozenset({"village_clerk"}))


def seed_board(
    session: Session,
    *,
    village: Village,
    households: list[tuple[uuid.UUID, str, str]],
    clock: ledger.Clock,
    today: date,
) -> str:
    """Publish last month's board of `households` (id, side, reason); a line for the echo."""
    last_day = today.replace(day=1) - timedelta(days=1)
    board = boards.create_board(
        session,
        village_id=village.id,
        title=f"{last_day:%Y-%m} 环境卫生红黑榜",
        kind=boards.RED_BLACK,
        source=boards.EVALUATION,
        period_start_on=last_day.replace(day=1),
        period_end_on=last_day,
        red_rule_id=None,
        black_rule_id=None,
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
    boards.publish(session, board_id=board.id, recorder=CLERK, clock=clock)
    return f"a published board ({board.title}, {len(households)} households)"
