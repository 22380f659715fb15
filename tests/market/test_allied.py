"""Allied shops over HTTP: registration, redemptions at a rate, settlement statements worked
by hand, paying them once, and every refusal's code."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from jifen.market.allied import amount_fen
from tests.api.helpers import (
    Village,
    award,
    create_household,
    create_organisation,
    make_village,
    move,
    ok,
    posted,
    problem,
    random_id,
    validation_failed,
)
from tests.api.test_market_api import fund
from tests.market.conftest import DayClock
from tests.market.helpers import (
    csv_rows,
    pay_points,
    pay_settlement,
    register_shop,
    settle,
    xlsx_rows,
)


@pytest.mark.parametrize(
    ("points", "points_per_yuan", "fen"),
    [
        (25, 10, 250),  # 2.50 yuan
        (7, 10, 70),
        (10, 3, 333),  # 333.33… fen
        (5, 3, 167),  # 166.67 fen
        (1, 8, 13),  # 12.5 fen: half up
        (3, 8, 38),  # 37.5 fen: half up
        (1, 200, 1),  # 0.5 fen: half up
        (1, 201, 0),  # 0.4975 fen
        (0, 7, 0),
        (1_000_000, 1, 100_000_000),
    ],
)
def test_what_the_fund_owes_is_rounded_half_up_to_the_fen(
    points: int, points_per_yuan: int, fen: int
) -> None:
    assert amount_fen(points, points_per_yuan) == fen


def test_a_shop_is_registered_once_with_a_points_account(
    client: TestClient, village: Village
) -> None:
    shop = register_shop(client, village, 10, name="王记理发店")
    assert (shop["name"], shop["points_per_yuan"], shop["active"]) == ("王记理发店", 10, True)
    assert (shop["unsettled_sales"], shop["unpaid_fen"]) == (0, 0)
    account = ok(client.get(f"/v1/accounts/{shop['account_id']}"))
    assert (account["kind"], account["asset"], account["organisation_id"]) == (
        "organisation",
        "POINTS",
        shop["organisation_id"],
    )
    again = client.post(
        f"/v1/villages/{village.id}/allied-shops",
        json={"organisation_id": shop["organisation_id"], "points_per_yuan": 5},
    )
    assert problem(again, 409, "shop_already_registered")["shop_id"] == shop["id"]
    # The same organisation may ally with a sibling village: an account in its books.
    sibling = make_village(client, village.township_id)
    there = ok(
        client.post(
            f"/v1/villages/{sibling.id}/allied-shops",
            json={"organisation_id": shop["organisation_id"], "points_per_yuan": 8},
        ),
        201,
    )
    assert there["account_id"] != shop["account_id"]
    # An organisation of another township is not there to ally with.
    stranger = create_organisation(client, make_village(client).township_id)
    problem(
        client.post(
            f"/v1/villages/{village.id}/allied-shops",
            json={"organisation_id": stranger["id"], "points_per_yuan": 10},
        ),
        404,
        "not_found",
    )
    for rate in (0, 10_001):
        validation_failed(
            client.post(
                f"/v1/villages/{village.id}/allied-shops",
                json={"organisation_id": stranger["id"], "points_per_yuan": rate},
            )
        )
    listed = ok(client.get(f"/v1/villages/{village.id}/allied-shops"))
    assert [s["id"] for s in listed] == [shop["id"]]
    problem(client.get(f"/v1/allied-shops/{random_id()}"), 404, "not_found")


def test_a_redemption_at_a_shop_is_one_entry_to_the_shops_account(
    client: TestClient, village: Village, clock: DayClock
) -> None:
    shop = register_shop(client, village, 10)
    member_id, account = village.member()
    award(client, village, account, 100)
    sale = ok(pay_points(client, shop, member_id, 25, key="shop-1"), 201)
    assert (sale["points"], sale["amount_fen"], sale["balance_after"]) == (25, 250, 75)
    assert (sale["shop_id"], sale["holder_kind"], sale["settlement_id"]) == (
        shop["id"],
        "member",
        None,
    )
    entry = ok(client.get(f"/v1/entries/{sale['entry_id']}"))
    assert entry["code"] == "allied_sale" and entry["seq"] == sale["receipt_number"]
    assert {(p["account_id"], p["amount"]) for p in entry["postings"]} == {
        (account, -25),
        (shop["account_id"], 25),
    }
    assert posted(client, account) == 75 and posted(client, shop["account_id"]) == 25
    # A retry answers the first redemption and books nothing.
    again = ok(pay_points(client, shop, member_id, 25, key="shop-1"), 201)
    assert again["id"] == sale["id"] and posted(client, account) == 75
    problem(pay_points(client, shop, member_id, 26, key="shop-1"), 422, "idempotency_key_reused")
    # The supermarket's own receipts do not list it; the shop's do, and the member's.
    assert ok(client.get(f"/v1/villages/{village.id}/sales")) == []
    assert [s["id"] for s in ok(client.get(f"/v1/allied-shops/{shop['id']}/sales"))] == [sale["id"]]
    read = ok(client.get(f"/v1/allied-shops/{shop['id']}"))
    assert (read["unsettled_sales"], read["unsettled_points"], read["unsettled_fen"]) == (
        1,
        25,
        250,
    )
    # An allied redemption is not refunded at the supermarket's till.
    problem(
        client.post(
            f"/v1/sales/{sale['id']}/refunds", json={}, headers={"Idempotency-Key": "refund-1"}
        ),
        422,
        "basket_invalid",
    )
    # By card, as at the supermarket.
    token = ok(client.get(f"/v1/members/{member_id}/card"))["token"]
    by_card = ok(
        client.post(
            f"/v1/allied-shops/{shop['id']}/sales",
            json={"card_token": token, "points": 5},
            headers={"Idempotency-Key": "shop-2"},
        ),
        201,
    )
    assert (by_card["member_id"], by_card["amount_fen"]) == (member_id, 50)


def test_redemption_refusals(client: TestClient, village: Village, clock: DayClock) -> None:
    shop = register_shop(client, village, 10)
    member_id, account = village.member()
    award(client, village, account, 10)
    url = f"/v1/allied-shops/{shop['id']}/sales"
    missing_key = client.post(url, json={"member_id": member_id, "points": 1})
    assert any("Idempotency-Key" in str(e["location"]) for e in validation_failed(missing_key))
    validation_failed(pay_points(client, shop, member_id, 0))
    validation_failed(
        client.post(url, json={"points": 1}, headers={"Idempotency-Key": "no-member"})
    )
    short = problem(pay_points(client, shop, member_id, 11), 409, "insufficient_points")
    assert (short["balance_points"], short["requested_points"]) == (10, 11)
    problem(pay_points(client, shop, random_id(), 1), 404, "not_found")
    elsewhere = make_village(client, village.township_id)
    foreign_member, _ = elsewhere.member()
    problem(pay_points(client, shop, foreign_member, 1), 404, "not_found")
    problem(
        client.post(
            url,
            json={"card_token": "JFC1-not-a-card", "points": 1},
            headers={"Idempotency-Key": "bad-card"},
        ),
        422,
        "card_invalid",
    )
    # A penalty debt blocks paying, as at the supermarket.
    debtor, debtor_account = village.member()
    ok(client.patch(f"/v1/villages/{village.id}", json={"allow_below_floor_codes": ["penalty"]}))
    ok(
        move(
            client,
            village,
            debtor_account,
            village.issuance,
            5,
            code="penalty",
            allow_below_floor=True,
        ),
        201,
    )
    assert (
        problem(pay_points(client, shop, debtor, 1), 409, "balance_in_debt")["balance_points"] == -5
    )
    # A deactivated shop takes no more points.
    ok(client.post(f"/v1/allied-shops/{shop['id']}/deactivation"))
    problem(pay_points(client, shop, member_id, 1), 404, "shop_not_found")
    assert posted(client, account) == 10 and posted(client, shop["account_id"]) == 0
    assert ok(client.get(f"/v1/villages/{village.id}/allied-shops", params={"active": True})) == []
    problem(client.get(f"/v1/allied-shops/{random_id()}/sales"), 404, "not_found")


def test_a_household_charter_takes_the_households_points(
    client: TestClient, village: Village, clock: DayClock
) -> None:
    charter = {
        "title": "户积分制",
        "effective_on": clock.day(0).isoformat(),
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
    household_account = ok(client.get("/v1/accounts", params={"household_id": household["id"]}))[
        "items"
    ][0]["id"]
    member_id, _ = village.member(household_id=household["id"])
    # A charter is in force: opening points outside it are a manual adjustment (手工调整).
    award(
        client,
        village,
        household_account,
        40,
        code="manual_adjustment",
        reason="纸质积分卡余额转入",
    )
    shop = register_shop(client, village, 10)
    sale = ok(pay_points(client, shop, member_id, 15), 201)
    assert (sale["holder_kind"], sale["household_id"], sale["balance_after"]) == (
        "household",
        household["id"],
        25,
    )
    loner, _ = village.member()
    problem(pay_points(client, shop, loner, 1), 409, "no_points_account")


def test_a_settlement_worked_by_hand_and_paid_once(
    client: TestClient, village: Village, clock: DayClock
) -> None:
    """Two redemptions at 10 points a yuan, one at 3 after the rate changed:
    25 pts → 250 fen, 7 pts → 70 fen, 5 pts → 166.67 → 167 fen; 37 points, 487 fen."""
    shop = register_shop(client, village, 10, name="村口小卖部")
    zhang, zhang_account = village.member(name="张大山")
    li, li_account = village.member(name="李小红")
    award(client, village, zhang_account, 200)
    award(client, village, li_account, 100)
    clock.at(1, 10)
    first = ok(pay_points(client, shop, zhang, 25), 201)
    clock.at(1, 11)
    second = ok(pay_points(client, shop, li, 7), 201)
    clock.at(2, 9)
    ok(client.patch(f"/v1/allied-shops/{shop['id']}", json={"points_per_yuan": 3}))
    clock.at(2, 15)
    third = ok(pay_points(client, shop, zhang, 5), 201)
    assert [s["amount_fen"] for s in (first, second, third)] == [250, 70, 167]
    clock.at(3, 10)
    today = ok(pay_points(client, shop, li, 6), 201)  # D3: not in the statement
    assert today["amount_fen"] == 200

    statement = ok(settle(client, shop, clock.day(1), clock.day(2)), 201)
    assert (statement["sales"], statement["points"], statement["amount_fen"]) == (3, 37, 487)
    assert (statement["shop_name"], statement["paid"], statement["paid_at"]) == (
        "村口小卖部",
        False,
        None,
    )
    detail = ok(client.get(f"/v1/allied-settlements/{statement['id']}"))
    assert [
        (line["member_name"], line["points"], line["amount_fen"]) for line in detail["lines"]
    ] == [
        ("张大山", 25, 250),
        ("李小红", 7, 70),
        ("张大山", 5, 167),
    ]
    assert detail["lines_complete"] is True
    shop_now = ok(client.get(f"/v1/allied-shops/{shop['id']}"))
    assert (shop_now["unsettled_sales"], shop_now["unsettled_fen"]) == (1, 200)
    assert (shop_now["unpaid_settlements"], shop_now["unpaid_fen"]) == (1, 487)
    settled = ok(client.get(f"/v1/allied-shops/{shop['id']}/sales", params={"unsettled": False}))
    assert {s["id"]: s["settlement_id"] for s in settled} == {
        first["id"]: statement["id"],
        second["id"]: statement["id"],
        third["id"]: statement["id"],
        today["id"]: None,
    }
    unsettled = ok(client.get(f"/v1/allied-shops/{shop['id']}/sales", params={"unsettled": True}))
    assert [s["id"] for s in unsettled] == [today["id"]]

    # The same days again, or days that overlap them: nothing is settled twice.
    problem(settle(client, shop, clock.day(1), clock.day(2)), 409, "settlement_overlaps")
    overlap = problem(settle(client, shop, clock.day(0), clock.day(1)), 409, "settlement_overlaps")
    assert overlap["settlement_id"] == statement["id"]
    # Today is not over; yesterday had nothing left; a period ends after it starts.
    problem(settle(client, shop, clock.day(3), clock.day(3)), 409, "settlement_period_open")
    problem(settle(client, shop, clock.day(0), clock.day(0)), 409, "settlement_empty")
    validation_failed(settle(client, shop, clock.day(2), clock.day(1)))
    validation_failed(settle(client, shop, clock.day(-400), clock.day(-1)))

    # Paying: the fund must hold the amount.
    short = problem(pay_settlement(client, statement["id"]), 409, "insufficient_funds")
    assert (short["balance_fen"], short["requested_fen"]) == (0, 487)
    fund(client, village, 1_000)
    clock.at(3, 11)
    paid = ok(pay_settlement(client, statement["id"], key="pay-1"))
    assert paid["paid"] is True and paid["paid_entry_id"] is not None
    entry = ok(client.get(f"/v1/entries/{paid['paid_entry_id']}"))
    assert entry["code"] == "allied_settlement_payment"
    by_account = {p["account_id"]: (p["asset"], p["amount"]) for p in entry["postings"]}
    assert by_account[shop["account_id"]] == ("POINTS", -37)
    assert by_account[village.supermarket] == ("POINTS", 37)
    assert by_account[village.fund] == ("CNY", -487)
    payouts = next(a for a, (asset, amount) in by_account.items() if amount == 487)
    payout_account = ok(client.get(f"/v1/accounts/{payouts}"))
    assert (payout_account["kind"], payout_account["category"]) == ("payouts", "allied")
    assert posted(client, village.fund) == 513
    assert posted(client, shop["account_id"]) == 6  # today's redemption, not settled yet

    # A retry with the key answers as the first payment did; any other is refused.
    assert ok(pay_settlement(client, statement["id"], key="pay-1")) == paid
    again = problem(
        pay_settlement(client, statement["id"], key="pay-2"), 409, "settlement_already_paid"
    )
    assert again["paid_entry_id"] == paid["paid_entry_id"]
    problem(pay_settlement(client, statement["id"]), 409, "settlement_already_paid")
    assert posted(client, village.fund) == 513
    listed = ok(client.get(f"/v1/allied-shops/{shop['id']}/settlements"))
    assert [(s["id"], s["paid"]) for s in listed] == [(statement["id"], True)]
    problem(pay_settlement(client, random_id()), 404, "not_found")

    # The statement for the shop and the finance office, in Chinese.
    rows = xlsx_rows(
        client.get(f"/v1/allied-settlements/{statement['id']}/statement", params={"format": "xlsx"})
    )
    assert rows[0] == ["小票号", "兑换时间", "村民", "积分", "应付金额（元）"]
    assert [(r[2], r[3], r[4]) for r in rows[1:4]] == [
        ("张大山", 25, 2.5),
        ("李小红", 7, 0.7),
        ("张大山", 5, 1.67),
    ]
    totals = {r[0]: r[1] for r in rows[5:] if r[0]}
    assert totals["积分合计"] == 37 and totals["应付合计（元）"] == 4.87
    assert totals["商家"] == "村口小卖部" and str(totals["付款"]).startswith("已付款")
    lines = csv_rows(
        client.get(f"/v1/allied-settlements/{statement['id']}/statement", params={"format": "csv"})
    )
    assert lines[0] == ["小票号", "兑换时间", "村民", "积分", "应付金额（元）"]
    assert lines[3][2:] == ["张大山", "5", "1.67"]
    validation_failed(
        client.get(f"/v1/allied-settlements/{statement['id']}/statement", params={"format": "pdf"})
    )


def test_a_deactivated_shop_is_still_settled_and_paid(
    client: TestClient, village: Village, clock: DayClock
) -> None:
    shop = register_shop(client, village, 4)
    member_id, account = village.member()
    award(client, village, account, 50)
    fund(client, village, 500)
    clock.at(1, 9)
    ok(pay_points(client, shop, member_id, 9), 201)  # 225 fen
    ok(client.post(f"/v1/allied-shops/{shop['id']}/deactivation"))
    clock.at(2, 9)
    statement = ok(settle(client, shop, clock.day(1), clock.day(1)), 201)
    assert (statement["points"], statement["amount_fen"]) == (9, 225)
    ok(pay_settlement(client, statement["id"]))
    assert posted(client, village.fund) == 275
    assert posted(client, shop["account_id"]) == 0


def test_statements_and_payments_made_at_once_count_once(
    client: TestClient, village: Village, clock: DayClock
) -> None:
    """Many finance officers press "settle", then "pay", at the same moment."""
    shop = register_shop(client, village, 10)
    member_id, account = village.member()
    award(client, village, account, 100)
    fund(client, village, 10_000)
    clock.at(1, 9)
    for points in (10, 20, 30):
        ok(pay_points(client, shop, member_id, points), 201)
    clock.at(2, 9)
    at_once = 12
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        made = list(
            pool.map(lambda _: settle(client, shop, clock.day(0), clock.day(1)), range(at_once))
        )
    codes = Counter(r.status_code if r.status_code == 201 else r.json()["code"] for r in made)
    assert codes == {201: 1, "settlement_overlaps": at_once - 1}
    [statement] = [r.json() for r in made if r.status_code == 201]
    assert (statement["sales"], statement["points"], statement["amount_fen"]) == (3, 60, 600)
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        paid = list(
            pool.map(lambda i: pay_settlement(client, statement["id"], f"pay-{i}"), range(at_once))
        )
    codes = Counter(r.status_code if r.status_code == 200 else r.json()["code"] for r in paid)
    assert codes == {200: 1, "settlement_already_paid": at_once - 1}
    assert posted(client, village.fund) == 9_400 and posted(client, shop["account_id"]) == 0
    assert ok(client.get(f"/v1/villages/{village.id}/trial-balance"))["is_balanced"] is True
