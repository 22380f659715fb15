"""Tenancy over HTTP: townships, villages, households, members, organisations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import (
    Village,
    accounts,
    all_pages,
    award,
    balance,
    create_household,
    create_member,
    create_organisation,
    create_township,
    create_village,
    households_of,
    local_noon,
    local_today,
    make_village,
    move,
    ok,
    only_account,
    problem,
    random_id,
    validation_failed,
)

# --- townships --------------------------------------------------------------------------


def test_township_create_get_patch(client: TestClient) -> None:
    created = create_township(client, code="zhongzi", name="中子镇")
    assert created["code"] == "zhongzi" and created["name"] == "中子镇"

    fetched = ok(client.get(f"/v1/townships/{created['id']}"))
    assert fetched == created

    patched = ok(client.patch(f"/v1/townships/{created['id']}", json={"name": "中子新镇"}))
    assert patched["name"] == "中子新镇" and patched["code"] == "zhongzi"
    assert ok(client.get(f"/v1/townships/{created['id']}"))["name"] == "中子新镇"


def test_townships_list_pages_through_every_township(client: TestClient) -> None:
    ids = {create_township(client)["id"] for _ in range(5)}
    items, pages = all_pages(client, "/v1/townships", 2)
    assert pages == 3
    assert len(items) == len(ids)
    assert {t["id"] for t in items} == ids


def test_duplicate_township_code_is_refused(client: TestClient) -> None:
    create_township(client, code="dup")
    problem(client.post("/v1/townships", json={"code": "dup", "name": "x"}), 409, "already_exists")


# --- villages ---------------------------------------------------------------------------


def test_village_create_get_patch(client: TestClient) -> None:
    township = create_township(client)
    village = create_village(
        client, township["id"], code="qingquan", name="清泉村", allow_below_floor_codes=["fine"]
    )
    assert village["township_id"] == township["id"]
    assert village["allow_below_floor_codes"] == ["fine"]
    assert ok(client.get(f"/v1/villages/{village['id']}")) == village

    patched = ok(
        client.patch(
            f"/v1/villages/{village['id']}",
            json={"name": "清泉新村", "allow_below_floor_codes": ["conduct_penalty"]},
        )
    )
    assert patched["name"] == "清泉新村"
    assert patched["allow_below_floor_codes"] == ["conduct_penalty"]
    # A patch without the list leaves it alone.
    kept = ok(client.patch(f"/v1/villages/{village['id']}", json={"name": "清泉村"}))
    assert kept["allow_below_floor_codes"] == ["conduct_penalty"]


def test_village_opens_its_standard_accounts(client: TestClient) -> None:
    village = create_village(client)
    found = accounts(client, village_id=village["id"])
    assert sorted((a["kind"], a["category"], a["asset"]) for a in found) == sorted(
        [
            ("issuance", "general", "POINTS"),
            ("supermarket", "main", "POINTS"),
            ("expiry", "main", "POINTS"),
            ("fund", "main", "CNY"),
            ("funding", "main", "CNY"),
        ]
    )
    for account in found:
        assert account["village_id"] == village["id"]
        assert account["township_id"] == village["township_id"]
        assert balance(client, account["id"])["posted"] == 0


def test_villages_list_by_township_pages(client: TestClient) -> None:
    township = create_township(client)
    ids = {create_village(client, township["id"])["id"] for _ in range(5)}
    create_village(client)  # another township's village is not listed
    items, pages = all_pages(client, "/v1/villages", 2, township_id=township["id"])
    assert pages == 3
    assert [v["id"] for v in items] == list(dict.fromkeys(v["id"] for v in items))
    assert {v["id"] for v in items} == ids


def test_village_codes_are_unique_per_township(client: TestClient) -> None:
    first, second = create_township(client), create_township(client)
    create_village(client, first["id"], code="dongcun")
    refused = client.post(
        "/v1/villages", json={"township_id": first["id"], "code": "dongcun", "name": "x"}
    )
    problem(refused, 409, "already_exists")
    create_village(client, second["id"], code="dongcun")


# --- households -------------------------------------------------------------------------


def test_household_opens_points_account(client: TestClient, village: Village) -> None:
    household = create_household(client, village.id, number="3-12", name="王建国户")
    assert ok(client.get(f"/v1/households/{household['id']}")) == household
    assert household["village_id"] == village.id
    assert household["split_from_household_id"] is None
    [account] = accounts(client, household_id=household["id"])
    assert (account["kind"], account["asset"], account["balance_floor"]) == (
        "household",
        "POINTS",
        0,
    )


def test_household_numbers_are_unique_per_village(client: TestClient, village: Village) -> None:
    create_household(client, village.id, number="7")
    refused = client.post(
        "/v1/households", json={"village_id": village.id, "number": "7", "name": "x"}
    )
    problem(refused, 409, "already_exists")
    other = make_village(client, village.township_id)
    create_household(client, other.id, number="7")


def test_households_list_pages(client: TestClient, village: Village) -> None:
    ids = {create_household(client, village.id)["id"] for _ in range(5)}
    items, pages = all_pages(client, "/v1/households", 2, village_id=village.id)
    assert pages == 3 and {h["id"] for h in items} == ids and len(items) == 5


# --- members ----------------------------------------------------------------------------


def test_member_opens_account_and_may_join_household(client: TestClient, village: Village) -> None:
    loner = create_member(client, village.id, name="李四", phone="13800000000")
    assert loner["deactivated_on"] is None
    assert ok(client.get(f"/v1/members/{loner['id']}")) == loner
    [account] = accounts(client, member_id=loner["id"])
    assert (account["kind"], account["asset"]) == ("member", "POINTS")
    assert ok(client.get(f"/v1/members/{loner['id']}/memberships")) == []

    household = create_household(client, village.id)
    member = create_member(
        client,
        village.id,
        household_id=household["id"],
        joined_on="2024-01-01",
        is_head=True,
        id_number_tail="123X",
    )
    [membership] = ok(client.get(f"/v1/members/{member['id']}/memberships"))
    assert membership["household_id"] == household["id"]
    assert (membership["joined_on"], membership["left_on"]) == ("2024-01-01", None)
    assert membership["is_head"] is True
    current = ok(client.get(f"/v1/households/{household['id']}/members"))
    assert [m["member_id"] for m in current] == [member["id"]]
    listed, _ = all_pages(client, "/v1/members", 50, household_id=household["id"])
    assert [m["id"] for m in listed] == [member["id"]]


def test_member_joins_today_by_default(client: TestClient, village: Village) -> None:
    household = create_household(client, village.id)
    member = create_member(client, village.id, household_id=household["id"])
    [membership] = ok(client.get(f"/v1/members/{member['id']}/memberships"))
    assert membership["joined_on"] == local_today(client).isoformat()


def test_member_patch(client: TestClient, village: Village) -> None:
    member = create_member(client, village.id, name="张三")
    patched = ok(client.patch(f"/v1/members/{member['id']}", json={"phone": "139"}))
    assert (patched["name"], patched["phone"]) == ("张三", "139")


def test_members_list_pages(client: TestClient, village: Village) -> None:
    ids = {create_member(client, village.id)["id"] for _ in range(5)}
    create_member(client, make_village(client, village.township_id).id)
    items, pages = all_pages(client, "/v1/members", 2, village_id=village.id)
    assert pages == 3 and {m["id"] for m in items} == ids and len(items) == 5


def test_member_of_household_in_other_village_is_refused(
    client: TestClient, village: Village
) -> None:
    elsewhere = create_household(client, make_village(client, village.township_id).id)
    refused = client.post(
        "/v1/members", json={"village_id": village.id, "name": "x", "household_id": elsewhere["id"]}
    )
    problem(refused, 422, "other_village")
    # Nothing was written: no member, no member account.
    assert ok(client.get("/v1/members", params={"village_id": village.id}))["items"] == []
    assert accounts(client, village_id=village.id, kind="member") == []


# --- organisations ----------------------------------------------------------------------


def test_organisation_create_get_list(client: TestClient) -> None:
    township = create_township(client)
    shop = create_organisation(client, township["id"], name="惠民超市", kind="shop")
    assert shop["kind"] == "shop"
    assert ok(client.get(f"/v1/organisations/{shop['id']}")) == shop
    more = {create_organisation(client, township["id"])["id"] for _ in range(4)}
    create_organisation(client, create_township(client)["id"])
    items, pages = all_pages(client, "/v1/organisations", 2, township_id=township["id"])
    assert pages == 3 and {o["id"] for o in items} == more | {shop["id"]}


def test_organisation_names_are_unique_per_township(client: TestClient) -> None:
    township = create_township(client)
    create_organisation(client, township["id"], name="合作社")
    refused = client.post(
        "/v1/organisations",
        json={"township_id": township["id"], "name": "合作社", "kind": "company"},
    )
    problem(refused, 409, "already_exists")


# --- unknown ids and bad payloads -------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["townships", "villages", "households", "members", "organisations"]
)
def test_unknown_ids_are_not_found(client: TestClient, path: str) -> None:
    body = problem(client.get(f"/v1/{path}/{random_id()}"), 404, "not_found")
    assert body["resource"] == path.rstrip("s")


def test_unknown_references_are_not_found(client: TestClient, village: Village) -> None:
    unknown = random_id()
    for method, path, body in [
        ("POST", "/v1/villages", {"township_id": unknown, "code": "x", "name": "x"}),
        ("POST", "/v1/households", {"village_id": unknown, "number": "1", "name": "x"}),
        ("POST", "/v1/members", {"village_id": unknown, "name": "x"}),
        ("POST", "/v1/members", {"village_id": village.id, "name": "x", "household_id": unknown}),
        ("POST", "/v1/organisations", {"township_id": unknown, "name": "x", "kind": "shop"}),
        ("PATCH", f"/v1/townships/{unknown}", {"name": "x"}),
        ("PATCH", f"/v1/villages/{unknown}", {"name": "x"}),
        ("PATCH", f"/v1/members/{unknown}", {"name": "x"}),
        ("GET", f"/v1/members/{unknown}/memberships", None),
        ("GET", f"/v1/households/{unknown}/members", None),
        ("POST", f"/v1/members/{unknown}/deactivation", {"on": "2024-01-01", "reason": "other"}),
    ]:
        response = client.request(method, path, json=body)
        problem(response, 404, "not_found")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/townships", {"name": "no code"}),
        ("/v1/townships", {"code": "has space", "name": "x"}),
        ("/v1/townships", {"code": "ok", "name": ""}),
        ("/v1/townships", {"code": "x" * 65, "name": "x"}),
        ("/v1/townships", {"code": "ok", "name": "x", "colour": "red"}),
        ("/v1/villages", {"township_id": "not-a-uuid", "code": "v", "name": "x"}),
        ("/v1/villages", {"township_id": None, "code": "v", "name": "x"}),
        ("/v1/households", {"village_id": "00000000-0000-0000-0000-000000000000", "number": "1"}),
        ("/v1/members", {"village_id": "00000000-0000-0000-0000-000000000000", "name": 5}),
        (
            "/v1/members",
            {"village_id": "00000000-0000-0000-0000-000000000000", "name": "x", "joined_on": "x"},
        ),
        (
            "/v1/members",
            {
                "village_id": "00000000-0000-0000-0000-000000000000",
                "name": "x",
                "id_number_tail": "1",
            },
        ),
        ("/v1/organisations", {"township_id": "00000000-0000-0000-0000-000000000000", "name": "x"}),
        (
            "/v1/organisations",
            {"township_id": "00000000-0000-0000-0000-000000000000", "name": "x", "kind": "church"},
        ),
    ],
)
def test_bad_payloads_are_validation_failed(
    client: TestClient, path: str, body: dict[str, Any]
) -> None:
    validation_failed(client.post(path, json=body))


def test_bad_patch_payloads_are_validation_failed(client: TestClient, village: Village) -> None:
    validation_failed(client.patch(f"/v1/townships/{village.township_id}", json={"name": ""}))
    validation_failed(client.patch(f"/v1/townships/{village.township_id}", json={"code": "new"}))
    validation_failed(
        client.patch(f"/v1/villages/{village.id}", json={"allow_below_floor_codes": "fine"})
    )


# --- moves ------------------------------------------------------------------------------


def test_member_moves_between_households_with_dated_history(
    client: TestClient, village: Village
) -> None:
    first = create_household(client, village.id)
    second = create_household(client, village.id)
    member = create_member(client, village.id, household_id=first["id"], joined_on="2024-01-01")

    moved = ok(
        client.post(
            f"/v1/members/{member['id']}/moves",
            json={"household_id": second["id"], "on": "2024-06-01", "is_head": True},
        ),
        201,
    )
    assert (moved["household_id"], moved["joined_on"], moved["left_on"]) == (
        second["id"],
        "2024-06-01",
        None,
    )
    history = ok(client.get(f"/v1/members/{member['id']}/memberships"))
    assert [(m["household_id"], m["joined_on"], m["left_on"]) for m in history] == [
        (first["id"], "2024-01-01", "2024-06-01"),
        (second["id"], "2024-06-01", None),
    ]
    assert ok(client.get(f"/v1/households/{first['id']}/members")) == []
    [current] = ok(client.get(f"/v1/households/{second['id']}/members"))
    assert current["member_id"] == member["id"] and current["is_head"] is True


def test_move_before_joining_is_invalid_date(client: TestClient, village: Village) -> None:
    first = create_household(client, village.id)
    second = create_household(client, village.id)
    member = create_member(client, village.id, household_id=first["id"], joined_on="2024-06-01")
    refused = client.post(
        f"/v1/members/{member['id']}/moves", json={"household_id": second["id"], "on": "2024-01-01"}
    )
    problem(refused, 422, "invalid_date")


def test_move_to_household_of_other_village_is_refused(
    client: TestClient, village: Village
) -> None:
    home = create_household(client, village.id)
    member = create_member(client, village.id, household_id=home["id"], joined_on="2024-01-01")
    elsewhere = create_household(client, make_village(client, village.township_id).id)
    refused = client.post(
        f"/v1/members/{member['id']}/moves",
        json={"household_id": elsewhere["id"], "on": "2024-06-01"},
    )
    problem(refused, 422, "other_village")
    history = ok(client.get(f"/v1/members/{member['id']}/memberships"))
    assert [(m["household_id"], m["left_on"]) for m in history] == [(home["id"], None)]


def test_move_to_unknown_household_is_not_found(client: TestClient, village: Village) -> None:
    member = create_member(client, village.id)
    refused = client.post(
        f"/v1/members/{member['id']}/moves", json={"household_id": random_id(), "on": "2024-06-01"}
    )
    problem(refused, 404, "not_found")


# --- deactivation -----------------------------------------------------------------------


def test_deactivation_refuses_entries_dated_after_it(client: TestClient, village: Village) -> None:
    member_id, account = village.member()
    first = award(client, village, account, 10)
    last_day = local_today(client) - timedelta(days=10)

    member = ok(
        client.post(
            f"/v1/members/{member_id}/deactivation",
            json={"on": last_day.isoformat(), "reason": "moved_away"},
        )
    )
    assert (member["deactivated_on"], member["deactivation_reason"]) == (
        last_day.isoformat(),
        "moved_away",
    )
    assert ok(client.get(f"/v1/members/{member_id}"))["deactivated_on"] == last_day.isoformat()

    # Dated on the last day: still accepted (a late record of earlier work).
    award(client, village, account, 3, occurred_at=local_noon(client, last_day))
    # Dated the day after, or now: refused.
    for occurred_at in (local_noon(client, last_day + timedelta(days=1)), None):
        extra = {"occurred_at": occurred_at} if occurred_at else {}
        refused = move(client, village, village.issuance, account, 1, **extra)
        body = problem(refused, 409, "member_inactive")
        assert body["deactivated_on"] == last_day.isoformat()
    # A correction of what was given is still possible.
    ok(client.post(f"/v1/entries/{first['id']}/reversals", json={"reason": "重复"}), 201)
    assert balance(client, account)["posted"] == 3


def test_second_deactivation_is_refused(client: TestClient, village: Village) -> None:
    member_id, _ = village.member()
    url = f"/v1/members/{member_id}/deactivation"
    ok(client.post(url, json={"on": "2024-03-01", "reason": "deceased"}))
    problem(
        client.post(url, json={"on": "2024-04-01", "reason": "other"}),
        409,
        "member_already_deactivated",
    )
    assert ok(client.get(f"/v1/members/{member_id}"))["deactivated_on"] == "2024-03-01"


def test_deactivation_closes_household_membership(client: TestClient, village: Village) -> None:
    household = create_household(client, village.id)
    member = create_member(client, village.id, household_id=household["id"], joined_on="2024-01-01")
    url = f"/v1/members/{member['id']}/deactivation"
    problem(client.post(url, json={"on": "2023-12-31", "reason": "other"}), 422, "invalid_date")
    validation_failed(client.post(url, json={"on": "2024-03-01", "reason": "bored"}))
    ok(client.post(url, json={"on": "2024-03-01", "reason": "moved_away"}))
    assert ok(client.get(f"/v1/households/{household['id']}/members")) == []
    other = create_household(client, village.id)
    refused = client.post(
        f"/v1/members/{member['id']}/moves", json={"household_id": other["id"], "on": "2024-03-01"}
    )
    problem(refused, 409, "member_inactive")


# --- household splits -------------------------------------------------------------------


def _family(client: TestClient, village: Village, points: int) -> tuple[str, str, list[str]]:
    """A household with three members and `points` on its account."""
    household_id, account = village.household()
    members = [
        create_member(client, village.id, household_id=household_id, joined_on="2024-01-01")["id"]
        for _ in range(3)
    ]
    if points:
        award(client, village, account, points)
    return household_id, account, members


def _split(
    client: TestClient, household_id: str, members: list[str], **extra: Any
) -> httpx.Response:
    body = {"number": "split-1", "name": "新户", "member_ids": members, "on": "2024-06-01"}
    return client.post(f"/v1/households/{household_id}/splits", json={**body, **extra})


def test_split_without_transfer_moves_no_points(client: TestClient, village: Village) -> None:
    household_id, account, members = _family(client, village, 10)
    entries_before = len(village.entries())

    split = ok(_split(client, household_id, members[1:], head_member_id=members[1]), 201)
    new = split["household"]
    assert new["split_from_household_id"] == household_id and new["number"] == "split-1"
    assert split["transfer"] is None
    assert sorted(m["member_id"] for m in split["moved"]) == sorted(members[1:])

    assert balance(client, account)["posted"] == 10
    assert balance(client, only_account(client, household_id=new["id"]))["posted"] == 0
    assert len(village.entries()) == entries_before
    stayed = ok(client.get(f"/v1/households/{household_id}/members"))
    assert [m["member_id"] for m in stayed] == [members[0]]
    moved = ok(client.get(f"/v1/households/{new['id']}/members"))
    assert {m["member_id"]: m["is_head"] for m in moved} == {members[1]: True, members[2]: False}
    history = ok(client.get(f"/v1/members/{members[1]}/memberships"))
    assert [(m["household_id"], m["left_on"]) for m in history] == [
        (household_id, "2024-06-01"),
        (new["id"], None),
    ]


def test_split_with_transfer_books_one_entry(client: TestClient, village: Village) -> None:
    household_id, account, members = _family(client, village, 10)
    entries_before = village.entries()

    split = ok(_split(client, household_id, members[2:], transfer_points=4), 201)
    new_account = only_account(client, household_id=split["household"]["id"])
    transfer = split["transfer"]
    assert transfer["code"] == "household_split_transfer"
    assert {(p["account_id"], p["amount"]) for p in transfer["postings"]} == {
        (account, -4),
        (new_account, 4),
    }
    assert balance(client, account)["posted"] == 6
    assert balance(client, new_account)["posted"] == 4

    entries_after = village.entries()
    assert len(entries_after) == len(entries_before) + 1
    assert entries_after[0]["id"] == transfer["id"]
    assert [e["code"] for e in entries_after].count("household_split_transfer") == 1


def test_split_transfer_above_balance_writes_nothing(client: TestClient, village: Village) -> None:
    household_id, account, members = _family(client, village, 10)
    households_before = households_of(client, village.id)
    entries_before = village.entries()

    refused = _split(client, household_id, members[1:], transfer_points=11)
    body = problem(refused, 409, "insufficient_points")
    assert (body["balance_points"], body["requested_points"]) == (10, 11)

    assert households_of(client, village.id) == households_before
    assert "split-1" not in {h["number"] for h in households_of(client, village.id)}
    assert village.entries() == entries_before
    assert balance(client, account)["posted"] == 10
    for member_id in members:
        [membership] = ok(client.get(f"/v1/members/{member_id}/memberships"))
        assert (membership["household_id"], membership["left_on"]) == (household_id, None)


def test_split_refusals(client: TestClient, village: Village) -> None:
    household_id, _, members = _family(client, village, 0)
    stranger = create_member(client, village.id)["id"]
    problem(_split(client, household_id, [stranger]), 409, "member_not_in_household")
    problem(
        _split(client, household_id, members[:1], head_member_id=members[1]),
        409,
        "member_not_in_household",
    )
    problem(_split(client, random_id(), members[:1]), 404, "not_found")
    validation_failed(_split(client, household_id, []))
    validation_failed(_split(client, household_id, members[:1], transfer_points=-1))
    validation_failed(_split(client, household_id, members[:1], transfer_points="5"))
    create_household(client, village.id, number="taken")
    problem(_split(client, household_id, members[:1], number="taken"), 409, "already_exists")
    assert {h["number"] for h in households_of(client, village.id)} == {
        ok(client.get(f"/v1/households/{household_id}"))["number"],
        "taken",
    }


def test_member_leaves_household(client: TestClient, village: Village) -> None:
    household = create_household(client, village.id)
    member = create_member(client, village.id, household_id=household["id"], joined_on="2024-01-01")
    left = ok(client.post(f"/v1/members/{member['id']}/departures", json={"on": "2024-09-01"}))
    assert (left["household_id"], left["left_on"]) == (household["id"], "2024-09-01")
    assert ok(client.get(f"/v1/households/{household['id']}/members")) == []
    again = client.post(f"/v1/members/{member['id']}/departures", json={"on": "2024-10-01"})
    problem(again, 409, "member_not_in_household")
