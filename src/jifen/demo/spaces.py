"""The demo village's adopted spaces (认领): two green spaces, one cared for by a
household's member and one by the village's volunteer team, inspected weekly as 清泉村's
charter says — passed, failed, and one week missed, so the clerk's due list has work."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from jifen.ledger import service as ledger
from jifen.models import Member, Village
from jifen.records import service as records
from jifen.spaces import inspections
from jifen.spaces import service as spaces
from jifen.tenancy import service as tenancy

INSPECTOR = records.Recorder("seed-demo:巡查", frozenset({"village_clerk"}))
PHOTO = [{"kind": "photo", "ref": "https://files.example.cn/demo/green-space.jpg", "note": ""}]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def seed_spaces(
    session: Session, *, village: Village, carer: Member, clock: ledger.Clock, today: date
) -> str:
    """Register and claim the spaces, inspect the last weeks; a line for the seed's echo."""
    now = clock.now
    team = tenancy.create_organisation(
        session,
        township_id=village.township_id,
        name="清泉村志愿服务队",
        kind="volunteer_team",
        now=now,
    )
    pond = spaces.create_space(
        session,
        village_id=village.id,
        name="村口荷塘绿地",
        kind="green_space",
        area_hundredths_m2=32_000,
        location="村委会东侧",
        photo_url=None,
        allow_shared_care=False,
        now=now,
    )
    square = spaces.create_space(
        session,
        village_id=village.id,
        name="文化广场花坛",
        kind="green_space",
        area_hundredths_m2=8_550,
        location="文化广场南",
        photo_url=None,
        allow_shared_care=False,
        now=now,
    )
    this_week = _monday(today)
    since = this_week - timedelta(weeks=4)
    for space, claimant in (
        (pond, spaces.Claimant(member_id=carer.id)),
        (square, spaces.Claimant(organisation_id=team.id)),
    ):
        spaces.claim(
            session,
            space_id=space.id,
            claimant=claimant,
            starts_on=since,
            ends_on=None,
            note="认领养护一年",
            actor="seed-demo",
            now=now,
        )
    # 荷塘: passed, failed, (missed), passed; 花坛: passed every week. This week: due.
    plan = [(pond, 0, "passed"), (pond, 1, "failed"), (pond, 3, "passed")]
    plan += [(square, week, "passed") for week in range(4)]
    for space, week, outcome in plan:
        day = since + timedelta(weeks=week, days=2)  # the Wednesday round
        at = datetime.combine(day, time(9, 30), tzinfo=clock.settings.zone).astimezone(UTC)
        inspections.inspect(
            session,
            space_id=space.id,
            outcome=outcome,
            score=90 if outcome == "passed" else 45,
            inspected_at=at,
            evidence=PHOTO,
            note="组长周三巡查",
            recorder=INSPECTOR,
            clock=clock,
        )
    return (
        f"adopted spaces: {pond.name} ({carer.name}) and {square.name} ({team.name}), "
        f"{len(plan)} weekly inspections since {since}, one week missed"
    )
