"""Which household a member's labor counts for, looked up for many records at once
(village_facts): the household on the day, else the first one joined later, else none;
the same answers as one lookup at a time, and one query per batch of members."""

from __future__ import annotations

from datetime import date

from sqlalchemy import event

from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.subsidies import service as subsidies
from jifen.tenancy import service as tenancy
from tests.factories import make_household, make_village


def test_households_on_many_days_in_one_query(db: Database) -> None:
    now = utc_now()
    with db.unit_of_work() as session:
        village = make_village(session)
        east, west = make_household(session, village), make_household(session, village)
        # Joins east on 10 March, moves to west on 20 March.
        mover = tenancy.create_member(
            session,
            village_id=village.id,
            name="张三",
            household_id=east.id,
            joined_on=date(2026, 3, 10),
            now=now,
            today=date(2026, 3, 10),
        )
        tenancy.move_member(
            session, mover.id, household_id=west.id, on=date(2026, 3, 20), is_head=False, now=now
        )
        loner = tenancy.create_member(
            session, village_id=village.id, name="李四", now=now, today=date(2026, 3, 1)
        )
        wanted = {
            (mover.id, date(2026, 3, 1)): east.id,  # before any: the first joined later
            (mover.id, date(2026, 3, 15)): east.id,
            (mover.id, date(2026, 3, 20)): west.id,  # the day of the move: the new one
            (mover.id, date(2026, 4, 1)): west.id,
            (loner.id, date(2026, 3, 15)): None,
        }
        statements: list[str] = []

        def count(*args: object) -> None:
            statements.append(str(args[2]))  # the statement's SQL

        connection = session.connection()
        event.listen(connection, "before_cursor_execute", count)
        found = subsidies._households_on(session, set(wanted))
        event.remove(connection, "before_cursor_execute", count)
        assert found == wanted
        assert len([s for s in statements if "household_memberships" in s]) == 1
        for (member_id, day), household_id in wanted.items():
            assert subsidies._household_on(session, member_id, day) == household_id
