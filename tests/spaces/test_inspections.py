"""Inspections of adopted spaces (巡查), duplicates counted per household, member or
space, and caps on the number of occurrences (SQLite and PostgreSQL).

The charter used here inspects green spaces weekly: a pass scores 庭院巡查合格 +5, a
failure 庭院巡查不合格 −3. Weeks run Monday to Sunday; 2026-03-02 is a Monday. Every
balance below is worked out by hand beside its assertion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jifen.charters import service as charters
from jifen.charters.document import CharterInvalid, compile_charter
from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.models import OutboxEvent
from tests.factories import make_household, make_member, make_organisation, make_village

RULES: list[dict[str, Any]] = [
    {
        "id": "YD-01",
        "category": "环境卫生",
        "label": "庭院巡查合格",
        "type": "fixed",
        "params": {"points": 5},
    },
    {
        "id": "YD-02",
        "category": "环境卫生",
        "label": "庭院巡查不合格",
        "type": "deduction",
        "params": {"points": 3},
    },
    {
        "id": "YD-03",
        "category": "环境卫生",
        "label": "门前三包周检",
        "type": "fixed",
        "params": {"points": 2},
        "duplicates": {"per": "household", "period": "week"},
    },
    {
        "id": "YD-04",
        "category": "环境卫生",
        "label": "义务巡河",
        "type": "fixed",
        "params": {"points": 3},
        "allow_repeats": True,
        "caps": [{"per": "member", "period": "month", "max_occurrences": 2}],
    },
]
CHARTER: dict[str, Any] = {
    "title": "清泉村村规民约（巡查）",
    "effective_on": "2026-01-01",
    "settings": {"deduction_floor": "negative"},
    "rules": RULES,
    "inspections": [
        {
            "space_kind": "green_space",
            "cadence": "week",
            "passed_rule": "YD-01",
            "failed_rule": "YD-02",
        }
    ],
}


@dataclass
class Place:
    village_id: str
    member_id: str
    spouse_id: str
    other_member_id: str
    organisation_id: str


@pytest.fixture
def place(db: Database) -> Place:
    with db.unit_of_work() as session:
        village = make_village(session)
        household = make_household(session, village, name="王建国户")
        joined = {"joined_on": date(2025, 1, 1), "today": date(2025, 1, 1)}
        member = make_member(session, village, name="王建国", household_id=household.id, **joined)
        spouse = make_member(session, village, name="李秀英", household_id=household.id, **joined)
        other = make_member(session, village, name="赵小军", **joined)
        organisation = make_organisation(session, village.township_id, name="清泉志愿队")
        charters.create_version(
            session,
            village_id=village.id,
            data=CHARTER,
            actor="test",
            now=utc_now(),
            publish=True,
        )
        return Place(
            str(village.id), str(member.id), str(spouse.id), str(other.id), str(organisation.id)
        )


def _space(
    client: TestClient, place: Place, kind: str = "green_space", name: str = "村口小游园"
) -> str:
    answer = client.post(
        "/v1/spaces",
        json={
            "village_id": place.village_id,
            "name": f"{name}-{kind}",
            "kind": kind,
            "area_m2": "320",
            "location": "村委会东侧",
            "allow_shared_care": True,
        },
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _claim(client: TestClient, space_id: str, starts_on: str, **claimant: str) -> str:
    answer = client.post(f"/v1/spaces/{space_id}/claims", json={"starts_on": starts_on, **claimant})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _inspect(client: TestClient, space_id: str, day: str, outcome: str = "passed") -> Any:
    return client.post(
        f"/v1/spaces/{space_id}/inspections",
        json={
            "outcome": outcome,
            "score": 92 if outcome == "passed" else 40,
            "inspected_at": f"{day}T09:30:00+08:00",
            "evidence": [{"kind": "photo", "ref": "https://files.example.cn/p/1.jpg"}],
            "note": "周三例行巡查",
        },
    )


def _points(client: TestClient, place: Place, member_id: str) -> int:
    answer = client.get(
        "/v1/accounts", params={"village_id": place.village_id, "member_id": member_id}
    )
    assert answer.status_code == 200, answer.text
    account = next(a for a in answer.json()["items"] if a["asset"] == "POINTS")
    balance = client.get(f"/v1/accounts/{account['id']}/balance").json()
    return int(balance["posted"])


def _due(client: TestClient, place: Place, on: str) -> list[tuple[str, str, str]]:
    answer = client.get(f"/v1/villages/{place.village_id}/space-inspections/due", params={"on": on})
    assert answer.status_code == 200, answer.text
    return [(d["space_id"], d["period_start"], d["status"]) for d in answer.json()]


def test_weekly_inspections_score_the_claimant_once_a_week(
    client: TestClient, place: Place, db: Database
) -> None:
    space = _space(client, place)
    _claim(client, space, "2026-03-02", member_id=place.member_id)

    passed = _inspect(client, space, "2026-03-04")
    assert passed.status_code == 201, passed.text
    body = passed.json()
    assert (body["period_start"], body["period_end"]) == ("2026-03-02", "2026-03-09")
    assert (body["outcome"], body["score"], body["rule_id"]) == ("passed", 92, "YD-01")
    assert len(body["record_ids"]) == 1
    record = client.get(f"/v1/records/{body['record_ids'][0]}").json()
    assert (record["member_id"], record["points"], record["place"]) == (
        place.member_id,
        5,
        "村口小游园-green_space",
    )
    assert _points(client, place, place.member_id) == 5  # 0 + 5

    # The same week again: refused, nothing booked.
    again = _inspect(client, space, "2026-03-08", "failed")
    assert again.status_code == 409
    assert again.json()["code"] == "inspection_already_done"
    assert _points(client, place, place.member_id) == 5

    failed = _inspect(client, space, "2026-03-10", "failed")
    assert failed.status_code == 201, failed.text
    assert failed.json()["rule_id"] == "YD-02"
    assert _points(client, place, place.member_id) == 2  # 5 − 3

    listed = client.get(f"/v1/spaces/{space}/inspections").json()
    assert [(i["period_start"], i["outcome"]) for i in listed] == [
        ("2026-03-09", "failed"),
        ("2026-03-02", "passed"),
    ]
    with db.unit_of_work(write=False) as session:
        events = session.execute(
            select(OutboxEvent.payload).where(OutboxEvent.type == "space.inspected")
        ).scalars()
        outcomes = sorted((e["period_start"], e["outcome"]) for e in events)
    assert outcomes == [("2026-03-02", "passed"), ("2026-03-09", "failed")]


def test_missed_inspections_are_listed_and_a_transfer_moves_who_is_scored(
    client: TestClient, place: Place
) -> None:
    space = _space(client, place)
    claim = _claim(client, space, "2026-03-02", member_id=place.member_id)
    assert _inspect(client, space, "2026-03-04").status_code == 201  # week of 03-02
    # Passed on to 赵小军 from Wednesday 03-18.
    moved = client.post(
        f"/v1/space-claims/{claim}/transfers",
        json={"member_id": place.other_member_id, "starts_on": "2026-03-18"},
    )
    assert moved.status_code == 201, moved.text

    # On Wednesday 03-25: weeks of 03-09 and 03-16 ended uninspected while claimed; the
    # week of 03-23 is due; the week of 03-02 was done; before 03-02 nobody cared for it.
    assert _due(client, place, "2026-03-25") == [
        (space, "2026-03-09", "missed"),
        (space, "2026-03-16", "missed"),
        (space, "2026-03-23", "due"),
    ]

    done = _inspect(client, space, "2026-03-25")
    assert done.status_code == 201, done.text
    record = client.get(f"/v1/records/{done.json()['record_ids'][0]}").json()
    assert record["member_id"] == place.other_member_id
    assert _points(client, place, place.other_member_id) == 5
    assert _points(client, place, place.member_id) == 5  # only the week of 03-02
    assert [d[1:] for d in _due(client, place, "2026-03-25")] == [
        ("2026-03-09", "missed"),
        ("2026-03-16", "missed"),
    ]


def test_an_organisation_is_inspected_without_points_and_kinds_not_inspected_are_refused(
    client: TestClient, place: Place
) -> None:
    space = _space(client, place)
    _claim(client, space, "2026-03-02", organisation_id=place.organisation_id)
    done = _inspect(client, space, "2026-03-04")
    assert done.status_code == 201, done.text
    assert done.json()["record_ids"] == []

    facility = _space(client, place, kind="facility")
    _claim(client, facility, "2026-03-02", member_id=place.member_id)
    refused = _inspect(client, facility, "2026-03-04")
    assert refused.status_code == 409
    assert refused.json()["code"] == "space_kind_not_inspected"
    assert _due(client, place, "2026-03-04") == []  # the green space is done this week

    unclaimed = _space(client, place, name="祠堂前绿地")
    assert _inspect(client, unclaimed, "2026-03-04").json()["code"] == "space_not_claimed"


def test_duplicates_counted_per_household_and_week(client: TestClient, place: Place) -> None:
    def record(member_id: str, day: str) -> Any:
        return client.post(
            f"/v1/villages/{place.village_id}/records",
            json={"rule_id": "YD-03", "member_id": member_id, "occurred_at": f"{day}T10:00:00Z"},
        )

    first = record(place.member_id, "2026-03-03")
    assert first.status_code == 201, first.text
    # His wife, same household, same week: the same occurrence.
    refused = record(place.spouse_id, "2026-03-05")
    assert refused.status_code == 409
    assert refused.json()["code"] == "duplicate_record"
    assert refused.json()["occurrence"] == "week:2026-03-02"
    # The next week is a new occurrence.
    assert record(place.spouse_id, "2026-03-09").status_code == 201
    # A member of no household cannot be counted per household.
    lonely = record(place.other_member_id, "2026-03-03")
    assert lonely.status_code == 422
    assert lonely.json()["code"] == "record_subject_invalid"


def test_an_occurrence_cap_counts_twice_a_month(client: TestClient, place: Place) -> None:
    def record(day: str) -> dict[str, Any]:
        answer = client.post(
            f"/v1/villages/{place.village_id}/records",
            json={"rule_id": "YD-04", "member_id": place.member_id, "occurred_at": day},
        )
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    assert record("2026-03-03T10:00:00Z")["points"] == 3
    assert record("2026-03-03T15:00:00Z")["points"] == 3  # repeats allowed: a second walk
    third = record("2026-03-20T10:00:00Z")
    assert (third["status"], third["points"]) == ("capped", 0)
    assert third["cap"]["max_occurrences"] == 2 and third["cap"]["used_occurrences"] == 2
    assert "本项本月每人限 2 次，已记 2 次，本次不再计分" in third["explanation"]
    assert record("2026-04-01T10:00:00Z")["points"] == 3  # a new month
    assert _points(client, place, place.member_id) == 9  # 3 + 3 + 0 + 3


def test_charter_validation_names_the_fields() -> None:
    bad = {
        **CHARTER,
        "rules": [
            *RULES[:2],
            {**RULES[2], "allow_repeats": True},
            RULES[3],
        ],
        "inspections": [
            {"space_kind": "green_space", "cadence": "week", "passed_rule": "YD-09"},
            {"space_kind": "green_space", "cadence": "month", "passed_rule": "YD-01"},
        ],
    }
    with pytest.raises(CharterInvalid) as invalid:
        compile_charter(bad)
    fields = {e.field for e in invalid.value.errors}
    assert fields == {
        "rules[2].duplicates",
        "inspections[0].passed_rule",
        "inspections[0].space_kind",
        "inspections[1].space_kind",
    }
    no_limit = {
        **CHARTER,
        "rules": [*RULES[:3], {**RULES[3], "caps": [{"per": "member", "period": "month"}]}],
    }
    with pytest.raises(CharterInvalid) as shapeless:
        compile_charter(no_limit)
    assert [e.field for e in shapeless.value.errors] == ["rules[3].caps[0]"]
    compile_charter(CHARTER)  # the good one compiles
    assert date(2026, 3, 2).weekday() == 0  # the docstring's Monday
