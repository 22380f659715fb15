"""Leaderboards over the HTTP API, with the numbers worked out by hand.

The village (points held per member, deductions floored at zero) has four members:
村民A and 村民B in household 一组1号, 村民C in 一组2号, 村民D in no household. On
2025-03-15 (the day ranked), with 义务劳动 at 2 分/小时, 参加村民大会 2 分 (+2 merit),
宅前屋后乱堆物 −5 (and −5 merit, floored at zero) and 好人好事 +10 merit:

| member | records (counted)                                 | Mar | Mar merit | 2025 | all |
|--------|---------------------------------------------------|-----|-----------|------|-----|
| 村民A  | labor 3h 03-02 (+6); meeting 2024-06-01 (+2, +2)   | 6   | 0         | 6    | 8   |
| 村民B  | labor 2h 03-03 (+4); meeting 03-05 (+2, +2)        | 6   | 2         | 6    | 6   |
| 村民C  | labor 1h 02-20 (+2); labor 5h 03-04 (+10);         | 5   | 0         | 7    | 7   |
|        | clutter 03-06 (−5; merit balance 0, so −0)         |     |           |      |     |
| 村民D  | labor 1h 03-07 (+2); meeting 03-08 (+2, +2);       | 4   | 12        | 4    | 4   |
|        | good deed 03-09 (+10 merit)                        |     |           |      |     |

村民A also has labor 4h on 03-10 that was revoked, and a labor report of his own on
03-11 that is still pending: neither counts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jifen.config import Settings
from jifen.db import Database
from tests.api.helpers import ok, problem, validation_failed
from tests.factories import make_household, make_member, make_township, make_village
from tests.rankings import world
from tests.rankings.world import LONG_AGO, RESIDENT

ON = "2025-03-15"


@dataclass
class Village:
    id: uuid.UUID
    members: dict[str, uuid.UUID]
    households: dict[str, uuid.UUID]


@pytest.fixture
def village(db: Database, settings: Settings) -> Village:
    with db.unit_of_work() as session:
        place = make_village(session, make_township(session))
        first = make_household(session, place, number="1-1", name="一组1号")
        second = make_household(session, place, number="1-2", name="一组2号")
        members = {
            "A": make_member(
                session, place, name="村民A", household_id=first.id, joined_on=LONG_AGO
            ),
            "B": make_member(
                session, place, name="村民B", household_id=first.id, joined_on=LONG_AGO
            ),
            "C": make_member(
                session, place, name="村民C", household_id=second.id, joined_on=LONG_AGO
            ),
            "D": make_member(session, place, name="村民D"),
        }
        found = Village(
            place.id,
            {key: member.id for key, member in members.items()},
            {"first": first.id, "second": second.id},
        )
    world.publish(db, found.id, world.charter())
    a, b, c, d = (found.members[key] for key in "ABCD")

    def record(rule: str, member: uuid.UUID, day: date, quantity: str = "1", **kw: Any) -> Any:
        return world.record(
            db, settings, found.id, rule, day, member_id=member, quantity=quantity, **kw
        )

    record("meeting", a, date(2024, 6, 1))
    record("labor", a, date(2025, 3, 2), "3")
    revoked = record("labor", a, date(2025, 3, 10), "4")
    world.revoke(db, settings, revoked)
    record("labor", a, date(2025, 3, 11), "2", recorder=RESIDENT)  # stays pending
    record("labor", b, date(2025, 3, 3), "2")
    record("meeting", b, date(2025, 3, 5))
    record("labor", c, date(2025, 2, 20), "1")
    record("labor", c, date(2025, 3, 4), "5")
    record("clutter", c, date(2025, 3, 6))
    record("labor", d, date(2025, 3, 7), "1")
    record("meeting", d, date(2025, 3, 8))
    record("good_deed", d, date(2025, 3, 9))
    return found


def ranking(client: TestClient, village: Village, **params: Any) -> dict[str, Any]:
    return ok(client.get(f"/v1/villages/{village.id}/rankings", params={"on": ON, **params}))  # type: ignore[no-any-return]


def rows(body: dict[str, Any]) -> list[tuple[int, str, int, int]]:
    return [(i["rank"], i["name"], i["points"], i["record_count"]) for i in body["items"]]


def test_this_month_by_points_ties_share_a_rank(client: TestClient, village: Village) -> None:
    body = ranking(client, village)
    # A and B tie on 6 and share rank 1 (by name); C is third, not second.
    assert rows(body) == [
        (1, "村民A", 6, 1),  # the revoked and the pending record do not count
        (1, "村民B", 6, 2),
        (3, "村民C", 5, 2),  # February's labor is last month; the clutter deduction counts
        (4, "村民D", 4, 3),  # the good deed moved merit only, but is a record of the month
    ]
    assert body["by"] == "points" and body["period"] == "month" and body["holder"] == "member"
    assert (body["from_on"], body["to_on"], body["on"]) == ("2025-03-01", "2025-03-31", ON)
    assert body["ranked_count"] == 4
    first = body["items"][0]
    assert first["member_id"] == str(village.members["A"])
    assert first["household_id"] is None and first["household_number"] is None


def test_year_and_all_time(client: TestClient, village: Village) -> None:
    year = ranking(client, village, period="year")
    assert (year["from_on"], year["to_on"]) == ("2025-01-01", "2025-12-31")
    assert rows(year) == [
        (1, "村民C", 7, 3),  # February's labor counts in the year
        (2, "村民A", 6, 1),
        (2, "村民B", 6, 2),
        (4, "村民D", 4, 3),
    ]
    every = ranking(client, village, period="all")
    assert (every["from_on"], every["to_on"]) == (None, None)
    assert rows(every) == [
        (1, "村民A", 8, 2),  # with the 2024 meeting
        (2, "村民C", 7, 3),
        (3, "村民B", 6, 2),
        (4, "村民D", 4, 3),
    ]


def test_a_month_with_nothing_in_it_is_empty(client: TestClient, village: Village) -> None:
    body = ranking(client, village, on="2025-05-20")
    assert body["items"] == [] and body["ranked_count"] == 0
    january = ranking(client, village, on="2025-01-31")
    assert rows(january) == []
    june_2024 = ranking(client, village, on="2024-06-30")
    assert rows(june_2024) == [(1, "村民A", 2, 1)]


def test_by_merit(client: TestClient, village: Village) -> None:
    body = ranking(client, village, by="merit")
    assert rows(body) == [
        (1, "村民D", 12, 3),  # meeting 2 + good deed 10
        (2, "村民B", 2, 2),
        (3, "村民A", 0, 1),  # labor moves no merit; A and C tie at 0 and share rank 3
        (3, "村民C", 0, 2),  # the clutter found no merit to take
    ]


def test_by_household(client: TestClient, village: Village) -> None:
    body = ranking(client, village, holder="household")
    # 一组1号 = A 6 + B 6; 一组2号 = C 5; D belongs to no household and is left out.
    assert rows(body) == [(1, "一组1号", 12, 3), (2, "一组2号", 5, 2)]
    first = body["items"][0]
    assert first["household_id"] == str(village.households["first"])
    assert first["household_number"] == "1-1" and first["member_id"] is None
    merit = ranking(client, village, holder="household", by="merit", period="all")
    assert rows(merit) == [(1, "一组1号", 4, 4), (2, "一组2号", 0, 3)]


def test_limit_keeps_the_ranks_of_the_whole_village(client: TestClient, village: Village) -> None:
    body = ranking(client, village, limit=2, period="year")
    assert rows(body) == [(1, "村民C", 7, 3), (2, "村民A", 6, 1)]
    assert body["ranked_count"] == 4


def test_revoking_a_record_takes_it_out(
    client: TestClient, village: Village, db: Database, settings: Settings
) -> None:
    later = world.record(
        db,
        settings,
        village.id,
        "labor",
        date(2025, 3, 12),
        member_id=village.members["D"],
        quantity="2",
    )
    assert rows(ranking(client, village))[0] == (1, "村民D", 8, 4)
    world.revoke(db, settings, later)
    assert rows(ranking(client, village))[-1] == (4, "村民D", 4, 3)


def test_on_defaults_to_today(
    client: TestClient, village: Village, db: Database, settings: Settings
) -> None:
    today = world.local_today(settings)
    world.record(db, settings, village.id, "labor", today, member_id=village.members["B"], hour=0)
    body = ok(client.get(f"/v1/villages/{village.id}/rankings"))
    assert body["on"] == today.isoformat()
    assert rows(body) == [(1, "村民B", 2, 1)]


def test_household_findings_are_not_in_member_rankings(
    client: TestClient, db: Database, settings: Settings
) -> None:
    """Points held per household: a member's labor credits the household; a finding
    against the household names no member."""
    with db.unit_of_work() as session:
        place = make_village(session, make_township(session))
        first = make_household(session, place, number="2-1", name="二组1号")
        second = make_household(session, place, number="2-2", name="二组2号")
        one = make_member(session, place, name="村民甲", household_id=first.id, joined_on=LONG_AGO)
        two = make_member(session, place, name="村民乙", household_id=second.id, joined_on=LONG_AGO)
        ids = place.id, first.id, second.id, one.id, two.id
    village_id, first_id, second_id, one_id, two_id = ids
    world.publish(db, village_id, world.charter(points_holder="household"))
    world.record(
        db, settings, village_id, "labor", date(2025, 3, 2), member_id=one_id, quantity="3"
    )
    world.record(
        db, settings, village_id, "labor", date(2025, 3, 3), member_id=two_id, quantity="5"
    )
    world.record(db, settings, village_id, "clutter", date(2025, 3, 4), household_id=second_id)
    url = f"/v1/villages/{village_id}/rankings"
    members = ok(client.get(url, params={"on": ON}))
    assert rows(members) == [(1, "村民乙", 10, 1), (2, "村民甲", 6, 1)]
    households = ok(client.get(url, params={"on": ON, "holder": "household"}))
    assert rows(households) == [(1, "二组1号", 6, 1), (2, "二组2号", 5, 2)]
    assert households["items"][1]["household_id"] == str(second_id)
    assert households["items"][0]["household_id"] == str(first_id)


def test_unknown_village_and_bad_parameters(client: TestClient, village: Village) -> None:
    problem(client.get(f"/v1/villages/{uuid.uuid4()}/rankings"), 404, "not_found")
    url = f"/v1/villages/{village.id}/rankings"
    assert validation_failed(client.get(url, params={"by": "money"}))
    assert validation_failed(client.get(url, params={"period": "week"}))
    assert validation_failed(client.get(url, params={"holder": "village"}))
    assert validation_failed(client.get(url, params={"limit": 0}))
    assert validation_failed(client.get(url, params={"on": "2025-02-30"}))


def test_a_resident_sees_their_own_history_only(
    client: TestClient, village: Village, db: Database
) -> None:
    key = world.resident_key(db, village.id, village.members["A"])
    mine = client.get(
        f"/v1/members/{village.members['A']}/history", headers={"Authorization": f"Bearer {key}"}
    )
    assert ok(mine)["totals"]["points"] == 8
    household = client.get(
        f"/v1/households/{village.households['first']}/history",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert ok(household)["totals"]["record_count"] == 4
    theirs = client.get(
        f"/v1/members/{village.members['C']}/history", headers={"Authorization": f"Bearer {key}"}
    )
    problem(theirs, 403, "forbidden")
