"""The supermarket over HTTP: catalog, stock, sales, refunds, and every refusal's code."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from jifen.config import Settings
from jifen.db import Database
from jifen.ledger.policy import AccountKind
from jifen.market import service as market
from jifen.problems import IdempotencyKeyReused
from tests.api.helpers import (
    Village,
    award,
    balance,
    create_household,
    make_village,
    move,
    ok,
    only_account,
    posted,
    problem,
    spend,
    unique,
    validation_failed,
)
from tests.factories import (
    account_of,
    make_goods,
    make_member,
    make_sale,
    make_township,
)
from tests.factories import award as factory_award
from tests.factories import clock as factory_clock
from tests.factories import make_village as factory_village


def add_goods(client: TestClient, village: Village, **overrides: Any) -> dict[str, Any]:
    body = {"name": unique("大米"), "unit": "袋", "category": "粮油", "price_points": 30}
    body.update(overrides)
    return ok(client.post(f"/v1/villages/{village.id}/goods", json=body), 201)  # type: ignore[no-any-return]


def fund(client: TestClient, village: Village, fen: int) -> None:
    ok(move(client, village, village.funding, village.fund, fen, code="fund_topup"), 201)


def stock_in(client: TestClient, village: Village, goods: dict[str, Any], quantity: int) -> Any:
    return client.post(
        f"/v1/villages/{village.id}/stock-movements",
        json={
            "goods_id": goods["id"],
            "kind": "donation",
            "quantity": quantity,
            "value_fen": 100 * quantity,
            "donor": {"kind": "other", "name": "爱心企业"},
        },
    )


def sell(
    client: TestClient,
    village: Village,
    member_id: str,
    lines: list[tuple[dict[str, Any], int]],
    key: str | None = None,
    **extra: Any,
) -> Any:
    body = {
        "member_id": member_id,
        "lines": [{"goods_id": g["id"], "quantity": q} for g, q in lines],
        **extra,
    }
    headers = {"Idempotency-Key": key or unique("sale-")}
    return client.post(f"/v1/villages/{village.id}/sales", json=body, headers=headers)


def stock(client: TestClient, goods: dict[str, Any]) -> int:
    return int(ok(client.get(f"/v1/goods/{goods['id']}"))["stock"])


@pytest.fixture
def shop(client: TestClient, village: Village) -> dict[str, Any]:
    """Rice (30 points, 10 on the shelf) and oil (50 points, 2 on the shelf)."""
    rice = add_goods(client, village, name="大米", price_points=30, barcode="6901234567892")
    oil = add_goods(client, village, name="食用油", unit="瓶", price_points=50)
    ok(stock_in(client, village, rice, 10), 201)
    ok(stock_in(client, village, oil, 2), 201)
    return {"rice": rice, "oil": oil}


def test_catalog_numbers_goods_and_reports_stock(
    client: TestClient, village: Village, shop: dict[str, Any]
) -> None:
    rice, oil = shop["rice"], shop["oil"]
    assert (rice["number"], rice["asset"], oil["number"], oil["asset"]) == (1, "G1", 2, "G2")
    catalog = ok(client.get(f"/v1/villages/{village.id}/goods"))
    assert [(g["name"], g["stock"]) for g in catalog] == [("大米", 10), ("食用油", 2)]
    by_barcode = ok(
        client.get(f"/v1/villages/{village.id}/goods", params={"barcode": "6901234567892"})
    )
    assert [g["id"] for g in by_barcode] == [rice["id"]]
    taken = client.post(
        f"/v1/villages/{village.id}/goods",
        json={"name": "别的", "unit": "袋", "price_points": 5, "barcode": "6901234567892"},
    )
    problem(taken, 409, "barcode_taken")


def test_a_sale_moves_points_and_goods_in_one_entry(
    client: TestClient, village: Village, shop: dict[str, Any]
) -> None:
    member_id, account = village.member()
    award(client, village, account, 200)
    sale = ok(sell(client, village, member_id, [(shop["rice"], 2), (shop["oil"], 1)]), 201)
    assert sale["total_points"] == 110
    assert sale["balance_after"] == 90
    assert [
        (line["goods_name"], line["quantity"], line["unit_points"]) for line in sale["lines"]
    ] == [
        ("大米", 2, 30),
        ("食用油", 1, 50),
    ]
    assert posted(client, account) == 90
    assert stock(client, shop["rice"]) == 8 and stock(client, shop["oil"]) == 1
    entry = ok(client.get(f"/v1/entries/{sale['entry_id']}"))
    assert entry["seq"] == sale["receipt_number"] and entry["hash"] == sale["entry_hash"]
    assert entry["code"] == "supermarket_sale"
    moved = {(p["asset"], p["amount"]) for p in entry["postings"]}
    assert moved == {
        ("POINTS", -110),
        ("POINTS", 110),
        ("G1", -2),
        ("G1", 2),
        ("G2", -1),
        ("G2", 1),
    }
    assert ok(client.get(f"/v1/villages/{village.id}/verification"))["is_intact"] is True


def test_a_retry_with_the_same_key_books_nothing_new(
    client: TestClient, village: Village, shop: dict[str, Any]
) -> None:
    member_id, account = village.member()
    award(client, village, account, 100)
    first = ok(sell(client, village, member_id, [(shop["rice"], 1)], key="till-1-0001"), 201)
    again = ok(sell(client, village, member_id, [(shop["rice"], 1)], key="till-1-0001"), 201)
    assert again["id"] == first["id"]
    assert posted(client, account) == 70 and stock(client, shop["rice"]) == 9
    other = sell(client, village, member_id, [(shop["rice"], 2)], key="till-1-0001")
    problem(other, 422, "idempotency_key_reused")
    missing = client.post(
        f"/v1/villages/{village.id}/sales",
        json={"member_id": member_id, "lines": [{"goods_id": shop["rice"]["id"], "quantity": 1}]},
    )
    assert any("Idempotency-Key" in str(e["location"]) for e in validation_failed(missing))


def test_short_points_or_stock_refuses_the_whole_basket(
    client: TestClient, village: Village, shop: dict[str, Any]
) -> None:
    member_id, account = village.member()
    award(client, village, account, 200)
    short = problem(
        sell(client, village, member_id, [(shop["rice"], 1), (shop["oil"], 3)]),
        409,
        "insufficient_stock",
    )
    assert (short["line"], short["goods_name"], short["available_quantity"]) == (1, "食用油", 2)
    poor = problem(
        sell(client, village, member_id, [(shop["rice"], 5), (shop["oil"], 2)]),
        409,
        "insufficient_points",
    )
    assert (poor["balance_points"], poor["requested_points"]) == (200, 250)
    assert posted(client, account) == 200
    assert stock(client, shop["rice"]) == 10 and stock(client, shop["oil"]) == 2
    assert ok(client.get(f"/v1/villages/{village.id}/sales")) == []


def test_pending_points_do_not_count_and_a_debt_blocks_redemption(
    client: TestClient, village: Village, shop: dict[str, Any]
) -> None:
    member_id, account = village.member()
    award(client, village, account, 100, is_pending=True)
    problem(sell(client, village, member_id, [(shop["rice"], 1)]), 409, "insufficient_points")
    debtor, debtor_account = village.member()
    ok(client.patch(f"/v1/villages/{village.id}", json={"allow_below_floor_codes": ["penalty"]}))
    ok(
        move(
            client,
            village,
            debtor_account,
            village.issuance,
            20,
            code="penalty",
            allow_below_floor=True,
        ),
        201,
    )
    debt = problem(sell(client, village, debtor, [(shop["rice"], 1)]), 409, "balance_in_debt")
    assert debt["balance_points"] == -20


def test_basket_refusals_name_the_line(
    client: TestClient, village: Village, shop: dict[str, Any]
) -> None:
    member_id, account = village.member()
    award(client, village, account, 500)
    elsewhere = make_village(client, village.township_id)
    foreign = add_goods(client, elsewhere)
    body = problem(
        sell(client, village, member_id, [(shop["rice"], 1), (foreign, 1)]),
        422,
        "goods_not_in_catalog",
    )
    assert body["line"] == 1
    problem(
        sell(client, village, member_id, [(shop["rice"], 1), (shop["rice"], 2)]),
        422,
        "basket_invalid",
    )
    ok(client.patch(f"/v1/goods/{shop['oil']['id']}", json={"active": False}))
    problem(sell(client, village, member_id, [(shop["oil"], 1)]), 409, "goods_inactive")
    changed = problem(
        sell(client, village, member_id, [(shop["rice"], 2)], expected_total_points=50),
        409,
        "price_changed",
    )
    assert changed["total_points"] == 60
    validation_failed(sell(client, village, member_id, [(shop["rice"], 0)]))
    assert posted(client, account) == 500


def test_price_changes_keep_past_receipts(
    client: TestClient, village: Village, shop: dict[str, Any]
) -> None:
    member_id, account = village.member()
    award(client, village, account, 500)
    before = ok(sell(client, village, member_id, [(shop["rice"], 1)]), 201)
    ok(client.patch(f"/v1/goods/{shop['rice']['id']}", json={"price_points": 35}))
    after = ok(sell(client, village, member_id, [(shop["rice"], 1)]), 201)
    assert (before["total_points"], after["total_points"]) == (30, 35)
    assert ok(client.get(f"/v1/sales/{before['id']}"))["lines"][0]["unit_points"] == 30
    prices = ok(client.get(f"/v1/goods/{shop['rice']['id']}/prices"))
    assert [p["price_points"] for p in prices] == [30, 35]


def test_refunds_per_line_never_exceed_the_sale(
    client: TestClient, village: Village, shop: dict[str, Any]
) -> None:
    member_id, account = village.member()
    award(client, village, account, 300)
    sale = ok(sell(client, village, member_id, [(shop["rice"], 3), (shop["oil"], 1)]), 201)
    assert posted(client, account) == 160

    def refund(key: str, lines: list[dict[str, int]] | None) -> Any:
        body = {"reason": "包装破损"} if lines is None else {"lines": lines, "reason": "退一袋"}
        return client.post(
            f"/v1/sales/{sale['id']}/refunds", json=body, headers={"Idempotency-Key": key}
        )

    once = ok(refund("r1", [{"position": 0, "quantity": 1}]), 201)
    assert once["refunded_points"] == 30 and once["lines"][0]["refunded_quantity"] == 1
    assert ok(refund("r1", [{"position": 0, "quantity": 1}]), 201)["refunded_points"] == 30
    assert posted(client, account) == 190 and stock(client, shop["rice"]) == 8
    too_many = problem(refund("r2", [{"position": 0, "quantity": 3}]), 409, "refund_exceeds_sale")
    assert too_many["refundable_quantity"] == 2
    problem(refund("r3", [{"position": 5, "quantity": 1}]), 422, "basket_invalid")
    rest = ok(refund("r4", None), 201)
    assert rest["refunded_points"] == 140
    assert [line["refunded_quantity"] for line in rest["lines"]] == [3, 1]
    assert posted(client, account) == 300
    assert stock(client, shop["rice"]) == 10 and stock(client, shop["oil"]) == 2
    problem(refund("r5", None), 409, "refund_exceeds_sale")
    refund_entry = ok(client.get(f"/v1/entries/{rest['refunds'][1]['entry_id']}"))
    assert refund_entry["code"] == "supermarket_refund"


def test_goods_accounts_move_only_through_the_supermarket(
    client: TestClient, village: Village, shop: dict[str, Any]
) -> None:
    member_id, account = village.member()
    award(client, village, account, 100)
    sale = ok(sell(client, village, member_id, [(shop["rice"], 1)]), 201)
    entry = ok(client.get(f"/v1/entries/{sale['entry_id']}"))
    shelf = next(
        p["account_id"] for p in entry["postings"] if p["asset"] == "G1" and p["amount"] < 0
    )
    out = next(p["account_id"] for p in entry["postings"] if p["asset"] == "G1" and p["amount"] > 0)
    body = problem(move(client, village, out, shelf, 1), 422, "goods_need_the_supermarket")
    assert body["account_kinds"] == ["goods", "shelf"]
    problem(
        client.post(f"/v1/entries/{sale['entry_id']}/reversals", json={"reason": "x"}),
        422,
        "goods_need_the_supermarket",
    )
    opened = client.post(
        "/v1/accounts", json={"village_id": village.id, "kind": "shelf", "category": "x"}
    )
    problem(opened, 422, "goods_need_the_supermarket")
    # An ordinary points redemption still goes through the ledger's own API.
    ok(spend(client, village, account, 10), 201)


def test_stock_movements_purchase_from_the_fund_donation_and_adjustment(
    client: TestClient, village: Village
) -> None:
    soap = add_goods(client, village, name="肥皂", unit="块", price_points=5)
    url = f"/v1/villages/{village.id}/stock-movements"
    purchase = {"goods_id": soap["id"], "kind": "purchase", "quantity": 20, "cost_fen": 4000}
    problem(client.post(url, json=purchase), 409, "insufficient_funds")
    fund(client, village, 10_000)
    ok(client.post(url, json=purchase, headers={"Idempotency-Key": "p1"}), 201)
    ok(client.post(url, json=purchase, headers={"Idempotency-Key": "p1"}), 201)
    assert posted(client, village.fund) == 6_000 and stock(client, soap) == 20
    member_id, _ = village.member()
    donation = {
        "goods_id": soap["id"],
        "kind": "donation",
        "quantity": 5,
        "value_fen": 1000,
        "donor": {"kind": "member", "id": member_id},
    }
    given = ok(client.post(url, json=donation), 201)
    assert given["donor_kind"] == "member" and given["amount_fen"] == 1000
    broken = {"goods_id": soap["id"], "kind": "adjustment", "quantity": -2, "reason": "breakage"}
    ok(client.post(url, json=broken), 201)
    assert stock(client, soap) == 23
    too_many = {**broken, "quantity": -24}
    problem(client.post(url, json=too_many), 409, "insufficient_stock")
    validation_failed(client.post(url, json={**purchase, "reason": "count"}))
    validation_failed(client.post(url, json={**broken, "reason": None}))
    kinds = [m["kind"] for m in ok(client.get(url, params={"goods_id": soap["id"]}))]
    assert kinds == ["purchase", "donation", "adjustment"]


def test_household_holder_pays_for_its_members(client: TestClient, village: Village) -> None:
    charter = {
        "title": "户积分制",
        "effective_on": "2020-01-01",
        "settings": {"points_holder": "household"},
        "rules": [
            {
                "id": "clean",
                "category": "sanitation",
                "label": "清扫",
                "type": "fixed",
                "params": {"points": 5},
            }
        ],
    }
    version = ok(client.post(f"/v1/villages/{village.id}/charter-versions", json=charter), 201)
    ok(client.post(f"/v1/charter-versions/{version['id']}/publication"))
    household = create_household(client, village.id)
    household_account = only_account(client, household_id=household["id"])
    member_id, _ = village.member(household_id=household["id"])
    # A charter is in force: opening points outside it are a manual adjustment (手工调整).
    award(
        client,
        village,
        household_account,
        80,
        code="manual_adjustment",
        reason="纸质积分卡余额转入",
    )
    soap = add_goods(client, village, name="肥皂", unit="块", price_points=5)
    ok(stock_in(client, village, soap, 3), 201)
    at_till = ok(
        client.get(f"/v1/villages/{village.id}/till/member", params={"member_id": member_id})
    )
    assert (at_till["holder_kind"], at_till["available_points"]) == ("household", 80)
    sale = ok(sell(client, village, member_id, [(soap, 2)]), 201)
    assert sale["holder_kind"] == "household" and sale["household_id"] == household["id"]
    assert posted(client, household_account) == 70


def test_till_finds_the_member_and_sums_the_day(
    client: TestClient, village: Village, shop: dict[str, Any]
) -> None:
    member_id, account = village.member(name="张小明", phone="13800001234")
    award(client, village, account, 100)
    found = ok(
        client.get(f"/v1/villages/{village.id}/till/member", params={"phone": "138-0000-1234"})
    )
    assert (found["member_id"], found["masked_name"], found["available_points"]) == (
        member_id,
        "张*明",
        100,
    )
    problem(
        client.get(f"/v1/villages/{village.id}/till/member", params={"phone": "13900000000"}),
        404,
        "not_found",
    )
    sale = ok(sell(client, village, member_id, [(shop["rice"], 2)]), 201)
    ok(
        client.post(
            f"/v1/sales/{sale['id']}/refunds",
            json={"lines": [{"position": 0, "quantity": 1}]},
            headers={"Idempotency-Key": "r"},
        ),
        201,
    )
    day = ok(client.get(f"/v1/villages/{village.id}/till/day"))
    assert (day["sales"], day["points"], day["refunds"], day["refunded_points"]) == (1, 60, 1, 30)
    rice = next(g for g in day["goods"] if g["goods_id"] == shop["rice"]["id"])
    assert (rice["sold"], rice["refunded"], rice["stock"]) == (2, 1, 9)
    mine = ok(client.get(f"/v1/villages/{village.id}/sales", params={"member_id": member_id}))
    assert [s["id"] for s in mine] == [sale["id"]]
    assert balance(client, account)["available"] == 70


def test_the_card_finds_the_member_and_pays(
    client: TestClient, village: Village, shop: dict[str, Any]
) -> None:
    member_id, account = village.member(name="李秀兰", phone="13900002222")
    village.member(name="王建国", phone="13900002222")  # the same household phone
    award(client, village, account, 100)
    token = ok(client.get(f"/v1/members/{member_id}/card"))["token"]
    till = f"/v1/villages/{village.id}/till/member"
    found = ok(client.get(till, params={"card_token": token}))
    assert (found["member_id"], found["masked_name"]) == (member_id, "李*兰")
    shared = problem(client.get(till, params={"phone": "13900002222"}), 409, "member_ambiguous")
    assert member_id in {c["member_id"] for c in shared["candidates"]}
    body = {"card_token": token, "lines": [{"goods_id": shop["rice"]["id"], "quantity": 1}]}
    sale = ok(
        client.post(
            f"/v1/villages/{village.id}/sales", json=body, headers={"Idempotency-Key": "card-1"}
        ),
        201,
    )
    assert sale["member_id"] == member_id and posted(client, account) == 70
    ok(client.post(f"/v1/members/{member_id}/card"), 201)  # a new card: the old one is void
    revoked = client.post(
        f"/v1/villages/{village.id}/sales", json=body, headers={"Idempotency-Key": "card-2"}
    )
    problem(revoked, 422, "card_revoked")
    elsewhere = make_village(client, village.township_id)
    problem(
        client.get(f"/v1/villages/{elsewhere.id}/till/member", params={"card_token": token}),
        422,
        "card_other_village",
    )


def test_a_key_names_one_basket(db: Database, settings: Settings) -> None:
    """The sale's own check, below the route's stored answers (the web till and any other
    caller of the service rely on it)."""
    with db.unit_of_work() as session:
        township = make_township(session)
        place = factory_village(session, township)
        soap = make_goods(session, settings, place, stock=5)
        buyer, other = make_member(session, place), make_member(session, place)
        sale = make_sale(session, settings, place, buyer, soap)
        entry_key = "till-9-0001"

    def again(member_id: Any, quantity: int) -> Any:
        with db.unit_of_work() as session:
            return market.sell(
                session,
                village_id=place.id,
                member_id=member_id,
                lines=[market.BasketLine(soap.id, quantity)],
                expected_total_points=None,
                cashier="test",
                clock=factory_clock(settings),
                idempotency_key=entry_key,
            )

    with db.unit_of_work() as session:
        account = account_of(session, place, AccountKind.MEMBER, buyer.id)
        factory_award(session, settings, place, account, 50)
    first = again(buyer.id, 1)
    assert again(buyer.id, 1).id == first.id
    with pytest.raises(IdempotencyKeyReused):
        again(other.id, 1)
    with pytest.raises(IdempotencyKeyReused):
        again(buyer.id, 2)
    assert first.id != sale.id
