"""Reconciliation over HTTP, every figure worked by hand from tests/market/story.py."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.helpers import Village, ok, problem, random_id
from tests.market.conftest import DayClock
from tests.market.helpers import csv_rows, xlsx_rows
from tests.market.story import Story, tell


@pytest.fixture
def story(client: TestClient, village: Village, clock: DayClock) -> Story:
    return tell(client, village, clock)


def reconcile(client: TestClient, story: Story, on: str | None = None) -> dict[str, Any]:
    params = {"on": on} if on else {}
    return ok(client.get(f"/v1/villages/{story.village.id}/reconciliation", params=params))  # type: ignore[no-any-return]


def figures(report: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in report.items() if key not in ("stock", "as_of")}


def test_the_day_after_the_sales(client: TestClient, story: Story, clock: DayClock) -> None:
    """End of D2. Points: A 200 − 30 − 27 + 5 = 148, B 100 − 5 − 20 = 75 (the 50 pending do
    not count), H 40: 263 points × 50 fen (the charter in force since D2) = 13,150 fen.
    Fund: 20,000 − 4,000 − 1,500 = 14,500. Stock at cost: soap 27 − 4 + 1 = 24 at
    5,500/27 → 4,888.9 → 4,889; towels 10 − 2 − 1 = 7 at 3,000/10 → 2,100; rice 5 at
    0/5 → 0: 6,989. Allied: D1's statement (300) unpaid, D2's redemption (200) not on a
    statement: 500. Difference: 14,500 + 6,989 − 13,150 − 500 = 7,839."""
    report = reconcile(client, story, clock.day(2).isoformat())
    assert figures(report) == {
        "village_id": story.village.id,
        "on": clock.day(2).isoformat(),
        "point_value_fen": 50,
        "point_value_source": "charter",
        "charter_version": 1,
        "points_outstanding": 263,
        "points_members": 223,
        "points_households": 40,
        "liability_fen": 13_150,
        "fund_fen": 14_500,
        "stock_value_fen": 6_989,
        "donations_count": 2,
        "donations_value_fen": 3_000,
        "allied_unsettled_sales": 1,
        "allied_unsettled_fen": 200,
        "allied_unpaid_settlements": 1,
        "allied_unpaid_fen": 300,
        "allied_debt_fen": 500,
        "difference_fen": 7_839,
        "explanation": (
            "基金余额加库存（按进价）比在外积分应兑付的金额加联盟商家欠款多 78.39 元："
            "即使所有积分都来兑换，现有资金和货物也足够。"
        ),
    }
    assert [
        (s["name"], s["quantity"], s["basis"], s["basis_quantity"], s["basis_fen"], s["value_fen"])
        for s in report["stock"]
    ] == [
        ("肥皂", 24, "purchases", 27, 5_500, 4_889),
        ("毛巾", 7, "donations", 10, 3_000, 2_100),
        ("大米", 5, "donations", 5, 0, 0),
    ]


def test_the_day_of_the_purchases(client: TestClient, story: Story, clock: DayClock) -> None:
    """End of D1, before the charter took effect: 100 fen a point (the default). Points:
    A 200 − 30 = 170, B 100, H 40: 310 → 31,000 fen. Stock: soap 27 → 5,500, towels 10 →
    3,000, rice 0. Allied: D1's redemption, on no statement yet that day: 300.
    Difference: 14,500 + 8,500 − 31,000 − 300 = −8,300."""
    report = reconcile(client, story, clock.day(1).isoformat())
    assert (report["point_value_fen"], report["point_value_source"], report["charter_version"]) == (
        100,
        "default",
        None,
    )
    assert (report["points_members"], report["points_households"]) == (270, 40)
    assert (report["liability_fen"], report["fund_fen"], report["stock_value_fen"]) == (
        31_000,
        14_500,
        8_500,
    )
    assert (report["allied_unsettled_sales"], report["allied_unsettled_fen"]) == (1, 300)
    assert (report["allied_unpaid_settlements"], report["allied_debt_fen"]) == (0, 300)
    assert report["difference_fen"] == -8_300
    assert report["explanation"] == (
        "基金余额加库存（按进价）比在外积分应兑付的金额加联盟商家欠款少 83.00 元："
        "如果所有积分都来兑换，还差 83.00 元，需要补充积分兑换基金。"
    )


def test_paying_a_statement_moves_the_fund_and_the_debt_alike(
    client: TestClient, story: Story, clock: DayClock
) -> None:
    """End of D3: the statement is paid (300 out of the fund, the debt gone), so the
    difference is D2's: 14,200 + 6,989 − 13,150 − 200 = 7,839. Today (D3) is the default."""
    report = reconcile(client, story)
    assert report["on"] == clock.day(3).isoformat()
    assert (report["fund_fen"], report["allied_unpaid_fen"], report["allied_debt_fen"]) == (
        14_200,
        0,
        200,
    )
    assert report["difference_fen"] == 7_839


def test_before_anything_happened(client: TestClient, story: Story, clock: DayClock) -> None:
    report = reconcile(client, story, clock.day(0).isoformat())
    assert report["stock"] == []
    assert {k: v for k, v in figures(report).items() if k.endswith(("_fen", "_count"))} == {
        "point_value_fen": 100,
        "liability_fen": 0,
        "fund_fen": 0,
        "stock_value_fen": 0,
        "donations_count": 0,
        "donations_value_fen": 0,
        "allied_unsettled_fen": 0,
        "allied_unpaid_fen": 0,
        "allied_debt_fen": 0,
        "difference_fen": 0,
    }
    assert report["explanation"].endswith("账实相符。")


def test_the_chart_and_the_downloads(client: TestClient, story: Story, clock: DayClock) -> None:
    base = f"/v1/villages/{story.village.id}/reconciliation"
    chart = client.get(f"{base}/chart", params={"on": clock.day(2).isoformat()})
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/svg+xml"
    svg = ET.fromstring(chart.content)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    text = "".join(svg.itertext())
    for label in ("基金余额", "库存（按进价）", "积分兑付义务", "联盟商家欠款", "差额"):
        assert label in text
    assert "78.39" in text and "145.00" in text  # the difference and the fund, in yuan

    rows = xlsx_rows(client.get(base, params={"on": clock.day(2).isoformat(), "format": "xlsx"}))
    assert rows[0] == ["项目", "数量", "金额（元）", "说明"]
    by_item = {row[0]: row for row in rows[1:] if row[0]}
    assert by_item["在外积分"][1] == 263
    assert by_item["积分兑付义务"][2] == 131.5
    assert by_item["积分兑换基金余额"][2] == 145
    assert by_item["库存（按进价）"][2] == 69.89
    assert by_item["联盟商家欠款"][2] == 5
    assert by_item["差额"][2] == 78.39
    assert by_item["结论"][1].startswith("基金余额加库存")
    lines = csv_rows(client.get(base, params={"on": clock.day(1).isoformat(), "format": "csv"}))
    assert lines[0] == ["项目", "数量", "金额（元）", "说明"]
    assert lines[7][:3] == ["差额", "", "-83.00"]

    problem(client.get(f"/v1/villages/{random_id()}/reconciliation"), 404, "not_found")
    problem(client.get(f"/v1/villages/{random_id()}/reconciliation/chart"), 404, "not_found")
    problem(client.get(base, params={"on": "yesterday"}), 422, "validation_failed")
