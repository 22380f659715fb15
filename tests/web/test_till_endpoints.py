"""The till's page and JSON endpoints over HTTP (Starlette's TestClient): who may use them,
the CSRF header on writes, the problem codes, and that a resubmitted sale or refund books
nothing new. The browser tests (test_till.py) drive the same endpoints through the page."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jifen.config import Settings
from jifen.db import Database
from jifen.main import create_app
from jifen.models import AuditEvent, Township, Village
from tests.factories import make_village
from tests.web.shop import (
    Shop,
    points,
    refunds_of,
    sales_by,
    seed_shop,
    stock,
)
from tests.web.support import StaffUser, make_staff_user


@pytest.fixture
def web(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db), raise_server_exceptions=True) as client:
        yield client


@pytest.fixture
def shop(settings: Settings, db: Database, cashier: StaffUser) -> Shop:
    return seed_shop(db, settings, cashier.village_id)


def sign_in(client: TestClient, user: StaffUser) -> None:
    page = client.get("/web/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    response = client.post(
        "/web/login",
        data={
            "csrf_token": token.group(1),
            "username": user.username,
            "password": user.password,
            "next": "",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def till_csrf(client: TestClient) -> str:
    page = client.get("/web/till")
    assert page.status_code == 200, page.text
    found = re.search(r'data-csrf="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


def basket(shop: Shop, *lines: tuple[Any, int], total: int | None = None) -> dict[str, Any]:
    return {
        "member_id": str(shop.member.id),
        "lines": [{"goods_id": str(goods.id), "quantity": quantity} for goods, quantity in lines],
        "expected_total_points": total
        if total is not None
        else sum(goods.price_points * quantity for goods, quantity in lines),
    }


def post(
    client: TestClient, path: str, body: dict[str, Any], *, csrf: str | None, key: str | None
) -> httpx.Response:
    headers = {}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(path, json=body, headers=headers)


def test_till_redirects_and_asks_to_sign_in(web: TestClient, shop: Shop) -> None:
    moved = web.get("/till?village_id=x", follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"] == "/web/till?village_id=x"
    page = web.get("/web/till", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/web/login?next=%2Fweb%2Ftill"
    base = f"/web/till/villages/{shop.village_id}"
    problem(web.get(f"{base}/member", params={"phone": shop.member.phone}), 401, "unauthenticated")
    problem(web.get(f"{base}/goods"), 401, "unauthenticated")


def test_the_page_carries_what_its_script_needs(
    web: TestClient, shop: Shop, cashier: StaffUser
) -> None:
    sign_in(web, cashier)
    page = web.get("/web/till")
    assert page.status_code == 200
    assert f'data-village-id="{shop.village_id}"' in page.text
    assert f'data-user-id="{cashier.id}"' in page.text
    assert 'src="/web/static/till.js"' in page.text and 'href="/web/static/till.css"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and "style=" not in page.text
    for asset in ("/web/static/till.js", "/web/static/till.css"):
        assert web.get(asset).status_code == 200
    # The village may be named; another village's is not there for this cashier.
    assert web.get(f"/web/till?village_id={shop.village_id}").status_code == 200
    assert web.get(f"/web/till?village_id={uuid.uuid4()}").status_code == 404


def test_only_who_may_redeem_in_the_village_uses_the_till(
    web: TestClient, db: Database, shop: Shop, clerk: StaffUser
) -> None:
    stranger = make_staff_user(db, role="supermarket_cashier", username="wang.other")
    base = f"/web/till/villages/{shop.village_id}"
    # A clerk of the village sees it, but may not redeem there: 403.
    sign_in(web, clerk)
    assert web.get("/web/till").status_code == 403
    problem(web.get(f"{base}/member", params={"phone": shop.member.phone}), 403, "forbidden")
    # The clerk may read the catalog (catalog:read) but not sell.
    assert web.get(f"{base}/goods").status_code == 200
    web.cookies.clear()
    # A cashier of another village does not even see this one: 404.
    sign_in(web, stranger)
    problem(web.get(f"{base}/member", params={"phone": shop.member.phone}), 404, "not_found")
    csrf = till_csrf(web)
    refused = post(web, f"{base}/sales", basket(shop, (shop.rice, 1)), csrf=csrf, key="k-1")
    problem(refused, 404, "not_found")
    assert sales_by(db, shop, stranger.id) == []


def test_a_write_needs_the_pages_csrf_token_in_a_header(
    web: TestClient, db: Database, shop: Shop, cashier: StaffUser
) -> None:
    sign_in(web, cashier)
    base = f"/web/till/villages/{shop.village_id}"
    body = basket(shop, (shop.rice, 1))
    problem(post(web, f"{base}/sales", body, csrf=None, key="k-1"), 403, "csrf_failed")
    problem(post(web, f"{base}/sales", body, csrf="forged", key="k-1"), 403, "csrf_failed")
    other_origin = web.post(
        f"{base}/sales",
        json=body,
        headers={
            "X-CSRF-Token": till_csrf(web),
            "Idempotency-Key": "k-1",
            "Origin": "https://evil.example",
        },
    )
    problem(other_origin, 403, "origin_refused")
    assert sales_by(db, shop, cashier.id) == []
    assert points(db, shop.member.points_account_id) == 200


def test_a_resubmitted_sale_books_once_and_answers_the_first_sale(
    web: TestClient, db: Database, shop: Shop, cashier: StaffUser
) -> None:
    sign_in(web, cashier)
    csrf = till_csrf(web)
    base = f"/web/till/villages/{shop.village_id}"
    found = web.get(f"{base}/member", params={"card_token": shop.member.card_token.lower()})
    assert found.status_code == 200, found.text
    assert (found.json()["masked_name"], found.json()["available_points"]) == ("张*明", 200)
    body = basket(shop, (shop.rice, 2), (shop.oil, 1))
    problem(post(web, f"{base}/sales", body, csrf=csrf, key=None), 422, "validation_failed")
    first = post(web, f"{base}/sales", body, csrf=csrf, key="basket-0001")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    sale = first.json()
    assert (sale["total_points"], sale["balance_after"]) == (110, 90)
    assert sale["cashier_name"] == "赵收银"
    assert sale["member_masked_name"] == "张*明" and sale["household_name"] == "张建国户"
    assert sale["hash_prefix"] == sale["entry_hash"][:12] and len(sale["hash_prefix"]) == 12
    assert sale["village_name"] == shop.village_name
    again = post(web, f"{base}/sales", body, csrf=csrf, key="basket-0001")
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["receipt_number"] == sale["receipt_number"]
    assert again.json()["lines"] == sale["lines"]
    [booked] = sales_by(db, shop, cashier.id)
    assert booked.seq == sale["receipt_number"]
    assert points(db, shop.member.points_account_id) == 90
    assert (stock(db, shop.rice), stock(db, shop.oil)) == (8, 1)
    # The sale is audited once, under the cashier's name; the replay is not another write.
    with db.unit_of_work(write=False) as session:
        audited = session.execute(
            select(AuditEvent).where(AuditEvent.action == "till_create_sale")
        ).scalars()
        assert [(a.principal_id, a.village_id, a.status_code) for a in audited] == [
            (cashier.id, shop.village_id, 201)
        ]
    read = web.get(f"{base}/sales/{sale['receipt_number']}")
    assert read.status_code == 200 and read.json()["id"] == sale["id"]
    problem(web.get(f"{base}/sales/{sale['receipt_number'] + 999}"), 404, "sale_not_found")


def test_refusals_name_what_is_short_and_book_nothing(
    web: TestClient, db: Database, shop: Shop, cashier: StaffUser
) -> None:
    sign_in(web, cashier)
    csrf = till_csrf(web)
    url = f"/web/till/villages/{shop.village_id}/sales"
    too_much = post(web, url, basket(shop, (shop.oil, 3)), csrf=csrf, key="k-stock")
    short = problem(too_much, 409, "insufficient_stock")
    assert (short["goods_name"], short["available_quantity"], short["requested_quantity"]) == (
        "食用油",
        2,
        3,
    )
    poor = post(web, url, basket(shop, (shop.rice, 7)), csrf=csrf, key="k-points")
    assert problem(poor, 409, "insufficient_points")["balance_points"] == 200
    stale = post(web, url, basket(shop, (shop.rice, 1), total=25), csrf=csrf, key="k-price")
    assert problem(stale, 409, "price_changed")["total_points"] == 30
    empty = post(web, url, {**basket(shop, (shop.rice, 1)), "lines": []}, csrf=csrf, key="k-0")
    problem(empty, 422, "validation_failed")
    # A refused key booked nothing: the same key may carry the corrected basket.
    fixed = post(web, url, basket(shop, (shop.oil, 2)), csrf=csrf, key="k-stock")
    assert fixed.status_code == 201, fixed.text
    assert len(sales_by(db, shop, cashier.id)) == 1
    assert points(db, shop.member.points_account_id) == 100


def test_refunds_per_line_and_whole_are_booked_once_per_key(
    web: TestClient, db: Database, shop: Shop, cashier: StaffUser
) -> None:
    sign_in(web, cashier)
    csrf = till_csrf(web)
    base = f"/web/till/villages/{shop.village_id}"
    sale = post(
        web, f"{base}/sales", basket(shop, (shop.rice, 2), (shop.towel, 1)), csrf=csrf, key="s-1"
    ).json()
    number = sale["receipt_number"]
    one = {"lines": [{"position": 0, "quantity": 1}], "reason": "包装破损"}
    first = post(web, f"{base}/sales/{number}/refunds", one, csrf=csrf, key="r-1")
    assert first.status_code == 201, first.text
    made = first.json()
    assert made["refund"]["points"] == 30 and made["refund"]["reason"] == "包装破损"
    assert [line["refunded_quantity"] for line in made["receipt"]["lines"]] == [1, 0]
    again = post(web, f"{base}/sales/{number}/refunds", one, csrf=csrf, key="r-1")
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["refund"]["id"] == made["refund"]["id"]
    assert refunds_of(db, uuid.UUID(sale["id"])) == 1
    assert points(db, shop.member.points_account_id) == 200 - 75 + 30
    too_many = {"lines": [{"position": 0, "quantity": 2}]}
    over = post(web, f"{base}/sales/{number}/refunds", too_many, csrf=csrf, key="r-2")
    assert problem(over, 409, "refund_exceeds_sale")["refundable_quantity"] == 1
    # The key of a refund of this receipt does not refund another one.
    other = post(web, f"{base}/sales", basket(shop, (shop.towel, 1)), csrf=csrf, key="s-2")
    elsewhere = f"{base}/sales/{other.json()['receipt_number']}/refunds"
    problem(post(web, elsewhere, {}, csrf=csrf, key="r-1"), 422, "validation_failed")
    whole = post(web, f"{base}/sales/{number}/refunds", {}, csrf=csrf, key="r-3")
    assert whole.status_code == 201, whole.text
    assert [line["refunded_quantity"] for line in whole.json()["receipt"]["lines"]] == [2, 1]
    assert whole.json()["receipt"]["refunded_points"] == 75
    problem(
        post(web, f"{base}/sales/{number}/refunds", {}, csrf=csrf, key="r-4"),
        409,
        "refund_exceeds_sale",
    )
    assert refunds_of(db, uuid.UUID(sale["id"])) == 2
    assert points(db, shop.member.points_account_id) == 200 - 15
    assert (stock(db, shop.rice), stock(db, shop.towel)) == (10, 4)


def test_the_day_lists_the_receipts_and_the_shelf(
    web: TestClient, db: Database, shop: Shop, cashier: StaffUser
) -> None:
    sign_in(web, cashier)
    csrf = till_csrf(web)
    base = f"/web/till/villages/{shop.village_id}"
    post(web, f"{base}/sales", basket(shop, (shop.rice, 1)), csrf=csrf, key="d-1")
    post(web, f"{base}/sales", basket(shop, (shop.towel, 2)), csrf=csrf, key="d-2")
    day = web.get(f"{base}/day")
    assert day.status_code == 200, day.text
    summary = day.json()["summary"]
    assert (summary["sales"], summary["points"]) == (2, 60)
    assert [s["total_points"] for s in day.json()["sales"]] == [30, 30]
    assert [s["lines"][0]["goods_name"] for s in day.json()["sales"]] == ["毛巾", "大米"]
    shelf = {g["name"]: (g["stock"], g["sold"]) for g in summary["goods"]}
    assert shelf == {"大米": (9, 1), "食用油": (2, 0), "毛巾": (3, 2)}


def test_someone_over_several_villages_chooses_where_to_sell(
    web: TestClient, db: Database, settings: Settings, shop: Shop
) -> None:
    with db.unit_of_work() as session:
        village = session.get(Village, shop.village_id)
        assert village is not None
        township = session.get(Township, village.township_id)
        other = make_village(session, township, name="东山村")
        other_id = other.id
    admin = make_staff_user(
        db, role="township_admin", username="xiang.admin", village_id=shop.village_id
    )
    sign_in(web, admin)
    chooser = web.get("/web/till")
    assert chooser.status_code == 200
    links = re.findall(r'href="/web/till\?village_id=([0-9a-f-]+)"', chooser.text)
    assert set(links) == {str(shop.village_id), str(other_id)}
    there = web.get(f"/web/till?village_id={other_id}")
    assert there.status_code == 200 and f'data-village-id="{other_id}"' in there.text
    assert "东山村" in there.text
