"""A village's supermarket over four days, told over HTTP, for the reconciliation and the
reports tests. Every figure they assert is worked out by hand from what happens here.

D0  the village opens; members 张大山 (A) and 李小红 (B), household 王家 (H).
D1  08:00 the fund is topped up with 20,000 fen (200 yuan).
    08:10 A earns 200 points, B 100, H 40; B has 50 more pending (public notice).
    09:00 catalog: 肥皂 (5 points), 毛巾 (6), 大米 (30), 酱油 (6).
    09:10 20 soap bought for 4,000 fen; 09:20 7 more for 1,500 fen (27 for 5,500).
    09:30 10 towels donated, valued at 3,000 fen; 09:40 5 bags of rice donated, valued 0.
    15:00 A pays 30 points at the allied shop 小卖部 (10 points a yuan): 300 fen owed.
D2  00:00 a charter takes effect: one point is worth 50 fen.
    10:00 A redeems 3 soap and 2 towels (27 points); 10:30 B redeems 1 soap (5 points).
    11:00 A returns 1 soap (5 points back); 11:30 a towel is broken (−1).
    12:00 B pays 20 points at the shop: 200 fen owed.
    13:00 the shop's statement for D1: 30 points, 300 fen.
D3  10:00 the statement is paid from the fund.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from tests.api.helpers import Village, award, create_household, ok, only_account
from tests.api.test_market_api import add_goods, fund, sell
from tests.market.conftest import DayClock
from tests.market.helpers import pay_points, pay_settlement, register_shop, settle


@dataclass
class Story:
    village: Village
    a: str
    b: str
    h: str
    goods: dict[str, dict[str, Any]]
    shop: dict[str, Any]
    settlement: dict[str, Any]


def tell(client: TestClient, village: Village, clock: DayClock) -> Story:
    a, a_account = village.member(name="张大山")
    b, b_account = village.member(name="李小红")
    household = create_household(client, village.id, name="王家")
    h_account = only_account(client, household_id=household["id"])
    shop = register_shop(client, village, 10, name="小卖部")

    clock.at(1, 8)
    fund(client, village, 20_000)
    clock.at(1, 8, 10)
    award(client, village, a_account, 200)
    award(client, village, b_account, 100)
    award(client, village, h_account, 40)
    award(client, village, b_account, 50, is_pending=True)

    clock.at(1, 9)
    goods = {
        "soap": add_goods(
            client, village, name="肥皂", unit="块", category="日用品", price_points=5
        ),
        "towel": add_goods(
            client, village, name="毛巾", unit="条", category="日用品", price_points=6
        ),
        "rice": add_goods(
            client, village, name="大米", unit="袋", category="粮油", price_points=30
        ),
        "sauce": add_goods(
            client, village, name="酱油", unit="瓶", category="调味品", price_points=6
        ),
    }
    moves = f"/v1/villages/{village.id}/stock-movements"
    soap, towel, rice = goods["soap"]["id"], goods["towel"]["id"], goods["rice"]["id"]
    clock.at(1, 9, 10)
    ok(
        client.post(
            moves, json={"goods_id": soap, "kind": "purchase", "quantity": 20, "cost_fen": 4000}
        ),
        201,
    )
    clock.at(1, 9, 20)
    ok(
        client.post(
            moves, json={"goods_id": soap, "kind": "purchase", "quantity": 7, "cost_fen": 1500}
        ),
        201,
    )
    clock.at(1, 9, 30)
    donor = {"kind": "other", "name": "爱心企业"}
    ok(
        client.post(
            moves,
            json={
                "goods_id": towel,
                "kind": "donation",
                "quantity": 10,
                "value_fen": 3000,
                "donor": donor,
            },
        ),
        201,
    )
    clock.at(1, 9, 40)
    ok(
        client.post(
            moves,
            json={
                "goods_id": rice,
                "kind": "donation",
                "quantity": 5,
                "value_fen": 0,
                "donor": donor,
            },
        ),
        201,
    )
    clock.at(1, 15)
    ok(pay_points(client, shop, a, 30), 201)

    clock.at(1, 20)
    charter = {
        "title": "积分兑换细则",
        "effective_on": clock.day(2).isoformat(),
        "settings": {"point_value_fen": 50},
        "rules": [
            {
                "id": "clean",
                "category": "sanitation",
                "label": "清扫",
                "type": "fixed",
                "params": {"points": 2},
            }
        ],
    }
    version = ok(client.post(f"/v1/villages/{village.id}/charter-versions", json=charter), 201)
    ok(client.post(f"/v1/charter-versions/{version['id']}/publication"))

    clock.at(2, 10)
    sale = ok(sell(client, village, a, [(goods["soap"], 3), (goods["towel"], 2)]), 201)
    assert sale["total_points"] == 27
    clock.at(2, 10, 30)
    ok(sell(client, village, b, [(goods["soap"], 1)]), 201)
    clock.at(2, 11)
    ok(
        client.post(
            f"/v1/sales/{sale['id']}/refunds",
            json={"lines": [{"position": 0, "quantity": 1}], "reason": "包装破损"},
            headers={"Idempotency-Key": "story-refund"},
        ),
        201,
    )
    clock.at(2, 11, 30)
    ok(
        client.post(
            moves,
            json={"goods_id": towel, "kind": "adjustment", "quantity": -1, "reason": "breakage"},
        ),
        201,
    )
    clock.at(2, 12)
    ok(pay_points(client, shop, b, 20), 201)
    clock.at(2, 13)
    settlement = ok(settle(client, shop, clock.day(1), clock.day(1)), 201)
    assert (settlement["points"], settlement["amount_fen"]) == (30, 300)

    clock.at(3, 10)
    ok(pay_settlement(client, settlement["id"]))
    return Story(village, a, b, household["id"], goods, shop, settlement)
