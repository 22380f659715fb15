"""What-if: score an event, or replay a period, under another charter version (a draft,
or last year's) without booking anything, and show the difference.

Nothing here writes: no record, entry, balance or event. The replay is decided by
`replay_records`, a pure function over plain facts, so that a village assembly sees
exactly what the proposed rules would have done to the records it already has.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jifen.charters import policy
from jifen.charters import service as charters
from jifen.charters.document import Cap, Charter, CompiledRule, Holder, Track
from jifen.charters.errors import InvalidQuantity, UnknownRule
from jifen.models import CharterVersion, Household, Member, Record
from jifen.problems import Problem
from jifen.records import service as records

# A replay holds every record of its window in memory, and answers with each of them.
REPLAY_RECORDS_MAX = 5000

REPLAY_NOTES = (
    "只重算所选期间内已生效（approved / capped）的登记；待审、已驳回、已撤回的登记不计。",
    "封顶只按本次重算的登记累计：所选期间之前已得的分，以及所选范围以外（其他村民或户）"
    "的登记，都不占封顶额度。",
    "扣分按规则全额计算，不按余额设下限（实际入账时，村规可能规定扣至 0 分为止）。",
    "该版本中没有的规则，按 0 分计。",
    "积分仍记在原登记的持有人（个人或户）名下，不按该版本的持有方式改算。",
    "本次为模拟计算，不记账、不改任何余额。",
)
SCORE_NOTES = (
    "这是规则本身的得分：封顶取决于持有人已得的分，扣分下限取决于余额，模拟单次计分时都不计入。",
    "本次为模拟计算，不记账、不改任何余额。",
)


class ReplayWindowInvalid(Problem):
    code = "what_if_window_invalid"
    title = "The replay window must start on or before its last day"
    title_zh = "重放窗口的开始日期不能晚于结束日期"
    status = 422


class ReplaySubjectInvalid(Problem):
    code = "what_if_subject_invalid"
    title = "Replay one member or one household of the version's village, or the whole village"
    title_zh = "请重放该版本所在村的一位村民、一户或全村"
    status = 422


class ReplayTooLarge(Problem):
    code = "what_if_replay_too_large"
    title = "Too many records to replay at once; choose a shorter window or one member"
    title_zh = "一次重放的记录过多，请缩短时间窗口或只选一位村民"
    status = 422


# --- scoring one event ------------------------------------------------------------------


@dataclass(frozen=True)
class WhatIfScore:
    version: CharterVersion
    rule: CompiledRule
    quantity: Decimal
    occurred_on: date
    points: int  # the rule's score, signed
    explanation: str

    @property
    def points_track(self) -> int:
        return self.points if Track.POINTS in self.rule.document.moves else 0

    @property
    def merit_track(self) -> int:
        return self.points if Track.MERIT in self.rule.document.moves else 0


def score_event(
    session: Session,
    *,
    version_id: uuid.UUID,
    rule_id: str,
    quantity: Decimal,
    occurred_on: date,
) -> WhatIfScore:
    """What the rule of this version (draft or published) scores, before caps and floors."""
    version = charters.get_version(session, version_id)
    rule = charters.compiled(version).rule(rule_id)
    if rule is None:
        raise UnknownRule(
            f"charter version {version.version} has no rule {rule_id!r}",
            detail_zh=f"第 {version.version} 版章程中没有规则 {rule_id}",
            rule_id=rule_id,
            charter_version=version.version,
        )
    if not Decimal(0) < quantity <= records.QUANTITY_MAX:
        raise InvalidQuantity(
            f"quantity must be above 0 and at most {records.QUANTITY_MAX}",
            detail_zh=f"数量须大于 0 且不超过 {records.QUANTITY_MAX}",
            quantity=str(quantity),
        )
    score = records.score(rule, quantity, occurred_on)
    return WhatIfScore(version, rule, quantity, occurred_on, score.points, score.explanation)


# --- replaying a period -----------------------------------------------------------------


@dataclass(frozen=True)
class BookedRecord:
    """What a counted record booked, as the replay sees it."""

    record_id: uuid.UUID
    occurred_on: date
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    holder: Holder
    rule_id: str
    charter_version: int
    quantity: Decimal
    points: int
    merit_points: int
    explanation: str


@dataclass(frozen=True)
class ReplayLine:
    booked: BookedRecord
    in_version: bool  # whether the other version has the record's rule
    would_be_points: int
    would_be_merit_points: int
    explanation: str

    @property
    def difference_points(self) -> int:
        return self.would_be_points - self.booked.points

    @property
    def difference_merit_points(self) -> int:
        return self.would_be_merit_points - self.booked.merit_points


@dataclass
class ReplayTotals:
    """Booked and would-be sums over some replayed records."""

    record_count: int = 0
    booked_points: int = 0
    booked_merit_points: int = 0
    would_be_points: int = 0
    would_be_merit_points: int = 0

    def add(self, line: ReplayLine) -> None:
        self.record_count += 1
        self.booked_points += line.booked.points
        self.booked_merit_points += line.booked.merit_points
        self.would_be_points += line.would_be_points
        self.would_be_merit_points += line.would_be_merit_points

    @property
    def difference_points(self) -> int:
        return self.would_be_points - self.booked_points

    @property
    def difference_merit_points(self) -> int:
        return self.would_be_merit_points - self.booked_merit_points


@dataclass
class HolderTotals(ReplayTotals):
    holder: Holder = Holder.MEMBER
    holder_id: uuid.UUID | None = None
    name: str = ""


@dataclass(frozen=True)
class Replay:
    version: CharterVersion
    from_on: date
    to_on: date
    member_id: uuid.UUID | None
    household_id: uuid.UUID | None
    lines: list[ReplayLine]
    totals: ReplayTotals
    by_holder: list[HolderTotals]
    notes: Sequence[str] = field(default=REPLAY_NOTES)


def replay(
    session: Session,
    *,
    version_id: uuid.UUID,
    from_on: date,
    to_on: date,
    member_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
) -> Replay:
    """Re-score the counted records of the version's village (or of one member or
    household) whose event day is in [from_on, to_on] under that version."""
    if from_on > to_on:
        raise ReplayWindowInvalid(
            f"from {from_on} is after to {to_on}",
            detail_zh=f"开始日期 {from_on} 晚于结束日期 {to_on}",
            from_on=from_on.isoformat(),
            to_on=to_on.isoformat(),
        )
    version = charters.get_version(session, version_id)
    _check_subject(session, version.village_id, member_id, household_id)
    query = select(Record).where(
        Record.village_id == version.village_id,
        Record.status.in_(records.COUNTED),
        Record.occurred_on >= from_on,
        Record.occurred_on <= to_on,
    )
    if member_id is not None:
        query = query.where(Record.member_id == member_id)
    if household_id is not None:
        query = query.where(Record.household_id == household_id)
    found = session.execute(query.with_only_columns(func.count(Record.id))).scalar_one()
    if found > REPLAY_RECORDS_MAX:
        raise ReplayTooLarge(
            f"{found} records in the window; at most {REPLAY_RECORDS_MAX} are replayed at once",
            detail_zh=f"该时段内有 {found} 条记录，一次最多重算 {REPLAY_RECORDS_MAX} 条",
            records=found,
            records_max=REPLAY_RECORDS_MAX,
        )
    # Occurrence order: the order caps fill in.
    rows = session.execute(
        query.order_by(Record.occurred_at, Record.occurred_on, Record.id)
    ).scalars()
    lines = replay_records(charters.compiled(version), [_booked(row) for row in rows])
    totals = ReplayTotals()
    by_holder: dict[tuple[Holder, uuid.UUID | None], HolderTotals] = {}
    for line in lines:
        totals.add(line)
        booked = line.booked
        owner = booked.member_id if booked.holder is Holder.MEMBER else booked.household_id
        key = (booked.holder, owner)
        if key not in by_holder:
            by_holder[key] = HolderTotals(holder=booked.holder, holder_id=owner)
        by_holder[key].add(line)
    _name(session, by_holder.values())
    return Replay(
        version=version,
        from_on=from_on,
        to_on=to_on,
        member_id=member_id,
        household_id=household_id,
        lines=lines,
        totals=totals,
        by_holder=sorted(
            by_holder.values(),
            key=lambda t: (t.holder.value, -t.difference_points, t.name, str(t.holder_id)),
        ),
    )


def _check_subject(
    session: Session,
    village_id: uuid.UUID,
    member_id: uuid.UUID | None,
    household_id: uuid.UUID | None,
) -> None:
    if member_id is not None and household_id is not None:
        raise ReplaySubjectInvalid(
            "name a member or a household, not both", detail_zh="请指明村民或户，不能同时指明"
        )
    for model, what, what_zh, subject_id in (
        (Member, "member", "村民", member_id),
        (Household, "household", "户", household_id),
    ):
        if subject_id is None:
            continue
        found: Any = session.get(model, subject_id)
        if found is None or found.village_id != village_id:
            raise ReplaySubjectInvalid(
                f"{what} {subject_id} is not in the version's village",
                detail_zh=f"{what_zh} {subject_id} 不属于该版本章程所在的村",
                field=f"{what}_id",
            )


def _booked(row: Record) -> BookedRecord:
    return BookedRecord(
        record_id=row.id,
        occurred_on=row.occurred_on,
        member_id=row.member_id,
        household_id=row.household_id,
        holder=Holder(row.holder),
        rule_id=row.rule_id,
        charter_version=row.charter_version,
        quantity=Decimal(row.quantity),
        points=row.points,
        merit_points=row.merit_points,
        explanation=row.explanation,
    )


def _name(session: Session, totals: Iterable[HolderTotals]) -> None:
    totals = list(totals)
    member_ids = [t.holder_id for t in totals if t.holder is Holder.MEMBER and t.holder_id]
    household_ids = [t.holder_id for t in totals if t.holder is Holder.HOUSEHOLD and t.holder_id]
    names: dict[uuid.UUID, str] = {}
    if member_ids:
        query = select(Member.id, Member.name).where(Member.id.in_(member_ids))
        names.update({holder_id: name for holder_id, name in session.execute(query)})
    if household_ids:
        query = select(Household.id, Household.name).where(Household.id.in_(household_ids))
        names.update({holder_id: name for holder_id, name in session.execute(query)})
    for total in totals:
        total.name = names.get(total.holder_id, "") if total.holder_id else ""


# --- the pure replay --------------------------------------------------------------------


def replay_records(charter: Charter, booked: Sequence[BookedRecord]) -> list[ReplayLine]:
    """Re-score records, in the order given (their occurrence order), under `charter`.

    Caps fill from zero with the awards of these records only, in that order; deductions
    are taken in full (no floor). No I/O.
    """
    tally: dict[tuple[Any, ...], int] = {}
    lines = []
    for record in booked:
        rule = charter.rule(record.rule_id)
        if rule is None:
            lines.append(
                ReplayLine(record, False, 0, 0, f"该版本无此规则（{record.rule_id}），不计分")
            )
            continue
        try:
            score = records.score(rule, record.quantity, record.occurred_on)
        except InvalidQuantity as problem:
            lines.append(
                ReplayLine(record, True, 0, 0, f"数量 {record.quantity} 不适用于该规则：{problem}")
            )
            continue
        explanation = score.explanation
        points = score.points
        if points > 0:
            caps = _caps(charter, rule)
            uses = [
                policy.CapUse(cap, scope, tally.get(key, 0))
                for cap, scope in caps
                if (key := _tally_key(cap, scope, record)) is not None
            ]
            decision = policy.apply_caps(points, uses)
            if decision.applied is not None:
                explanation += "；" + decision.explanation
            points = decision.points
            for cap, scope in caps:
                key = _tally_key(cap, scope, record)
                if key is not None and points > 0:
                    tally[key] = tally.get(key, 0) + points
        moves = rule.document.moves
        lines.append(
            ReplayLine(
                record,
                True,
                points if Track.POINTS in moves else 0,
                points if Track.MERIT in moves else 0,
                explanation,
            )
        )
    return lines


def _caps(charter: Charter, rule: CompiledRule) -> list[tuple[Cap, str]]:
    """The caps on a rule's awards: its own, and its category's (as records.cap_uses)."""
    caps: list[tuple[Cap, str]] = [(cap, "rule") for cap in rule.document.caps]
    caps += [
        (cap, f"category:{cap.category}")
        for cap in charter.document.category_caps
        if cap.category == rule.document.category
    ]
    return caps


def _tally_key(cap: Cap, scope: str, record: BookedRecord) -> tuple[Any, ...] | None:
    """What a cap counts against: the rule (or category), the member (or household), and
    the cap's window containing the event. None when the record has no such holder."""
    subject = record.member_id if cap.per is Holder.MEMBER else record.household_id
    if subject is None:
        return None
    what = f"rule:{record.rule_id}" if scope == "rule" else scope
    bounds = policy.window(cap.period, record.occurred_on)
    return (what, cap.per, subject, cap.period, bounds[0] if bounds else None)
