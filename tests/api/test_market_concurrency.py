"""Many tills at once: no overdraft, no negative stock, each accepted sale booked once.

The requests run on threads against one app, so they reach the server together and the
group committer books them side by side; the assertions read the books afterwards.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient

from tests.api.helpers import Village, award, ok, posted
from tests.api.test_market_api import add_goods, stock, stock_in

TILLS = 24


def _sell_all(client: TestClient, village: Village, baskets: list[tuple[str, str]]) -> list[Any]:
    def one(index: int) -> Any:
        member_id, goods_id = baskets[index]
        return client.post(
            f"/v1/villages/{village.id}/sales",
            json={"member_id": member_id, "lines": [{"goods_id": goods_id, "quantity": 1}]},
            headers={"Idempotency-Key": f"till-{index}"},
        )

    with ThreadPoolExecutor(max_workers=TILLS) as pool:
        return list(pool.map(one, range(len(baskets))))


def _codes(responses: list[Any]) -> Counter[Any]:
    return Counter(
        r.status_code if r.status_code == 201 else (r.status_code, r.json()["code"])
        for r in responses
    )


def _check_books(client: TestClient, village: Village) -> None:
    assert ok(client.get(f"/v1/villages/{village.id}/verification"))["is_intact"] is True
    assert ok(client.get(f"/v1/villages/{village.id}/trial-balance"))["is_balanced"] is True


def test_many_tills_against_one_member_never_overdraw(client: TestClient, village: Village) -> None:
    member_id, account = village.member()
    award(client, village, account, 100)
    soap = add_goods(client, village, name="肥皂", unit="块", price_points=10)
    ok(stock_in(client, village, soap, 100), 201)
    responses = _sell_all(client, village, [(member_id, soap["id"])] * TILLS)
    assert _codes(responses) == {201: 10, (409, "insufficient_points"): TILLS - 10}
    assert posted(client, account) == 0
    assert stock(client, soap) == 90
    sales = ok(client.get(f"/v1/villages/{village.id}/sales", params={"limit": 200}))
    assert sorted(s["id"] for s in sales) == sorted(
        r.json()["id"] for r in responses if r.status_code == 201
    )
    _check_books(client, village)


def test_many_tills_against_the_last_unit_sell_it_once(
    client: TestClient, village: Village
) -> None:
    oil = add_goods(client, village, name="食用油", unit="瓶", price_points=50)
    ok(stock_in(client, village, oil, 1), 201)
    buyers = []
    for _ in range(TILLS):
        member_id, account = village.member()
        award(client, village, account, 100)
        buyers.append((member_id, account))
    responses = _sell_all(client, village, [(m, oil["id"]) for m, _ in buyers])
    assert _codes(responses) == {201: 1, (409, "insufficient_stock"): TILLS - 1}
    assert stock(client, oil) == 0
    spent = [posted(client, account) for _, account in buyers]
    assert sorted(spent) == [50] + [100] * (TILLS - 1)
    _check_books(client, village)
