"""Members' and households' histories over the HTTP API: every record, its explanation,
its review trail, and the window's totals worked out by hand.

村民E and 村民F live in household 三组1号. Charter version 1 (义务劳动 2 分/小时, meeting
2 分 + 2 merit, clutter −5 and −5 merit, floored at zero) is followed on 2025-03-08 by
version 2, which renames the labor rule 投工投劳 and pays 3 分/小时. 村民E's records:

| day   | what                              | status   | points | merit | counts |
|-------|-----------------------------------|----------|--------|-------|--------|
| 03-01 | labor 2.5 h (v1)                  | approved | +5     | 0     | yes    |
| 03-05 | meeting, own report, 复核 approved | approved | +2     | +2    | yes    |
| 03-06 | labor 3 h, own report, rejected   | rejected | 0      | 0     | no     |
| 03-07 | clutter (merit balance only 2)    | approved | −5     | −2    | yes    |
| 03-08 | labor 1 h (v2), then revoked      | revoked  | +3     | 0     | no     |
| 03-09 | labor 1 h (v2), own report        | pending  | 0      | 0     | no     |

Totals: points 5 + 2 − 5 = 2, merit 2 − 2 = 0, three counted records. 村民F has labor
1 h on 03-04 (+2), so the household's totals are points 4 over four counted records.
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
from jifen.models import Village
from tests.api.helpers import all_pages, ok, problem
from tests.factories import make_household, make_member, make_township, make_village
from tests.rankings import world
from tests.rankings.world import LONG_AGO, RESIDENT, REVIEWER


@dataclass
class Family:
    village_id: uuid.UUID
    household_id: uuid.UUID
    e: uuid.UUID
    f: uuid.UUID
    versions: list[uuid.UUID]


@pytest.fixture
def family(db: Database, settings: Settings) -> Family:
    with db.unit_of_work() as session:
        place = make_village(session, make_township(session))
        house = make_household(session, place, number="3-1", name="三组1号")
        e = make_member(session, place, name="村民E", household_id=house.id, joined_on=LONG_AGO)
        f = make_member(session, place, name="村民F", household_id=house.id, joined_on=LONG_AGO)
        found = Family(place.id, house.id, e.id, f.id, [])
    first = world.publish(db, found.village_id, world.charter())

    def record(rule: str, member: uuid.UUID, day: date, quantity: str = "1", **kw: Any) -> Any:
        return world.record(
            db, settings, found.village_id, rule, day, member_id=member, quantity=quantity, **kw
        )

    record("labor", found.e, date(2025, 3, 1), "2.5")
    record("labor", found.f, date(2025, 3, 4), "1")
    meeting = record("meeting", found.e, date(2025, 3, 5), recorder=RESIDENT)
    world.review(db, settings, meeting, approve=True)
    claimed = record("labor", found.e, date(2025, 3, 6), "3", recorder=RESIDENT)
    world.review(db, settings, claimed, approve=False, reason="无人证明")
    record("clutter", found.e, date(2025, 3, 7))
    second_document = world.charter()
    second_document["effective_on"] = "2025-03-08"
    second_document["rules"][0] = {
        **second_document["rules"][0],
        "label": "投工投劳",
        "params": {"unit": "hour", "points_per_unit": "3", "rounding": "half_up"},
    }
    second = world.publish(db, found.village_id, second_document)
    revoked = record("labor", found.e, date(2025, 3, 8), "1")
    world.revoke(db, settings, revoked)
    record("labor", found.e, date(2025, 3, 9), "1", recorder=RESIDENT)
    found.versions = [first, second]
    return found


def history(client: TestClient, url: str, **params: Any) -> dict[str, Any]:
    return ok(client.get(url, params=params))  # type: ignore[no-any-return]


def test_member_history_explains_every_record(client: TestClient, family: Family) -> None:
    body = history(client, f"/v1/members/{family.e}/history")
    assert body["member_id"] == str(family.e) and body["household_id"] is None
    assert body["totals"] == {"points": 2, "merit_points": 0, "record_count": 3}
    assert body["next_cursor"] is None
    items = body["items"]
    assert [(i["occurred_on"], i["status"], i["points"], i["merit_points"]) for i in items] == [
        ("2025-03-09", "pending", 0, 0),
        ("2025-03-08", "revoked", 3, 0),
        ("2025-03-07", "approved", -5, -2),
        ("2025-03-06", "rejected", 0, 0),
        ("2025-03-05", "approved", 2, 2),
        ("2025-03-01", "approved", 5, 0),
    ]
    assert [i["is_counted"] for i in items] == [False, False, True, False, True, True]
    pending, revoked, clutter, rejected, meeting, labor = items

    # Each record keeps the version, rule and label it was scored with.
    assert (labor["charter_version"], labor["rule_id"], labor["rule_label"]) == (
        1,
        "labor",
        "义务劳动",
    )
    assert labor["charter_version_id"] == str(family.versions[0])
    assert labor["explanation"] == "义务劳动 2.5 小时 × 2 分/小时 = 5 分"
    assert labor["quantity"] == "2.5" and labor["category"] == "labor"
    assert labor["entry_id"] is not None and labor["reversal_entry_id"] is None
    assert labor["reviews"] == [] and labor["cap"] is None
    assert labor["member_name"] == "村民E" and labor["household_id"] == str(family.household_id)
    assert (revoked["charter_version"], revoked["rule_label"]) == (2, "投工投劳")
    assert revoked["charter_version_id"] == str(family.versions[1])
    assert revoked["explanation"] == "投工投劳 1 小时 × 3 分/小时 = 3 分"
    assert revoked["reversal_entry_id"] is not None and revoked["revoke_reason"] == "登记错误"
    assert revoked["revoked_at"] is not None
    assert pending["entry_id"] is None and pending["reviews"] == []
    assert pending["scored_points"] == 3 and pending["rule_label"] == "投工投劳"

    # The review trail.
    assert [(r["stage"], r["decision"], r["reviewer"]) for r in meeting["reviews"]] == [
        ("final_review", "approve", REVIEWER.actor)
    ]
    assert meeting["explanation"] == "参加村民大会 2 分"
    assert [(r["decision"], r["reason"]) for r in rejected["reviews"]] == [("reject", "无人证明")]
    assert rejected["entry_id"] is None

    # The deduction took the whole 5 points but found only 2 merit.
    assert clutter["scored_points"] == -5 and clutter["rule_label"] == "宅前屋后乱堆物"
    assert (
        clutter["explanation"].startswith("宅前屋后乱堆物") and "扣 5 分" in clutter["explanation"]
    )
    assert "实扣 2 分" in clutter["explanation"]


def test_window_and_pages(client: TestClient, family: Family) -> None:
    url = f"/v1/members/{family.e}/history"
    window = history(client, url, **{"from": "2025-03-05", "to": "2025-03-07"})
    assert (window["from_on"], window["to_on"]) == ("2025-03-05", "2025-03-07")
    assert [i["occurred_on"] for i in window["items"]] == ["2025-03-07", "2025-03-06", "2025-03-05"]
    # meeting +2 +2, clutter −5 −2; the rejected report does not count.
    assert window["totals"] == {"points": -3, "merit_points": 0, "record_count": 2}

    first = history(client, url, limit=4)
    assert len(first["items"]) == 4 and first["next_cursor"]
    # Totals cover the whole window, not the page.
    assert first["totals"] == {"points": 2, "merit_points": 0, "record_count": 3}
    items, pages = all_pages(client, url, 4)
    assert pages == 2
    assert [i["occurred_on"] for i in items] == [
        "2025-03-09",
        "2025-03-08",
        "2025-03-07",
        "2025-03-06",
        "2025-03-05",
        "2025-03-01",
    ]
    items, pages = all_pages(client, url, 1, **{"from": "2025-03-06"})
    assert pages == 4 and len({i["record_id"] for i in items}) == 4

    problem(client.get(url, params={"cursor": "not-a-cursor"}), 422, "invalid_cursor")


def test_household_history(client: TestClient, family: Family) -> None:
    body = history(client, f"/v1/households/{family.household_id}/history")
    assert body["household_id"] == str(family.household_id) and body["member_id"] is None
    assert len(body["items"]) == 7
    assert body["totals"] == {"points": 4, "merit_points": 0, "record_count": 4}
    f_labor = next(i for i in body["items"] if i["member_id"] == str(family.f))
    assert f_labor["member_name"] == "村民F"
    assert f_labor["explanation"] == "义务劳动 1 小时 × 2 分/小时 = 2 分"
    march_4 = history(
        client,
        f"/v1/households/{family.household_id}/history",
        **{"from": "2025-03-04", "to": "2025-03-04"},
    )
    assert march_4["totals"] == {"points": 2, "merit_points": 0, "record_count": 1}


def test_unknown_member_or_household(client: TestClient) -> None:
    problem(client.get(f"/v1/members/{uuid.uuid4()}/history"), 404, "not_found")
    problem(client.get(f"/v1/households/{uuid.uuid4()}/history"), 404, "not_found")


def test_a_member_with_no_records(client: TestClient, family: Family, db: Database) -> None:
    with db.unit_of_work() as session:
        place = session.get(Village, family.village_id)
        assert place is not None
        newcomer = make_member(session, place, name="新村民").id
    body = history(client, f"/v1/members/{newcomer}/history")
    assert body["items"] == []
    assert body["totals"] == {"points": 0, "merit_points": 0, "record_count": 0}
