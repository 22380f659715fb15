"""Adopted spaces: the registry, claims, endings, transfers, events (SQLite and PostgreSQL).

Dates are worked out by hand: a claim runs from starts_on to ends_on, both inclusive.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jifen.db import Database
from jifen.kit.clock import utc_now
from jifen.models import OutboxEvent, SpaceClaim
from jifen.spaces import errors
from jifen.spaces import service as spaces
from jifen.tenancy import service as tenancy
from tests.factories import make_household, make_member, make_organisation, make_village


@dataclass
class Place:
    village_id: str
    household_id: str
    household_name: str
    member_id: str
    member_name: str
    organisation_id: str
    other_member_id: str
    other_organisation_id: str
    retired_member_id: str


@pytest.fixture
def place(db: Database) -> Place:
    with db.unit_of_work() as session:
        village = make_village(session)
        household = make_household(session, village, name="王建国户")
        member = make_member(session, village, name="李秀英")
        organisation = make_organisation(session, village.township_id, name="清泉志愿队")
        other = make_village(session)
        other_member = make_member(session, other)
        other_organisation = make_organisation(session, other.township_id)
        retired = make_member(session, village)
        tenancy.deactivate_member(session, retired.id, on=date(2026, 5, 1), reason="moved")
        return Place(
            village_id=str(village.id),
            household_id=str(household.id),
            household_name=household.name,
            member_id=str(member.id),
            member_name=member.name,
            organisation_id=str(organisation.id),
            other_member_id=str(other_member.id),
            other_organisation_id=str(other_organisation.id),
            retired_member_id=str(retired.id),
        )


def _space(client: TestClient, place: Place, **overrides: Any) -> dict[str, Any]:
    body = {
        "village_id": place.village_id,
        "name": "村口小游园",
        "kind": "green_space",
        "area_m2": "320",
        "location": "村委会东侧",
        **overrides,
    }
    answer = client.post("/v1/spaces", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _claim(client: TestClient, space_id: str, **body: Any) -> Any:
    return client.post(f"/v1/spaces/{space_id}/claims", json=body)


def _events(db: Database) -> list[tuple[str, dict[str, Any]]]:
    with db.unit_of_work() as session:
        rows = session.execute(
            select(OutboxEvent.type, OutboxEvent.payload)
            .where(OutboxEvent.type.like("space.%"))
            .order_by(OutboxEvent.seq)
        ).all()
    return [(kind, dict(payload)) for kind, payload in rows]


def test_the_registry_keeps_exact_areas_and_refuses_bad_input(
    client: TestClient, place: Place
) -> None:
    garden = _space(client, place, area_m2="12.5", photo_url="https://img.example.cn/g.jpg")
    assert garden["area_m2"] == "12.50"
    assert garden["kind"] == "green_space"
    assert garden["allow_shared_care"] is False
    hall = _space(client, place, name="文化礼堂", kind="facility", area_m2=480)
    assert hall["area_m2"] == "480.00"
    # 12.5 m² + 0.25 m²: an exact figure, no float rounding.
    changed = client.patch(
        f"/v1/spaces/{garden['id']}", json={"area_m2": "12.75", "photo_url": None}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["area_m2"], changed.json()["photo_url"]) == ("12.75", None)
    assert client.get(f"/v1/spaces/{garden['id']}").json()["area_m2"] == "12.75"
    listed = client.get("/v1/spaces", params={"village_id": place.village_id}).json()
    assert [s["name"] for s in listed["items"]] == ["村口小游园", "文化礼堂"]

    for bad in (
        {"area_m2": "1.234"},  # 3 decimal places
        {"area_m2": "0"},
        {"photo_url": "http://img.example.cn/g.jpg"},  # https only
        {"kind": "parking"},
    ):
        answer = client.post(
            "/v1/spaces",
            json={
                "village_id": place.village_id,
                "name": "坏数据",
                "kind": "green_space",
                "area_m2": "5",
                "location": "某处",
                **bad,
            },
        )
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["code"] == "validation_failed"
    assert client.patch(f"/v1/spaces/{garden['id']}", json={"name": None}).status_code == 422
    duplicate = client.post(
        "/v1/spaces",
        json={
            "village_id": place.village_id,
            "name": "文化礼堂",
            "kind": "facility",
            "area_m2": "1",
            "location": "x",
        },
    )
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "already_exists")


def test_one_claimant_at_a_time_and_a_refusal_names_them(
    client: TestClient, place: Place, db: Database
) -> None:
    space = _space(client, place)
    first = _claim(client, space["id"], household_id=place.household_id, starts_on="2026-03-01")
    assert first.status_code == 201, first.text
    assert (first.json()["claimant_kind"], first.json()["ends_on"]) == ("household", None)

    # Open-ended from 1 March: 1 June is covered.
    clash = _claim(client, space["id"], member_id=place.member_id, starts_on="2026-06-01")
    assert clash.status_code == 409
    problem = clash.json()
    assert problem["code"] == "space_already_claimed"
    assert problem["current_claim_id"] == first.json()["id"]
    assert problem["claimant_kind"] == "household"
    assert problem["claimant_id"] == place.household_id
    assert problem["claimant_name"] == "王建国户"

    # 1 January to 28 February ends the day before: no overlap.
    before = _claim(
        client,
        space["id"],
        member_id=place.member_id,
        starts_on="2026-01-01",
        ends_on="2026-02-28",
    )
    assert before.status_code == 201, before.text
    # 1 February to 1 March overlaps both; the earlier claim (from 1 January) is named.
    both = _claim(
        client,
        space["id"],
        organisation_id=place.organisation_id,
        starts_on="2026-02-01",
        ends_on="2026-03-01",
    )
    assert both.status_code == 409
    assert both.json()["current_claim_id"] == before.json()["id"]
    assert both.json()["claimant_name"] == "李秀英"

    with db.unit_of_work() as session:
        count = len(session.execute(select(SpaceClaim)).scalars().all())
    assert count == 2
    assert [kind for kind, _ in _events(db)] == ["space.claimed", "space.claimed"]


def test_claimants_come_from_the_village_and_name_exactly_one(
    client: TestClient, place: Place
) -> None:
    space = _space(client, place)
    cases = [
        ({"member_id": place.other_member_id}, 422, "claimant_not_in_village"),
        ({"organisation_id": place.other_organisation_id}, 422, "claimant_not_in_village"),
        # Deactivated on 1 May: cannot take up care from 1 June.
        ({"member_id": place.retired_member_id}, 422, "claimant_inactive"),
        ({"member_id": str(uuid.uuid4())}, 404, "not_found"),
        (
            {"member_id": place.member_id, "household_id": place.household_id},
            422,
            "validation_failed",
        ),
        ({}, 422, "validation_failed"),
        (
            {"member_id": place.member_id, "ends_on": "2026-05-31"},
            422,
            "space_claim_end_before_start",
        ),
    ]
    for claimant, status, code in cases:
        answer = _claim(client, space["id"], starts_on="2026-06-01", **claimant)
        assert (answer.status_code, answer.json()["code"]) == (status, code), claimant
    assert client.get(f"/v1/spaces/{space['id']}/claims").json()["items"] == []


def test_a_transfer_ends_the_old_claim_the_day_before_in_one_step(
    client: TestClient, place: Place, db: Database
) -> None:
    space = _space(client, place)
    old = _claim(
        client,
        space["id"],
        household_id=place.household_id,
        starts_on="2026-03-01",
        ends_on="2026-12-31",
    ).json()
    later = _claim(client, space["id"], member_id=place.member_id, starts_on="2027-03-01").json()

    # Open-ended from 1 July would run into the member's claim from 1 March 2027: refused,
    # and the old claim is untouched (no partial write).
    refused = client.post(
        f"/v1/space-claims/{old['id']}/transfers",
        json={"organisation_id": place.organisation_id, "starts_on": "2026-07-01"},
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "space_already_claimed")
    assert refused.json()["current_claim_id"] == later["id"]
    unchanged = client.get(f"/v1/space-claims/{old['id']}").json()
    assert (unchanged["ends_on"], unchanged["end_reason"]) == ("2026-12-31", None)

    # Same start day as the old claim: it would have to end on 28 February, before it began.
    same_day = client.post(
        f"/v1/space-claims/{old['id']}/transfers",
        json={"organisation_id": place.organisation_id, "starts_on": "2026-03-01"},
    )
    assert same_day.json()["code"] == "space_claim_end_before_start"
    # Starting on 2 January 2027 would stretch the old claim to 1 January 2027.
    stretch = client.post(
        f"/v1/space-claims/{old['id']}/transfers",
        json={"organisation_id": place.organisation_id, "starts_on": "2027-01-02"},
    )
    assert stretch.json()["code"] == "space_claim_end_after_planned_end"

    moved = client.post(
        f"/v1/space-claims/{old['id']}/transfers",
        json={
            "organisation_id": place.organisation_id,
            "starts_on": "2026-07-01",
            "ends_on": "2027-02-28",
        },
    )
    assert moved.status_code == 201, moved.text
    ended, new = moved.json()["ended"], moved.json()["claim"]
    assert (ended["starts_on"], ended["ends_on"]) == ("2026-03-01", "2026-06-30")
    assert ended["end_reason"] == "transferred"
    assert ended["transferred_to_claim_id"] == new["id"]
    assert (new["claimant_kind"], new["starts_on"], new["ends_on"]) == (
        "organisation",
        "2026-07-01",
        "2027-02-28",
    )
    again = client.post(
        f"/v1/space-claims/{old['id']}/transfers",
        json={"member_id": place.member_id, "starts_on": "2026-08-01"},
    )
    assert (again.status_code, again.json()["code"]) == (409, "space_claim_already_ended")

    history = client.get(f"/v1/spaces/{space['id']}/claims").json()["items"]
    assert [(c["starts_on"], c["ends_on"], c["end_reason"]) for c in history] == [
        ("2026-03-01", "2026-06-30", "transferred"),
        ("2027-03-01", None, None),
        ("2026-07-01", "2027-02-28", None),
    ]
    kinds = [(kind, payload) for kind, payload in _events(db)]
    assert [kind for kind, _ in kinds] == [
        "space.claimed",
        "space.claimed",
        "space.claim_transferred",
    ]
    transferred = kinds[2][1]
    assert transferred["village_id"] == place.village_id
    assert transferred["from_claim"]["ends_on"] == "2026-06-30"
    assert transferred["to_claim"]["id"] == new["id"]
    assert transferred["to_claim"]["claimant_id"] == place.organisation_id


def test_ending_early_shortens_never_extends_and_keeps_history(
    client: TestClient, place: Place, db: Database
) -> None:
    space = _space(client, place)
    row = _claim(
        client,
        space["id"],
        member_id=place.member_id,
        starts_on="2026-04-01",
        ends_on="2026-12-31",
    ).json()
    url = f"/v1/space-claims/{row['id']}/endings"
    assert client.post(url, json={"ends_on": "2026-03-31"}).json()["code"] == (
        "space_claim_end_before_start"
    )
    assert client.post(url, json={"ends_on": "2027-01-01"}).json()["code"] == (
        "space_claim_end_after_planned_end"
    )
    ended = client.post(url, json={"ends_on": "2026-09-30"})
    assert ended.status_code == 200, ended.text
    assert (ended.json()["ends_on"], ended.json()["end_reason"]) == ("2026-09-30", "ended")
    again = client.post(url, json={"ends_on": "2026-08-31"})
    assert (again.status_code, again.json()["code"]) == (409, "space_claim_already_ended")
    # From 1 October the space is free again: 30 September is the last day of care.
    assert (
        _claim(client, space["id"], member_id=place.member_id, starts_on="2026-09-30").status_code
        == 409
    )
    assert (
        _claim(
            client, space["id"], household_id=place.household_id, starts_on="2026-10-01"
        ).status_code
        == 201
    )
    history = client.get(f"/v1/spaces/{space['id']}/claims").json()["items"]
    assert [(c["starts_on"], c["ends_on"]) for c in history] == [
        ("2026-04-01", "2026-09-30"),
        ("2026-10-01", None),
    ]
    ended_events = [p for kind, p in _events(db) if kind == "space.claim_ended"]
    assert len(ended_events) == 1
    assert ended_events[0]["claim"]["ends_on"] == "2026-09-30"
    assert ended_events[0]["claim"]["claimant_id"] == place.member_id


def test_shared_care_allows_overlaps_and_cannot_be_withdrawn_under_them(
    client: TestClient, place: Place
) -> None:
    space = _space(client, place, name="河道", kind="public_space", allow_shared_care=True)
    a = _claim(client, space["id"], household_id=place.household_id, starts_on="2026-03-01")
    b = _claim(client, space["id"], organisation_id=place.organisation_id, starts_on="2026-04-01")
    assert (a.status_code, b.status_code) == (201, 201)
    refused = client.patch(f"/v1/spaces/{space['id']}", json={"allow_shared_care": False})
    assert (refused.status_code, refused.json()["code"]) == (409, "shared_care_in_use")
    assert client.get(f"/v1/spaces/{space['id']}").json()["allow_shared_care"] is True
    # The household's care ends on 31 March, the day before the organisation's begins.
    client.post(f"/v1/space-claims/{a.json()['id']}/endings", json={"ends_on": "2026-03-31"})
    allowed = client.patch(f"/v1/spaces/{space['id']}", json={"allow_shared_care": False})
    assert allowed.status_code == 200, allowed.text
    assert (
        _claim(client, space["id"], member_id=place.member_id, starts_on="2026-05-01").json()[
            "code"
        ]
        == "space_already_claimed"
    )


def test_a_retried_claim_is_made_once(client: TestClient, place: Place, db: Database) -> None:
    space = _space(client, place)
    body = {"member_id": place.member_id, "starts_on": "2026-03-01"}
    headers = {"Idempotency-Key": "claim-garden-2026"}
    first = client.post(f"/v1/spaces/{space['id']}/claims", json=body, headers=headers)
    second = client.post(f"/v1/spaces/{space['id']}/claims", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["id"] == first.json()["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    other = client.post(
        f"/v1/spaces/{space['id']}/claims",
        json={**body, "starts_on": "2026-03-02"},
        headers=headers,
    )
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert len(client.get(f"/v1/spaces/{space['id']}/claims").json()["items"]) == 1
    assert [kind for kind, _ in _events(db)] == ["space.claimed"]


def test_two_clerks_claiming_at_once_cannot_both_succeed(
    db: Database, place: Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL only: real concurrency. Each claim pauses (at most 2 s) between taking the
    space and checking for a clash, waiting for the other: without the row lock on the
    space both would pass the check and both claim; with it the second waits for the first
    to commit, sees its claim and is refused."""
    if db.dialect != "postgresql":
        pytest.skip("needs concurrent writers (PostgreSQL)")
    with db.unit_of_work() as session:
        space = spaces.create_space(
            session,
            village_id=uuid.UUID(place.village_id),
            name="晒场",
            kind="public_space",
            area_hundredths_m2=60_000,
            location="村西",
            photo_url=None,
            allow_shared_care=False,
            now=utc_now(),
        )
    barrier = threading.Barrier(2, timeout=2)
    check = spaces._check_claimant

    def meet_then_check(*args: Any) -> None:
        # A broken barrier: the other claim is blocked on the lock, so go on alone.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        check(*args)

    monkeypatch.setattr(spaces, "_check_claimant", meet_then_check)

    def claim(claimant: spaces.Claimant) -> str:
        try:
            with db.unit_of_work() as session:
                spaces.claim(
                    session,
                    space_id=space.id,
                    claimant=claimant,
                    starts_on=date(2026, 3, 1),
                    ends_on=None,
                    note="",
                    actor="test",
                    now=utc_now(),
                )
            return "claimed"
        except errors.SpaceAlreadyClaimed:
            return "refused"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(
            pool.map(
                claim,
                [
                    spaces.Claimant(member_id=uuid.UUID(place.member_id)),
                    spaces.Claimant(household_id=uuid.UUID(place.household_id)),
                ],
                timeout=30,
            )
        )
    assert sorted(outcomes) == ["claimed", "refused"]
    with db.unit_of_work() as session:
        rows = session.execute(select(SpaceClaim).where(SpaceClaim.space_id == space.id)).all()
    assert len(rows) == 1
