"""Reports over HTTP, every figure worked by hand from tests/market/story.py."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import Village, ok, problem, random_id, validation_failed
from tests.market.conftest import DayClock
from tests.market.helpers import csv_rows, xlsx_rows
from tests.market.story import Story, tell

COLUMNS = (
    "opening",
    "purchased",
    "donated",
    "adjusted",
    "sold",
    "refunded",
    "closing",
    "points_sold",
    "points_refunded",
    "points_taken",
)


@pytest.fixture
def story(client: TestClient, village: Village, clock: DayClock) -> Story:
    return tell(client, village, clock)


def report(
    client: TestClient, story: Story, name: str, first: Any, last: Any, **params: Any
) -> Any:
    return client.get(
        f"/v1/villages/{story.village.id}/reports/{name}",
        params={"from": first.isoformat(), "to": last.isoformat(), **params},
    )


def by_name(lines: list[dict[str, Any]]) -> dict[str, tuple[int, ...]]:
    return {line["name"]: tuple(line[c] for c in COLUMNS) for line in lines}


def test_sales_and_stock_per_good(client: TestClient, story: Story, clock: DayClock) -> None:
    d1, d2 = clock.day(1), clock.day(2)
    one_day = ok(report(client, story, "goods", d2, d2))
    # opening, purchased, donated, adjusted, sold, refunded, closing, points sold,
    # refunded, taken. Soap: A 3 and B 1 sold (15 + 5 points), A returned 1 (5 points).
    assert by_name(one_day["goods"]) == {
        "肥皂": (27, 0, 0, 0, 4, 1, 24, 20, 5, 15),
        "毛巾": (10, 0, 0, -1, 2, 0, 7, 12, 0, 12),
        "大米": (5, 0, 0, 0, 0, 0, 5, 0, 0, 0),
        "酱油": (0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    }
    assert one_day["points_taken"] == 27
    assert [line["number"] for line in one_day["goods"]] == [1, 2, 3, 4]
    two_days = ok(report(client, story, "goods", d1, d2))
    assert by_name(two_days["goods"]) == {
        "肥皂": (0, 27, 0, 0, 4, 1, 24, 20, 5, 15),
        "毛巾": (0, 0, 10, -1, 2, 0, 7, 12, 0, 12),
        "大米": (0, 0, 5, 0, 0, 0, 5, 0, 0, 0),
        "酱油": (0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    }
    # The next day nothing moved: the closing stock carries over.
    after = ok(report(client, story, "goods", clock.day(3), clock.day(3)))
    assert {line["name"]: (line["opening"], line["closing"]) for line in after["goods"]} == {
        "肥皂": (24, 24),
        "毛巾": (7, 7),
        "大米": (5, 5),
        "酱油": (0, 0),
    }

    rows = xlsx_rows(report(client, story, "goods", d2, d2, format="xlsx"))
    assert rows[0] == [
        "编号",
        "商品",
        "单位",
        "期初库存",
        "进货",
        "捐赠",
        "盘点调整",
        "兑换",
        "退货",
        "期末库存",
        "兑换积分",
        "退货积分",
        "净兑换积分",
    ]
    assert rows[1] == [1, "肥皂", "块", 27, 0, 0, 0, 4, 1, 24, 20, 5, 15]
    assert rows[2][:4] == [2, "毛巾", "条", 10] and rows[2][6] == -1
    lines = csv_rows(report(client, story, "goods", d2, d2, format="csv"))
    assert lines[0][:3] == ["编号", "商品", "单位"]
    assert lines[1] == ["1", "肥皂", "块", "27", "0", "0", "0", "4", "1", "24", "20", "5", "15"]


def test_fast_and_slow_movers(client: TestClient, story: Story, clock: DayClock) -> None:
    """D2: soap sold 4 less 1 returned on 2 receipts; towels 2 on 1; rice sat on the shelf
    (5 bags, no sale): the slowest. Soy sauce had neither stock nor sales: left out."""
    d2 = clock.day(2)
    movers = ok(report(client, story, "movers", d2, d2))["ranking"]
    assert [
        (m["rank"], m["name"], m["units_sold"], m["receipts"], m["closing_stock"], m["idle"])
        for m in movers
    ] == [
        (1, "肥皂", 3, 2, 24, False),
        (2, "毛巾", 2, 1, 7, False),
        (3, "大米", 0, 0, 5, True),
    ]
    # D3: nothing sold; the goods with the most stock are the slowest.
    idle = ok(report(client, story, "movers", clock.day(3), clock.day(3)))["ranking"]
    assert [(m["name"], m["closing_stock"], m["idle"]) for m in idle] == [
        ("大米", 5, True),
        ("毛巾", 7, True),
        ("肥皂", 24, True),
    ]
    rows = xlsx_rows(report(client, story, "movers", d2, d2, format="xlsx"))
    assert rows[0][:3] == ["排名", "编号", "商品"] and rows[0][-1] == "滞销（有库存无兑换）"
    assert [row[2] for row in rows[1:4]] == ["肥皂", "毛巾", "大米"] and rows[3][-1] == "是"


def test_most_redeemed_goods(client: TestClient, story: Story, clock: DayClock) -> None:
    """D2: 27 points taken: soap on 2 receipts (15 points: 555.6‰ → 556‰), towels on 1
    (12 points: 444.4‰ → 444‰)."""
    d2 = clock.day(2)
    top = ok(report(client, story, "most-redeemed", d2, d2))
    assert top["points_taken"] == 27
    assert [
        (
            g["rank"],
            g["name"],
            g["receipts"],
            g["units_sold"],
            g["points_taken"],
            g["points_share_permille"],
        )
        for g in top["goods"]
    ] == [(1, "肥皂", 2, 3, 15, 556), (2, "毛巾", 1, 2, 12, 444)]
    first_only = ok(report(client, story, "most-redeemed", d2, d2, limit=1))
    assert [g["name"] for g in first_only["goods"]] == ["肥皂"]
    assert ok(report(client, story, "most-redeemed", clock.day(3), clock.day(3)))["goods"] == []
    rows = csv_rows(report(client, story, "most-redeemed", d2, d2, format="csv"))
    assert rows[0][-1] == "积分占比（‰）" and rows[1][2] == "肥皂" and rows[1][-1] == "556"


def test_a_members_redemptions(client: TestClient, story: Story, clock: DayClock) -> None:
    """A: a receipt at the supermarket on D2 (27 points, 5 returned) and one at the shop on
    D1 (30 points, 300 fen); newest first."""
    url = f"/v1/members/{story.a}/redemptions"
    mine = ok(client.get(url))
    assert mine["member_name"] == "张大山" and mine["complete"] is True
    assert [
        (
            r["place"],
            r["items"],
            r["points"],
            r["refunded_points"],
            r["net_points"],
            r["amount_fen"],
        )
        for r in mine["receipts"]
    ] == [
        ("积分超市", "肥皂×3、毛巾×2", 27, 5, 22, None),
        ("小卖部", "", 30, 0, 30, 300),
    ]
    assert (mine["points"], mine["refunded_points"], mine["net_points"]) == (57, 5, 52)
    d1 = clock.day(1).isoformat()
    only_d1 = ok(client.get(url, params={"from": d1, "to": d1}))
    assert [r["place"] for r in only_d1["receipts"]] == ["小卖部"]
    newest = ok(client.get(url, params={"limit": 1}))
    assert len(newest["receipts"]) == 1 and newest["complete"] is False
    b = ok(client.get(f"/v1/members/{story.b}/redemptions"))
    assert [(r["place"], r["points"]) for r in b["receipts"]] == [("小卖部", 20), ("积分超市", 5)]

    rows = xlsx_rows(client.get(url, params={"format": "xlsx"}))
    assert rows[0] == [
        "小票号",
        "兑换时间",
        "兑换地点",
        "积分账户",
        "商品",
        "积分",
        "已退积分",
        "净积分",
        "联盟商家应付（元）",
    ]
    assert rows[1][2:8] == ["积分超市", "本人", "肥皂×3、毛巾×2", 27, 5, 22]
    assert rows[2][2] == "小卖部" and rows[2][8] == 3
    problem(client.get(f"/v1/members/{random_id()}/redemptions"), 404, "not_found")


def test_report_periods_are_checked(client: TestClient, story: Story, clock: DayClock) -> None:
    validation_failed(report(client, story, "goods", clock.day(2), clock.day(1)))
    validation_failed(report(client, story, "movers", clock.day(-400), clock.day(1)))
    validation_failed(report(client, story, "goods", clock.day(1), clock.day(2), format="pdf"))
    validation_failed(report(client, story, "most-redeemed", clock.day(1), clock.day(2), limit=0))
    problem(client.get(f"/v1/villages/{random_id()}/reports/goods"), 404, "not_found")
    # Without dates: the month so far (D3 is today).
    default = ok(client.get(f"/v1/villages/{story.village.id}/reports/goods"))
    assert default["period_end"] == clock.day(3).isoformat()
    assert default["period_start"] == clock.day(3).replace(day=1).isoformat()
