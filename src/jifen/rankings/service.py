"""Leaderboards of a village for a period, and members' and households' histories."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from jifen.charters import service as charters
from jifen.charters.document import CapPeriod, Holder
from jifen.charters.policy import window
from jifen.kit.pagination import CursorError, decode_cursor, encode_cursor
from jifen.ledger import service as ledger
from jifen.ledger.policy import AccountKind
from jifen.models import Household, Member, Record, RecordReview
from jifen.notice import service as notice
from jifen.problems import NotFound
from jifen.records import service as records


class RankBy(StrEnum):
    POINTS = "points"  # the spendable track (signed: deductions lower it)
    MERIT = "merit"  # the merit score (荣誉积分 / 文明积分)


class RankPeriod(StrEnum):
    MONTH = "month"  # the calendar month containing `on`
    YEAR = "year"  # the calendar year containing `on`
    ALL = "all"  # all time


_PERIOD_WINDOWS = {RankPeriod.MONTH: CapPeriod.MONTH, RankPeriod.YEAR: CapPeriod.YEAR}


def period_bounds(period: RankPeriod, on: date) -> tuple[date | None, date | None]:
    """The first and last day (inclusive) of the period containing `on`; None for all time."""
    bounds = window(_PERIOD_WINDOWS[period], on) if period in _PERIOD_WINDOWS else None
    if bounds is None:
        return None, None
    return bounds[0], bounds[1] - timedelta(days=1)


def _in_window(query: Any, from_on: date | None, to_on: date | None) -> Any:
    if from_on is not None:
        query = query.where(Record.occurred_on >= from_on)
    if to_on is not None:
        query = query.where(Record.occurred_on <= to_on)
    return query


# --- rankings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RankingRow:
    rank: int
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    name: str
    household_number: str | None
    points: int
    record_count: int


@dataclass(frozen=True)
class Ranking:
    village_id: uuid.UUID
    by: RankBy
    period: RankPeriod
    holder: Holder
    on: date
    from_on: date | None
    to_on: date | None
    ranked_count: int
    rows: list[RankingRow]


def ranking(
    session: Session,
    *,
    village_id: uuid.UUID,
    by: RankBy,
    period: RankPeriod,
    holder: Holder,
    on: date,
    limit: int,
) -> Ranking:
    """The top `limit` members (or households) of a village by booked points or merit.

    Only holders with a counted record in the window appear. Member rankings skip
    household findings (records without a member); household rankings skip records of
    members who belonged to no household on the day.
    """
    from_on, to_on = period_bounds(period, on)
    value = Record.points if by is RankBy.POINTS else Record.merit_points
    key = Record.member_id if holder is Holder.MEMBER else Record.household_id
    totals = (
        _in_window(
            select(
                key.label("holder_id"),
                func.sum(value).label("total"),
                func.count(Record.id).label("record_count"),
            ).where(
                Record.village_id == village_id,
                Record.status.in_(records.COUNTED),
                key.is_not(None),
            ),
            from_on,
            to_on,
        )
        .group_by(key)
        .subquery()
    )
    named: Any = Member if holder is Holder.MEMBER else Household
    number = Household.number if holder is Holder.HOUSEHOLD else None
    query = (
        select(
            totals.c.holder_id,
            named.name,
            *([number] if number is not None else []),
            totals.c.total,
            totals.c.record_count,
            func.rank().over(order_by=totals.c.total.desc()).label("rank"),
            func.count().over().label("ranked_count"),
        )
        .join(named, named.id == totals.c.holder_id)
        .order_by(totals.c.total.desc(), named.name, named.id)
        .limit(limit)
    )
    rows = session.execute(query).all()
    return Ranking(
        village_id=village_id,
        by=by,
        period=period,
        holder=holder,
        on=on,
        from_on=from_on,
        to_on=to_on,
        ranked_count=int(rows[0].ranked_count) if rows else 0,
        rows=[
            RankingRow(
                rank=int(row.rank),
                member_id=row.holder_id if holder is Holder.MEMBER else None,
                household_id=row.holder_id if holder is Holder.HOUSEHOLD else None,
                name=row.name,
                household_number=row.number if holder is Holder.HOUSEHOLD else None,
                points=int(row.total),
                record_count=int(row.record_count),
            )
            for row in rows
        ],
    )


# --- histories --------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryItem:
    record: Record
    rule_label: str
    member_name: str | None
    reviews: list[RecordReview]

    @property
    def is_counted(self) -> bool:
        return self.record.status in records.COUNTED


@dataclass(frozen=True)
class HistoryTotals:
    points: int
    merit_points: int
    record_count: int


@dataclass(frozen=True)
class History:
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    from_on: date | None
    to_on: date | None
    totals: HistoryTotals
    items: list[HistoryItem]
    next_cursor: str | None


def member_history(
    session: Session,
    *,
    member_id: uuid.UUID,
    from_on: date | None,
    to_on: date | None,
    limit: int,
    cursor: str | None,
) -> History:
    """The member's records (those where they acted), newest event first."""
    if session.get(Member, member_id) is None:
        raise NotFound("member", member_id)
    return _history(
        session,
        Record.member_id == member_id,
        member_id=member_id,
        household_id=None,
        from_on=from_on,
        to_on=to_on,
        limit=limit,
        cursor=cursor,
    )


def household_history(
    session: Session,
    *,
    household_id: uuid.UUID,
    from_on: date | None,
    to_on: date | None,
    limit: int,
    cursor: str | None,
) -> History:
    """The household's records: its members' (while in it) and findings against it."""
    if session.get(Household, household_id) is None:
        raise NotFound("household", household_id)
    return _history(
        session,
        Record.household_id == household_id,
        member_id=None,
        household_id=household_id,
        from_on=from_on,
        to_on=to_on,
        limit=limit,
        cursor=cursor,
    )


