"""What-if over the HTTP API: score an event and replay a period under a draft charter
version, with the numbers worked out by hand, and nothing booked.

The village's published version 1 (from 2024-01-01): 义务劳动 2 分/小时, 参加村民大会 2 分
(+2 merit), 宅前屋后乱堆物 −5 (−5 merit, floored at zero), 清扫公共区域 1 分. The assembly's
draft version 2 doubles labor to 4 分/小时 with a cap of 20 per member per month, pays 3
for a meeting (+3 merit), deducts 8 for clutter (−8 merit), and drops the sweep rule.

Counted records (村民P and 村民Q; 村民R's labor was revoked):

| day   | who | record       | booked (pts / merit)  | under the draft                          |
|-------|-----|--------------|-----------------------|------------------------------------------|
| 03-02 | P   | labor 3 h    | 6 / 0                 | 12 (cap: 12 of 20 used)                  |
| 03-03 | Q   | labor 5 h    | 10 / 0                | 20 (cap: 20 of 20)                       |
| 03-04 | R   | labor 2 h    | revoked: not replayed |                                          |
| 03-05 | Q   | meeting      | 2 / 2                 | 3 / 3                                    |
| 03-06 | Q   | clutter      | −5 / −2 (merit was 2) | −8 / −8 (no floor in a replay)           |
| 03-07 | Q   | sweep        | 1 / 0                 | 0: no such rule in the draft             |
| 03-09 | P   | labor 4 h    | 8 / 0                 | 16, cut to 8 (12 of 20 used)             |
| 03-20 | P   | labor 1 h    | 2 / 0                 | 4, cut to 0 (20 of 20 used)              |
| 04-01 | P   | labor 2 h    | 4 / 0                 | 8 (a new month)                          |

March: booked P 16, Q 8 = 24 points, merit 0; under the draft P 20, Q 15 = 35 points,
merit −5: a difference of +11 points (P +4, Q +7) and −5 merit.
"""

from __future__ import annotations

import copy
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
from tests.rankings.world import LONG_AGO


def proposal() -> dict[str, Any]:
    document = copy.deepcopy(world.charter())
    document["title"] = "测试村积分制管理办法（征求意见稿）"
    document["effective_on"] = "2026-01-01"
    rules = {rule["id"]: rule for rule in document["rules"]}
    rules["labor"]["params"] = {"unit": "hour", "points_per_unit": "4", "rounding": "half_up"}
    rules["labor"]["caps"] = [{"per": "member", "period": "month", "max_points": 20}]
    rules["meeting"]["params"] = {"points": 3}
    rules["clutter"]["params"] = {"points": 8}
    del rules["sweep"]
    document["rules"] = list(rules.values())
    return document


@dataclass
class Assembly:
    village_id: uuid.UUID
    household_id: uuid.UUID
    p: uuid.UUID
    q: uuid.UUID
    published: uuid.UUID
    draft: uuid.UUID
    records: dict[str, uuid.UUID]


@pytest.fixture
def assembly(db: Database, settings: Settings) -> Assembly:
    with db.unit_of_work() as session:
        place = make_village(session, make_township(session))
        house = make_household(session, place, number="5-1", name="五组1号")
        p = make_member(session, place, name="村民P", household_id=house.id, joined_on=LONG_AGO)
        q = make_member(session, place, name="村民Q")
        r = make_member(session, place, name="村民R")
        ids = place.id, house.id, p.id, q.id, r.id
    village_id, household_id, p_id, q_id, r_id = ids
    published = world.publish(db, village_id, world.charter())
    draft = world.draft(db, village_id, proposal())

    def record(rule: str, member: uuid.UUID, day: date, quantity: str = "1") -> uuid.UUID:
        return world.record(
            db, settings, village_id, rule, day, member_id=member, quantity=quantity
        )

    made = {
        "p_0302": record("labor", p_id, date(2025, 3, 2), "3"),
        "q_0303": record("labor", q_id, date(2025, 3, 3), "5"),
        "r_0304": record("labor", r_id, date(2025, 3, 4), "2"),
        "q_0305": record("meeting", q_id, date(2025, 3, 5)),
        "q_0306": record("clutter", q_id, date(2025, 3, 6)),
        "q_0307": record("sweep", q_id, date(2025, 3, 7)),
        "p_0320": record("labor", p_id, date(2025, 3, 20), "1"),
        "p_0401": record("labor", p_id, date(2025, 4, 1), "2"),
        # Recorded after the 03-20 one: the replay fills caps in occurrence order.
        "p_0309": record("labor", p_id, date(2025, 3, 9), "4"),
    }
    world.revoke(db, settings, made["r_0304"])
    return Assembly(village_id, household_id, p_id, q_id, published, draft, made)


