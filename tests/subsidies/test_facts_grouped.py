"""A village's labor facts gathered with grouped queries (one per indicator for all the
villages, not one Python step per record): exact decimal sums of quantities stored as
text, hours turned into person-days, the wage rate of each day, and who took part —
including a member recorded before they joined a household. Figures worked out by hand;
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import event

from jifen.charters import service as charters
from jifen.config import Settings
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.labor import service as labor
from jifen.records import service as records
from jifen.subsidies import service as subsidies
from jifen.tenancy import service as tenancy
from tests.factories import clock, make_household, make_township, make_village

CHARTER = {
    "title": "投工投劳",
    "effective_on": "2026-01-01",
    "rules": [
        {
            "id": "days",
            "category": "labor",
            "label": "投工（工日）",
            "type": "per_unit",
            "params": {"unit": "person_day", "points_per_unit": 10, "rounding": "half_up"},
            "allow_repeats": True,
        },
        {
            "id": "hours",
            "category": "labor",
            "label": "投工（小时）",
            "type": "per_unit",
            "params": {"unit": "hour", "points_per_unit": 1, "rounding": "half_up"},
            "allow_repeats": True,
        },
    ],
}


def test_grouped_facts_are_exact(db: Database, settings: Settings) -> None:
    now = utc_now()
    clerk = records.Recorder("clerk", frozenset({"village_clerk"}))
    with db.unit_of_work() as session:
        township = make_township(session)
        village = make_village(session, township)
        other = make_village(session, township)  # no records: all zero
        # 100 yuan a person-day from 1 January, 120 from 1 March.
        for day, fen in ((date(2026, 1, 1), 10_000), (date(2026, 3, 1), 12_000)):
            subsidies.create_wage_rate(
                session,
                township_id=township.id,
                effective_on=day,
                fen_per_person_day=fen,
                actor="finance",
                now=now,
            )
        charters.create_version(
            session, village_id=village.id, data=CHARTER, actor="clerk", now=now, publish=True
        )
        project = labor.create_project(
            session,
            village_id=village.id,
            code="ditch",
            name="清淤",
            description="",
            starts_on=date(2026, 1, 1),
            ends_on=None,
            actor="clerk",
            now=now,
            planned_investment_fen=1_000_000,
            status="underway",
        )
        homes = [make_household(session, village) for _ in range(4)]
        a, b = (
            tenancy.create_member(
                session,
                village_id=village.id,
                name=name,
                household_id=home.id,
                joined_on=date(2025, 1, 1),
                now=now,
                today=date(2026, 1, 1),
            )
            for name, home in (("甲", homes[0]), ("乙", homes[1]))
        )
        # 丙 has no household until 1 March: the February record counts for the
        # household joined later.
        c = tenancy.create_member(
            session, village_id=village.id, name="丙", now=now, today=date(2026, 1, 1)
        )
        tenancy.move_member(
            session, c.id, household_id=homes[2].id, on=date(2026, 3, 1), is_head=False, now=now
        )

        def work(member_id: object, rule: str, quantity: str, at: datetime) -> None:
            records.record(
                session,
                records.RecordRequest(
                    village_id=village.id,
                    rule_id=rule,
                    member_id=member_id,  # type: ignore[arg-type]
                    household_id=None,
                    quantity=Decimal(quantity),
                    occurred_at=at,
                    project_id=project.id,
                ),
                recorder=clerk,
                clock=clock(settings),
            )

        # 0.1 + 0.1 + 0.1 on one day: exactly 0.3 (as binary floats it is not).
        for _ in range(3):
            work(a.id, "days", "0.1", datetime(2026, 1, 10, 2, tzinfo=UTC))
        work(a.id, "days", "0.1", datetime(2026, 3, 10, 2, tzinfo=UTC))  # at 120 yuan
        work(b.id, "hours", "4", datetime(2026, 2, 10, 2, tzinfo=UTC))  # half a day
        work(c.id, "days", "1", datetime(2026, 2, 11, 2, tzinfo=UTC))
        work(b.id, "days", "5", datetime(2026, 4, 2, 2, tzinfo=UTC))  # after the quarter

    with db.unit_of_work(write=False) as session:
        statements: list[str] = []

        def count(*args: object) -> None:
            statements.append(str(args[2]))

        connection = session.connection()
        event.listen(connection, "before_cursor_execute", count)
        facts = {
            f.code: f
            for f in subsidies.village_facts(
                session, township_id=township.id, first=date(2026, 1, 1), last=date(2026, 3, 31)
            )
        }
        event.remove(connection, "before_cursor_execute", count)
    mine = facts[village.code]
    # 0.3 + 0.1 + 4/8 + 1 person-days.
    assert mine.person_days == Decimal("1.9")
    # 0.3 × 10,000 + 0.1 × 12,000 + 0.5 × 10,000 + 1 × 10,000 fen.
    assert mine.labor_value_fen == 19_200
    # 甲's, 乙's and (joined later) 丙's households; the fourth did nothing.
    assert (mine.households_total, mine.households_participating) == (4, 3)
    idle = facts[other.code]
    assert (idle.person_days, idle.labor_value_fen, idle.households_participating) == (0, 0, 0)
    # The records are read grouped (GROUP BY, DISTINCT, UNION): not one row per record.
    on_records = [s for s in statements if "FROM records" in s]
    assert on_records
    assert all(any(k in s for k in ("GROUP BY", "DISTINCT", "UNION")) for s in on_records)
