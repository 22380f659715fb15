"""/v1 rankings (积分排行) and members' and households' histories."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from jifen.access import service as access
from jifen.access.guard import requires
from jifen.access.permissions import ClientScope, Permission
from jifen.api.deps import ClockDep, Cursor, SessionDep
from jifen.api.routing import UnitOfWorkRoute
from jifen.charters.document import Holder
from jifen.ledger import service as ledger
from jifen.ledger.schemas import StatementNoticeRead
from jifen.notice import service as notice
from jifen.problems import InvalidCursor, NotFound, problem_responses
from jifen.rankings import service
from jifen.rankings.schemas import HistoryRead, RankingRead, StandingRead
from jifen.rankings.service import RankBy, RankPeriod

router = APIRouter(prefix="/v1", route_class=UnitOfWorkRoute)

RankLimit = Annotated[int, Query(ge=1, le=200, description="How many rows, from the top")]
From = Annotated[
    date | None,
    Query(alias="from", description="First event day (inclusive)", examples=["2025-03-01"]),
]
To = Annotated[
    date | None,
    Query(alias="to", description="Last event day (inclusive)", examples=["2025-03-31"]),
]
HistoryLimit = Annotated[int, Query(ge=1, le=200, description="Page size")]


@dataclass
class RankingQuery:
    """What a leaderboard is of: the same query parameters on every ranking route."""

    by: RankBy = RankBy.POINTS
    period: RankPeriod = RankPeriod.MONTH
    on: Annotated[date | None, Query(examples=["2025-03-14"])] = None
    holder: Holder = Holder.MEMBER
    limit: RankLimit = 20


RankingQueryDep = Annotated[RankingQuery, Depends()]


@router.get(
    "/villages/{village_id}/rankings",
    tags=["rankings"],
    summary="Leaderboard of a village's members or households",
    description="Ranks by what counted records (approved, or capped) booked in the period: "
    "`by=points` sums the spendable track, signed (deductions lower it); `by=merit` sums "
    "the merit score. The period is the calendar month or year containing `on` (default: "
    "today, in the villages' time zone), or all time. Only members (or households) with a "
    "counted record in the period appear: nobody is listed with zero for doing nothing. "
    "A member ranking leaves out findings against a whole household; a household ranking "
    "sums the records credited to or done by its members while in it. Equal totals share "
    "a rank (1, 1, 3) and are listed by name, then id.",
    responses=problem_responses(NotFound),
)
@requires(Permission.RANKINGS_READ, on="village_id")
def get_ranking(
    village_id: uuid.UUID, query: RankingQueryDep, session: SessionDep, clock: ClockDep
) -> RankingRead:
    return _ranking(session, village_id, query, clock)


@router.get(
    "/bindings/{binding_id}/rankings",
    tags=["rankings"],
    summary="The leaderboard of the bound member's village",
    description="What a mini-program shows its user: the same leaderboard as "
    "`GET /v1/villages/{village_id}/rankings`, for the village of the bound member.",
    responses=problem_responses(NotFound),
)
@requires(None, on="binding_id", client_scope=ClientScope.BOARDS_READ, staff=False)
def get_bound_ranking(
    binding_id: uuid.UUID, query: RankingQueryDep, session: SessionDep, clock: ClockDep
) -> RankingRead:
    binding = access.get_binding(session, binding_id)
    return _ranking(session, binding.village_id, query, clock)


def _ranking(
    session: Session, village_id: uuid.UUID, query: RankingQuery, clock: ledger.Clock
) -> RankingRead:
    ranking = service.ranking(
        session,
        village_id=village_id,
        by=query.by,
        period=query.period,
        holder=query.holder,
        on=query.on or clock.local_date(clock.now),
        limit=query.limit,
    )
    return RankingRead.of(ranking)


_HISTORY_DESCRIPTION = (
    "Every record, whatever its status (pending, approved, capped, rejected, revoked), "
    "newest event first, each with the charter version and rule that scored it, the "
    "explanation, the cap that cut it, its review trail and its ledger entries. `totals` "
    "covers the whole window (not only this page) and counts approved and capped records only."
)


@router.get(
    "/members/{member_id}/history",
    tags=["rankings"],
    summary="A member's scored records, with explanations",
    description=_HISTORY_DESCRIPTION + " Lists the records in which the member acted.",
    responses=problem_responses(NotFound, InvalidCursor),
)
@requires(Permission.ENTRIES_READ, on="member_id")
def get_member_history(
    member_id: uuid.UUID,
    session: SessionDep,
    from_on: From = None,
    to_on: To = None,
    limit: HistoryLimit = 50,
    cursor: Cursor = None,
) -> HistoryRead:
    history = service.member_history(
        session, member_id=member_id, from_on=from_on, to_on=to_on, limit=limit, cursor=cursor
    )
    return _with_notice(session, HistoryRead.of(history))


@router.get(
    "/households/{household_id}/history",
    tags=["rankings"],
    summary="A household's scored records, with explanations",
    description=_HISTORY_DESCRIPTION
    + " Lists the records naming the household: its members' (while they were in it) and "
    "findings against the household as a whole.",
    responses=problem_responses(NotFound, InvalidCursor),
)
@requires(Permission.ENTRIES_READ, on="household_id")
def get_household_history(
    household_id: uuid.UUID,
    session: SessionDep,
    from_on: From = None,
    to_on: To = None,
    limit: HistoryLimit = 50,
    cursor: Cursor = None,
) -> HistoryRead:
    history = service.household_history(
        session,
        household_id=household_id,
        from_on=from_on,
        to_on=to_on,
        limit=limit,
        cursor=cursor,
    )
    return _with_notice(session, HistoryRead.of(history))


def _with_notice(session: Session, read: HistoryRead) -> HistoryRead:
    """Mark the records whose points are on a notice list (公示), and where they stand."""
    notes = notice.notes_for_entries(
        session, [item.entry_id for item in read.items if item.entry_id is not None]
    )
    for item in read.items:
        note = notes.get(item.entry_id) if item.entry_id is not None else None
        if note is not None:
            item.notice = StatementNoticeRead.model_validate(note)
    return read


_STANDING_DESCRIPTION = (
    "Every track in one read — the spendable points and the merit score — each with what "
    "may be spent now (`available`), what waits on a notice list (`pending_under_notice`) "
    "and what an objection holds (`held_by_objection`); and the records awaiting review "
    "that will score for this holder (counted and listed: nothing is booked for them yet)."
)


@router.get(
    "/members/{member_id}/balances",
    tags=["rankings"],
    summary="A member's points on every track, and what awaits review",
    description=_STANDING_DESCRIPTION
    + " For a member who holds points (member villages); a household village's points "
    "are the household's.",
    responses=problem_responses(NotFound),
)
@requires(Permission.BALANCES_READ, on="member_id")
def get_member_balances(member_id: uuid.UUID, session: SessionDep) -> StandingRead:
    return StandingRead.of(service.standing(session, holder=Holder.MEMBER, holder_id=member_id))


@router.get(
    "/households/{household_id}/balances",
    tags=["rankings"],
    summary="A household's points on every track, and what awaits review",
    description=_STANDING_DESCRIPTION,
    responses=problem_responses(NotFound),
)
@requires(Permission.BALANCES_READ, on="household_id")
def get_household_balances(household_id: uuid.UUID, session: SessionDep) -> StandingRead:
    standing = service.standing(session, holder=Holder.HOUSEHOLD, holder_id=household_id)
    return StandingRead.of(standing)