def _history(
    session: Session,
    subject: Any,
    *,
    member_id: uuid.UUID | None,
    household_id: uuid.UUID | None,
    from_on: date | None,
    to_on: date | None,
    limit: int,
    cursor: str | None,
) -> History:
    query = _in_window(select(Record).where(subject), from_on, to_on)
    after = _history_position(cursor)
    if after is not None:
        on, last_id = after
        query = query.where(
            or_(
                Record.occurred_on < on,
                and_(Record.occurred_on == on, Record.id < last_id),
            )
        )
    query = query.order_by(Record.occurred_on.desc(), Record.id.desc()).limit(limit + 1)
    rows = list(session.execute(query).scalars())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor({"on": last.occurred_on.isoformat(), "id": last.id.hex})
    totals = session.execute(
        _in_window(
            select(
                func.coalesce(func.sum(Record.points), 0),
                func.coalesce(func.sum(Record.merit_points), 0),
                func.count(Record.id),
            ).where(subject, Record.status.in_(records.COUNTED)),
            from_on,
            to_on,
        )
    ).one()
    return History(
        member_id=member_id,
        household_id=household_id,
        from_on=from_on,
        to_on=to_on,
        totals=HistoryTotals(int(totals[0]), int(totals[1]), int(totals[2])),
        items=_explained(session, rows),
        next_cursor=next_cursor,
    )


def _history_position(cursor: str | None) -> tuple[date, uuid.UUID] | None:
    if cursor is None:
        return None
    position = decode_cursor(cursor)
    try:
        return date.fromisoformat(str(position["on"])), uuid.UUID(str(position["id"]))
    except (KeyError, ValueError) as exc:
        raise CursorError(cursor) from exc


def _explained(session: Session, rows: Sequence[Record]) -> list[HistoryItem]:
    """Each record with its rule's label (from its own charter version), the name of the
    member who acted, and its review trail: three queries for the page, whatever its size."""
    versions = charters.versions_named(session, sorted({row.charter_version_id for row in rows}))
    member_ids = sorted({row.member_id for row in rows if row.member_id is not None})
    names: dict[uuid.UUID, str] = {}
    if member_ids:
        names = {
            member_id: name
            for member_id, name in session.execute(
                select(Member.id, Member.name).where(Member.id.in_(member_ids))
            )
        }
    reviews = records.reviews_of(session, [row.id for row in rows])
    items = []
    for row in rows:
        rule = charters.compiled(versions[row.charter_version_id]).rule(row.rule_id)
        items.append(
            HistoryItem(
                record=row,
                rule_label=rule.document.label if rule is not None else row.rule_id,
                member_name=names.get(row.member_id) if row.member_id else None,
                reviews=reviews[row.id],
            )
        )
    return items


# --- a holder's standing, every track in one read ----------------------------------------

AWAITING_LISTED_MAX = 20


@dataclass(frozen=True)
class TrackBalance:
    track: str  # points (spendable) or merit
    account_id: uuid.UUID
    posted: int
    available: int
    pending_under_notice: int
    held_by_objection: int
    pending_other: int  # pending credits of entries booked pending outside a notice list


@dataclass(frozen=True)
class Standing:
    holder_kind: str
    holder_id: uuid.UUID
    village_id: uuid.UUID
    tracks: list[TrackBalance]
    awaiting_count: int
    awaiting_points: int
    awaiting: list[Record]


def standing(session: Session, *, holder: Holder, holder_id: uuid.UUID) -> Standing:
    """A member's or household's points on every track, split as a resident would ask
    (what may be spent now, what waits on a notice list, what an objection holds), and the
    records awaiting review that will score for it: one read for a client instead of one
    per account, and the only place a record under review shows before it counts."""
    owner: Member | Household | None = (
        session.get(Member, holder_id)
        if holder is Holder.MEMBER
        else session.get(Household, holder_id)
    )
    if owner is None:
        raise NotFound(holder.value, holder_id)
    kind = AccountKind.MEMBER if holder is Holder.MEMBER else AccountKind.HOUSEHOLD
    tracks = []
    for track, category in (("points", "main"), ("merit", records.MERIT_CATEGORY)):
        account_id = ledger.find_account_id(
            session, village_id=owner.village_id, kind=kind, owner_id=holder_id, category=category
        )
        if account_id is None:
            continue  # a merit account opens with the first merit scored
        balance = ledger.get_balance(session, account_id)
        held = notice.holdings_of(session, balance)
        tracks.append(
            TrackBalance(
                track,
                account_id,
                balance.posted,
                balance.available,
                held.pending_under_notice,
                held.held_by_objection,
                balance.pending_credits - held.pending_under_notice - held.held_by_objection,
            )
        )
    owned = (
        Record.member_id == holder_id
        if holder is Holder.MEMBER
        else Record.household_id == holder_id
    )
    waiting = and_(Record.status == records.PENDING, Record.holder == holder.value, owned)
    count, points = session.execute(
        select(func.count(), func.coalesce(func.sum(Record.scored_points), 0)).where(waiting)
    ).one()
    listed = session.execute(
        select(Record)
        .where(waiting)
        .order_by(Record.occurred_at.desc(), Record.id.desc())
        .limit(AWAITING_LISTED_MAX)
    ).scalars()
    return Standing(
        holder.value,
        holder_id,
        owner.village_id,
        tracks,
        int(count),
        int(points),
        list(listed),
    )