def score(client: TestClient, version_id: uuid.UUID, **body: Any) -> Any:
    return client.post(f"/v1/charter-versions/{version_id}/what-if/score", json=body)


def replay(client: TestClient, version_id: uuid.UUID, **body: Any) -> Any:
    return client.post(f"/v1/charter-versions/{version_id}/what-if/replay", json=body)


# --- scoring one event ------------------------------------------------------------------


def test_score_under_the_draft_and_the_published_version(
    client: TestClient, assembly: Assembly
) -> None:
    draft = ok(score(client, assembly.draft, rule_id="labor", quantity="3"))
    assert draft["points"] == 12 and draft["spendable_points"] == 12 and draft["merit_points"] == 0
    assert draft["explanation"] == "义务劳动 3 小时 × 4 分/小时 = 12 分"
    assert draft["version"] == 2 and draft["version_status"] == "draft"
    assert draft["rule_label"] == "义务劳动" and draft["moves"] == ["points"]
    assert draft["caps"] == [
        {"per": "member", "period": "month", "max_points": 20, "max_occurrences": None}
    ]
    assert draft["notes"]
    published = ok(score(client, assembly.published, rule_id="labor", quantity="2.5"))
    assert published["points"] == 5 and published["version_status"] == "published"
    assert published["explanation"] == "义务劳动 2.5 小时 × 2 分/小时 = 5 分"
    assert published["caps"] == []


def test_score_a_deduction_and_a_merit_rule(client: TestClient, assembly: Assembly) -> None:
    clutter = ok(
        score(client, assembly.draft, rule_id="clutter", quantity=2, occurred_on="2026-02-01")
    )
    assert (clutter["points"], clutter["spendable_points"], clutter["merit_points"]) == (
        -16,
        -16,
        -16,
    )
    assert (
        clutter["explanation"].startswith("宅前屋后乱堆物") and "扣 16 分" in clutter["explanation"]
    )
    assert clutter["occurred_on"] == "2026-02-01"
    deed = ok(score(client, assembly.draft, rule_id="good_deed", quantity=1))
    assert (deed["points"], deed["spendable_points"], deed["merit_points"]) == (10, 0, 10)


def test_score_refusals(client: TestClient, assembly: Assembly) -> None:
    problem(score(client, assembly.draft, rule_id="sweep", quantity=1), 422, "unknown_rule")
    problem(
        score(client, assembly.draft, rule_id="meeting", quantity="1.5"), 422, "invalid_quantity"
    )
    problem(score(client, uuid.uuid4(), rule_id="labor", quantity=1), 404, "not_found")
    assert validation_failed(score(client, assembly.draft, rule_id="labor", quantity=0))
    assert validation_failed(score(client, assembly.draft, rule_id="labor"))


# --- replaying a period -----------------------------------------------------------------


def lines(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            i["occurred_on"],
            i["rule_id"],
            i["booked_points"],
            i["booked_merit_points"],
            i["would_be_points"],
            i["would_be_merit_points"],
            i["difference_points"],
        )
        for i in body["items"]
    ]


def totals(entry: dict[str, Any]) -> tuple[int, ...]:
    return (
        entry["record_count"],
        entry["booked_points"],
        entry["booked_merit_points"],
        entry["would_be_points"],
        entry["would_be_merit_points"],
        entry["difference_points"],
        entry["difference_merit_points"],
    )


def test_replay_a_month_of_the_village(client: TestClient, assembly: Assembly) -> None:
    body = ok(replay(client, assembly.draft, **{"from": "2025-03-01", "to": "2025-03-31"}))
    assert lines(body) == [
        ("2025-03-02", "labor", 6, 0, 12, 0, 6),
        ("2025-03-03", "labor", 10, 0, 20, 0, 10),
        ("2025-03-05", "meeting", 2, 2, 3, 3, 1),
        ("2025-03-06", "clutter", -5, -2, -8, -8, -3),
        ("2025-03-07", "sweep", 1, 0, 0, 0, -1),
        ("2025-03-09", "labor", 8, 0, 8, 0, 0),
        ("2025-03-20", "labor", 2, 0, 0, 0, -2),
    ]
    items = {i["record_id"]: i for i in body["items"]}
    assert str(assembly.records["r_0304"]) not in items  # revoked: not replayed
    capped = items[str(assembly.records["p_0309"])]
    assert capped["explanation"] == (
        "义务劳动 4 小时 × 4 分/小时 = 16 分；本项本月每人上限 20 分，已得 12 分，本次计 8 分"
    )
    assert capped["booked_explanation"] == "义务劳动 4 小时 × 2 分/小时 = 8 分"
    assert capped["booked_charter_version"] == 1 and capped["in_version"] is True
    full = items[str(assembly.records["p_0320"])]
    assert full["explanation"].endswith("本项本月每人上限 20 分，已得 20 分，本次不再计分")
    sweep = items[str(assembly.records["q_0307"])]
    assert sweep["in_version"] is False and "该版本无此规则" in sweep["explanation"]
    clutter = items[str(assembly.records["q_0306"])]
    assert (
        clutter["explanation"].startswith("宅前屋后乱堆物") and "扣 8 分" in clutter["explanation"]
    )
    assert clutter["difference_merit_points"] == -6

    assert totals(body["totals"]) == (7, 24, 0, 35, -5, 11, -5)
    by_holder = {t["name"]: t for t in body["by_holder"]}
    assert set(by_holder) == {"村民P", "村民Q"}
    assert totals(by_holder["村民P"]) == (3, 16, 0, 20, 0, 4, 0)
    assert totals(by_holder["村民Q"]) == (4, 8, 0, 15, -5, 7, -5)
    assert by_holder["村民P"]["member_id"] == str(assembly.p)
    assert by_holder["村民P"]["holder"] == "member"
    assert body["version"] == 2 and body["version_status"] == "draft"
    assert (body["from_on"], body["to_on"]) == ("2025-03-01", "2025-03-31")
    assert len(body["notes"]) >= 3


