"""Inspections of adopted spaces (认领区域巡查) and the list of inspections due.

Invariants:
- the charter in force on the inspection's day says how spaces of each kind are
  inspected (`inspections`: cadence, the rule a pass scores, the rule a failure scores);
  a kind it does not name is not inspected;
- a space is inspected at most once per period of the cadence (the table's unique key);
- an inspection scores one record per claimant caring for the space that day, under the
  outcome's rule, through the records service: points, caps, duplicates and review work
  as for any record (an organisation claimant holds no points: it is inspected, not
  scored);
- nothing is written unless everything is: a refused record refuses the inspection.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jifen.charters import policy
from jifen.charters import service as charters
from jifen.charters.document import CapPeriod, Charter, Inspections
from jifen.charters.errors import NoCharterInForce
from jifen.kit.ids import new_id
from jifen.ledger import service as ledger
from jifen.models import Space, SpaceClaim, SpaceInspection
from jifen.records import service as records
from jifen.spaces import errors
from jifen.spaces.service import claim_data, get_space
from jifen.webhooks import events

PASSED = "passed"
FAILED = "failed"
# How far back the due list looks for missed periods.
MISSED_PERIODS_MAX = 12


def setting_for(charter: Charter, kind: str) -> Inspections | None:
    return next((s for s in charter.document.inspections if s.space_kind == kind), None)


def period_of(setting: Inspections, day: date) -> tuple[date, date]:
    bounds = policy.window(CapPeriod(setting.cadence.value), day)
    assert bounds is not None  # every cadence is a bounded window
    return bounds


def _active_claims(session: Session, space_id: uuid.UUID, day: date) -> list[SpaceClaim]:
    query = (
        select(SpaceClaim)
        .where(
            SpaceClaim.space_id == space_id,
            SpaceClaim.starts_on <= day,
            (SpaceClaim.ends_on.is_(None)) | (SpaceClaim.ends_on >= day),
        )
        .order_by(SpaceClaim.starts_on, SpaceClaim.id)
    )
    return list(session.execute(query).scalars())


def inspect(
    session: Session,
    *,
    space_id: uuid.UUID,
    outcome: str,
    score: int | None,
    inspected_at: datetime,
    evidence: list[dict[str, Any]],
    note: str,
    recorder: records.Recorder,
    clock: ledger.Clock,
) -> SpaceInspection:
    """Record one inspection and score the space's claimants as the charter says."""
    space = get_space(session, space_id, for_update=True)
    day = clock.local_date(inspected_at)
    try:
        _, charter = charters.charter_in_force(session, space.village_id, day)
    except NoCharterInForce:
        raise errors.SpaceNotInspected(space.kind, day) from None
    setting = setting_for(charter, space.kind)
    if setting is None:
        raise errors.SpaceNotInspected(space.kind, day)
    start, end = period_of(setting, day)
    done = session.execute(
        select(SpaceInspection.id).where(
            SpaceInspection.space_id == space.id, SpaceInspection.period_start == start
        )
    ).scalar_one_or_none()
    if done is not None:
        raise errors.InspectionAlreadyDone(done, start, end)
    claims = _active_claims(session, space.id, day)
    if not claims:
        raise errors.SpaceNotClaimed(space.name, day)
    rule_id = setting.passed_rule if outcome == PASSED else setting.failed_rule
    record_ids: list[str] = []
    if rule_id is not None:
        for claim in claims:
            if claim.claimant_kind == "organisation":
                continue
            row = records.record(
                session,
                records.RecordRequest(
                    village_id=space.village_id,
                    rule_id=rule_id,
                    member_id=claim.member_id,
                    household_id=claim.household_id,
                    quantity=Decimal(1),
                    occurred_at=inspected_at,
                    occurrence=f"inspection:{space.id.hex}:{start.isoformat()}",
                    place=space.name[:200],
                    evidence=evidence,
                    note=note,
                    space_id=space.id,
                ),
                recorder=recorder,
                clock=clock,
            )
            record_ids.append(str(row.id))
    inspection = SpaceInspection(
        id=new_id(),
        township_id=space.township_id,
        village_id=space.village_id,
        space_id=space.id,
        period_start=start,
        period_end=end,
        cadence=setting.cadence.value,
        inspected_on=day,
        inspected_at=inspected_at,
        outcome=outcome,
        score=score,
        rule_id=rule_id,
        record_ids=record_ids,
        evidence=[dict(item) for item in evidence],
        note=note,
        inspector=recorder.actor,
        created_at=clock.now,
    )
    session.add(inspection)
    session.flush()
    events.emit(
        session,
        event_type=events.EventType.SPACE_INSPECTED,
        township_id=space.township_id,
        village_id=space.village_id,
        data={
            "space_id": str(space.id),
            "inspection_id": str(inspection.id),
            "outcome": outcome,
            "score": score,
            "period_start": start.isoformat(),
            "period_end": end.isoformat(),
            "record_ids": record_ids,
            "claims": [claim_data(c) for c in claims],
        },
        now=clock.now,
    )
    return inspection


