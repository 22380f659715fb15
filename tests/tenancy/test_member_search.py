"""Finding a member: name, phone digits, 户号, pinyin initials; scoped to the caller's
village; phones masked for roles that do not edit members."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from jifen.config import Settings
from jifen.db import Database
from jifen.main import create_app
from jifen.tenancy import policy
from tests.access import world as w
from tests.factories import make_household, make_member


@pytest.mark.parametrize(
    ("name", "phone", "number", "query", "matched"),
    [
        ("张三", None, None, "张", "name"),
        ("张三", None, None, "zs", "pinyin"),
        ("张三", None, None, "ZS", "pinyin"),
        ("张三", None, None, "zhangs", "pinyin"),
        ("张三", None, None, "zx", None),
        ("张三", "13812345678", None, "5678", "phone"),
        ("张三", "13812345678", None, "678", None),  # too few digits to mean a phone
        ("张三", "138-1234-5678", None, "12345678", "phone"),
        ("张三", None, "3-01", "3-01", "household_number"),
        ("张三", None, "3-01", "3-0", None),  # 户号 match exactly
        ("张小梅", None, None, "zxm", "pinyin"),
        ("张小梅", None, None, "小梅", "name"),
    ],
)
def test_matching(
    name: str, phone: str | None, number: str | None, query: str, matched: str | None
) -> None:
    assert policy.matched_by(policy.Candidate(name, phone, number), query) == matched


def test_masking() -> None:
    assert policy.mask_phone("13812345678") == "138****5678"
    assert policy.mask_phone("0839-1234567") == "083*****4567"
    assert policy.mask_phone("12345") == "*****"
    assert policy.mask_phone(None) is None


@pytest.fixture
def world(db: Database, settings: Settings) -> w.World:
    built = w.build(db, settings)
    village = built.places["A"].village
    with db.unit_of_work() as session:
        zhang = make_household(session, village, number="3-01", name="张家")
        li = make_household(session, village, number="5-02", name="李家")
        make_member(session, village, name="张三", phone="13812345678", household_id=zhang.id)
        make_member(session, village, name="张小梅", household_id=zhang.id)
        make_member(session, village, name="李四", phone="13900001111", household_id=li.id)
        # Same name in the sibling village B: never found from A.
        make_member(session, built.places["B"].village, name="张三", phone="13700002222")
    return built


@pytest.fixture
def http(world: w.World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings, world.db), raise_server_exceptions=False) as c:
        yield c


def _search(http: TestClient, world: w.World, role: str, q: str, place: str = "A"):  # type: ignore[no-untyped-def]
    village_id = world.places[place].ids["village_id"]
    return http.get(
        f"/v1/villages/{village_id}/members/search",
        params={"q": q},
        headers={"Authorization": f"Bearer {world.keys[role]}"},
    )


def test_clerk_finds_by_pinyin_with_full_phones(world: w.World, http: TestClient) -> None:
    found = _search(http, world, "village_clerk", "zs")
    assert found.status_code == 200, found.text
    assert [
        (m["name"], m["phone"], m["household_number"], m["matched_by"]) for m in found.json()
    ] == [("张三", "13812345678", "3-01", "pinyin")]
    assert found.json()[0]["is_phone_masked"] is False


def test_group_leader_sees_masked_phones(world: w.World, http: TestClient) -> None:
    found = _search(http, world, "group_leader", "0000 1111")
    assert found.status_code == 200, found.text
    [li] = found.json()
    assert (li["name"], li["phone"], li["is_phone_masked"]) == ("李四", "139****1111", True)


def test_household_number_and_name_order(world: w.World, http: TestClient) -> None:
    by_number = _search(http, world, "village_clerk", "3-01").json()
    assert {m["name"] for m in by_number} == {"张三", "张小梅"}
    assert {m["matched_by"] for m in by_number} == {"household_number"}
    by_name = _search(http, world, "village_clerk", "张").json()
    # 张三 and 张小梅 of village A only (B's 张三 is not A's), sorted by name.
    assert [m["name"] for m in by_name] == sorted(["张三", "张小梅"])


def test_scoped_to_the_callers_village(world: w.World, http: TestClient) -> None:
    refused = _search(http, world, "village_clerk", "张三", place="B")
    assert refused.status_code in (403, 404)
    assert refused.json()["code"] in ("forbidden", "not_found")
    township = _search(http, world, "township_admin", "张三", place="B").json()
    assert [(m["name"], m["phone"]) for m in township] == [("张三", "13700002222")]


def test_empty_query_is_refused(world: w.World, http: TestClient) -> None:
    refused = _search(http, world, "village_clerk", "  ")
    assert refused.status_code == 422
    assert refused.json()["code"] == "validation_failed"