def test_replay_one_member_over_two_months(client: TestClient, assembly: Assembly) -> None:
    window = {"from": "2025-03-01", "to": "2025-04-30"}
    body = ok(replay(client, assembly.draft, member_id=str(assembly.p), **window))
    assert lines(body) == [
        ("2025-03-02", "labor", 6, 0, 12, 0, 6),
        ("2025-03-09", "labor", 8, 0, 8, 0, 0),
        ("2025-03-20", "labor", 2, 0, 0, 0, -2),
        ("2025-04-01", "labor", 4, 0, 8, 0, 4),  # April's cap starts afresh
    ]
    assert totals(body["totals"]) == (4, 20, 0, 28, 0, 8, 0)
    assert body["member_id"] == str(assembly.p)
    household = ok(
        replay(client, assembly.draft, household_id=str(assembly.household_id), **window)
    )
    assert totals(household["totals"]) == (4, 20, 0, 28, 0, 8, 0)


def test_replay_under_the_published_version_changes_nothing(
    client: TestClient, assembly: Assembly
) -> None:
    """Replaying what version 1 booked under version 1 gives the same points, except where
    the booking met a floor (Q's merit was 2 when the clutter asked for 5)."""
    body = ok(replay(client, assembly.published, **{"from": "2025-01-01", "to": "2025-12-31"}))
    assert totals(body["totals"]) == (8, 28, 0, 28, -3, 0, -3)


def test_replay_cuts_with_caps_in_occurrence_order_not_recording_order(
    client: TestClient, assembly: Assembly
) -> None:
    body = ok(replay(client, assembly.draft, **{"from": "2025-03-09", "to": "2025-03-31"}))
    # Without 03-02 in the window, the cap starts at 0 on 03-09: 16, then 4 of 20 left.
    assert lines(body)[-2:] == [
        ("2025-03-09", "labor", 8, 0, 16, 0, 8),
        ("2025-03-20", "labor", 2, 0, 4, 0, 2),
    ]


def test_replay_refusals(client: TestClient, assembly: Assembly, db: Database) -> None:
    window = {"from": "2025-03-01", "to": "2025-03-31"}
    problem(
        replay(client, assembly.draft, **{"from": "2025-04-01", "to": "2025-03-01"}),
        422,
        "what_if_window_invalid",
    )
    both = {"member_id": str(assembly.p), "household_id": str(assembly.household_id)}
    problem(replay(client, assembly.draft, **window, **both), 422, "what_if_subject_invalid")
    with db.unit_of_work() as session:
        elsewhere = make_member(session, make_village(session), name="外村村民").id
    problem(
        replay(client, assembly.draft, **window, member_id=str(elsewhere)),
        422,
        "what_if_subject_invalid",
    )
    problem(replay(client, uuid.uuid4(), **window), 404, "not_found")
    assert validation_failed(replay(client, assembly.draft, **{"from": "2025-03-01"}))


def test_what_if_books_nothing(client: TestClient, assembly: Assembly, db: Database) -> None:
    before = world.counts(db)
    ok(score(client, assembly.draft, rule_id="labor", quantity="3"))
    ok(replay(client, assembly.draft, **{"from": "2025-01-01", "to": "2025-12-31"}))
    ok(replay(client, assembly.draft, **{"from": "2025-03-01", "to": "2025-03-31"}))
    after = world.counts(db)
    # POSTs leave an audit event naming the caller; nothing else is written.
    assert after.pop("audit_events") == before.pop("audit_events") + 3
    assert after == before
    unchanged = ok(client.get(f"/v1/members/{assembly.p}/history"))
    assert unchanged["totals"] == {"points": 20, "merit_points": 0, "record_count": 4}