def list_inspections(session: Session, space_id: uuid.UUID) -> list[SpaceInspection]:
    get_space(session, space_id)
    query = (
        select(SpaceInspection)
        .where(SpaceInspection.space_id == space_id)
        .order_by(SpaceInspection.period_start.desc())
    )
    return list(session.execute(query).scalars())


@dataclass(frozen=True)
class Due:
    space_id: uuid.UUID
    space_name: str
    space_kind: str
    period_start: date
    period_end: date
    status: str  # due (the current period, not yet inspected) or missed (a past one)
    claim_ids: list[uuid.UUID]


def due(session: Session, *, village_id: uuid.UUID, on: date) -> list[Due]:
    """Every inspection the charter in force on `on` wants and nobody has done: the
    current period of each claimed space (due), and past periods back to
    MISSED_PERIODS_MAX, and not before the version in force took effect, that ended with
    the space claimed and not inspected (missed)."""
    try:
        _, charter = charters.charter_in_force(session, village_id, on)
    except NoCharterInForce:
        return []
    kinds = {s.space_kind: s for s in charter.document.inspections}
    # Periods before the version in force began were not under its inspections.
    since = charter.document.effective_on
    if not kinds:
        return []
    spaces = list(
        session.execute(
            select(Space)
            .where(Space.village_id == village_id, Space.kind.in_(kinds))
            .order_by(Space.name, Space.id)
        ).scalars()
    )
    if not spaces:
        return []
    ids = [s.id for s in spaces]
    claims: dict[uuid.UUID, list[SpaceClaim]] = {i: [] for i in ids}
    for claim in session.execute(select(SpaceClaim).where(SpaceClaim.space_id.in_(ids))).scalars():
        claims[claim.space_id].append(claim)
    done = {
        (space_id, start)
        for space_id, start in session.execute(
            select(SpaceInspection.space_id, SpaceInspection.period_start).where(
                SpaceInspection.space_id.in_(ids)
            )
        )
    }
    out: list[Due] = []
    for space in spaces:
        setting = kinds[space.kind]
        start, end = period_of(setting, on)
        periods: list[tuple[date, date, str]] = [(start, end, "due")]
        for _ in range(MISSED_PERIODS_MAX):
            start, end = period_of(setting, start.fromordinal(start.toordinal() - 1))
            periods.append((start, end, "missed"))
        for period_start, period_end, status in reversed(periods):
            # Wanted when someone cares for the space on the period's last day (today,
            # for the current period): a claim taken or passed on mid-period counts.
            last = on if status == "due" else period_end.fromordinal(period_end.toordinal() - 1)
            caring = [
                c.id
                for c in claims[space.id]
                if c.starts_on <= last and (c.ends_on is None or c.ends_on >= last)
            ]
            if period_start < since or not caring or (space.id, period_start) in done:
                continue
            out.append(
                Due(
                    space.id,
                    space.name,
                    space.kind,
                    period_start,
                    period_end,
                    status,
                    caring,
                )
            )
    return out
